"""Helpers for the tests that drive the real `specc run` in a subprocess against a real Docker engine.

A test writes a small agent into its tmp_path (tools as python files in `tools/`, mounted read-only
at `/tools`), runs `python -m specc.cli run` with a store in tmp_path, and reads what happened from
the exit status, the last line on stderr, the `--json` event stream, `specc runs` and `specc show`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPECC = (sys.executable, "-m", "specc.cli")
MANAGED_LABEL = "specc.managed"
RUN_ID_LABEL = "specc.run_id"
OWNER_LABEL = "specc.owner"

#: Read the arguments from stdin; every tool starts with this.
TOOL_PRELUDE = "import json, os, sys, time\nargs = json.load(sys.stdin)\n"


# --- writing specs -------------------------------------------------------------------------------


def agent_text(
    *,
    actions: str,
    workflow: str,
    name: str = "t",
    types: str = "",
    input_block: str = "",
    output: str = "",
    handlers: str = "on any abort",
    steps: int = 20,
    wall: str = "2m",
    mounts: Iterable[str] = (),
    env: Iterable[str] = (),
    timeout: str = "30s",
    memory: str = "128MiB",
) -> str:
    """A whole agent around `actions` and `workflow` (both given without their braces for the
    workflow). `mounts` are extra scope lines such as `mount "./out" read_write`."""
    scope = ['mount "./tools" at "/tools" read_only', *mounts, *env]
    lines = [
        f"agent {name} {{",
        '  version "1.0.0"',
        f"  limits {{\n    steps {steps}\n    wall {wall}\n  }}",
        "  scope {\n" + "".join(f"    {line}\n" for line in scope) + "  }",
        f'  sandbox {{\n    image "specc/base:bookworm"\n    memory {memory}\n    cpus 1\n    pids 32\n'
        f"    timeout {timeout}\n    output 1MiB\n  }}",
    ]
    if types:
        lines.append(_indent(types))
    if input_block:
        lines.append(f"  input {{\n{_indent(input_block, 4)}\n  }}")
    if output:
        lines.append(f"  output {output}")
    lines.append(_indent(actions))
    lines.append(f"  workflow {{\n{_indent(workflow, 4)}\n  }}")
    lines.append(_indent(handlers))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _indent(text: str, by: int = 2) -> str:
    lines = [line.strip() for line in text.strip("\n").splitlines()]
    out, depth = [], 0
    for line in lines:
        if line.startswith("}"):
            depth -= 1
        out.append(" " * (by + 2 * depth) + line if line else "")
        if line.endswith("{"):
            depth += 1
    return "\n".join(out)


def write_agent(folder: Path, text: str, tools: Mapping[str, str], *, folders: Mapping[str, int] | None = None,
                check: bool = True) -> Path:
    """Write `agent.agent` and its tools into `folder`; `folders` are mount folders to create with
    their modes (read_write ones need 0o777: tools run as uid 65534). Checks the spec is clean."""
    folder.mkdir(parents=True, exist_ok=True)
    tools_dir = folder / "tools"
    tools_dir.mkdir(exist_ok=True)
    for name, code in tools.items():
        (tools_dir / name).write_text(TOOL_PRELUDE + code)
        (tools_dir / name).chmod(0o644)
    tools_dir.chmod(0o755)
    for sub, mode in (folders or {}).items():
        path = folder / sub
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    spec = folder / "agent.agent"
    spec.write_text(text)
    if check:
        assert_checks_clean(spec)
    return spec


def assert_checks_clean(spec: Path) -> None:
    """`specc check` finds no error in the spec (warnings allowed)."""
    done = subprocess.run([*SPECC, "check", "--format", "json", str(spec)], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        found = json.loads(done.stdout)["diagnostics"] if done.stdout.startswith("{") else done.stderr
        raise AssertionError(f"the test's spec does not check clean:\n{spec.read_text()}\n{found}")


# --- running -------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one `specc run` did."""

    code: int
    stdout: str
    stderr: str
    pid: int
    started: float
    ended: float
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def run_id(self) -> str | None:
        found = re.search(r"\brun (r[0-9]{14}-[0-9a-f]+)\b", self.stderr)
        return found.group(1) if found else None

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    def of(self, event: str, /, **match: Any) -> list[dict[str, Any]]:
        """Events of type `event` whose fields equal `match`."""
        return [e for e in self.events if e.get("event") == event and all(e.get(k) == v for k, v in match.items())]

    def finished(self) -> dict[str, Any]:
        ends = self.of("run_finished")
        assert len(ends) == 1, f"expected one run_finished event:\n{self.describe()}"
        return ends[0]

    def describe(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def specc_env(extra: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in set(drop)}
    env.pop("NO_COLOR", None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def input_arg(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def run_args(spec: Path, store: Path, value: Any = None, *, as_json: bool = True) -> list[str]:
    args = [*SPECC, "run", str(spec), "--store", str(store)]
    if value is not None:
        args += ["--input", input_arg(value)]
    if as_json:
        args.append("--json")
    return args


def run_spec(spec: Path, store: Path, value: Any = None, *, as_json: bool = True, env: Mapping[str, str] | None = None,
             timeout: float = 180, cwd: Path | None = None) -> Run:
    """Run `specc run` to its end and collect what it printed."""
    started = time.time()
    proc = subprocess.Popen(run_args(spec, store, value, as_json=as_json), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(env) if env is not None else specc_env(),
                            cwd=str(cwd or spec.parent))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"`specc run` did not end within {timeout}s:\n{err.decode(errors='replace')}") from None
    ended = time.time()
    run = Run(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), proc.pid, started, ended)
    if as_json:
        run.events = parse_events(run.stdout)
    return run


def parse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def specc(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPECC, *args], capture_output=True, text=True, timeout=timeout, env=specc_env(),
                          cwd=str(cwd) if cwd else None)


