"""summarise_log: count one service's errors and warnings since a point in time.

stdin:  {"service": "<name>", "since": "YYYY-MM-DDTHH:MM:SSZ"}
stdout: a Digest record {"service", "lines", "errors", "warnings", "top"}
exit 0 ok, 1 the log cannot be read. Python 3 standard library only.

A log line is `<timestamp> <LEVEL> <message>`; lines before `since` are skipped, and so are lines
that do not have that shape (counted in `lines` all the same).
"""

import json
import sys
from collections import Counter

args = json.load(sys.stdin)
service, since = args["service"], args["since"]
lines = errors = warnings = 0
messages = Counter()
try:
    with open(f"/mnt/logs/{service}.log", encoding="utf-8", errors="replace") as log:
        for line in log:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) < 3 or parts[0] < since:
                continue
            lines += 1
            if parts[1] == "ERROR":
                errors += 1
                messages[parts[2][:200]] += 1
            elif parts[1] == "WARN":
                warnings += 1
except OSError as exc:
    print(f"summarise_log: cannot read the log of {service}: {exc}", file=sys.stderr)
    sys.exit(1)
top = [message for message, _ in messages.most_common(5)]
json.dump({"service": service, "lines": lines, "errors": errors, "warnings": warnings, "top": top}, sys.stdout)
