"""pay_refund: refund one order through the payments API, at most once a request id.

stdin:  {"request": RefundRequest, "customer": "CUS-NNNNN"}
stdout: a Payment record {"request", "payment", "amount", "currency", "status"}
exit 0 ok, 1 the API refused or cannot be reached. Python 3 standard library only.

This example talks to the API's sandbox, which records each refund in
/mnt/payments/refunds.jsonl. Like the real API, it answers a request id it has already refunded
with the first payment and refunds nothing again: that is what `idempotent by request.id` relies
on, so the runtime may retry or resume this action safely.
"""

import fcntl
import json
import os
import sys

LOG = "/mnt/payments/refunds.jsonl"

args = json.load(sys.stdin)
request = args["request"]
with open(LOG, "a+", encoding="utf-8") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    log.seek(0)
    entries = [json.loads(line) for line in log if line.strip()]
    for entry in entries:
        if entry["request"] == request["id"]:
            json.dump({"request": request["id"], "payment": entry["payment"], "amount": entry["amount"],
                       "currency": entry["currency"], "status": "already_refunded"}, sys.stdout)
            sys.exit(0)
    payment = f"PAY-{len(entries) + 1:06d}"
    entry = {"request": request["id"], "payment": payment, "order": request["order"], "customer": args["customer"],
             "amount": request["amount"], "currency": request["currency"], "reason": request["reason"]}
    log.seek(0, os.SEEK_END)
    log.write(json.dumps(entry, sort_keys=True) + "\n")
    log.flush()
    os.fsync(log.fileno())
json.dump({"request": request["id"], "payment": payment, "amount": request["amount"],
           "currency": request["currency"], "status": "refunded"}, sys.stdout)
