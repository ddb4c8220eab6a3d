"""The handler matrix both backends are driven through, and its oracle.

A case is one failure kind injected into the action `act` (once, or on every attempt) under one
declared strategy; `expected` says, from the strategy alone, how many attempts `act` gets, whether
the fallback `spare` runs, and how the call ends. The tests compare it with what `Run.call`
observably did, through the in-process backend and through Docker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from specc.compiler import compile_source
from specc.ir import IR

#: failure kinds a tool can cause, and whether a strategy may retry them
TOOL_KINDS = {"timeout": True, "error": True, "crash": True, "invalid_output": True, "sandbox": True,
              "uncertain": False}

#: declared strategies, each with the retries it grants and what applies after them
STRATEGIES = {
    "retry2": "retry 2 backoff 10ms..40ms",
    "retry_then_escalate": 'retry 1 backoff 10ms..20ms then escalate "a person decides"',
    "retry_then_fallback": "retry 1 backoff 10ms..20ms then fallback spare",
    "retry_then_retry": 'retry 1 backoff 10ms..20ms then retry 1 backoff 10ms..20ms then abort "gave up"',
    "fallback": "fallback spare",
    "escalate": 'escalate "a person decides"',
    "abort": 'abort "stopped"',
}


@dataclass(frozen=True)
class Expected:
    status: str  # succeeded, failed, escalated
    attempts: int  # of `act`
    spare: bool  # the fallback ran
    reason: str | None = None  # part of the reason, when it ends the call
    backoffs: tuple[tuple[float, float], ...] = ()  # bounds of each sleep, in seconds


def expected(strategy: str, mode: str) -> Expected:
    """What the strategy declares for a failure injected `once` or `always`."""
    text = STRATEGIES[strategy]
    retries = [(int(n), int(lo), int(hi)) for n, lo, hi in re.findall(r"retry (\d+) backoff (\d+)ms\.\.(\d+)ms", text)]
    bounds = [(lo / 1000, hi / 1000) for n, lo, hi in retries for _ in range(n)]
    granted = len(bounds)
    after = re.sub(r"retry \d+ backoff \S+( then )?", "", text).strip() or "abort"
    if mode == "once" and granted:
        return Expected("succeeded", 2, False, backoffs=tuple(bounds[:1]))
    attempts = 1 + (0 if mode == "once" else granted)
    sleeps = tuple(bounds[: attempts - 1])
    if after.startswith("fallback"):
        return Expected("succeeded", attempts, True, backoffs=sleeps)
    if after.startswith("escalate"):
        return Expected("escalated", attempts, False, "a person decides", sleeps)
    reason = re.search(r'"(.*)"', after)
    return Expected("failed", attempts, False, reason.group(1) if reason else None, sleeps)


def spec_text(act_handler: str = "", *, agent_handler: str = "", act_require: str = "", workflow_require: str = "",
              approval: str = "", timeout: str = "30s", mounts: str = "", act_argv: str = '"/tools/act.py"',
              steps: int = 50, act_effect: str = "effect read") -> str:
    """An agent whose workflow calls `act` once; `spare` is its fallback candidate."""
    tools_scope = 'mount "./tools" at "/tools" read_only' + (f"\n    {mounts}" if mounts else "")
    act_mounts = 'mount "./tools"' + ("\n    mount \"./state\"" if mounts else "")
    return f"""agent matrix {{
  version "1.0.0"
  limits {{
    steps {steps}
    wall 5m
  }}
  scope {{
    {tools_scope}
  }}
  sandbox {{
    image "specc/base:bookworm"
    memory 128MiB
    cpus 1
    pids 32
    timeout {timeout}
  }}
  type R {{
    n: int
  }}
  output R
  action act(x: int) -> R {{
    run "python3" {act_argv}
    {act_mounts}
    {act_effect}
    {approval}
    {act_require}
    {act_handler}
  }}
  action spare(x: int) -> R {{
    run "python3" "/tools/spare.py"
    mount "./tools"
    effect read
    on error abort "the fallback failed too"
  }}
  workflow {{
    {workflow_require}
    r = act(x: 1)
    return r
  }}
  {agent_handler}
  on any abort
}}
"""


def compile_spec(folder: Path, text: str) -> tuple[IR | None, list[str]]:
    """The IR when the spec checks clean, else the slugs of its errors."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tools").mkdir(exist_ok=True)
    path = folder / "matrix.agent"
    path.write_text(text)
    compiled = compile_source(text.encode(), str(path))
    errors = [d.code.name for d in compiled.diagnostics if d.severity.value == "error"]
    return (None if errors else compiled.ir), errors
