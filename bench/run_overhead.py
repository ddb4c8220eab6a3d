"""The runtime's own overhead per action, against a bare `docker run --rm` of the same command.

A spec with one trivial action (`python3 -c 'print("{}")'`, no mounts) called by a workflow of
`--steps` steps runs `--runs` times through the real `specc run --json`; from its events the script
takes, per action:

- sandbox: `attempt_intent` -> `attempt_outcome` (create, inspect and verify, attach, start, wait,
  inspect, remove: the container's whole life as the runtime drives it);
- step: `step_started` -> `step_finished` (the sandbox part plus validation, redaction and the
  fsynced store writes of the intent and the outcome);
- run / steps: `run_started` -> `run_finished` divided by the number of steps;
- process / steps: the whole `specc run` process (interpreter, compilation, engine checks, reaping)
  divided by the number of steps.

In the same session, interleaved with the runs, it times the same command as a bare
`docker run --rm --network none IMAGE python3 -c 'print("{}")'` as many times as there are actions,
and prints the median and p90 of each, and the ratio of step to bare (target: at most 1.25). For
context it also times the command through the Docker SDK with nothing else (`containers.run(...,
remove=True)`): the bare CLI pays for starting the `docker` client process, the runtime does not.

Usage: `python bench/run_overhead.py [--runs 4] [--steps 10] [--store PATH] [--profile] [--baseline PYTHON]`.
`--profile` also runs the workflow once in-process under cProfile and prints where the time goes.
`--baseline PYTHON` names an interpreter with another specc installed (an earlier commit, say):
its `specc run` is timed interleaved with this one's, run for run, and the step medians compared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE = "specc/base:bookworm"
CODE = 'print("{}")'
TARGET_RATIO = 1.25


def spec_text(steps: int) -> str:
    calls = "\n".join("    noop()" for _ in range(steps))
    return f"""agent overhead {{
  version "1.0.0"
  limits {{
    steps {steps}
    wall 10m
  }}
  sandbox {{
    image "{IMAGE}"
    memory 128MiB
    cpus 1
    pids 32
    timeout 30s
    output 64KiB
  }}
  action noop() {{
    run "python3" "-c" "print(\\"{{}}\\")"
    effect read
  }}
  workflow {{
{calls}
  }}
  on any abort
}}
"""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def run_spec(spec: Path, store: Path, python: str = sys.executable) -> tuple[list[dict[str, object]], float]:
    started = time.perf_counter()
    done = subprocess.run([python, "-m", "specc.cli", "run", str(spec), "--store", str(store), "--json"],
                          capture_output=True, text=True, cwd=spec.parent)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"specc run failed (exit {done.returncode}):\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")], elapsed


def bare_docker_run() -> float:
    started = time.perf_counter()
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, "python3", "-c", CODE],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or done.stdout.strip() != "{}":
        sys.exit(f"the bare docker run failed: {done.stderr}")
    return elapsed


def bare_sdk_run(client: object) -> float:
    """The same command through the Docker SDK with no hardening, no verification and no store:
    the least any runtime on this engine's API could do (create, start, wait, logs, remove)."""
    started = time.perf_counter()
    out = client.containers.run(IMAGE, ["python3", "-c", CODE], network_mode="none", remove=True)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    if out.strip() != b"{}":
        sys.exit(f"the SDK run printed {out!r}")
    return elapsed


def spans(events: list[dict[str, object]], start: str, end: str) -> list[float]:
    """Durations from each `start` event to the next `end` event."""
    out, opened = [], None
    for event in events:
        if event["event"] == start:
            opened = float(event["at"])  # type: ignore[arg-type]
        elif event["event"] == end and opened is not None:
            out.append(float(event["at"]) - opened)  # type: ignore[arg-type]
            opened = None
    return out


def row(name: str, values: list[float], bare_median: float | None = None) -> str:
    med, p90 = statistics.median(values), percentile(values, 90)
    ratio = f"  {med / bare_median:5.2f}x" if bare_median else ""
    return f"  {name:<28} n={len(values):<4} median {med * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms{ratio}"


