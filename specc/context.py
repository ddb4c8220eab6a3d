"""What the passes share: the agent being checked, its resolved symbols, and the reporter."""

from __future__ import annotations

import os

from specc import ast
from specc.diagnostics import Reporter
from specc.record import Mutable
from specc.types import Type


def mount_key(path: str) -> str:
    """The identity of a mount as written: `./inbox`, `inbox` and `inbox/` are one mount."""
    return os.path.normpath(path) if path else path


class Symbols(Mutable):
    """Every name the agent declares, filled in by the `names` pass."""

    types: dict[str, ast.TypeDecl]
    records: dict[str, dict[str, Type]]
    actions: dict[str, ast.Action]
    params: dict[str, dict[str, Type]]
    returns: dict[str, Type | None]
    input: dict[str, Type] | None
    output: Type | None
    mounts: dict[str, ast.ScopeMount]
    envs: dict[str, ast.ScopeEnv]
    hosts: dict[str, ast.Str]
    #: step name -> the action it calls (filled by the `workflow` pass)
    steps: dict[str, str]
    #: a `for` statement's offset in the source -> the most turns it can take (filled by the
    #: `workflow` pass; a loop with no bound is an error and has no entry)
    loop_bounds: dict[int, int]
    #: the declared actions the planner may call, in the order of its `tools` or sorted when it has
    #: none; None without a planner (filled by the `planner` pass)
    tools: list[str] | None

    def __init__(self) -> None:
        self.types = {}
        self.records = {}
        self.actions = {}
        self.params = {}
        self.returns = {}
        self.input = None
        self.output = None
        self.mounts = {}
        self.envs = {}
        self.hosts = {}
        self.steps = {}
        self.loop_bounds = {}
        self.tools = None


class Context(Mutable):
    """One agent under check."""

    agent: ast.Agent
    file: str
    reporter: Reporter
    symbols: Symbols
    #: the folder relative mounts resolve against (the spec file's folder)
    base_dir: str
    #: names of actions a planner or `specc serve` may call, beyond the workflow's
    externally_callable: bool

    def __init__(self, agent: ast.Agent, file: str, reporter: Reporter, symbols: Symbols | None = None,
                 base_dir: str = ".", externally_callable: bool = False) -> None:
        self.agent = agent
        self.file = file
        self.reporter = reporter
        self.symbols = Symbols() if symbols is None else symbols
        self.base_dir = base_dir
        self.externally_callable = externally_callable
