"""announce: send one alert to the public status page, at most once.

stdin:  {"alert": Alert}
stdout: a Sent record {"alert", "channel": "status_page", "reference"}
exit 0 ok, 1 the log cannot be written. Python 3 standard library only.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from send import send  # noqa: E402

if __name__ == "__main__":
    send("status_page", "/mnt/status/incidents.jsonl", "INC")
