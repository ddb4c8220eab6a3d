"""What the passes share: the agent being checked, its resolved symbols, and the reporter."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from specc import ast
from specc.diagnostics import Reporter
from specc.types import Type


def mount_key(path: str) -> str:
    """The identity of a mount as written: `./inbox`, `inbox` and `inbox/` are one mount."""
    return os.path.normpath(path) if path else path


@dataclass
class Symbols:
    """Every name the agent declares, filled in by the `names` pass."""

    types: dict[str, ast.TypeDecl] = field(default_factory=dict)
    records: dict[str, dict[str, Type]] = field(default_factory=dict)
    actions: dict[str, ast.Action] = field(default_factory=dict)
    params: dict[str, dict[str, Type]] = field(default_factory=dict)
    returns: dict[str, Type | None] = field(default_factory=dict)
    input: dict[str, Type] | None = None
    output: Type | None = None
    mounts: dict[str, ast.ScopeMount] = field(default_factory=dict)
    envs: dict[str, ast.ScopeEnv] = field(default_factory=dict)
    hosts: dict[str, ast.Str] = field(default_factory=dict)
    #: step name -> the action it calls (filled by the `workflow` pass)
    steps: dict[str, str] = field(default_factory=dict)
    #: a `for` statement's offset in the source -> the most turns it can take (filled by the
    #: `workflow` pass; a loop with no bound is an error and has no entry)
    loop_bounds: dict[int, int] = field(default_factory=dict)
    #: the declared actions the planner may call, in the order of its `tools` or sorted when it has
    #: none; None without a planner (filled by the `planner` pass)
    tools: list[str] | None = None


@dataclass
class Context:
    """One agent under check."""

    agent: ast.Agent
    file: str
    reporter: Reporter
    symbols: Symbols = field(default_factory=Symbols)
    #: the folder relative mounts resolve against (the spec file's folder)
    base_dir: str = "."
    #: names of actions a planner or `specc serve` may call, beyond the workflow's
    externally_callable: bool = False
