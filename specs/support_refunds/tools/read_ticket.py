"""read_ticket: read one support ticket.

stdin:  {"ticket": "T-NNNNN"}
stdout: a Ticket record {"id", "customer", "subject", "refunds": [RefundRequest]}
exit 0 ok, 1 no such ticket or it cannot be read. Python 3 standard library only.
"""

import json
import sys

args = json.load(sys.stdin)
try:
    with open(f"/mnt/tickets/{args['ticket']}.json", encoding="utf-8") as handle:
        ticket = json.load(handle)
except (OSError, ValueError) as exc:
    print(f"read_ticket: cannot read ticket {args['ticket']}: {exc}", file=sys.stderr)
    sys.exit(1)
json.dump({key: ticket[key] for key in ("id", "customer", "subject", "refunds")}, sys.stdout)
