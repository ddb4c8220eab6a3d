"""How fast `specc check` answers, on a generated ~2,000-line spec (bench/gen_spec.py).

Prints (a) the median wall time of the whole `specc check FILE` process (the console script, after
a warm-up run so that the parser's cached tables exist), (b) in-process parse+check throughput in
lines per second (`compile_source`, after a warm-up), and, for context, the bare import time of
pydantic and click (lark is imported only for text that does not parse). Usage:
`python bench/check_latency.py [--runs 20] [--actions 60] [--keep PATH]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_spec import generate  # noqa: E402

#: Targets from the brief: an editor runs `specc check` on every keystroke.
TARGET_PROCESS_MS = 250.0
TARGET_LINES_PER_S = 30_000.0


def console_script() -> list[str]:
    beside = Path(sys.executable).parent / "specc"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("specc")
    if found:
        return [found]
    print("note: no `specc` console script found; timing `python -m specc.cli` instead")
    return [sys.executable, "-m", "specc.cli"]


def wall_times(args: list[str], runs: int, expect: int | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if expect is not None and result.returncode != expect:
            raise SystemExit(f"`{' '.join(args)}` exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="process runs to time (default 20)")
    parser.add_argument("--actions", type=int, default=60, help="actions in the generated spec (default 60)")
    parser.add_argument("--keep", type=Path, help="also write the generated spec here")
    args = parser.parse_args()

    from specc.compiler import compile_source

    text = generate(args.actions)
    lines = text.count("\n")
    workdir = Path(tempfile.mkdtemp(prefix="specc-bench-"))
    spec = workdir / "batch_pipeline.agent"
    spec.write_text(text, "utf-8")
    if args.keep:
        args.keep.write_text(text, "utf-8")

    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}")
    print(f"python:  {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"spec:    {lines} lines, {len(text.encode())} bytes, {args.actions} actions, {2 * args.actions} types")

    result = compile_source(text, str(spec))
    counts = {s: sum(d.severity.value == s for d in result.diagnostics) for s in ("error", "warning", "note")}
    print(f"check:   {len(result.diagnostics)} diagnostics ({counts['error']} errors, {counts['warning']} warnings)")
    for d in result.diagnostics[:10]:
        print(f"         {d.severity.value}[{d.code.code}] {d.span.line}:{d.span.column} {d.message}")
    if counts["error"]:
        raise SystemExit("the generated spec must check without errors")

    # (a) the whole process, as an editor or CI runs it
    command = [*console_script(), "check", str(spec)]
    wall_times(command, 1, expect=0)  # warm-up: writes the parser's tables to the cache, fills the page cache
    process = wall_times(command, args.runs, expect=0)
    median_process = statistics.median(process)

    # (b) in process: parse + lower + every pass
    compile_source(text, str(spec))
    in_process = []
    for _ in range(7):
        start = time.perf_counter()
        compile_source(text, str(spec))
        in_process.append(time.perf_counter() - start)
    median_compile = statistics.median(in_process)
    throughput = lines / median_compile

    # context: what the interpreter and the three libraries cost before specc does anything
    bare = statistics.median(wall_times([sys.executable, "-c", "pass"], 10))
    imports = statistics.median(wall_times([sys.executable, "-c", "import pydantic, click"], 10))

    print()
    print(f"(a) `specc check FILE`, whole process, median of {args.runs}: {ms(median_process)} "
          f"(min {ms(min(process))}, max {ms(max(process))}); target <= {TARGET_PROCESS_MS:.0f} ms: "
          f"{verdict(median_process * 1000 <= TARGET_PROCESS_MS)}")
    print(f"(b) in-process parse+check, median of {len(in_process)}: {ms(median_compile)} = {throughput:,.0f} lines/s; "
          f"target >= {TARGET_LINES_PER_S:,.0f} lines/s: {verdict(throughput >= TARGET_LINES_PER_S)}")
    print(f"context: `python -c pass` {ms(bare)}; `python -c 'import pydantic, click'` {ms(imports)} "
          f"(imports alone: {ms(imports - bare)})")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note:    PYTHONDONTWRITEBYTECODE is set: modules without a .pyc (specc's own, in an editable "
              "install) are compiled from source on every run")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
