"""One channel's log of what was sent: append an alert's message at most once.

`page.py`, `announce.py` and `open_ticket.py` each call `send` with their channel and log file.
An alert id already in the log is answered with its first reference and not sent again: that is
what makes `idempotent by alert.id` true, so the runtime may retry or resume these actions.
"""

import fcntl
import json
import os
import sys


def send(channel, log, prefix):
    args = json.load(sys.stdin)
    alert = args["alert"]
    with open(log, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        count = 0
        for line in handle:
            if not line.strip():
                continue
            count += 1
            entry = json.loads(line)
            if entry["alert"] == alert["id"]:
                json.dump({"alert": alert["id"], "channel": channel, "reference": entry["reference"]}, sys.stdout)
                return
        reference = f"{prefix}-{count + 1:05d}"
        entry = {"alert": alert["id"], "reference": reference, "service": alert["service"],
                 "severity": alert["severity"], "summary": alert["summary"]}
        handle.seek(0, os.SEEK_END)
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    json.dump({"alert": alert["id"], "channel": channel, "reference": reference}, sys.stdout)
