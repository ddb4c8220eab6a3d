"""write_json: write a normalised batch to the outbox as one JSON document, atomically.

stdin:  {"batch": {"source", "records", "rejected"}, "dest": "/mnt/outbox/<name>.json"}
stdout: a Written record {"file", "records", "rejected", "sha256"}
exit 0 ok, 1 bad destination or the file cannot be written. Python 3 standard library only.
The bytes depend only on the batch (sorted keys, no timestamp) and replace the destination in one
rename, so writing the same batch twice leaves the same file: the spec declares it `idempotent`.
"""

import hashlib
import json
import os
import sys
import tempfile

TOOL = "write_json"
OUTBOX = "/mnt/outbox"


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def main():
    try:
        args = json.load(sys.stdin)
        batch, dest = args["batch"], args["dest"]
        records, rejected, source = batch["records"], batch["rejected"], batch["source"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        fail(f'expected arguments {{"batch": {{"source", "records", "rejected"}}, "dest"}}: {exc!r}')
    if not isinstance(dest, str) or not dest.endswith(".json"):
        fail(f"the destination must be a .json file, not {dest!r}")
    if os.path.commonpath([os.path.realpath(dest), OUTBOX]) != OUTBOX:
        fail(f"{dest} is not inside {OUTBOX}")
    if os.path.isdir(dest):
        fail(f"{dest} is a folder")

    document = {"source": source, "records": records, "rejected": rejected}
    data = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    folder = os.path.dirname(dest)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write_json-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        fail(f"cannot write {dest}: {exc}")

    json.dump({
        "file": os.path.relpath(dest, OUTBOX),
        "records": len(records),
        "rejected": len(rejected),
        "sha256": hashlib.sha256(data).hexdigest(),
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
