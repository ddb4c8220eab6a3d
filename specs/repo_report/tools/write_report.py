"""write_report: render a Scan and a Hygiene record as a markdown report.

stdin:  {"report": "/mnt/reports/<name>.md", "scan": Scan, "hygiene": Hygiene}
stdout: a Report record {"file": "<name>.md", "bytes": N, "findings": N}
exit 0 ok, 1 bad input or the file cannot be written. Python 3 standard library only.
The report is a function of its input only (no timestamps) and is written atomically,
so running the tool twice leaves the same file: the spec declares it `idempotent`.
"""

import json
import os
import sys
import tempfile

TOOL = "write_report"
REPORTS = "/mnt/reports"


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def findings_of(scan, hygiene):
    findings = []
    if not hygiene["readme"]:
        findings.append("No README at the root of the checkout.")
    elif hygiene["readme_lines"] < 5:
        findings.append(f"The README has only {hygiene['readme_lines']} lines.")
    if hygiene["license"] == "missing":
        findings.append("No LICENSE file: without one, nobody may legally reuse the code.")
    elif hygiene["license"] == "unrecognised":
        findings.append("The LICENSE file is not a license this report recognises; check it.")
    if not hygiene["tests"]:
        findings.append("No tests found.")
    if not hygiene["ci"]:
        findings.append("No CI configuration found.")
    if scan["markers_total"]:
        findings.append(f"{scan['markers_total']} TODO/FIXME markers in the code.")
    if scan["skipped"]:
        findings.append(f"{scan['skipped']} files were skipped (binary, over 2 MiB or unreadable).")
    return findings


def render(scan, hygiene, findings):
    out = [f"# Maintenance report: {scan['project']}", ""]
    out.append(f"{scan['files']} files, {scan['lines']} lines.")
    out.append("")
    out.append("## Findings")
    out.append("")
    out.extend(f"- {finding}" for finding in findings)
    if not findings:
        out.append("Nothing to report.")
    out += ["", "## Basics", "", "| check | result |", "| --- | --- |"]
    readme = f"yes, {hygiene['readme_lines']} lines" if hygiene["readme"] else "missing"
    out.append(f"| README | {readme} |")
    out.append(f"| license | {hygiene['license']} |")
    out.append(f"| tests | {'yes' if hygiene['tests'] else 'none found'} |")
    out.append(f"| CI | {'yes' if hygiene['ci'] else 'none found'} |")
    out += ["", "## Languages", "", "| language | files | lines |", "| --- | ---: | ---: |"]
    for stat in scan["languages"]:
        out.append(f"| {cell(stat['language'])} | {stat['files']} | {stat['lines']} |")
    out += ["", "## TODO and FIXME", ""]
    if scan["markers"]:
        out += ["| where | kind | note |", "| --- | --- | --- |"]
        for marker in scan["markers"]:
            where = f"`{cell(marker['file'])}:{marker['line']}`"
            out.append(f"| {where} | {marker['kind']} | {cell(marker['text'])} |")
        hidden = scan["markers_total"] - len(scan["markers"])
        if hidden > 0:
            out += ["", f"and {hidden} more."]
    else:
        out.append("None.")
    return "\n".join(out) + "\n"


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    if not isinstance(args, dict):
        fail('expected arguments {"report": ..., "scan": {...}, "hygiene": {...}}')
    target, scan, hygiene = args.get("report"), args.get("scan"), args.get("hygiene")
    if not isinstance(target, str) or not isinstance(scan, dict) or not isinstance(hygiene, dict):
        fail('expected arguments {"report": ..., "scan": {...}, "hygiene": {...}}')
    if not target.endswith(".md"):
        fail(f"the report must be a .md file, not {target}")
    if os.path.commonpath([os.path.realpath(target), REPORTS]) != REPORTS:
        fail(f"{target} is not inside {REPORTS}")

    try:
        findings = findings_of(scan, hygiene)
        text = render(scan, hygiene, findings)
    except (KeyError, TypeError) as exc:
        fail(f"the scan or hygiene record is incomplete: {exc!r}")
    data = text.encode("utf-8")

    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        fail(f"cannot write {target}: {exc}")

    json.dump({
        "file": os.path.relpath(target, REPORTS),
        "bytes": len(data),
        "findings": len(findings),
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
