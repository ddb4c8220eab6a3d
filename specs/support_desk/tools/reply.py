"""reply: queue a reply to a ticket's customer in /mnt/outbox/replies.jsonl, for a person to review.

stdin:  {"ticket": "T-1001", "body": "..."}
stdout: {"ticket": "T-1001", "status": "queued"}
Idempotent by ticket: a second reply to the same ticket replaces nothing and queues nothing more.
exit 0 ok. Python 3 standard library only.
"""

import json
import os
import sys

OUTBOX = "/mnt/outbox/replies.jsonl"

args = json.load(sys.stdin)
queued = set()
if os.path.exists(OUTBOX):
    with open(OUTBOX, encoding="utf-8") as handle:
        queued = {json.loads(line)["ticket"] for line in handle if line.strip()}
if args["ticket"] not in queued:
    with open(OUTBOX, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"ticket": args["ticket"], "body": args["body"]}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
print(json.dumps({"ticket": args["ticket"], "status": "queued"}))
