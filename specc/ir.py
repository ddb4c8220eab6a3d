"""The compiled artifact (`specc build`): pydantic models, the build from a checked spec, and
its canonical bytes.

The IR is everything the runtime needs and nothing it must work out again: every action fully
resolved (argv, image, limits, absolute mount sources, hosts, env, effect, risk, approval,
idempotency, a handler for every failure kind), the workflow's steps with their expressions or the
planner with the actions it may call and its handlers, and JSON Schema contracts. Its bytes are
canonical (sorted keys, fixed indentation), and `hash` covers them, so any edited byte is detected
by the loader.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from specc import __version__, ast
from specc.context import Symbols, mount_key
from specc.contracts import object_schema, schema_of
from specc.failure import ACTION_KINDS, DEFAULT_EFFECT, DEFAULT_RISK, PLANNER_KINDS
from specc.handling import resolve

#: Moves with every change of the IR's shape; the loader refuses any other (2: the planner).
IR_VERSION: Literal[2] = 2
#: A planner's model request may take this long when the spec says nothing.
PLANNER_TIMEOUT_MS = 60_000

#: Sandbox settings when neither the agent's `sandbox` nor the action says otherwise: finite always.
SANDBOX_DEFAULTS: dict[str, Any] = {
    "image": "specc/base:bookworm",
    "memory": 256 * 1024 * 1024,
    "cpus": 0.5,
    "pids": 64,
    "timeout": 30_000,
    "output": 1024 * 1024,
    "disk": 256 * 1024 * 1024,
    "user": "65534:65534",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategyIR(_Model):
    """A resolved failure strategy."""

    kind: Literal["retry", "fallback", "escalate", "abort"]
    count: int = 0
    backoff_min_ms: int = 0
    backoff_max_ms: int = 0
    then: StrategyIR | None = None
    target: str | None = None
    reason: str | None = None


class HandlerIR(_Model):
    """The strategy for one failure kind and where it was declared."""

    strategy: StrategyIR
    origin: Literal["action", "planner", "agent", "default"]


class MountIR(_Model):
    """A bind mount: the host's resolved real path, where it lands, and its mode."""

    name: str = Field(description="the mount as written in the scope, normalised")
    source: str
    target: str
    mode: Literal["read_only", "read_write"]


class EnvIR(_Model):
    name: str
    secret: bool


class ScopeIR(_Model):
    """The agent's scope: the most any action may touch. The loader holds every action to it, as
    the checker did, so that an IR edited by hand cannot widen an action beyond it."""

    mounts: list[MountIR] = Field(description="every scope mount: its real source, its target, its widest mode")
    hosts: list[str] = Field(description="the `host:port` endpoints an action may declare, as written")
    env: list[EnvIR] = Field(description="the env vars an action may name, with their secret flags")


class LimitsIR(_Model):
    """One attempt's sandbox limits."""

    memory_bytes: int
    cpus: float
    pids: int
    timeout_ms: int
    output_bytes: int
    disk_bytes: int = Field(default=256 * 1024 * 1024,
                            description="the most one attempt may write into its read_write mounts")


class RequireIR(_Model):
    condition: dict[str, Any]
    strategy: StrategyIR


class ActionIR(_Model):
    """An action, fully resolved."""

    name: str
    params: list[str]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    argv: list[str]
    image: str
    user: str
    limits: LimitsIR
    mounts: list[MountIR]
    hosts: list[str]
    env: list[EnvIR]
    effect: Literal["read", "write", "destructive"]
    risk: Literal["low", "medium", "high"]
    approval: Literal["required", "none", "not_needed"]
    approval_reason: str | None
    approval_when: dict[str, Any] | None = Field(
        default=None, description="`approval required when`: the approval is asked only when this holds")
    idempotent: bool
    idempotency_key: list[str] | None
    reliability: float | None
    description: str | None = Field(description="what the planner's model is told the action does")
    untrusted: bool = Field(description="its result carries text from outside the team")
    requires: list[RequireIR]
    handlers: dict[str, HandlerIR]


