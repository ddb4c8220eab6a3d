"""The engine: executes a workflow step by step, exactly as its IR says.

For each call it evaluates the arguments, checks them against the action's contract and `require`
guards, resolves `path` arguments, then runs attempts in the sandbox: the intent of each attempt
is durable in the run store before its container starts, its outcome after. Every failure goes to
the handler the IR resolved for its kind (retry with backoff and jitter, fallback, escalate,
abort), and the run's budgets (steps, wall) bound everything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from specc.ir import IR, ActionIR, StrategyIR, to_bytes
from specc.runtime.owner import current_owner
from specc.runtime.sandbox import AttemptRequest, AttemptResult, Limits, Mount, Sandbox, SandboxUnavailable
from specc.runtime.store import RunStore
from specc.runtime.values import EvalError, ValueRejected, evaluate, parse_json, resolve_paths, validate

# Exit statuses of `specc run` (DESIGN section 5).
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_USAGE, EXIT_PAUSED, EXIT_SPEC, EXIT_SANDBOX, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130

#: How much of a tool's stdout and stderr the run store keeps.
STORED_OUTPUT_BYTES = 8 * 1024
REDACTED = "[redacted]"


@dataclass
class Outcome:
    """How a run ended (or paused)."""

    run_id: str
    status: str  # succeeded, failed, escalated, awaiting-approval, interrupted
    exit_code: int
    result: Any = None
    reason: str | None = None
    step: str | None = None


class _Stop(Exception):
    """Ends the run with an outcome (abort, escalate, budget)."""

    def __init__(self, status: str, exit_code: int, reason: str, step: str | None = None) -> None:
        super().__init__(reason)
        self.status, self.exit_code, self.reason, self.step = status, exit_code, reason, step


@dataclass
class _Failure:
    kind: str
    detail: str
    result: AttemptResult | None = None


@dataclass
class _Budget:
    steps: int
    wall_s: float
    used_steps: int = 0
    started: float = field(default_factory=time.monotonic)
    wall_s_total: float = 0.0

    def __post_init__(self) -> None:
        self.wall_s_total = self.wall_s

    def remaining_s(self) -> float:
        return self.wall_s - (time.monotonic() - self.started)


Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class ResumeState:
    """What a resumed run knows from its store: finished steps, decisions made by people, and an
    attempt whose intent was written without an outcome (the process died around it)."""

    finished: dict[int, Any] = field(default_factory=dict)
    #: step index -> "retry" | "abort" | ("result", value), from `specc resolve`
    resolutions: dict[int, Any] = field(default_factory=dict)
    #: approval digest -> (approved, who, reason), not yet used
    approvals: dict[str, tuple[bool, str, str | None]] = field(default_factory=dict)
    #: step index of an attempt with an intent and no outcome, and the action it ran
    dangling: int | None = None
    dangling_action: str | None = None
    used_steps: int = 0
    wall_used_s: float = 0.0
    #: the run's options, carried from its first start
    approval_timeout_s: float | None = None
    egress_options: dict[str, Any] = field(default_factory=dict)


def approval_digest(run_id: str, spec_hash: str, step: int, action: str, arguments: Any) -> str:
    """Binds an approval to one run, one spec version, one step and these exact arguments."""
    import hashlib

    canonical = json.dumps([run_id, spec_hash, step, action, arguments], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def new_run_id() -> str:
    """Sortable by time, unique: `r` + UTC timestamp + random suffix."""
    return "r" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class Engine:
    """Runs one IR's workflow."""

    def __init__(self, ir: IR, store: RunStore, sandbox: Sandbox, *, env: Mapping[str, str] | None = None,
                 listener: Listener | None = None, sleep: Callable[[float], None] = time.sleep,
                 run_id: str | None = None, state: ResumeState | None = None, egress: Any = None) -> None:
        self.ir = ir
        self.store = store
        self.sandbox = sandbox
        self.host_env = dict(os.environ if env is None else env)
        self.listener = listener or (lambda kind, data: None)
        self.sleep = sleep
        self.secrets = sorted(
            {self.host_env[e.name] for a in ir.actions.values() for e in a.env
             if e.secret and self.host_env.get(e.name)}, key=len, reverse=True)
        self.run_id = run_id or new_run_id()
        self.state = state or ResumeState()
        self.egress = egress
        self.approval_timeout_s: float | None = None
        #: keyword arguments for the run's `Egress` (an upstream network, trusted private networks)
        self.egress_options: dict[str, Any] = {}
        #: asks a person on a terminal; None means pause and wait for `specc approve`
        self.prompt: Callable[[str, ActionIR, dict[str, Any]], tuple[bool, str | None]] | None = None
        self.budget = _Budget(ir.limits["steps"], ir.limits["wall_ms"] / 1000 - self.state.wall_used_s,
                              used_steps=self.state.used_steps)

    # --- checks before anything runs ---------------------------------------------------------

    def preflight(self, raw_input: str | bytes) -> Any:
        """Parse and validate the input and the host's readiness; raises ValueRejected."""
        value = parse_json(raw_input, "the input")
        if self.ir.input_schema is not None:
            validate(value, self.ir.input_schema, "input")
        elif value not in ({}, None):
            raise ValueRejected("the agent declares no `input`, so the input must be `{}`")
        if self.ir.input_schema is not None and isinstance(value, dict):
            mounts = {m.name: (m.source, m.target) for a in self.ir.actions.values() for m in a.mounts}
            wanted = {str(p.get("x-specc-under")) for p in self.ir.input_schema.get("properties", {}).values()
                      if isinstance(p, dict) and p.get("x-specc-under")}
            if wanted <= set(mounts):
                resolve_paths(value, self.ir.input_schema, mounts, "input")
        if self.ir.workflow is None:
            raise ValueRejected("this agent has a planner, which `specc run` does not support yet; "
                                "only agents with a `workflow` run")
        for action in self._workflow_actions():
            for host in action.hosts:
                from specc.runtime.egress import Endpoint

                try:
                    Endpoint.parse(host)
                except ValueError as exc:
                    raise ValueRejected(f"action `{action.name}` declares network `{host}`: {exc}") from None
            for env in action.env:
                if env.name not in self.host_env:
                    raise ValueRejected(f"action `{action.name}` needs env var `{env.name}`, which is not set")
            for mount in action.mounts:
                if not os.path.isdir(mount.source):
                    raise ValueRejected(f"mount `{mount.name}` of action `{action.name}` is not a folder: "
                                        f"`{mount.source}`")
                if os.path.islink(mount.source):
                    raise ValueRejected(f"mount `{mount.name}` is a symlink; mount its real folder")
                if mount.mode == "read_write" and not _writable_by(mount.source, action.user):
                    raise ValueRejected(
                        f"mount `{mount.name}` is read_write, but the sandbox user {action.user} cannot write "
                        f"`{mount.source}`; give it write access (for example `chmod o+w {mount.source}`)")
        return value

    def _workflow_actions(self) -> list[ActionIR]:
        names: list[str] = []
        for step in self.ir.workflow or []:
            if step.action:
                names.append(step.action)
        for name in list(names):
            for handler in self.ir.actions[name].handlers.values():
                strategy: StrategyIR | None = handler.strategy
                while strategy is not None:
                    if strategy.target:
                        names.append(strategy.target)
                    strategy = strategy.then
        seen: dict[str, ActionIR] = {}
        for name in names:
            if name in self.ir.actions:
                seen.setdefault(name, self.ir.actions[name])
        return list(seen.values())

    # --- the run -----------------------------------------------------------------------------

    def run(self, value: Any, *, resumed: bool = False) -> Outcome:
        """Execute the workflow on a validated input (or continue it, when `resumed`)."""
        ir = self.ir
        if resumed:
            self._event("run_resumed", {"finished_steps": sorted(self.state.finished),
                                        "used_steps": self.state.used_steps,
                                        "wall_used_s": round(self.state.wall_used_s, 3)})
            self.store.set_status(self.run_id, "running", owner=current_owner())
        else:
            self.store.create_run(self.run_id, ir.agent, ir.source.sha256, ir.hash, self._redact(value),
                                  to_bytes(ir).decode(), current_owner())
            self._event("run_started", {"agent": ir.agent, "spec_hash": ir.source.sha256,
                                        "input": self._redact(value), "approval_timeout_s": self.approval_timeout_s,
                                        "egress_options": {k: (list(v) if isinstance(v, tuple) else v)
                                                           for k, v in self.egress_options.items()}})
        env: dict[str, Any] = {"input": value}
        current: str | None = None
        try:
            for index, step in enumerate(ir.workflow or []):
                current = step.name or step.action or f"line {step.line}"
                if step.kind == "call":
                    assert step.action is not None
                    result = self._step(index, current, step.action, step.args, env)
                    if step.name:
                        env[step.name] = result
                elif step.kind == "require":
                    assert step.condition is not None and step.strategy is not None
                    self._index = index
                    resolution = self.state.resolutions.pop(index, None)
                    if resolution is not None:
                        self._event("resolution_used", {"index": index})
                    if resolution == "abort":
                        raise _Stop("failed", EXIT_FAILED, "a person aborted the run", current)
                    if resolution is None:
                        self._require(step.condition, step.strategy, env, f"line {step.line}", current)
                    else:  # a person checked the escalated guard and let the run go on
                        self._event("require_waived", {"index": index, "line": step.line})
                else:
                    assert step.value is not None
                    result = evaluate(step.value, env)
                    if ir.output_schema is not None:
                        try:
                            validate(result, ir.output_schema, "output")
                        except ValueRejected as exc:
                            raise _Stop("failed", EXIT_FAILED, f"the returned value breaks `output`: {exc}") from None
                    return self._finish(Outcome(self.run_id, "succeeded", EXIT_SUCCEEDED, result=result))
            return self._finish(Outcome(self.run_id, "succeeded", EXIT_SUCCEEDED, result=None))
        except _Stop as stop:
            return self._finish(Outcome(self.run_id, stop.status, stop.exit_code, reason=stop.reason,
                                        step=stop.step or current))
        except EvalError as exc:
            return self._finish(Outcome(self.run_id, "failed", EXIT_FAILED, reason=str(exc), step=current))
        except SandboxUnavailable as exc:
            return self._finish(Outcome(self.run_id, "failed", EXIT_SANDBOX, reason=str(exc), step=current))
        except KeyboardInterrupt:
            return self._finish(Outcome(self.run_id, "interrupted", EXIT_INTERRUPTED,
                                        reason="interrupted by a signal", step=current))

    def _finish(self, outcome: Outcome) -> Outcome:
        # what leaves the engine (store, stderr, stdout) never carries a secret
        outcome = dataclasses.replace(outcome, result=self._redact(outcome.result), reason=self._redact(outcome.reason))
        wall_used = self.state.wall_used_s + (time.monotonic() - self.budget.started)
        data = {"status": outcome.status, "exit_code": outcome.exit_code, "reason": outcome.reason,
                "step": outcome.step, "index": self._index, "result": self._redact(outcome.result),
                "used_steps": self.budget.used_steps, "wall_used_s": round(wall_used, 3)}
        self._event("run_finished", data)
        self.store.set_status(self.run_id, outcome.status, result=self._redact(outcome.result), reason=outcome.reason)
        return outcome

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        data = self._redact(data)
        self.store.append(self.run_id, kind, data)
        self.listener(kind, data)

    def _redact_bytes(self, data: bytes) -> bytes:
        """Redact before anything is cut, so a secret across the cut cannot survive in part."""
        if not self.secrets:
            return data
        for secret in self.secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data

    def _redact(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact(v) for v in value]
        return value

    # --- steps -------------------------------------------------------------------------------

    _index: int | None = None

    def _step(self, index: int, label: str, action_name: str, args: Mapping[str, Mapping[str, Any]],
              env: Mapping[str, Any]) -> Any:
        """One call statement: reuse a finished result, apply a person's resolution, or run it."""
        self._index = index
        state = self.state
        if index in state.finished:
            self._event("step_reused", {"index": index, "step": label, "action": action_name})
            return state.finished[index]
        action = self.ir.actions[action_name]
        resolution = state.resolutions.pop(index, None)
        if resolution is not None:
            self._event("resolution_used", {"index": index})
            state.dangling = None if state.dangling == index else state.dangling
            if resolution == "abort":
                raise _Stop("failed", EXIT_FAILED, "a person aborted the run", label)
            if isinstance(resolution, tuple):
                result = resolution[1]
                self._event("step_finished", {"index": index, "step": label, "action": action_name,
                                              "result": result, "source": "person"})
                return result
        if state.dangling == index:
            state.dangling = None
            cut = self.ir.actions.get(state.dangling_action or action_name, action)
            if not cut.idempotent:
                self._event("handler", {"index": index, "step": label, "action": action_name, "kind": "uncertain",
                                        "strategy": "escalate", "reason": "interrupted mid-attempt"})
                raise _Stop("escalated", EXIT_PAUSED,
                            f"an attempt of `{cut.name}` was cut off before its outcome was recorded, and "
                            "`{0}` is not idempotent: check whether it took effect, then resolve".format(cut.name),
                            label)
        try:
            values = {k: evaluate(v, env) for k, v in args.items()}
        except EvalError as exc:
            return self._on_failure(label, action, {}, _Failure("invalid_input", str(exc)), {}, 0)
        self._event("step_started", {"index": index, "step": label, "action": action_name,
                                     "arguments": values})
        result = self._run_action(label, action, values, depth=0)
        self._event("step_finished", {"index": index, "step": label, "action": action_name, "result": result})
        return result

    def _run_action(self, step: str, action: ActionIR, values: dict[str, Any], depth: int) -> Any:
        """Run one action to a result, applying its handlers; raises _Stop when the run must end."""
        counters: dict[str, int] = {}
        if action.approval == "required":
            failure = self._approval(step, action, values)
            if failure is not None:
                return self._on_failure(step, action, values, failure, counters, depth)
        while True:
            failure = self._prepare(action, values)
            if failure is None:
                outcome = self._attempt(step, action, values)
                if not isinstance(outcome, _Failure):
                    return outcome
                failure = outcome
            decision = self._decide(step, action, failure, counters)
            if decision == "retry":
                continue
            return self._on_failure(step, action, values, failure, counters, depth)

    def _approval(self, step: str, action: ActionIR, values: dict[str, Any]) -> _Failure | None:
        """None when a person approved these exact arguments; a `denied` failure when they refused;
        pauses the run when nobody has decided yet."""
        digest = approval_digest(self.run_id, self.ir.source.sha256, self._index or 0, action.name, values)
        decision = self.state.approvals.pop(digest, None)
        if decision is None and self.prompt is not None:
            asked = time.monotonic()
            approved, reason = self.prompt(step, action, self._redact(values))
            self.budget.started += time.monotonic() - asked  # time waiting for a person is not `wall`
            decision = (approved, _user(), reason)
            self._event("approval_decided", {"digest": digest, "index": self._index, "step": step,
                                             "action": action.name, "approved": approved, "by": decision[1],
                                             "reason": reason, "via": "terminal"})
        if decision is None:
            self._event("approval_pending", {"digest": digest, "index": self._index, "step": step,
                                             "action": action.name, "arguments": values, "effect": action.effect,
                                             "risk": action.risk, "timeout_s": self.approval_timeout_s})
            raise _Stop("awaiting-approval", EXIT_PAUSED, f"action `{action.name}` needs a person's approval", step)
        approved, who, reason = decision
        self._event("approval_used", {"digest": digest, "index": self._index, "step": step, "approved": approved,
                                      "by": who})
        if approved:
            return None
        return _Failure("denied", f"{who} denied the approval" + (f": {reason}" if reason else ""))

    def _prepare(self, action: ActionIR, values: dict[str, Any]) -> _Failure | None:
        try:
            validate(values, action.input_schema, action.name)
        except ValueRejected as exc:
            return _Failure("invalid_input", str(exc))
        for require in action.requires:
            try:
                ok = evaluate(require.condition, values)
            except EvalError as exc:
                return _Failure("invalid_input", str(exc))
            if not ok:
                self._apply_guard(require.strategy, f"a `require` of action `{action.name}` failed", action.name)
        return None

    def _apply_guard(self, strategy: StrategyIR, what: str, step: str | None) -> None:
        reason = strategy.reason or what
        self._event("require_failed", {"what": what, "strategy": strategy.kind, "reason": reason})
        if strategy.kind == "escalate":
            raise _Stop("escalated", EXIT_PAUSED, reason, step)
        raise _Stop("failed", EXIT_FAILED, reason, step)

    def _require(self, condition: Mapping[str, Any], strategy: StrategyIR, env: Mapping[str, Any], where: str,
                 step: str | None) -> None:
        if not evaluate(condition, env):
            self._apply_guard(strategy, f"the `require` at {where} failed", step)

    def _attempt(self, step: str, action: ActionIR, values: dict[str, Any]) -> Any:
        """One attempt in a fresh container; the result, or a _Failure."""
        budget = self.budget
        if budget.used_steps >= budget.steps:
            self._budget(step, f"the run used all {budget.steps} steps of its `limits`")
        remaining = budget.remaining_s()
        if remaining <= 0:
            self._budget(step, "the run ran out of its `wall` time")
        mounts = {m.name: (m.source, m.target) for m in action.mounts}
        try:
            tool_args = resolve_paths(values, action.input_schema, mounts, action.name)
        except ValueRejected as exc:
            return _Failure("invalid_input", str(exc))
        budget.used_steps += 1
        attempt = budget.used_steps
        timeout_s = min(action.limits.timeout_ms / 1000, remaining)
        request = AttemptRequest(
            image=action.image,
            argv=tuple(action.argv),
            stdin=json.dumps(tool_args, ensure_ascii=False).encode(),
            mounts=tuple(Mount(m.source, m.target, m.mode == "read_only") for m in action.mounts),
            env={e.name: self.host_env[e.name] for e in action.env if e.name in self.host_env},
            limits=Limits(memory_bytes=action.limits.memory_bytes, cpus=action.limits.cpus, pids=action.limits.pids,
                          timeout_s=timeout_s, output_bytes=action.limits.output_bytes),
            run_id=self.run_id,
            user=action.user,
        )
        if action.hosts:
            if self.egress is None:
                return _Failure("sandbox", "network egress is not set up for this run")
            from specc.runtime.egress import EgressError, Endpoint

            try:
                network, proxy_env = self.egress.network_for(action.name, [Endpoint.parse(h) for h in action.hosts])
            except (EgressError, ValueError) as exc:
                return _Failure("sandbox", f"the egress proxy could not start: {exc}")
            request = dataclasses.replace(request, env={**request.env, **proxy_env}, network=network)
        _fault("before_intent", attempt)
        self._event("attempt_intent", {"index": self._index, "step": step, "action": action.name, "attempt": attempt,
                                       "arguments": tool_args, "image": action.image,
                                       "timeout_s": round(timeout_s, 3)})
        _fault("after_intent", attempt)
        try:
            result = self.sandbox.run(request)
            _fault("after_tool", attempt)
        finally:
            if action.hosts and self.egress is not None:
                try:
                    self.egress.flush(action.name)
                except Exception:  # noqa: BLE001 - a dead proxy loses events; the attempt's outcome still counts
                    pass
        kind, detail, value = self._classify(action, result)
        if kind == "timeout" and budget.remaining_s() <= 0:
            kind, detail = "budget", "the run ran out of its `wall` time during the attempt"
        self._event("attempt_outcome", {
            "index": self._index, "step": step, "action": action.name, "attempt": attempt, "kind": kind,
            "detail": detail,
            "exit_code": result.exit_code, "duration_s": round(result.duration_s, 3),
            "stdout": _clip(self._redact_bytes(result.stdout)), "stderr": _clip(self._redact_bytes(result.stderr)),
            "sandbox": result.settings,
        })
        if kind == "budget":
            self._budget(step, detail)
        if kind == "ok":
            return value
        return _Failure(kind, detail, result)

    def _classify(self, action: ActionIR, result: AttemptResult) -> tuple[str, str, Any]:
        if result.kind != "ok":
            detail = result.detail
            said = _last_line(result.stderr)
            if said and result.kind in ("error", "uncertain", "crash"):
                detail = f"{detail}; the tool said: {said}"
            return result.kind, detail, None
        try:
            value = parse_json(result.stdout, "the tool's stdout", limit=action.limits.output_bytes)
        except ValueRejected as exc:
            return "invalid_output", str(exc), None
        if action.output_schema is not None:
            try:
                validate(value, action.output_schema, "result")
            except ValueRejected as exc:
                return "invalid_output", f"the result breaks the return contract: {exc}", None
        return "ok", "succeeded", value

    def _budget(self, step: str, reason: str) -> None:
        strategy = self.ir.budget_handler.strategy
        self._event("handler", {"step": step, "kind": "budget", "strategy": strategy.kind, "reason": reason})
        if strategy.kind == "escalate":
            raise _Stop("escalated", EXIT_PAUSED, strategy.reason or reason, step)
        raise _Stop("failed", EXIT_FAILED, strategy.reason or reason, step)

    # --- handlers ----------------------------------------------------------------------------

    def _decide(self, step: str, action: ActionIR, failure: _Failure, counters: dict[str, int]) -> str:
        """"retry" when the handler for this kind grants another attempt now; else the strategy
        that applies once retries are spent."""
        strategy: StrategyIR | None = action.handlers[failure.kind].strategy
        used = counters.get(failure.kind, 0)
        granted = 0
        while strategy is not None and strategy.kind == "retry":
            if used < granted + strategy.count:
                index = used - granted
                delay = _backoff(strategy, index)
                counters[failure.kind] = used + 1
                self._event("handler", {"step": step, "action": action.name, "kind": failure.kind,
                                        "detail": failure.detail, "strategy": "retry",
                                        "retry": used + 1, "backoff_s": round(delay, 3)})
                if delay > 0:
                    self.sleep(min(delay, max(0.0, self.budget.remaining_s())))
                return "retry"
            granted += strategy.count
            strategy = strategy.then
        return strategy.kind if strategy is not None else "abort"

    def _on_failure(self, step: str, action: ActionIR, values: dict[str, Any], failure: _Failure,
                    counters: dict[str, int], depth: int, decided: str | None = None) -> Any:
        strategy = _final_strategy(action.handlers[failure.kind].strategy)
        reason = strategy.reason or f"`{action.name}` failed with `{failure.kind}`: {failure.detail}"
        self._event("handler", {"step": step, "action": action.name, "kind": failure.kind, "detail": failure.detail,
                                "strategy": strategy.kind, "reason": reason, "target": strategy.target})
        if strategy.kind == "fallback" and strategy.target is not None and depth < 8:
            target = self.ir.actions[strategy.target]
            result = self._run_action(step, target, values, depth + 1)
            if action.output_schema is not None:
                try:
                    validate(result, action.output_schema, "fallback result")
                except ValueRejected as exc:
                    raise _Stop("failed", EXIT_FAILED, f"fallback `{target.name}` gave a result `{action.name}` "
                                f"cannot stand in for: {exc}", step) from None
            return result
        if strategy.kind == "escalate":
            raise _Stop("escalated", EXIT_PAUSED, reason, step)
        exit_code = EXIT_SANDBOX if failure.kind == "sandbox" else EXIT_FAILED
        raise _Stop("failed", exit_code, reason, step)


