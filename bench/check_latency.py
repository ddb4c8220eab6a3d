"""How fast `specc check` answers, on a generated ~2,000-line spec (bench/gen_spec.py).

Prints (a) the median wall time of the whole `specc check FILE` process (the console script, after
a warm-up run so that the parser's cached tables exist), (b) in-process parse+check throughput in
lines per second (`compile_source`, after a warm-up), and, for context, the bare import time of
pydantic and click (lark is imported only for text that does not parse); and (c) the whole
process against the bare imports of the libraries it loads, side by side: rounds that each run
`python -c "import LIBS"` (LIBS found by running `specc check` and listing the third-party packages
it imported), the project's libraries for context, and `specc check` of a small and of the
generated spec, once each in turn, with the wall time and the CPU time (user + system) of each
process. Usage: `python bench/check_latency.py [--runs 20] [--rounds 30] [--actions 60] [--keep PATH]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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
#: Whole-process `specc check` of a small spec against the bare imports of its libraries.
TARGET_IMPORT_RATIO = 1.25
#: The small spec of (c): what an editor checks on most keystrokes.
SMALL_SPEC = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "clean.agent"
#: The project's runtime libraries, for context in (c).
PROJECT_LIBRARIES = ("lark", "pydantic", "jsonschema", "click", "rich")
#: What `specc check` imported before its AST stopped being pydantic models (2026-12-01).
LIBRARIES_BEFORE = ("pydantic", "click")

#: Runs `specc check` in this interpreter and prints the third-party packages it imported (those
#: loaded before `main`, such as a `.pth` hook's, are the interpreter's start-up, not the check's).
PROBE = """
import json, sys
before = set(sys.modules)
from specc.main import main  # the console script's entry point
sys.argv = ["specc", "check", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
top = {m.split(".")[0] for m in set(sys.modules) - before}
print(json.dumps(sorted(m for m in top if m not in sys.stdlib_module_names and not m.startswith("_")
                        and m != "specc")))
"""


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


def libraries_of_check(spec: Path) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, str(spec)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def side_by_side(commands: dict[str, list[str]], rounds: int, env: dict[str, str]) -> dict[str, tuple[list[float],
                                                                                                list[float]]]:
    """Each command once per round, in turn, after a warm-up round: its wall times and its CPU times
    (user + system)."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    for args in commands.values():
        subprocess.run(args, capture_output=True, env=env)
    for _ in range(rounds):
        for name, args in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(args, capture_output=True, env=env)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name][0].append(wall)
            times[name][1].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"



def _ratio(times: list[float], against: list[float]) -> float:
    """The median of the round-by-round ratios of two interleaved series."""
    return statistics.median(a / b for a, b in zip(times, against, strict=True))

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="process runs to time (default 20)")
    parser.add_argument("--actions", type=int, default=60, help="actions in the generated spec (default 60)")
    parser.add_argument("--keep", type=Path, help="also write the generated spec here")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of (c), side by side (default 30)")
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

    # (c) side by side: the whole process against the bare imports of the libraries it loads
    libraries = libraries_of_check(SMALL_SPEC)
    commands = {
        "imports": [sys.executable, "-c", f"import {', '.join(libraries)}" if libraries else "pass"],
        "before": [sys.executable, "-c", f"import {', '.join(LIBRARIES_BEFORE)}"],
        "project": [sys.executable, "-c", f"import {', '.join(PROJECT_LIBRARIES)}"],
        "small": [*console_script(), "check", str(SMALL_SPEC)],
        "large": command,
    }
    # As installed from a wheel, every module has its bytecode: the warm-up round writes specc's to a
    # folder of its own, whatever PYTHONDONTWRITEBYTECODE says (the libraries' are in site-packages).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    side = side_by_side(commands, args.rounds, env)
    wall = {name: statistics.median(w) for name, (w, _) in side.items()}
    cpu = {name: statistics.median(c) for name, (_, c) in side.items()}
    ratio = {name: _ratio(side[name][0], side["imports"][0]) for name in side}
    cpu_ratio = {name: _ratio(side[name][1], side["imports"][1]) for name in side}
    small_lines = SMALL_SPEC.read_text().count("\n")
    print(f"(c) side by side, {args.rounds} rounds; `specc check` imports these libraries: "
          f"{', '.join(libraries) or 'none'}")
    rows = [("imports", f"`python -c 'import {', '.join(libraries)}'`"),
            ("before", f"reference: `python -c 'import {', '.join(LIBRARIES_BEFORE)}'`, what it imported before"),
            ("project", f"context: `python -c 'import {', '.join(PROJECT_LIBRARIES)}'`"),
            ("small", f"`specc check` of {SMALL_SPEC.name} ({small_lines} lines)"),
            ("large", f"`specc check` of the generated spec ({lines} lines)")]
    for name, label in rows:
        print(f"    {label}: wall {ms(wall[name])}, cpu {ms(cpu[name])}; against the bare imports: "
              f"wall {ratio[name]:.2f}x, cpu {cpu_ratio[name]:.2f}x")
    print(f"    small spec against its libraries' bare imports: {ratio['small']:.2f}x (cpu {cpu_ratio['small']:.2f}x); "
          f"target <= {TARGET_IMPORT_RATIO}x: {verdict(ratio['small'] <= TARGET_IMPORT_RATIO)}")
    print(f"    small spec against the reference ({', '.join(LIBRARIES_BEFORE)}): "
          f"{_ratio(side['small'][0], side['before'][0]):.2f}x "
          f"(cpu {_ratio(side['small'][1], side['before'][1]):.2f}x)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note:    PYTHONDONTWRITEBYTECODE is set: modules without a .pyc (specc's own, in an editable "
              "install) are compiled from source on every run")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
