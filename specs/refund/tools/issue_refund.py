"""issue_refund: record one approved refund in the ledger, at most once.

stdin:  {"quote": Quote}
stdout: a Refund record {"refund_id", "order_id", "amount", "currency", "status"}
exit 0 ok, 1 the ledger cannot be written, 3 a human must look (the ledger is damaged, or the
order would be refunded more than was paid). Python 3 standard library only.

The ledger is /mnt/ledger/refunds.jsonl, one JSON object a line, appended under an exclusive
lock. A refund id already in the ledger is not appended again: the tool answers
"already_issued" with what was recorded. That is what makes `idempotent by quote.refund_id`
true, so the runtime may retry or resume this action safely.
"""

import fcntl
import json
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal

TOOL = "issue_refund"
LEDGER = "/mnt/ledger/refunds.jsonl"
CENT = Decimal("0.01")


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def money(value):
    return Decimal(str(value)).quantize(CENT)


def answer(entry, status):
    json.dump({
        "refund_id": entry["refund_id"],
        "order_id": entry["order_id"],
        "amount": entry["amount"],
        "currency": entry["currency"],
        "status": status,
    }, sys.stdout)
    sys.stdout.write("\n")


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    quote = args.get("quote") if isinstance(args, dict) else None
    required = ("refund_id", "order_id", "customer", "reason", "currency", "lines", "shipping",
                "amount", "order_total", "policy")
    if not isinstance(quote, dict) or any(key not in quote for key in required):
        fail(f"expected arguments {{\"quote\": {{{', '.join(required)}}}}}")
    if money(quote["amount"]) <= 0:
        fail(f"{quote['refund_id']}: the amount must be positive")

    try:
        ledger = open(LEDGER, "a+", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot open the ledger {LEDGER}: {exc}")
    with ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        ledger.seek(0)
        refunded = Decimal(0)
        for number, line in enumerate(ledger, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                entry_id, entry_order = entry["refund_id"], entry["order_id"]
                entry_amount = money(entry["amount"])
            except (ValueError, KeyError, TypeError):
                fail(f"{LEDGER} line {number} is not a ledger entry; repair the ledger first", code=3)
            if entry_id == quote["refund_id"]:
                answer(entry, "already_issued")
                return
            if entry_order == quote["order_id"]:
                refunded += entry_amount
        if refunded + money(quote["amount"]) > money(quote["order_total"]):
            fail(
                f"{quote['order_id']} was already refunded {refunded} {quote['currency']}; another"
                f" {money(quote['amount'])} would exceed the {money(quote['order_total'])} paid",
                code=3,
            )
        entry = {
            "refund_id": quote["refund_id"],
            "order_id": quote["order_id"],
            "customer": quote["customer"],
            "reason": quote["reason"],
            "currency": quote["currency"],
            "amount": quote["amount"],
            "shipping": quote["shipping"],
            "lines": quote["lines"],
            "policy": quote["policy"],
            "issued_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        try:
            ledger.seek(0, os.SEEK_END)
            ledger.write(line)
            ledger.flush()
            os.fsync(ledger.fileno())
        except OSError as exc:
            fail(f"cannot append to the ledger {LEDGER}: {exc}")
    answer(entry, "issued")


if __name__ == "__main__":
    main()