def _fault(point: str, attempt: int) -> None:
    """Fault injection for the crash tests: `SPECC_FAULT=after_intent:2` kills this process with
    SIGKILL at that boundary of attempt 2, exactly as a power cut or the OOM killer would."""
    wanted = os.environ.get("SPECC_FAULT")
    if wanted and wanted == f"{point}:{attempt}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return f"uid {os.getuid()}"


def _final_strategy(strategy: StrategyIR) -> StrategyIR:
    """The strategy that applies once every retry of a chain is spent (abort if none)."""
    current: StrategyIR | None = strategy
    while current is not None and current.kind == "retry":
        current = current.then
    return current or StrategyIR(kind="abort")


def _backoff(strategy: StrategyIR, index: int) -> float:
    """Exponential backoff with full jitter, capped at the strategy's maximum."""
    low, high = strategy.backoff_min_ms / 1000, strategy.backoff_max_ms / 1000
    ceiling = min(high, low * (2**index))
    return random.uniform(low, max(low, ceiling))


def _last_line(data: bytes) -> str:
    """The tool's last words on stderr, for the person reading the outcome."""
    lines = [line.strip() for line in data[-4096:].decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _clip(data: bytes) -> str:
    text = data[:STORED_OUTPUT_BYTES].decode("utf-8", errors="replace")
    return text + (f"... ({len(data):,} bytes)" if len(data) > STORED_OUTPUT_BYTES else "")


def _writable_by(path: str, user: str) -> bool:
    uid_text, _, gid_text = user.partition(":")
    try:
        uid, gid = int(uid_text), int(gid_text or uid_text)
        st = os.stat(path)
    except (ValueError, OSError):
        return False
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & 0o200)
    if st.st_gid == gid:
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


