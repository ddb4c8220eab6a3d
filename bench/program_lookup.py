"""What finding the actions' programs costs a run before its first attempt (`specc.runtime.programs`).

For every example spec's actions, interleaved run for run: a cold lookup (the image's cache entry
removed, so one container is created, its PATH searched through the engine's archive endpoint, and
removed) and a warm one (the cache per image id answers, no container). Prints the median and p90
of each in milliseconds. Usage: `python bench/program_lookup.py [--runs 10]`.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="specc-bench-cache-")

    import docker

    from specc.compiler import compile_source
    from specc.parser import cache_dir
    from specc.runtime.programs import missing_programs

    actions = []
    for spec in sorted(ROOT.glob("specs/*/*.agent")):
        result = compile_source(spec.read_bytes(), str(spec))
        if result.ir is not None:
            actions += list(result.ir.actions.values())
    client = docker.from_env()
    folder = cache_dir()
    assert folder is not None
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(args.runs):
        for entry in glob.glob(os.path.join(folder, "programs-*.json")):
            os.remove(entry)
        started = time.perf_counter()
        assert missing_programs(client, actions) == []
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert missing_programs(client, actions) == []
        warm.append(time.perf_counter() - started)

    def show(name: str, values: list[float]) -> None:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms (n = {len(values)})")

    print(f"{len(actions)} actions of {len(list(ROOT.glob('specs/*/*.agent')))} example specs")
    show("cold (one container, PATH searched)", cold)
    show("warm (cache per image id)", warm)
    print(f"warm / cold: {statistics.median(warm) / statistics.median(cold):.3f}")


if __name__ == "__main__":
    sys.exit(main())
