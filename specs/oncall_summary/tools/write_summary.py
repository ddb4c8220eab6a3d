"""write_summary: write the on-call summary as markdown, replacing an earlier one for the same time.

stdin:  {"digests": [Digest], "since": "YYYY-MM-DDTHH:MM:SSZ"}
stdout: a Summary record {"file", "services", "errors", "quiet"}
exit 0 ok, 1 the report cannot be written. Python 3 standard library only.
"""

import json
import os
import sys

args = json.load(sys.stdin)
digests, since = args["digests"], args["since"]
name = "oncall-" + since.replace(":", "") + ".md"
lines = [f"# On call since {since}", ""]
for digest in sorted(digests, key=lambda d: (-d["errors"], d["service"])):
    lines.append(f"## {digest['service']}: {digest['errors']} errors, {digest['warnings']} warnings "
                 f"in {digest['lines']} lines")
    lines.extend(f"- {message}" for message in digest["top"])
    lines.append("")
path = f"/mnt/reports/{name}"
with open(path + ".tmp", "w", encoding="utf-8") as report:
    report.write("\n".join(lines))
os.replace(path + ".tmp", path)
errors = sum(d["errors"] for d in digests)
json.dump({"file": name, "services": len(digests), "errors": errors, "quiet": errors == 0}, sys.stdout)