class StepIR(_Model):
    """One workflow statement. A loop (`for`) runs `body` once for each item of `value` (at most
    `max_items`), with the item bound to `item`, and its value is the list of the body's last
    results; a branch (`if`) runs `body` when `condition` holds, else `orelse`."""

    kind: Literal["call", "require", "return", "for", "if"]
    name: str | None = None
    action: str | None = None
    args: dict[str, dict[str, Any]] = {}
    condition: dict[str, Any] | None = None
    strategy: StrategyIR | None = None
    value: dict[str, Any] | None = None
    line: int
    item: str | None = Field(default=None, description="a loop's name for its item")
    max_items: int | None = Field(default=None, description="the most items a loop goes over")
    body: list[StepIR] | None = Field(default=None, description="the statements of a loop or of a branch's `if` side")
    orelse: list[StepIR] | None = Field(default=None, description="the statements of a branch's `else` side")


def every_step(steps: list[StepIR] | None) -> list[StepIR]:
    """Every step of a workflow, those inside loops and branches included, in written order."""
    found: list[StepIR] = []
    for step in steps or []:
        found.append(step)
        found.extend(every_step(step.body))
        found.extend(every_step(step.orelse))
    return found


class PlannerIR(_Model):
    """A model that chooses the actions (docs/planner.md), resolved."""

    kind: Literal["llm"]
    model: str
    endpoint_env: str = Field(description="the env var holding the base URL of an OpenAI-compatible API")
    api_key_env: str | None = Field(description="the env var holding the API key, always a secret")
    instructions: str
    max_turns: int = Field(description="model requests in one run")
    tools: list[str] = Field(description="the actions the model may call: as declared, else every one, sorted")
    timeout_ms: int = Field(description="one model request")
    handlers: dict[str, HandlerIR] = Field(description="timeout, error and invalid_output of a model request")


class SourceIR(_Model):
    file: str
    sha256: str


class IR(_Model):
    """The compiled artifact of one agent."""

    ir_version: Literal[2]
    specc_version: str
    source: SourceIR
    agent: str
    version: str | None
    description: str | None
    limits: dict[str, int]
    reliability_target: float | None
    reliability_estimate: float | None
    types: dict[str, dict[str, Any]]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    actions: dict[str, ActionIR]
    scope: ScopeIR = Field(description="what the actions were checked against; the loader checks them again")
    workflow: list[StepIR] | None
    planner: PlannerIR | None
    budget_handler: HandlerIR
    hash: str = Field(description="sha256 of the canonical bytes of every other field")


# --- canonical bytes -----------------------------------------------------------------------------