def run_statuses(store: Path) -> dict[str, str]:
    """`specc runs --store STORE`, as {run id: status}."""
    done = specc("runs", "--store", str(store))
    assert done.returncode == 0, done.stderr
    statuses = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts and re.fullmatch(r"r[0-9]{14}-[0-9a-f]+", parts[0]):
            statuses[parts[0]] = parts[3]
    return statuses


def show_json(store: Path, run_id: str) -> dict[str, Any]:
    done = specc("show", run_id, "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def store_bytes(store: Path) -> bytes:
    """Every byte the run store holds on disk, its WAL and journal included: what a secret must
    never stand in."""
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(str(store) + suffix)
        if path.exists():
            data += path.read_bytes()
    return data


# --- containers ----------------------------------------------------------------------------------


def owner_of(pid: int) -> str:
    """The owner label a `specc run` process with this pid puts on its containers."""
    return f"{socket.gethostname()}:{pid}"


def docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


def containers(*labels: str) -> list[str]:
    """Ids of containers, running or not, carrying every `KEY=VALUE` label."""
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    return docker("ps", "-a", "-q", "--no-trunc", *filters).split()


def containers_created(pid: int, since: float, until: float, *, lookups: bool = False) -> list[str]:
    """Containers the `specc run` process `pid` created between two times (from the engine's events);
    without `lookups`, not the one a run creates, never starts and removes to look for its programs
    in the image (`specc.runtime.programs`)."""
    out = docker("events", "--since", f"{since - 1:.3f}", "--until", f"{until + 1:.3f}", "--filter", "type=container",
                 "--filter", "event=create", "--filter", f"label={OWNER_LABEL}={owner_of(pid)}",
                 "--format", '{{.ID}} {{index .Actor.Attributes "specc.purpose"}}')
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [row[0] for row in rows if lookups or row[1:] != ["program-lookup"]]


def remove_containers(ids: Iterable[str]) -> None:
    ids = list(ids)
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)


def assert_nothing_ran(run: Run, *markers: Path) -> None:
    """No attempt was made: no attempt event, no container created by the process, no marker file."""
    assert not run.of("attempt_intent"), run.describe()
    assert not containers_created(run.pid, run.started, run.ended), f"a container was created:\n{run.describe()}"
    for marker in markers:
        assert not marker.exists(), f"the tool ran: {marker} exists"
