"""Batch throughput: `specc batch` of a two-step spec at several concurrencies, on this machine's
Docker engine and on a two-node local Ray cluster.

Each configuration runs `--runs` inputs of tests/fixtures/batch/twostep.agent (two containers per
run, no waiting inside the tools) through the real `specc batch` command into a fresh store, and
prints runs per minute, the median and p95 time of a run (from its start to its end in the store),
and the scaling of runs per minute against concurrency 1 of the same backend. On one machine the
nodes of a local cluster share its cores and its engine: the cluster's figures show what Ray adds
per attempt, not what more machines give.

Usage: `python bench/batch.py [--runs 200] [--concurrency 1,4,8,16] [--no-ray]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "batch"


def one(folder: Path, runs: int, concurrency: int, ray_address: str | None) -> dict[str, float]:
    store = folder / f"runs-{concurrency}-{'ray' if ray_address else 'local'}.db"
    inputs = folder / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"n": n, "wait": 0}) + "\n" for n in range(runs)))
    command = [sys.executable, "-m", "specc.cli", "batch", str(folder / "twostep" / "twostep.agent"), "--inputs",
               str(inputs), "--concurrency", str(concurrency), "--store", str(store), "--json"]
    if ray_address:
        command += ["--backend", "ray", "--address", ray_address]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"specc batch failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.splitlines()[-1])
    from specc.runtime.store import RunStore

    with RunStore(str(store)) as opened:
        times = sorted(r.updated - r.started for r in opened.runs(limit=runs + 10))
    return {"wall": wall, "per_minute": runs / wall * 60, "p50": statistics.median(times),
            "p95": times[min(len(times) - 1, int(0.95 * len(times)))],
            "succeeded": summary["statuses"].get("succeeded", 0) + summary["statuses"].get("failed", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--no-ray", action="store_true", help="only the local engine")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    rows: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        shutil.copytree(FIXTURE, folder / "twostep")
        for level in levels:
            rows.append(("local", level, one(folder, args.runs, level, None)))
        if not args.no_ray:
            from ray.cluster_utils import Cluster

            cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 1, "resources": {"specc-docker": 8}, "include_dashboard": False})
            cluster.add_node(num_cpus=1, resources={"specc-docker": 8})
            cluster.wait_for_nodes()
            try:
                for level in levels:
                    rows.append(("ray x2", level, one(folder, args.runs, level, cluster.address)))
            finally:
                cluster.shutdown()
    print(f"specc batch: {args.runs} runs of a two-step spec per row (python {platform.python_version()}, "
          f"{os.cpu_count()} cpus)")
    print(f"{'backend':<8} {'conc':>4} {'runs/min':>9} {'p50 s':>7} {'p95 s':>7} {'scaling':>8}")
    base: dict[str, float] = {}
    for backend, level, figures in rows:
        base.setdefault(backend, figures["per_minute"])
        print(f"{backend:<8} {level:>4} {figures['per_minute']:9.1f} {figures['p50']:7.2f} {figures['p95']:7.2f} "
              f"{figures['per_minute'] / base[backend]:7.2f}x")


if __name__ == "__main__":
    main()
