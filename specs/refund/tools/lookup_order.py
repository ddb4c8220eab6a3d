"""lookup_order: read one order from the order store mounted at /mnt/orders.

stdin:  {"order_id": "ORD-100234"}
stdout: an Order record (id, customer, status, placed_on, delivered_on?, currency, shipping, items)
exit 0 ok, 1 no such order or a malformed order file. Python 3 standard library only.
"""

import json
import re
import sys
from datetime import date

TOOL = "lookup_order"
ORDERS = "/mnt/orders"
ORDER_ID = re.compile(r"^ORD-[0-9]{6}$")
CUSTOMER_ID = re.compile(r"^CUS-[0-9]{5}$")
STATUSES = ("placed", "shipped", "delivered", "cancelled")


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def day(value, field):
    """An ISO date, or the date part of an ISO timestamp, as YYYY-MM-DD."""
    if not isinstance(value, str):
        fail(f"{field}: expected a date, got {json.dumps(value)}")
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        fail(f"{field}: {json.dumps(value)} is not a date")


def number(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        fail(f"{field}: expected a non-negative number, got {json.dumps(value)}")
    return value


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    order_id = args.get("order_id") if isinstance(args, dict) else None
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        fail('expected arguments {"order_id": "ORD-000000"}')
    path = f"{ORDERS}/{order_id}.json"  # safe: the id matched ^ORD-[0-9]{6}$
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except FileNotFoundError:
        fail(f"there is no order {order_id}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"cannot read the order file {path}: {exc}")
    if not isinstance(doc, dict) or doc.get("id") != order_id:
        fail(f"{path} does not hold order {order_id}")

    customer = doc.get("customer", {})
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if not isinstance(customer_id, str) or not CUSTOMER_ID.match(customer_id):
        fail(f"{order_id}: customer id {json.dumps(customer_id)} is not of the form CUS-00000")
    status = doc.get("status")
    if status not in STATUSES:
        fail(f"{order_id}: unknown status {json.dumps(status)}")
    currency = doc.get("currency")
    if currency not in ("EUR", "USD"):
        fail(f"{order_id}: unsupported currency {json.dumps(currency)}")

    items = []
    raw_items = doc.get("items")
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= 200:
        fail(f"{order_id}: expected 1 to 200 items")
    for index, item in enumerate(raw_items, start=1):
        where = f"{order_id} item {index}"
        if not isinstance(item, dict):
            fail(f"{where}: expected an object")
        sku, name, qty = item.get("sku"), item.get("name"), item.get("qty")
        if not isinstance(sku, str) or not 1 <= len(sku) <= 64:
            fail(f"{where}: bad sku {json.dumps(sku)}")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            fail(f"{where}: bad name")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            fail(f"{where}: bad quantity {json.dumps(qty)}")
        items.append({
            "sku": sku,
            "name": name,
            "qty": qty,
            "unit_price": number(item.get("unit_price"), f"{where} unit_price"),
            "final_sale": bool(item.get("final_sale", False)),
        })

    order = {
        "id": order_id,
        "customer": customer_id,
        "status": status,
        "placed_on": day(doc.get("placed_at"), f"{order_id} placed_at"),
        "currency": currency,
        "shipping": number(doc.get("shipping", 0), f"{order_id} shipping"),
        "items": items,
    }
    if doc.get("delivered_at") is not None:
        order["delivered_on"] = day(doc["delivered_at"], f"{order_id} delivered_at")
    elif status == "delivered":
        fail(f"{order_id} is delivered but has no delivered_at date")
    json.dump(order, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
