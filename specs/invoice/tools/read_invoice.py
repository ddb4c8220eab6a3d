"""read_invoice: parse one supplier invoice file into the agent's Invoice record.

stdin:  {"file": "/mnt/inbox/<name>.json"}
stdout: an Invoice record (id, amount, currency, vendor, lines, notes?)
exit 0 ok, 1 bad data, 3 a human should decide (e.g. the totals disagree).
Python 3 standard library only.
"""

import json
import re
import sys
from decimal import Decimal, InvalidOperation

TOOL = "read_invoice"
INVOICE_ID = re.compile(r"^INV-[0-9]{6}$")
CURRENCIES = ("EUR", "USD")
MAX_BYTES = 4 * 1024 * 1024


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def money(value, where):
    """Parse 1840.5, "1840.50" or "1,840.50" into a Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        fail(f"{where}: expected an amount, got {json.dumps(value)}")
    text = str(value).strip().replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        fail(f"{where}: {json.dumps(value)} is not an amount")
    if not amount.is_finite() or amount < 0:
        fail(f"{where}: {json.dumps(value)} is not a non-negative amount")
    return amount


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    if not isinstance(args, dict) or not isinstance(args.get("file"), str):
        fail('expected arguments {"file": "<absolute path>"}')
    path = args["file"]

    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if len(raw) > MAX_BYTES:
        fail(f"{path} is larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not a UTF-8 JSON document: {exc}")
    if not isinstance(doc, dict):
        fail(f"{path}: expected a JSON object at the top level")

    invoice_id = str(doc.get("invoice_number", "")).strip().upper()
    if not INVOICE_ID.match(invoice_id):
        fail(f"invoice_number {json.dumps(doc.get('invoice_number'))} is not of the form INV-000000")

    currency = str(doc.get("currency", "")).strip().upper()
    if not currency:
        fail("the invoice has no currency")
    if currency not in CURRENCIES:
        fail(f"{invoice_id}: currency {currency} is not handled automatically", code=3)

    vendor = doc.get("vendor")
    vendor_name = vendor.get("name") if isinstance(vendor, dict) else vendor
    if not isinstance(vendor_name, str) or not vendor_name.strip():
        fail(f"{invoice_id}: the vendor has no name")
    vendor_name = " ".join(vendor_name.split())
    if len(vendor_name) > 200:
        fail(f"{invoice_id}: the vendor name is longer than 200 characters")

    raw_lines = doc.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        fail(f"{invoice_id}: the invoice has no lines")
    if len(raw_lines) > 500:
        fail(f"{invoice_id}: {len(raw_lines)} lines, at most 500 are accepted")
    lines = []
    subtotal = Decimal(0)
    for number, line in enumerate(raw_lines, start=1):
        where = f"{invoice_id} line {number}"
        if not isinstance(line, dict):
            fail(f"{where}: expected an object")
        sku = line.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            fail(f"{where}: missing sku")
        qty = line.get("quantity", line.get("qty"))
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            fail(f"{where}: quantity {json.dumps(qty)} is not a whole number of at least 1")
        subtotal += qty * money(line.get("unit_price"), f"{where} unit_price")
        lines.append({"sku": sku.strip(), "qty": qty})

    total = money(doc.get("total"), f"{invoice_id} total")
    tax = money(doc.get("tax", 0), f"{invoice_id} tax")
    if total > 100000:
        fail(f"{invoice_id}: total {total} is above the 100000 ceiling of this agent")
    if abs(subtotal + tax - total) > Decimal("0.01"):
        fail(
            f"{invoice_id}: lines ({subtotal}) plus tax ({tax}) do not add up to the total ({total})",
            code=3,
        )

    invoice = {
        "id": invoice_id,
        "amount": float(total),
        "currency": currency,
        "vendor": vendor_name,
        "lines": lines,
    }
    notes = doc.get("notes")
    if isinstance(notes, str) and notes.strip():
        invoice["notes"] = notes.strip()
    json.dump(invoice, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
