"""refund: record a refund on an order in /mnt/outbox/refunds.jsonl (the ledger).

stdin:  {"order": "ORD-100234", "amount": 39.9, "reason": "..."}
stdout: {"order", "amount", "status": "issued" | "already_issued"}
Idempotent by order: a second refund of the same order issues nothing and says so.
exit 0 ok. Python 3 standard library only.
"""

import json
import os
import sys

LEDGER = "/mnt/outbox/refunds.jsonl"

args = json.load(sys.stdin)
issued = {}
if os.path.exists(LEDGER):
    with open(LEDGER, encoding="utf-8") as handle:
        issued = {entry["order"]: entry for entry in map(json.loads, filter(str.strip, handle))}
if args["order"] in issued:
    print(json.dumps({"order": args["order"], "amount": issued[args["order"]]["amount"], "status": "already_issued"}))
    sys.exit(0)
with open(LEDGER, "a", encoding="utf-8") as handle:
    handle.write(json.dumps({"order": args["order"], "amount": args["amount"], "reason": args["reason"]}) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
print(json.dumps({"order": args["order"], "amount": args["amount"], "status": "issued"}))
