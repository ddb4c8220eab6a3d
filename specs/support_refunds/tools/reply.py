"""reply: write the customer's reply to the outbox, at most once a ticket.

stdin:  {"ticket": Ticket, "payments": [Payment]}
stdout: a Reply record {"ticket", "file", "refunds"}
exit 0 ok, 1 the outbox cannot be written. Python 3 standard library only.
"""

import fcntl
import json
import os
import sys

OUTBOX = "/mnt/outbox/replies.jsonl"

args = json.load(sys.stdin)
ticket, payments = args["ticket"], args["payments"]
answer = {"ticket": ticket["id"], "file": "replies.jsonl", "refunds": len(payments)}
if payments:
    lines = [f"- {p['amount']:.2f} {p['currency']} ({p['payment']})" for p in payments]
    text = "We have refunded:\n" + "\n".join(lines) + "\nThe money reaches your account within 5 working days."
else:
    text = f"Thank you for your message about \"{ticket['subject']}\". A colleague answers within one working day."
with open(OUTBOX, "a+", encoding="utf-8") as outbox:
    fcntl.flock(outbox, fcntl.LOCK_EX)
    outbox.seek(0)
    if any(json.loads(line)["ticket"] == ticket["id"] for line in outbox if line.strip()):
        json.dump(answer, sys.stdout)
        sys.exit(0)
    outbox.seek(0, os.SEEK_END)
    outbox.write(json.dumps({"ticket": ticket["id"], "to": ticket["customer"], "text": text}, sort_keys=True) + "\n")
    outbox.flush()
    os.fsync(outbox.fileno())
json.dump(answer, sys.stdout)
