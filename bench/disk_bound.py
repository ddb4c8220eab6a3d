"""The disk bound on the real engine: how much a tool that tries to write 4 GiB into a read_write
mount gets written before the kernel stops it, and what the bound costs an attempt.

- flood: a tool writes 1 MiB chunks toward 4 GiB into its read_write mount at the default bound
  (256 MiB); the script prints the bytes it wrote before ENOSPC, the seconds it took, the
  attempt's kind, and the bytes left in the host folder afterwards (`--floods` times).
- overhead: a trivial tool (`print("{}")`) with one read_write mount (staged on its own disk, then
  applied) against the same tool with the mount read_only (no disk), interleaved attempt for
  attempt (`--runs` pairs); medians, p90 and the ratio of the medians.

Usage: `python bench/disk_bound.py [--runs 20] [--floods 3] [--bound-mib 256]`. Needs root and the
base image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from specc.runtime.backend import AttemptRequest, Limits, Mount
from specc.runtime.sandbox import BASE_IMAGE, Sandbox

FLOOD = r"""
import json, sys
written, chunk = 0, b"x" * (1 << 20)
try:
    with open("/out/flood.bin", "wb", buffering=0) as out:
        while written < 4 * 1024**3:
            written += out.write(chunk)
except OSError as err:
    print(json.dumps({"written": written, "error": err.strerror}))
    sys.exit(1)
print(json.dumps({"written": written}))
"""


def request(code: str, folder: str, read_only: bool, bound: int) -> AttemptRequest:
    limits = Limits(memory_bytes=256 * 1024 * 1024, cpus=1.0, pids=64, timeout_s=120.0,
                    output_bytes=1024 * 1024, disk_bytes=bound)
    return AttemptRequest(image=BASE_IMAGE, argv=("python3", "-c", code), stdin=b"{}",
                          mounts=(Mount(folder, "/out", read_only),), env={}, limits=limits,
                          run_id=f"bench-{uuid.uuid4().hex[:12]}")


def host_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--floods", type=int, default=3)
    parser.add_argument("--bound-mib", type=int, default=256)
    options = parser.parse_args()
    bound = options.bound_mib * 1024 * 1024
    sandbox = Sandbox()
    sandbox.check()
    import json

    print(f"disk bound {options.bound_mib} MiB ({bound} bytes)")
    for n in range(options.floods):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as raw:
            folder = Path(raw)
            os.chmod(folder, 0o777)
            started = time.monotonic()
            result = sandbox.run(request(FLOOD, str(folder), False, bound))
            elapsed = time.monotonic() - started
            written = json.loads(result.stdout)["written"] if result.stdout else -1
            print(f"flood {n + 1}: {written} bytes written before ENOSPC ({written / bound:.3f} x the bound), "
                  f"{elapsed:.2f} s, kind {result.kind}, {host_bytes(folder)} bytes left in the host folder")

    staged: list[float] = []
    plain: list[float] = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as raw:
        os.chmod(raw, 0o777)
        for _ in range(options.runs):
            for read_only, into in ((False, staged), (True, plain)):
                started = time.monotonic()
                result = sandbox.run(request('print("{}")', raw, read_only, bound))
                into.append(time.monotonic() - started)
                assert result.kind == "ok", result.detail
    for name, values in (("read_write (staged)", staged), ("read_only (no disk)", plain)):
        print(f"{name}: median {statistics.median(values) * 1000:.0f} ms, p90 {percentile(values, 0.9) * 1000:.0f} ms "
              f"(n={len(values)})")
    print(f"ratio of medians: {statistics.median(staged) / statistics.median(plain):.2f}")
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
