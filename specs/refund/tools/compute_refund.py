"""compute_refund: apply the refund policy to one order and one customer request.

stdin:  {"order": Order, "reason": "damaged" | "wrong_item" | "not_received" | "changed_mind",
         "items": [{"sku", "qty"}...], "requested_on": "YYYY-MM-DD"}
stdout: a Quote record; amount 0 when the policy refunds nothing (the workflow then stops)
exit 0 ok, 1 the request does not fit the order, 3 the policy leaves the case to a human.
A pure function of its input: no files, no clock, no network. Python 3 standard library only.

Policy
- changed_mind: within 30 days of delivery; final-sale items are not refunded; shipping is not.
- damaged, wrong_item: within 60 days of delivery; the returned items at the price paid;
  shipping is refunded for wrong_item, and for damaged when the whole order comes back.
- not_received: the order is shipped but not delivered, 10 days or more after it was placed;
  the listed items, or the whole order and its shipping when no items are listed.
- Up to 7 days past a window, or a not_received claim on a delivered order: a human decides.
"""

import hashlib
import json
import sys
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

TOOL = "compute_refund"
WINDOW_DAYS = {"changed_mind": 30, "damaged": 60, "wrong_item": 60}
NOT_RECEIVED_AFTER_DAYS = 10
GRACE_DAYS = 7
CENT = Decimal("0.01")


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def money(value):
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_day(value, field):
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        fail(f"{field}: {json.dumps(value)} is not a YYYY-MM-DD date")


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    try:
        order, reason = args["order"], args["reason"]
        wanted, requested_on = args["items"], args["requested_on"]
        order_id, status, items = order["id"], order["status"], order["items"]
    except (KeyError, TypeError) as exc:
        fail(f"missing argument or order field {exc}")
    requested = parse_day(requested_on, "requested_on")
    placed = parse_day(order["placed_on"], "order.placed_on")
    delivered = order.get("delivered_on")
    delivered = parse_day(delivered, "order.delivered_on") if delivered else None
    if requested < placed:
        fail(f"the request ({requested}) predates the order ({placed})")

    by_sku = {item["sku"]: item for item in items}
    returned = {}
    for entry in wanted:
        if not isinstance(entry, dict):
            fail(f"items: expected {{\"sku\", \"qty\"}} objects, got {json.dumps(entry)}")
        sku, qty = entry.get("sku"), entry.get("qty")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            fail(f"items: quantity {json.dumps(qty)} of {json.dumps(sku)} is not a whole number of at least 1")
        if sku not in by_sku:
            fail(f"{order_id} has no item {json.dumps(sku)}")
        returned[sku] = returned.get(sku, 0) + qty
        if returned[sku] > by_sku[sku]["qty"]:
            fail(f"{order_id} has {by_sku[sku]['qty']} of {sku}, the request returns {returned[sku]}")
    if not returned and reason != "not_received":
        fail(f"a {reason} refund must list the items that come back")

    whole_order = (not returned) or all(returned.get(i["sku"], 0) == i["qty"] for i in items)
    if not returned:
        returned = {item["sku"]: item["qty"] for item in items}

    quoted_lines, excluded, refund_shipping, note = [], [], False, ""
    if reason == "not_received":
        if status == "delivered":
            fail(f"{order_id} is marked delivered but the customer says it never arrived", code=3)
        days = (requested - placed).days
        if days < NOT_RECEIVED_AFTER_DAYS:
            note = (f"not_received claims open {NOT_RECEIVED_AFTER_DAYS} days after the order;"
                    f" this one is {days} days old")
            returned = {}
        refund_shipping = whole_order and bool(returned)
    else:
        if delivered is None:
            fail(f"{order_id} is {status} with no delivery date, yet items are being returned",
                 code=3)
        window = WINDOW_DAYS[reason]
        days = (requested - delivered).days
        if window < days <= window + GRACE_DAYS:
            fail(f"{reason} requested {days} days after delivery, the window is {window} days",
                 code=3)
        if days > window:
            note = f"{reason} refunds are accepted {window} days after delivery; this is day {days}"
            returned = {}
        refund_shipping = bool(returned) and (reason == "wrong_item" or whole_order)
        if reason == "changed_mind":
            refund_shipping = False
            excluded = [sku for sku in returned if by_sku[sku].get("final_sale")]
            for sku in excluded:
                del returned[sku]

    total = Decimal(0)
    for sku, qty in sorted(returned.items()):
        amount = money(by_sku[sku]["unit_price"]) * qty
        total += amount
        quoted_lines.append({"sku": sku, "qty": qty, "amount": float(amount)})
    shipping = money(order["shipping"]) if refund_shipping else Decimal(0)
    total += shipping
    order_total = sum(money(i["unit_price"]) * i["qty"] for i in items) + money(order["shipping"])

    if not note:
        note = f"{reason}: {len(quoted_lines)} item line(s) at the price paid"
        note += ", shipping refunded" if shipping else ", shipping not refunded"
        if excluded:
            note += f"; final sale, not refunded: {', '.join(sorted(excluded))}"

    fingerprint = json.dumps(
        {"order": order_id, "reason": reason, "items": sorted(returned.items())},
        sort_keys=True, separators=(",", ":"),
    )
    quote = {
        "refund_id": f"RF-{order_id[4:]}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:8]}",
        "order_id": order_id,
        "customer": order["customer"],
        "reason": reason,
        "currency": order["currency"],
        "lines": quoted_lines,
        "shipping": float(shipping),
        "amount": float(total),
        "order_total": float(order_total),
        "policy": note[:300],
    }
    json.dump(quote, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
