"""classify: sort one batch of alerts into pages, tickets and noise.

stdin:  {"batch": "/mnt/alerts/<file>.json"}   a JSON list of alerts
stdout: a Triage record {"page": [Alert], "ticket": [Alert], "ignored": int}
exit 0 ok, 1 the batch cannot be read, 3 the batch is not a list of alerts (a person must look).
Python 3 standard library only.

Rules: `critical` and `major` page, `minor` opens a ticket, `info` is ignored; an alert whose
service and summary repeat one earlier in the batch is ignored too. More than 20 pages in one
batch is a storm, which is one incident, not twenty: the tool stops there and asks for a person.
"""

import json
import sys

TOOL = "classify"
FIELDS = ("id", "service", "severity", "summary", "customers")
MAX_PAGES = 20
MAX_TICKETS = 50


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def main():
    args = json.load(sys.stdin)
    try:
        with open(args["batch"], encoding="utf-8") as handle:
            alerts = json.load(handle)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the batch: {exc}")
    if not isinstance(alerts, list) or not all(isinstance(a, dict) and all(k in a for k in FIELDS) for a in alerts):
        fail(f"the batch must be a JSON list of alerts with {', '.join(FIELDS)}", code=3)
    page, ticket, ignored, seen = [], [], 0, set()
    for alert in alerts:
        key = (alert["service"], alert["summary"])
        if alert["severity"] == "info" or key in seen:
            ignored += 1
            continue
        seen.add(key)
        alert = {k: alert[k] for k in FIELDS}
        (page if alert["severity"] in ("critical", "major") else ticket).append(alert)
    if len(page) > MAX_PAGES or len(ticket) > MAX_TICKETS:
        fail(f"{len(page)} pages and {len(ticket)} tickets in one batch: an alert storm, triage it by hand", code=3)
    json.dump({"page": page, "ticket": ticket, "ignored": ignored}, sys.stdout)


if __name__ == "__main__":
    main()
