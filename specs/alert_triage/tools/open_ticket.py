"""open_ticket: send one alert to the team's ticket queue, at most once.

stdin:  {"alert": Alert}
stdout: a Sent record {"alert", "channel": "ticket", "reference"}
exit 0 ok, 1 the log cannot be written. Python 3 standard library only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from send import send  # noqa: E402

if __name__ == "__main__":
    send("ticket", "/mnt/tickets/tickets.jsonl", "TK")
