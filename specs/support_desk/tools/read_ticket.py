"""read_ticket: read one support ticket from /mnt/tickets.

stdin:  {"id": "T-1001"}
stdout: the Ticket (id, customer, order, subject, body)
exit 0 ok, 1 no such ticket or a malformed ticket file. Python 3 standard library only.
"""

import json
import sys

TICKETS = "/mnt/tickets"


def fail(message):
    print(f"read_ticket: {message}", file=sys.stderr)
    sys.exit(1)


args = json.load(sys.stdin)
ticket_id = args["id"]
try:
    with open(f"{TICKETS}/{ticket_id}.json", encoding="utf-8") as handle:
        ticket = json.load(handle)
except FileNotFoundError:
    fail(f"no ticket {ticket_id}")
except ValueError as exc:
    fail(f"ticket {ticket_id} is not JSON: {exc}")
print(json.dumps({key: ticket.get(key) for key in ("id", "customer", "order", "subject", "body")}))