def load_state(store: RunStore, run_id: str) -> ResumeState:
    """Rebuild what a run knows from its events, for `specc resume`."""
    state = ResumeState()
    # A step is done only when its `step_finished` is written: an attempt recorded as started (even
    # with an outcome) whose step never finished may have taken effect, so it is "dangling".
    open_intent: int | None = None
    segment_start: float | None = None
    last_at: float | None = None
    for event in store.events(run_id):
        data = event.data
        kind = event.kind
        if kind in ("run_started", "run_resumed"):
            if segment_start is not None and last_at is not None:  # the stretch before a crash counts
                state.wall_used_s += max(0.0, last_at - segment_start)
            segment_start = event.at
            if kind == "run_started":
                state.approval_timeout_s = data.get("approval_timeout_s")
                state.egress_options = dict(data.get("egress_options") or {})
        elif kind == "attempt_intent":
            state.used_steps += 1
            open_intent = data.get("index")
            state.dangling_action = data.get("action")
        elif kind == "step_finished":
            state.finished[int(data["index"])] = data.get("result")
            if open_intent == data.get("index"):
                open_intent = None
        elif kind == "approval_decided":
            state.approvals[data["digest"]] = (bool(data["approved"]), str(data.get("by")), data.get("reason"))
        elif kind == "approval_used":
            state.approvals.pop(data["digest"], None)
        elif kind == "resolution_used" and data.get("index") is not None:
            state.resolutions.pop(int(data["index"]), None)
        elif kind == "escalation_resolved" and data.get("index") is not None:
            decision = data["decision"]
            state.resolutions[int(data["index"])] = ("result", data.get("result")) if decision == "result" else decision
        elif kind == "run_finished":
            state.wall_used_s = float(data.get("wall_used_s", state.wall_used_s))
            segment_start = None
        last_at = event.at
    if segment_start is not None:  # the process died: count the time up to its last event
        events = store.events(run_id)
        state.wall_used_s += max(0.0, events[-1].at - segment_start)
    state.dangling = open_intent
    return state


