"""read_csv: parse one CSV file into a table of text cells, keeping each row's line number.

stdin:  {"file": "/mnt/inbox/<name>.csv"}
stdout: a Table record {"source", "columns", "rows": [{"line", "cells"}...]}
exit 0 ok, 1 not a readable UTF-8 CSV file or over the limits. Python 3 standard library only.
Accepts a UTF-8 byte-order mark, and `,`, `;` or tab as the delimiter; skips blank lines.
"""

import csv
import io
import json
import os
import sys

TOOL = "read_csv"
MAX_BYTES = 8 * 1024 * 1024
MAX_ROWS = 50000
MAX_COLUMNS = 50


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    path = args.get("file") if isinstance(args, dict) else None
    if not isinstance(path, str):
        fail('expected arguments {"file": "<absolute path>"}')
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if len(raw) > MAX_BYTES:
        fail(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB; split it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 (byte {exc.start}); export it as UTF-8")
    if "\0" in text:
        fail(f"{path} contains NUL bytes: it is not a text file")

    header_line = text.split("\n", 1)[0]
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    delimiter = max(counts, key=counts.get)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    columns, rows = None, []
    try:
        line = 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns = [cell.strip() for cell in cells]
                if len(columns) > MAX_COLUMNS:
                    fail(f"{len(columns)} columns, at most {MAX_COLUMNS} are accepted")
                continue
            if len(rows) == MAX_ROWS:
                fail(f"more than {MAX_ROWS} rows; split the file")
            rows.append({"line": start, "cells": cells[:MAX_COLUMNS]})
    except csv.Error as exc:
        fail(f"{path} line {reader.line_num}: {exc}")
    if columns is None:
        fail(f"{path} is empty")

    json.dump({"source": os.path.basename(path)[:255], "columns": columns, "rows": rows},
              sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