def canonical(data: dict[str, Any]) -> bytes:
    """The one byte form of an IR document."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def content_hash(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


def to_bytes(ir: IR) -> bytes:
    return canonical(ir.model_dump(mode="json"))


# --- build ---------------------------------------------------------------------------------------


def build_ir(agent: ast.Agent, symbols: Symbols, source: str, path: str, base_dir: str) -> IR:
    """The IR of a spec that checked without errors: its agent and the symbols the passes resolved,
    its text, the path it was read from, and the folder its relative mounts resolve against."""
    from specc.passes.mounts import container_target, host_path
    from specc.reliability import estimates, product

    records = symbols.records
    # The API key is a secret wherever it is used, whatever the scope says of it.
    api_key = {agent.planner.api_key.value} if agent.planner is not None and agent.planner.api_key else set()
    defaults = dict(SANDBOX_DEFAULTS)
    defaults.update({s.key: s.value for s in agent.sandbox})
    actions: dict[str, ActionIR] = {}
    for action in agent.actions:
        name = action.name.value
        settings = dict(defaults)
        settings.update({s.key: s.value for s in action.settings})
        mounts = []
        for mount in action.mounts:
            scope_mount = symbols.mounts[mount_key(mount.path.value)]
            mounts.append(MountIR(
                name=mount_key(mount.path.value),
                source=os.path.realpath(host_path(base_dir, scope_mount.path.value)),
                target=container_target(scope_mount),
                mode=mount.mode or scope_mount.mode,
            ))
        params = symbols.params.get(name, {})
        returns = symbols.returns.get(name)
        risk = action.risk.value if action.risk is not None else DEFAULT_RISK
        effect = action.effect.value if action.effect is not None else DEFAULT_EFFECT
        approval = action.approval or "not_needed"
        actions[name] = ActionIR(
            name=name,
            params=list(params),
            input_schema=object_schema(params, records),
            output_schema=schema_of(returns, records) if returns is not None else None,
            argv=[s.value for s in action.run],
            image=str(settings["image"]),
            user=str(settings["user"]),
            limits=LimitsIR(memory_bytes=int(settings["memory"]), cpus=float(settings["cpus"]),
                            pids=int(settings["pids"]), timeout_ms=int(settings["timeout"]),
                            output_bytes=int(settings["output"]), disk_bytes=int(settings["disk"])),
            mounts=mounts,
            hosts=[h.value for h in action.network],
            env=[EnvIR(name=e.value, secret=symbols.envs[e.value].secret or e.value in api_key)
                 for e in action.env if e.value in symbols.envs],
            effect=effect,  # type: ignore[arg-type]
            risk=risk,  # type: ignore[arg-type]
            approval=approval,
            approval_reason=action.approval_reason,
            approval_when=expr_ir(action.approval_when) if action.approval_when is not None else None,
            idempotent=action.idempotent or effect == "read",
            idempotency_key=[n.value for n in action.idempotency_key] if action.idempotency_key else None,
            reliability=action.reliability,
            description=action.description.value if action.description is not None else None,
            untrusted=action.untrusted,
            requires=[RequireIR(condition=expr_ir(r.condition), strategy=strategy_ir(r.strategy))
                      for r in action.requires],
            handlers={kind: _handler(agent, action, kind) for kind in ACTION_KINDS},
        )
    workflow = None
    if agent.workflow is not None:
        workflow = [_step(s, symbols) for s in agent.workflow.statements]
    rows = estimates(agent, symbols.actions, symbols.loop_bounds)
    planner = _planner(agent, agent.planner, symbols) if agent.planner is not None else None
    limits = agent.limits
    assert limits is not None and limits.steps is not None and limits.wall_ms is not None
    source_bytes = source.encode()
    data: dict[str, Any] = {
        "ir_version": IR_VERSION,
        "specc_version": __version__,
        "source": {"file": os.path.basename(path),
                   "sha256": hashlib.sha256(source_bytes).hexdigest()},
        "agent": agent.name.value,
        "version": agent.version.value if agent.version else None,
        "description": agent.description.value if agent.description else None,
        "limits": {"steps": limits.steps, "wall_ms": limits.wall_ms},
        "reliability_target": agent.reliability,
        "reliability_estimate": product(rows) if rows else None,
        "types": {name: schema_of(_ref(name), records) for name in sorted(records)},
        "input_schema": object_schema(symbols.input, records) if symbols.input is not None else None,
        "output_schema": schema_of(symbols.output, records) if symbols.output is not None else None,
        "actions": {k: v.model_dump(mode="json") for k, v in sorted(actions.items())},
        "scope": _scope(symbols, base_dir, api_key).model_dump(mode="json"),
        "workflow": [s.model_dump(mode="json") for s in workflow] if workflow is not None else None,
        "planner": planner.model_dump(mode="json") if planner is not None else None,
        "budget_handler": _handler(agent, None, "budget").model_dump(mode="json"),
    }
    data["hash"] = content_hash(data)
    return IR.model_validate(data)


def _scope(symbols: Symbols, base_dir: str, api_key: set[str]) -> ScopeIR:
    from specc.passes.mounts import container_target, host_path

    return ScopeIR(
        mounts=[MountIR(name=key, source=os.path.realpath(host_path(base_dir, mount.path.value)),
                        target=container_target(mount), mode=mount.mode)
                for key, mount in sorted(symbols.mounts.items())],
        hosts=sorted(symbols.hosts),
        env=[EnvIR(name=name, secret=env.secret or name in api_key) for name, env in sorted(symbols.envs.items())],
    )


def _ref(name: str) -> Any:
    from specc import types as t

    return t.Ref(name)


def _planner(agent: ast.Agent, planner: ast.Planner, symbols: Symbols) -> PlannerIR:
    # The checks leave no required setting out and no kind but `llm`.
    assert planner.model is not None and planner.endpoint is not None and planner.instructions is not None
    assert planner.max_turns is not None and symbols.tools is not None
    return PlannerIR(
        kind="llm",
        model=planner.model.value,
        endpoint_env=planner.endpoint.value,
        api_key_env=planner.api_key.value if planner.api_key is not None else None,
        instructions=planner.instructions.value,
        max_turns=planner.max_turns,
        tools=symbols.tools,
        timeout_ms=planner.timeout_ms if planner.timeout_ms is not None else PLANNER_TIMEOUT_MS,
        handlers={kind: _handler(agent, planner, kind) for kind in PLANNER_KINDS},
    )


def _handler(agent: ast.Agent, owner: ast.Action | ast.Planner | None, kind: str) -> HandlerIR:
    found = resolve(agent, owner, kind)
    if found is None:
        return HandlerIR(strategy=StrategyIR(kind="abort", reason=f"no handler for `{kind}`"), origin="default")
    return HandlerIR(strategy=strategy_ir(found.strategy), origin=found.level)


def strategy_ir(strategy: ast.Strategy) -> StrategyIR:
    return StrategyIR(
        kind=strategy.kind,
        count=strategy.count,
        backoff_min_ms=strategy.backoff_min_ms if strategy.backoff_min_ms is not None else 200,
        backoff_max_ms=strategy.backoff_max_ms if strategy.backoff_max_ms is not None else 5_000,
        then=strategy_ir(strategy.then) if strategy.then is not None else None,
        target=strategy.target.value if strategy.target is not None else None,
        reason=strategy.reason,
    )


def _step(statement: ast.Statement, symbols: Symbols) -> StepIR:
    line = statement.span.line
    if statement.kind == "for" and statement.value is not None and statement.var is not None:
        return StepIR(kind="for", name=statement.name.value if statement.name else None, value=expr_ir(statement.value),
                      item=statement.var.value, max_items=symbols.loop_bounds[statement.span.start],
                      body=[_step(s, symbols) for s in statement.body], line=line)
    if statement.kind == "if" and statement.value is not None:
        return StepIR(kind="if", condition=expr_ir(statement.value), body=[_step(s, symbols) for s in statement.body],
                      orelse=[_step(s, symbols) for s in statement.orelse] if statement.orelse is not None else None,
                      line=line)
    if statement.kind == "call" and statement.call is not None:
        return StepIR(kind="call", name=statement.name.value if statement.name else None,
                      action=statement.call.action.value,
                      args={k.value: expr_ir(v) for k, v in statement.call.args}, line=line)
    if statement.kind == "require" and statement.require is not None:
        return StepIR(kind="require", condition=expr_ir(statement.require.condition),
                      strategy=strategy_ir(statement.require.strategy), line=line)
    assert statement.value is not None
    return StepIR(kind="return", value=expr_ir(statement.value), line=line)


def expr_ir(expr: ast.Expr) -> dict[str, Any]:
    """An expression as JSON: `{"op": ..., ...}`; evaluated by the runtime."""
    kind = expr.kind
    if kind in ("string", "bool"):
        return {"op": "literal", "value": expr.value}
    if kind == "number":
        value = expr.value
        return {"op": "literal", "value": int(value) if expr.is_int and isinstance(value, float) else value}
    if kind == "ref":
        return {"op": "ref", "path": [n.value for n in expr.path]}
    if kind == "record":
        return {"op": "record", "fields": {k.value: expr_ir(v) for k, v in zip(expr.keys, expr.items, strict=True)}}
    if kind == "compare":
        return {"op": "compare", "cmp": expr.value, "left": expr_ir(expr.items[0]), "right": expr_ir(expr.items[1])}
    return {"op": kind, "items": [expr_ir(i) for i in expr.items]}


def ir_json_schema() -> dict[str, Any]:
    """The JSON Schema of the IR itself, committed as schema/ir-v2.json."""
    schema = IR.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://specc.dev/schema/ir-v{IR_VERSION}.json"
    return schema