def expire_approval(store: RunStore, run_id: str, now: float | None = None) -> bool:
    """Turn a pending approval older than its timeout into `denied`; True when it did."""
    now = time.time() if now is None else now
    pending = None
    decided: set[str] = set()
    for event in store.events(run_id):
        if event.kind == "approval_pending":
            pending = event
        elif event.kind in ("approval_decided", "approval_used"):
            decided.add(event.data.get("digest", ""))
    if pending is None or pending.data["digest"] in decided:
        return False
    timeout = pending.data.get("timeout_s")
    if timeout is None or now - pending.at < float(timeout):
        return False
    store.append(run_id, "approval_decided", {
        "digest": pending.data["digest"], "index": pending.data.get("index"), "step": pending.data.get("step"),
        "action": pending.data.get("action"), "approved": False, "by": "timeout",
        "reason": f"no decision within {timeout:g}s", "via": "timeout"})
    return True


def pending_approval(store: RunStore, run_id: str) -> dict[str, Any] | None:
    """The approval a paused run waits for, or None."""
    pending: dict[str, Any] | None = None
    for event in store.events(run_id):
        if event.kind == "approval_pending":
            pending = {**event.data, "at": event.at}
        elif event.kind in ("approval_decided", "approval_used") and pending is not None \
                and event.data.get("digest") == pending.get("digest"):
            pending = None
    return pending
