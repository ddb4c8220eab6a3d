"""specc's own time per model turn of a planner, the model and the sandbox excluded.

A planner agent whose model (the scripted model server on the loopback) proposes one read action
per turn for `--turns` turns, then `finish`, runs in-process against the in-process backend (every
attempt answered at once). Per turn the script measures the whole turn and subtracts the time spent
inside the model request (the HTTP round trip to the scripted server, which stands in for the
model) and inside the backend's `run` (which stands in for the container): what is left is specc's
own work (building the request, recording the response whole, checking and answering the proposal,
the guarded call with its fsynced events). Target: at most 5 ms.

Usage: `python bench/planner_overhead.py [--turns 50] [--runs 5] [--store PATH]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MS = 5.0

SPEC = """agent bench {
  version "1.0.0"
  limits {
    steps 1000
    wall 10m
  }
  scope {
    mount "./docs" read_only
    env PLANNER_URL
  }
  type Page {
    text: string
  }
  type Answer {
    answer: string
  }
  output Answer
  planner llm {
    model "scripted"
    endpoint env PLANNER_URL
    instructions "Read, then answer."
    max_turns 500
    on timeout, error, invalid_output abort
  }
  action read(file: path under "./docs") -> Page {
    description "Reads one document."
    run "python3" "/tools/read.py"
    mount "./docs"
    effect read
  }
  on any abort
}
"""


class Timed:
    """Wraps a callable and adds up the time spent inside it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.spent = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.spent += time.perf_counter() - started


def one_run(folder: Path, store_path: Path, turns: int) -> tuple[float, float, float]:
    """(whole, inside the model request, inside the backend) in seconds, for one run."""
    from specc.compiler import compile_source
    from specc.runtime.planner import model_client, run_planner
    from specc.runtime.run import Run
    from specc.runtime.scripted_model import ScriptedModel
    from specc.runtime.store import RunStore
    from specc.runtime.stub_backend import StubBackend, succeed

    ir = compile_source(SPEC.encode(), str(folder / "bench.agent")).ir
    script = [{"tool_calls": [{"name": "read", "arguments": {"file": "a.txt"}}]} for _ in range(turns)]
    script.append({"tool_calls": [{"name": "finish", "arguments": {"answer": "done"}}]})
    backend = StubBackend({"read": [succeed({"text": "page"})]})
    backend.run = Timed(backend.run)  # type: ignore[method-assign]
    with ScriptedModel(script) as model, RunStore(str(store_path)) as store:
        env = {"PLANNER_URL": model.url}
        client = model_client(ir, env)
        client.complete = Timed(client.complete)  # type: ignore[method-assign]
        started = time.perf_counter()
        outcome = run_planner(Run.start(ir, store, backend, {}, env=env), client)
        whole = time.perf_counter() - started
        client.close()
    if outcome.status != "succeeded":
        sys.exit(f"the bench run did not succeed: {outcome}")
    return whole, client.complete.spent, backend.run.spent  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=50, help="model turns per run, each with one call (default 50)")
    parser.add_argument("--runs", type=int, default=5, help="runs (default 5)")
    parser.add_argument("--store", help="the run store's folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="specc-planner-") as tmp:
        folder = Path(tmp)
        (folder / "docs").mkdir()
        (folder / "docs" / "a.txt").write_text("page")
        store_dir = Path(args.store or tmp)
        one_run(folder, store_dir / "warmup.db", 3)
        own, model, backend, whole = [], [], [], []
        for index in range(args.runs):
            total, in_model, in_backend = one_run(folder, store_dir / f"runs-{index}.db", args.turns)
            turns = args.turns + 1
            whole.append(total / turns * 1000)
            model.append(in_model / turns * 1000)
            backend.append(in_backend / turns * 1000)
            own.append((total - in_model - in_backend) / turns * 1000)
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}")
    print(f"{args.runs} runs x {args.turns + 1} turns (each with one proposal; the last is `finish`), "
          "in-process backend, scripted model on the loopback")
    print("per turn, median over runs (min .. max):")
    for name, values in (("whole turn", whole), ("inside the model request", model),
                         ("inside the backend", backend), ("specc's own", own)):
        print(f"  {name:<28} {statistics.median(values):6.2f} ms  ({min(values):.2f} .. {max(values):.2f})")
    verdict = "met" if statistics.median(own) <= TARGET_MS else "MISSED"
    print(f"specc's own time per turn: median {statistics.median(own):.2f} ms (target <= {TARGET_MS:g} ms: {verdict})")


if __name__ == "__main__":
    main()