def profile(spec: Path, store: Path, steps: int, top: int = 0) -> None:
    """One run of the workflow in-process under cProfile: where the runtime's time goes."""
    import cProfile
    import pstats

    from specc.compiler import compile_source
    from specc.runtime.docker_backend import DockerBackend
    from specc.runtime.run import Run, preflight
    from specc.runtime.store import RunStore
    from specc.runtime.workflow import run_workflow

    ir = compile_source(spec.read_bytes(), str(spec)).ir
    with RunStore(str(store)) as run_store, DockerBackend() as backend:
        value = preflight(ir, "{}", os.environ)
        profiler = cProfile.Profile()
        profiler.enable()
        run_workflow(Run.start(ir, run_store, backend, value))
        profiler.disable()
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    wanted = {
        ("workflow.py", "run_workflow"): "run_workflow, the whole workflow",
        ("sandbox.py", "run"): "  Sandbox.run (one attempt, all of it)",
        ("container.py", "create_container"): "    docker: create",
        ("container.py", "inspect_container"): "    docker: inspect container (verify, state)",
        ("image.py", "inspect_image"): "    docker: inspect image (env check)",
        ("container.py", "attach_socket"): "    docker: attach",
        ("container.py", "start"): "    docker: start",
        ("container.py", "wait"): "    docker: wait",
        ("container.py", "remove_container"): "    docker: remove",
        ("store.py", "append"): "  store: event appends (fsynced)",
        ("store.py", "create_run"): "  store: create run",
        ("store.py", "set_status"): "  store: set status",
    }
    found: dict[str, float] = {}
    for (filename, _line, func), (_cc, _nc, _tt, cumulative, _callers) in table.items():
        label = wanted.get((os.path.basename(filename), func))
        if label and (func != "run" or "/runtime/" in filename or "specc" in filename):
            found[label] = found.get(label, 0.0) + cumulative
    print(f"\nin-process profile of one run of {steps} actions (cProfile, cumulative time per action):")
    for label in wanted.values():
        if label in found:
            print(f"  {label:<48} {found[label] / steps * 1000:7.1f} ms")
    if top:
        stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs of the spec (default 4)")
    parser.add_argument("--steps", type=int, default=10, help="actions per run (default 10)")
    parser.add_argument("--store", help="the run store (default: a temporary one)")
    parser.add_argument("--profile", action="store_true", help="also profile one run in-process")
    parser.add_argument("--baseline", metavar="PYTHON", help="an interpreter with another specc to compare with")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="specc-overhead-") as tmp:
        spec = Path(tmp) / "overhead.agent"
        spec.write_text(spec_text(args.steps))
        store = Path(args.store or os.path.join(tmp, "runs.db"))
        # warm-up: image layers, the grammar cache, the engine's first container
        run_spec(spec, store)
        baseline_store = Path(tmp) / "baseline.db"
        if args.baseline:
            run_spec(spec, baseline_store, args.baseline)
        bare_docker_run()

        import docker  # type: ignore[import-untyped]

        client = docker.from_env()
        bare_sdk_run(client)
        sandbox, step, per_run, per_process, bare, sdk, baseline, baseline_run = [], [], [], [], [], [], [], []
        for _ in range(args.runs):
            if args.baseline:
                old = run_spec(spec, baseline_store, args.baseline)[0]
                baseline += spans(old, "step_started", "step_finished")
                baseline_run += [spans(old, "run_started", "run_finished")[0] / args.steps] * args.steps
            events, elapsed = run_spec(spec, store)
            sandbox += spans(events, "attempt_intent", "attempt_outcome")
            step += spans(events, "step_started", "step_finished")
            whole = spans(events, "run_started", "run_finished")[0]
            per_run += [whole / args.steps] * args.steps
            per_process += [elapsed / args.steps] * args.steps
            bare += [bare_docker_run() for _ in range(args.steps)]
            sdk += [bare_sdk_run(client) for _ in range(args.steps)]
        if args.profile:
            profile(spec, store, args.steps)

    bare_median = statistics.median(bare)
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}")
    docker_version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                    text=True).stdout.strip()
    print(f"docker engine {docker_version}; {args.runs} runs x {args.steps} actions, interleaved with "
          f"{len(bare)} bare `docker run --rm --network none {IMAGE} python3 -c '{CODE}'`")
    print("per action (ratio = median / median of the bare docker run):")
    print(row("bare docker run --rm", bare, bare_median))
    print(row("context: bare SDK run", sdk, bare_median))
    print(row("sandbox (intent->outcome)", sandbox, bare_median))
    print(row("step (started->finished)", step, bare_median))
    print(row("run total / steps", per_run, bare_median))
    print(row("specc run process / steps", per_process, bare_median))
    ratio = statistics.median(step) / bare_median
    ratio_p90 = percentile(step, 90) / percentile(bare, 90)
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"overhead ratio, step vs bare docker run: median {ratio:.2f}, p90 {ratio_p90:.2f} "
          f"(target <= {TARGET_RATIO}: {verdict})")
    print(f"context, step vs bare SDK run: median {statistics.median(step) / statistics.median(sdk):.2f}, "
          f"p90 {percentile(step, 90) / percentile(sdk, 90):.2f}")
    if baseline:
        print(row("baseline step", baseline, bare_median))
        print(row("baseline run total / steps", baseline_run, bare_median))
        print(f"step vs the baseline's step: median {statistics.median(step) / statistics.median(baseline):.3f}, "
              f"p90 {percentile(step, 90) / percentile(baseline, 90):.3f}")
        print(f"run total / steps vs the baseline's: median "
              f"{statistics.median(per_run) / statistics.median(baseline_run):.3f}, "
              f"p90 {percentile(per_run, 90) / percentile(baseline_run, 90):.3f}")


if __name__ == "__main__":
    main()
