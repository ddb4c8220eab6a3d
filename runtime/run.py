"""The one door: `Run.call` guards and executes one action call, for every caller.

A workflow step, a planner's proposal, an MCP client's call and a scenario of `specc test` all go
through `call`: the arguments are checked against the action's contract and scope (paths
resolved), its `require` guards applied, an approval asked for or used, the run's budgets
enforced, attempts executed through the `Backend` (the intent of each one durable before it
starts, its outcome after), the action's handlers applied (retry with backoff and jitter,
fallback, escalate, abort), and every event recorded. It returns an outcome value; it never raises
to stop a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from specc.handling import chain, final
from specc.ir import IR, ActionIR, StrategyIR, every_step, to_bytes

from . import events as ev
from .backend import AttemptRequest, AttemptResult, Backend, BackendUnavailable, ConnectionEvent, Limits, Mount
from .owner import current_owner, owner_gone
from .redaction import MIN_SECRET_CHARS, Redactor, too_short
from .sealing import SealBroken, Sealer, where
from .store import Event, RunRecord, RunStore
from .values import EvalError, HostNotReady, ValueRejected, evaluate, parse_json, resolve_paths, validate

# Exit statuses of `specc run`.
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_USAGE, EXIT_PAUSED, EXIT_SPEC, EXIT_SANDBOX, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130

#: How much of a tool's stdout and stderr the run store keeps.
STORED_OUTPUT_BYTES = 8 * 1024
#: How deep a chain of fallbacks may go before the run gives up on it.
MAX_FALLBACK_DEPTH = 8


# -- positions and outcomes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a call stands in its run: the workflow step (or, for a planner, the turn and the call
    within it), and how a person names it. Decisions and results are bound to it."""

    step: int
    label: str
    turn: int | None = None
    call: int | None = None
    #: an approval is bound to this position; False binds it to the action and its arguments
    #: alone (an MCP session, where the same call made again after approval is what runs)
    bound_to_step: bool = True


@dataclass(frozen=True)
class Done:
    """The call succeeded with `result` (the action's, a fallback's, or a person's)."""

    result: Any


@dataclass(frozen=True)
class Failed:
    """The call failed and its handlers end the run; `kind` is the failure kind that led here (None
    for a guard, a contract or a person's abort)."""

    reason: str
    kind: str | None = None
    exit_code: int = EXIT_FAILED


@dataclass(frozen=True)
class Paused:
    """The run must wait for a person: an approval, or an escalation."""

    status: Literal["awaiting-approval", "escalated"]
    reason: str


CallOutcome = Done | Failed | Paused


@dataclass(frozen=True)
class ArgumentsRejected:
    """Stands in for arguments that could not be produced (an expression that does not evaluate,
    a proposal that is not JSON): the call fails with `invalid_input` and its handlers apply."""

    reason: str


@dataclass
class Outcome:
    """How a run ended (or paused)."""

    run_id: str
    status: str  # succeeded, failed, escalated, awaiting-approval, interrupted
    exit_code: int
    result: Any = None
    reason: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """A run's options, recorded when it starts and carried to every resume."""

    approval_timeout_s: float | None = None
    #: an existing network the egress proxies reach declared hosts through
    egress_upstream: str | None = None
    #: private networks the declared hosts may resolve to
    trusted_networks: tuple[str, ...] = ()

    def egress(self) -> dict[str, Any]:
        return {"upstream": self.egress_upstream, "trusted_networks": list(self.trusted_networks)}


@dataclass
class _Failure:
    kind: str
    detail: str


@dataclass
class _Budget:
    steps: int
    wall_s: float
    used_steps: int = 0
    started: float = field(default_factory=time.monotonic)

    def remaining_s(self) -> float:
        return self.wall_s - (time.monotonic() - self.started)


Listener = Callable[[Event], None]

#: Events that only tell what led to the next durable event (the outcome before the step's result,
#: an answer before the next model turn): a crash between the two loses nothing resume relies on,
#: so they are written in the next event's transaction.
_WRITTEN_WITH_THE_NEXT = (ev.StepStarted, ev.StepReused, ev.AttemptOutcome, ev.Connection, ev.PlannerAnswer,
                          ev.PlannerRequestFailed, ev.RequireFailed)
Prompt = Callable[[str, ActionIR, dict[str, Any]], tuple[bool, str | None]]


# -- what a resumed run knows --------------------------------------------------------------------


@dataclass
class ResumeState:
    """What a resumed run knows from its store: finished steps, decisions made by people, and an
    attempt whose intent was written without its step finishing (the process died around it)."""

    finished: dict[int, Any] = field(default_factory=dict)
    #: step index -> "retry" | "abort" | ("result", value), from `specc resolve`
    resolutions: dict[int, Any] = field(default_factory=dict)
    #: approval digest -> (approved, who, reason), not yet used
    approvals: dict[str, tuple[bool, str, str | None]] = field(default_factory=dict)
    #: step index of an attempt with an intent and no finished step, and the action it ran
    dangling: int | None = None
    dangling_action: str | None = None
    used_steps: int = 0
    wall_used_s: float = 0.0
    options: RunOptions = field(default_factory=RunOptions)
    #: values that held a secret, sealed: the input (None) or a finished step's result (its index),
    #: with the step's name; `claim` opens them into `finished` and `input`
    sealed: dict[int | None, tuple[str, ev.Sealed]] = field(default_factory=dict)
    #: the run's exact input, when it was sealed (else the store's row holds it)
    input: tuple[Any] | None = None
    #: (step index, action) -> attempts made so far, so a step's attempts go on counting after resume
    attempts: dict[tuple[int, str], int] = field(default_factory=dict)


def load_state(store: RunStore, run_id: str) -> ResumeState:
    """Rebuild what a run knows from its events, for `specc resume`."""
    state = ResumeState()
    # A step is done only when its `step_finished` is written: an attempt recorded as started (even
    # with an outcome) whose step never finished may have taken effect, so it is "dangling".
    open_intent: int | None = None
    segment_start: float | None = None
    last_at: float | None = None
    for stored in store.events(run_id):
        event = stored.event
        if isinstance(event, ev.RunStarted | ev.RunResumed):
            if segment_start is not None and last_at is not None:  # the stretch before a crash counts
                state.wall_used_s += max(0.0, last_at - segment_start)
            segment_start = stored.at
            if isinstance(event, ev.RunStarted):
                if event.sealed is not None:
                    state.sealed[None] = ("", event.sealed)
                egress = event.egress_options
                state.options = RunOptions(event.approval_timeout_s, egress.get("upstream"),
                                           tuple(egress.get("trusted_networks") or ()))
        elif isinstance(event, ev.AttemptIntent):
            state.used_steps += 1
            if event.index is not None:
                key = (event.index, event.action)
                state.attempts[key] = state.attempts.get(key, 0) + 1
            open_intent = event.index
            state.dangling_action = event.action
        elif isinstance(event, ev.StepFinished):
            state.finished[event.index] = event.result
            state.sealed.pop(event.index, None)
            if event.sealed is not None:
                state.sealed[event.index] = (event.step, event.sealed)
            if open_intent == event.index:
                open_intent = None
        elif isinstance(event, ev.ApprovalDecided):
            state.approvals[event.digest] = (event.approved, event.by, event.reason)
        elif isinstance(event, ev.ApprovalUsed):
            state.approvals.pop(event.digest, None)
        elif isinstance(event, ev.ResolutionUsed):
            state.resolutions.pop(event.index, None)
        elif isinstance(event, ev.EscalationResolved) and event.index is not None:
            decision = event.decision
            state.resolutions[event.index] = ("result", event.result) if decision == "result" else decision
        elif isinstance(event, ev.PlannerAnswer) and event.outcome == "rejected":
            state.used_steps += 1  # a rejected proposal counts as a step
        elif isinstance(event, ev.RunFinished):
            state.wall_used_s = event.wall_used_s
            segment_start = None
        last_at = stored.at
    if segment_start is not None and last_at is not None:  # the process died: count up to its last event
        state.wall_used_s += max(0.0, last_at - segment_start)
    state.dangling = open_intent
    return state


def approval_digest(run_id: str, spec_hash: str, at: Position, action: str, arguments: Any) -> str:
    """Binds an approval to one run, one spec version, one position and these exact arguments."""
    where: list[Any] = [at.step] if at.turn is None else [at.step, at.turn, at.call]
    if not at.bound_to_step:
        where = ["session"]
    canonical = json.dumps([run_id, spec_hash, *where, action, arguments], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def new_run_id() -> str:
    """Sortable by time, unique: `r` + UTC timestamp + random suffix."""
    return "r" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


# -- before anything runs ------------------------------------------------------------------------


def preflight(ir: IR, raw_input: str | bytes, env: Mapping[str, str]) -> Any:
    """Parse and validate the input, and check that the host can give every action what it
    declares (env vars set, mount folders present and writable); raises `ValueRejected`."""
    value = parse_json(raw_input, "the input")
    if ir.input_schema is not None:
        validate(value, ir.input_schema, "input")
    elif value not in ({}, None):
        raise ValueRejected("the agent declares no `input`, so the input must be `{}`")
    if ir.input_schema is not None and isinstance(value, dict):
        mounts = {m.name: (m.source, m.target) for a in ir.actions.values() for m in a.mounts}
        wanted = {str(p.get("x-specc-under")) for p in ir.input_schema.get("properties", {}).values()
                  if isinstance(p, dict) and p.get("x-specc-under")}
        if wanted <= set(mounts):
            resolve_paths(value, ir.input_schema, mounts, "input")
    if ir.workflow is None and ir.planner is None:
        raise ValueRejected("this agent has neither a `workflow` nor a `planner`, so there is nothing to run")
    if ir.planner is not None:
        for name in (ir.planner.endpoint_env, ir.planner.api_key_env):
            if name is not None and not env.get(name):
                raise HostNotReady(f"the planner needs env var `{name}`, which is not set here")
    check_secrets(ir, env)
    if ir.planner is not None:
        problem = endpoint_problem(env[ir.planner.endpoint_env])
        if problem is not None:
            raise ValueRejected(f"env var `{ir.planner.endpoint_env}` {problem}")
    check_host(reachable_actions(ir), env)
    return value


def check_host(actions: Iterable[ActionIR], env: Mapping[str, str]) -> None:
    """Check that this host can give each action what it declares: its network endpoints well formed,
    its env vars set, its mount folders present (and writable by the sandbox user where read_write);
    raises `ValueRejected`."""
    from .egress import Endpoint

    for action in actions:
        for host in action.hosts:
            try:
                Endpoint.parse(host)
            except ValueError as exc:
                raise ValueRejected(f"action `{action.name}` declares network `{host}`: {exc}") from None
        for var in action.env:
            if var.name not in env:
                raise HostNotReady(f"action `{action.name}` needs env var `{var.name}`, which is not set here; "
                                   f"set it (`export {var.name}=...`) and run again")
        for mount in action.mounts:
            if not os.path.isdir(mount.source):
                missing = "is not a folder" if os.path.exists(mount.source) else "does not exist"
                raise HostNotReady(f"mount `{mount.name}` of action `{action.name}` is the folder `{mount.source}`, "
                                   f"which {missing} on this machine; create it (`mkdir -p {mount.source}`)")
            if os.path.islink(mount.source):
                raise HostNotReady(f"mount `{mount.name}` is a symlink; mount its real folder")
            if mount.mode == "read_write" and not _writable_by(mount.source, action.user):
                raise HostNotReady(
                    f"mount `{mount.name}` is read_write, but the sandbox user {action.user} cannot write "
                    f"`{mount.source}`; give it write access (for example `chmod o+w {mount.source}`)")


def secret_vars(ir: IR) -> list[str]:
    """The env vars whose values are the run's secrets: every action's `secret` env and the
    planner's API key, sorted."""
    names = {e.name for a in ir.actions.values() for e in a.env if e.secret}
    if ir.planner is not None and ir.planner.api_key_env is not None:
        names.add(ir.planner.api_key_env)
    return sorted(names)


def check_secrets(ir: IR, env: Mapping[str, str]) -> None:
    """Refuse a secret too short to redact (`ValueRejected` naming its env var): every form of it
    would be taken out of everything the run keeps and shows, ordinary text included."""
    for name in secret_vars(ir):
        value = env.get(name)
        if value is not None and too_short(value):
            raise ValueRejected(
                f"env var `{name}` is a secret of {len(value)} character{'s' if len(value) != 1 else ''}, under the "
                f"{MIN_SECRET_CHARS} a secret needs: a shorter one cannot be redacted without taking that text out of "
                "everything the run keeps and shows; give it a real secret")


def endpoint_problem(url: str) -> str | None:
    """Why `url` cannot be a model's base URL (`http(s)://host[:port][/path]`), or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"is not a URL ({exc}): give the model's base URL, such as `http://127.0.0.1:8000/v1`"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (f"is `{url}`, not an http(s) URL with a host: give the model's base URL, such as "
                "`http://127.0.0.1:8000/v1`")
    return None


def reachable_actions(ir: IR) -> list[ActionIR]:
    """The actions a run can call: the workflow's steps' (or the planner's tools) and every fallback
    they lead to."""
    names = [step.action for step in every_step(ir.workflow) if step.action]
    if ir.planner is not None:
        names.extend(ir.planner.tools)
    for name in list(names):
        for handler in ir.actions[name].handlers.values():
            names.extend(s.target for s in chain(handler.strategy) if s.target)
    return [ir.actions[name] for name in dict.fromkeys(names) if name in ir.actions]


class RunRefused(Exception):
    """The run cannot be resumed (finished, still running, waiting for a person); the message
    says what to do."""


def claim(store: RunStore, run_id: str,
          env: Mapping[str, str] | None = None) -> tuple[RunRecord, IR, ResumeState]:
    """Take a paused, interrupted or crashed run for this process to resume, its sealed values
    opened with the secrets of `env` (the process's environment by default); raises `RunRefused`.
    Two processes cannot both claim one run."""
    from .decisions import expire_approval
    from .ir_loader import IRRejected, load_ir

    record = store.find(run_id)
    if record is None:
        raise RunRefused(f"no run `{run_id}` in `{store.path}` (`specc runs` lists them)")
    if record.status in ("succeeded", "failed"):
        raise RunRefused(f"run {record.id} already {record.status}; nothing to resume")
    if record.status == "running" and not owner_gone(record.owner):
        raise RunRefused(f"run {record.id} is still running (process {record.owner})")
    try:
        ir = load_ir(record.ir.encode(), record.id)
    except IRRejected as exc:
        raise RunRefused(str(exc)) from None
    if record.status == "awaiting-approval":
        expire_approval(store, record.id)
    if record.status == "escalated":
        stored = store.events(record.id)
        last_pause = max(e.seq for e in stored if e.kind == ev.RunFinished.KIND)
        if not any(isinstance(e.event, ev.EscalationResolved) and e.seq > last_pause for e in stored):
            raise RunRefused(f"run {record.id} waits for a person: decide with `specc resolve {record.id} --retry | "
                             "--abort | --result JSON` first")
    unreadable = next((e for e in store.events(record.id) if isinstance(e.event, ev.Unreadable)), None)
    if unreadable is not None:
        raise RunRefused(f"event {unreadable.seq} (`{unreadable.kind}`) of run {record.id} does not read as this "
                         "specc writes it (another version, or an edited log: `specc show --verify` tells); "
                         "resuming could repeat what the run already did, so it was not resumed")
    if any(isinstance(e.event, ev.SessionOpened) for e in store.events(record.id)):
        raise RunRefused(f"run {record.id} was an MCP session of `specc serve`, which is not resumed: its client "
                         "connects again, and that starts a new run")
    state = load_state(store, record.id)
    _unseal(record.id, ir, state, os.environ if env is None else env)
    if record.status == "running":  # crashed: claim it only while its dead owner is still recorded
        claimed = store.claim_crashed(record.id, record.owner, current_owner())
    else:
        claimed = store.claim(record.id, record.status, current_owner())
    if not claimed:
        raise RunRefused(f"run {record.id} was taken up by another process just now; nothing was run")
    return record, ir, state


def _unseal(run_id: str, ir: IR, state: ResumeState, env: Mapping[str, str]) -> None:
    """Open the sealed input and results into `state`, or refuse the resume naming the step and the
    env var: a tool is never handed `[redacted]` in place of a secret."""
    try:
        check_secrets(ir, env)
    except ValueRejected as exc:
        raise RunRefused(f"run {run_id} was not resumed: {exc}") from None
    if not state.sealed:
        return
    sealer = Sealer({name: env[name] for name in secret_vars(ir) if env.get(name)})
    for index, (step, sealed) in sorted(state.sealed.items(), key=lambda item: -1 if item[0] is None else item[0]):
        kind = ev.RunStarted.KIND if index is None else ev.StepFinished.KIND
        try:
            value = sealer.open(sealed, where(run_id, kind, index))
        except SealBroken as broken:
            what = "the run's input" if index is None else f"the result of step `{step}`"
            names = ", ".join(f"`{name}`" for name in broken.names)
            why = (f"env var {', '.join(f'`{n}`' for n in broken.missing)} is not set here" if broken.missing else
                   f"env var {names} does not hold the value it held then")
            raise RunRefused(
                f"run {run_id} was not resumed: {what} holds the secret of env var {names}, kept sealed for resume, "
                f"and {why}; set it to the value the run started with, then resume (a tool is never handed "
                "`[redacted]` for a secret)") from None
        if index is None:
            state.input = (value,)
        else:
            state.finished[index] = value


# -- the run -------------------------------------------------------------------------------------


class Run:
    """One run of an agent: its IR, its store, its backend, its budgets and what it has done.

    Make it with `Run.start` (a fresh run) or `Run.resume` (after `claim`), then call actions with
    `call`, apply workflow guards with `require`, and end it with `finish` or `stop`.
    """

    def __init__(self, ir: IR, store: RunStore, backend: Backend, *, run_id: str | None = None,
                 state: ResumeState | None = None, env: Mapping[str, str] | None = None,
                 listener: Listener | None = None, prompt: Prompt | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.ir = ir
        self.store = store
        self.backend = backend
        self.run_id = run_id or new_run_id()
        self.state = state or ResumeState()
        self.options = self.state.options
        self.host_env = dict(os.environ if env is None else env)
        self.listener = listener
        #: asks a person on a terminal; None means pause and wait for `specc approve`
        self.prompt = prompt
        self.sleep = sleep
        self.input: Any = None
        self._waiting: list[ev.RunEvent] = []
        secrets = {name: self.host_env[name] for name in secret_vars(ir) if self.host_env.get(name)}
        self._secrets = Redactor(secrets.values())
        self._sealer = Sealer(secrets)
        self.budget = _Budget(ir.limits["steps"], ir.limits["wall_ms"] / 1000 - self.state.wall_used_s,
                              used_steps=self.state.used_steps)

    @classmethod
    def start(cls, ir: IR, store: RunStore, backend: Backend, value: Any, *, options: RunOptions | None = None,
              batch: tuple[str, int] | None = None, **kwargs: Any) -> Run:
        """A fresh run of a validated input (see `preflight`), recorded in the store (as the run of
        a batch's line, with `batch`)."""
        options = options or RunOptions()
        run = cls(ir, store, backend, state=ResumeState(options=options), **kwargs)
        run.input = value
        store.create_run(run.run_id, ir.agent, ir.source.sha256, ir.hash, run._redact(value), to_bytes(ir).decode(),
                         current_owner(), batch=batch)
        run._record(ev.RunStarted(agent=ir.agent, spec_hash=ir.source.sha256, input=value,
                                  approval_timeout_s=options.approval_timeout_s, egress_options=options.egress()))
        return run

    @classmethod
    def resume(cls, ir: IR, store: RunStore, backend: Backend, record: RunRecord, state: ResumeState,
               **kwargs: Any) -> Run:
        """Continue a run `claim` took."""
        run = cls(ir, store, backend, run_id=record.id, state=state, **kwargs)
        run.input = state.input[0] if state.input is not None else record.input
        run._record(ev.RunResumed(finished_steps=sorted(state.finished), used_steps=state.used_steps,
                                  wall_used_s=round(state.wall_used_s, 3)))
        store.set_status(run.run_id, "running", owner=current_owner())
        return run

    # -- the door ----------------------------------------------------------------------------

    def call(self, action_name: str, arguments: Mapping[str, Any] | ArgumentsRejected, *, at: Position) -> CallOutcome:
        """Call one action under every guard: reuse a finished result, apply a person's decision, or
        run it with its handlers."""
        state = self.state
        if at.step in state.finished:
            self._record(ev.StepReused(index=at.step, step=at.label, action=action_name))
            return Done(state.finished[at.step])
        action = self.ir.actions.get(action_name)
        if action is None:
            return Failed(f"there is no action `{action_name}`", kind="invalid_input", exit_code=EXIT_USAGE)
        resolution = state.resolutions.pop(at.step, None)
        if resolution is not None:
            self._record(ev.ResolutionUsed(index=at.step))
            state.dangling = None if state.dangling == at.step else state.dangling
            if resolution == "abort":
                return Failed("a person aborted the run")
            if isinstance(resolution, tuple):
                self._record(ev.StepFinished(index=at.step, step=at.label, action=action.name, result=resolution[1],
                                             source="person"))
                return Done(resolution[1])
        if state.dangling == at.step:
            state.dangling = None
            cut = self.ir.actions.get(state.dangling_action or action.name, action)
            if not cut.idempotent:
                self._record(ev.Handler(index=at.step, step=at.label, action=action.name, kind="uncertain",
                                        strategy="escalate", reason="interrupted mid-attempt"))
                return Paused("escalated", f"an attempt of `{cut.name}` was cut off before its outcome was recorded, "
                              f"and `{cut.name}` is not idempotent: check whether it took effect, then resolve")
        if isinstance(arguments, ArgumentsRejected):
            outcome = self._on_failure(at, action, {}, _Failure("invalid_input", arguments.reason), 0)
        else:
            values = dict(arguments)
            self._record(ev.StepStarted(index=at.step, step=at.label, action=action.name, arguments=values))
            # a person's --retry of an escalated call gets it past the action's escalating `require`s
            outcome = self._run_action(at, action, values, 0, waive=resolution == "retry")
        if isinstance(outcome, Done):
            self._record(ev.StepFinished(index=at.step, step=at.label, action=action.name, result=outcome.result))
        return outcome

    def require(self, holds: Callable[[], Any], strategy: StrategyIR, *, at: Position, line: int) -> CallOutcome:
        """A workflow's `require` at `at`: Done when it holds (or a person let the run past it),
        else what its strategy says."""
        resolution = self.state.resolutions.pop(at.step, None)
        if resolution is not None:
            self._record(ev.ResolutionUsed(index=at.step))
            if resolution == "abort":
                return Failed("a person aborted the run")
            self._record(ev.RequireWaived(index=at.step, line=line))
            return Done(None)
        try:
            if holds():
                return Done(None)
        except EvalError as exc:
            return Failed(str(exc))
        return self._guard(strategy, f"the `require` at line {line} failed", at)

    def check_arguments(self, action_name: str, arguments: Any) -> str | None:
        """Why these arguments cannot be given to the action (its contract, its paths), or None;
        the same rules `call` applies, for a caller that answers a proposal instead of failing."""
        action = self.ir.actions.get(action_name)
        if action is None:
            return f"there is no action `{action_name}`"
        try:
            validate(arguments, action.input_schema, action.name)
            resolve_paths(arguments, action.input_schema, {m.name: (m.source, m.target) for m in action.mounts},
                          action.name)
        except ValueRejected as exc:
            return str(exc)
        return None

    def spend_step(self, at: Position) -> Failed | Paused | None:
        """Count one step that is not an attempt (a rejected proposal); the budget's outcome when
        none is left."""
        if self.budget.used_steps >= self.budget.steps:
            return self.budget_spent(at, f"the run used all {self.budget.steps} steps of its `limits`")
        self.budget.used_steps += 1
        return None

    def record(self, event: ev.RunEvent) -> None:
        """Record an event of this run (redacted, durable before this returns)."""
        self._record(event)

    def redact(self, value: Any) -> Any:
        """`value` with every secret of the run replaced by `[redacted]`."""
        return self._redact(value)

    def finish(self, status: str, exit_code: int, *, result: Any = None, reason: str | None = None,
               at: Position | None = None) -> Outcome:
        """End (or pause) the run: record it and give its outcome, with no secret in it."""
        result, reason = self._redact(result), self._redact(reason)
        wall_used = self.state.wall_used_s + (time.monotonic() - self.budget.started)
        self._record(ev.RunFinished(status=status, exit_code=exit_code, reason=reason,
                                    step=at.label if at else None, index=at.step if at else None, result=result,
                                    used_steps=self.budget.used_steps, wall_used_s=round(wall_used, 3)))
        self.store.set_status(self.run_id, status, result=result, reason=reason)
        return Outcome(self.run_id, status, exit_code, result=result, reason=reason, step=at.label if at else None)

    def stop(self, outcome: Failed | Paused, at: Position | None) -> Outcome:
        """End the run as a call's failure or pause says."""
        if isinstance(outcome, Paused):
            return self.finish(outcome.status, EXIT_PAUSED, reason=outcome.reason, at=at)
        return self.finish("failed", outcome.exit_code, reason=outcome.reason, at=at)

    # -- events ------------------------------------------------------------------------------

    def _record(self, event: ev.RunEvent) -> None:
        """Write `event`, durable before this returns; an event that only tells what led to the next
        durable one waits for it and is written in the same transaction (one fsync, not two)."""
        self._waiting.append(self._seal(event))
        if isinstance(event, _WRITTEN_WITH_THE_NEXT):
            return
        waiting, self._waiting = self._waiting, []
        written = self.store.append_all(self.run_id, waiting, self._redact if self._secrets else None)
        if self.listener is not None:
            for stored in written:
                self.listener(stored)

    def _seal(self, event: ev.RunEvent) -> ev.RunEvent:
        """The event with what resume needs sealed beside its redacted payload, when a secret
        stands in it: a step's result, the run's input."""
        if not self._secrets:
            return event
        if isinstance(event, ev.StepFinished):
            sealed = self._sealer.seal(event.result, where(self.run_id, event.KIND, event.index))
        elif isinstance(event, ev.RunStarted):
            sealed = self._sealer.seal(event.input, where(self.run_id, event.KIND, None))
        else:
            return event
        return event if sealed is None else event.model_copy(update={"sealed": sealed})

    def _redact_bytes(self, data: bytes) -> bytes:
        """Redact before anything is cut, so a secret across the cut cannot survive in part."""
        return self._secrets.bytes(data)

    def _redact(self, value: Any) -> Any:
        return self._secrets.value(value)

    # -- one action, its attempts and its handlers -------------------------------------------

    def _run_action(self, at: Position, action: ActionIR, values: dict[str, Any], depth: int, *,
                    waive: bool = False) -> CallOutcome:
        counters: dict[str, int] = {}
        asked = action.approval != "required" or not _asks(action, values)
        while True:
            # the contract and the `require`s first: a person is never asked about a call they refuse
            prepared = self._prepare(at, action, values, waive=waive)
            if isinstance(prepared, Failed | Paused):
                return prepared
            failure = prepared
            if failure is None and not asked:
                asked = True
                decided = self._approval(at, action, values)
                if isinstance(decided, Paused):
                    return decided
                if decided is not None:
                    return self._on_failure(at, action, values, decided, depth)
            if failure is None:
                attempted = self._attempt(at, action, values)
                if not isinstance(attempted, _Failure):
                    return attempted
                failure = attempted
            if not self._retry(at, action, failure, counters):
                return self._on_failure(at, action, values, failure, depth)

    def _approval(self, at: Position, action: ActionIR, values: dict[str, Any]) -> _Failure | Paused | None:
        """None when a person approved these exact arguments; a `denied` failure when they refused;
        a pause when nobody has decided yet."""
        digest = approval_digest(self.run_id, self.ir.source.sha256, at, action.name, values)
        decision = self.state.approvals.pop(digest, None)
        if decision is None and self.prompt is not None:
            from .decisions import user

            asked = time.monotonic()
            approved, reason = self.prompt(at.label, action, self._redact(values))
            self.budget.started += time.monotonic() - asked  # time waiting for a person is not `wall`
            decision = (approved, user(), reason)
            self._record(ev.ApprovalDecided(digest=digest, index=at.step, step=at.label, action=action.name,
                                            approved=approved, by=decision[1], reason=reason, via="terminal"))
        if decision is None:
            self._record(ev.ApprovalPending(digest=digest, index=at.step, step=at.label, action=action.name,
                                            arguments=values, effect=action.effect, risk=action.risk,
                                            timeout_s=self.options.approval_timeout_s))
            return Paused("awaiting-approval", f"action `{action.name}` needs a person's approval")
        approved, who, reason = decision
        self._record(ev.ApprovalUsed(digest=digest, index=at.step, step=at.label, approved=approved, by=who))
        if approved:
            return None
        return _Failure("denied", f"{who} denied the approval" + (f": {reason}" if reason else ""))

    def _prepare(self, at: Position, action: ActionIR, values: dict[str, Any], *,
                 waive: bool = False) -> _Failure | Failed | Paused | None:
        """The call's arguments against the contract, then the action's `require`s; `waive`: a
        person resolved the escalation at `at` with --retry, so a `require` that escalates lets the
        call go on (recorded) instead of pausing the run again."""
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
                if waive and require.strategy.kind == "escalate":
                    self._record(ev.RequireWaived(index=at.step))
                    continue
                return self._guard(require.strategy, f"a `require` of action `{action.name}` failed", at)
        return None

    def _guard(self, strategy: StrategyIR, what: str, at: Position) -> Failed | Paused:
        """A guard that does not hold at `at`: the checker admits only `abort` and `escalate` here,
        since the same values would fail it again."""
        reason = strategy.reason or what
        self._record(ev.RequireFailed(what=what, strategy=strategy.kind, reason=reason, index=at.step, step=at.label))
        if strategy.kind == "escalate":
            return Paused("escalated", reason)
        return Failed(reason)

    def _attempt(self, at: Position, action: ActionIR, values: dict[str, Any]) -> Done | _Failure | Failed | Paused:
        """One attempt through the backend: the result, a failure for the handlers, or the end of
        the budget."""
        budget = self.budget
        if budget.used_steps >= budget.steps:
            return self.budget_spent(at, f"the run used all {budget.steps} steps of its `limits`")
        remaining = budget.remaining_s()
        if remaining <= 0:
            return self.budget_spent(at, "the run ran out of its `wall` time")
        mounts = {m.name: (m.source, m.target) for m in action.mounts}
        try:
            tool_args = resolve_paths(values, action.input_schema, mounts, action.name)
        except ValueRejected as exc:
            return _Failure("invalid_input", str(exc))
        budget.used_steps += 1
        counted = budget.used_steps  # the run's count, against `limits.steps`
        key = (at.step, action.name)
        attempt = self.state.attempts[key] = self.state.attempts.get(key, 0) + 1  # this step's count
        timeout_s = min(action.limits.timeout_ms / 1000, remaining)
        request = AttemptRequest(
            image=action.image,
            argv=tuple(action.argv),
            stdin=json.dumps(tool_args, ensure_ascii=False).encode(),
            mounts=tuple(Mount(m.source, m.target, m.mode == "read_only") for m in action.mounts),
            env={e.name: self.host_env[e.name] for e in action.env if e.name in self.host_env},
            limits=Limits(memory_bytes=action.limits.memory_bytes, cpus=action.limits.cpus, pids=action.limits.pids,
                          timeout_s=timeout_s, output_bytes=action.limits.output_bytes,
                          disk_bytes=action.limits.disk_bytes),
            run_id=self.run_id,
            user=action.user,
            action=action.name,
            endpoints=tuple(action.hosts),
        )
        _fault("before_intent", counted)
        self._record(ev.AttemptIntent(index=at.step, step=at.label, action=action.name, attempt=attempt,
                                      arguments=tool_args, image=action.image, timeout_s=round(timeout_s, 3)))
        _fault("after_intent", counted)
        refused: list[ConnectionEvent] = []

        def report(seen: ConnectionEvent) -> None:
            if not seen.allowed:
                refused.append(seen)
            self._record(ev.Connection(**dataclasses.asdict(seen)))

        try:
            result = self.backend.run(request, report)
        except BackendUnavailable as exc:
            return Failed(str(exc), kind="sandbox", exit_code=EXIT_SANDBOX)
        _fault("after_tool", counted)
        # stderr keeps its head up to a cap: a secret cut there must not survive in part in the last line
        cut = len(result.stderr) >= request.limits.stderr_bytes
        result = dataclasses.replace(result, stderr=self._secrets.bytes(result.stderr, cut=cut))
        kind, detail, value = _classify(action, result, self._redact_bytes)
        if kind != "ok" and refused:
            detail = f"{detail}; {refused_connection(refused[0])}"
        if kind == "timeout" and budget.remaining_s() <= 0:
            kind, detail = "budget", "the run ran out of its `wall` time during the attempt"
        self._record(ev.AttemptOutcome(
            index=at.step, step=at.label, action=action.name, attempt=attempt, kind=kind, detail=detail,
            exit_code=result.exit_code, duration_s=round(result.duration_s, 3),
            stdout=_clip(self._redact_bytes(result.stdout)), stderr=_clip(self._redact_bytes(result.stderr)),
            sandbox=result.settings))
        if kind == "budget":
            return self.budget_spent(at, detail)
        if kind == "ok":
            return Done(value)
        return _Failure(kind, detail)

    def budget_spent(self, at: Position | None, reason: str) -> Failed | Paused:
        """The run's limits are exhausted: what the agent's `budget` handler says."""
        strategy = self.ir.budget_handler.strategy
        self._record(ev.Handler(step=at.label if at else None, kind="budget", strategy=strategy.kind, reason=reason))
        if strategy.kind == "escalate":
            return Paused("escalated", strategy.reason or reason)
        return Failed(strategy.reason or reason, kind="budget")

    def _retry(self, at: Position, action: ActionIR, failure: _Failure, counters: dict[str, int]) -> bool:
        return self.retry(action.handlers[failure.kind].strategy, failure.kind, failure.detail, counters,
                          step=at.label, action=action.name)

    def retry(self, strategy: StrategyIR, kind: str, detail: str, counters: dict[str, int], *, step: str | None,
              action: str | None, wait_s: float | None = None) -> bool:
        """True when the handler's `strategy` for `kind` grants another try now, after its backoff
        (or after `wait_s`, a server's Retry-After, kept within the backoff's bounds); `counters`
        holds the tries used per kind."""
        used = counters.get(kind, 0)
        granted = 0
        for step_strategy in chain(strategy):
            if step_strategy.kind != "retry":
                return False
            if used < granted + step_strategy.count:
                delay = _backoff(step_strategy, used - granted)
                if wait_s is not None:
                    low, high = step_strategy.backoff_min_ms / 1000, step_strategy.backoff_max_ms / 1000
                    delay = min(max(wait_s, low), high)
                counters[kind] = used + 1
                self._record(ev.Handler(step=step, action=action, kind=kind, detail=detail, strategy="retry",
                                        retry=used + 1, backoff_s=round(delay, 3)))
                if delay > 0:
                    self.sleep(min(delay, max(0.0, self.budget.remaining_s())))
                return True
            granted += step_strategy.count
        return False

    def _on_failure(self, at: Position, action: ActionIR, values: dict[str, Any], failure: _Failure,
                    depth: int) -> CallOutcome:
        """The strategy that applies once the retries are spent: fallback, escalate or abort."""
        strategy = final(action.handlers[failure.kind].strategy) or StrategyIR(kind="abort")
        reason = strategy.reason or f"`{action.name}` failed with `{failure.kind}`: {failure.detail}"
        self._record(ev.Handler(step=at.label, action=action.name, kind=failure.kind, detail=failure.detail,
                                strategy=strategy.kind, reason=reason, target=strategy.target))
        if strategy.kind == "fallback" and strategy.target is not None and depth < MAX_FALLBACK_DEPTH:
            target = self.ir.actions[strategy.target]
            outcome = self._run_action(at, target, values, depth + 1)
            if isinstance(outcome, Done) and action.output_schema is not None:
                try:
                    validate(outcome.result, action.output_schema, "fallback result")
                except ValueRejected as exc:
                    return Failed(f"fallback `{target.name}` gave a result `{action.name}` cannot stand in for: {exc}")
            return outcome
        if strategy.kind == "escalate":
            return Paused("escalated", reason)
        return Failed(reason, kind=failure.kind, exit_code=EXIT_SANDBOX if failure.kind == "sandbox" else EXIT_FAILED)


# -- helpers -------------------------------------------------------------------------------------


def _asks(action: ActionIR, values: dict[str, Any]) -> bool:
    """Whether a call of an action with `approval required` waits for a person: always, or with
    `approval required when` when its condition holds over these arguments (or cannot be worked out
    from them: then a person decides)."""
    if action.approval_when is None:
        return True
    try:
        return bool(evaluate(action.approval_when, values))
    except EvalError:
        return True


def refused_connection(event: ConnectionEvent) -> str:
    """What a person needs to know of a connection the egress proxy refused: which host, why, and
    how to allow it when it should be allowed."""
    if not event.host:
        return f"the egress proxy refused a connection: {event.reason}"
    where = f"`{event.host}:{event.port}`"
    text = f"the egress proxy refused its connection to {where}: {event.reason}"
    if "is not declared" in event.reason:
        return text + (f"; to allow it, declare `network \"{event.host}:{event.port}\"` in the action and in the "
                       "agent's `scope`")
    if any(word in event.reason for word in ("a private address", "a shared (carrier-grade NAT) address",
                                             "a reserved address", "a link-local address")):
        found = re.search(r"resolves to (\S+), which is|`(\S+)` is ", event.reason)
        address = next((g for g in found.groups() if g), None) if found else None
        example = f"{address}/32" if address and ":" not in address else (f"{address}/128" if address else "CIDR")
        return text + f"; if that address is yours, allow it with `specc run --trust-network {example}`"
    return text


#: How many bytes of a tool's stdout a failure quotes when it is not JSON.
QUOTED_STDOUT = 80


def _classify(action: ActionIR, result: AttemptResult,
              redact: Callable[[bytes], bytes] | None = None) -> tuple[str, str, Any]:
    """The attempt's kind once the contract is applied: the backend's verdict, then the result's."""
    if result.kind != "ok":
        detail = result.detail
        said = _last_line(result.stderr)
        if said and result.kind in ("error", "uncertain", "crash"):
            detail = f"{detail}; the tool said: {said}"
        return result.kind, detail, None
    try:
        value = parse_json(result.stdout, "the tool's stdout", limit=action.limits.output_bytes)
    except ValueRejected as exc:
        return "invalid_output", str(exc) + _began(result.stdout, redact), None
    if action.output_schema is not None:
        try:
            validate(value, action.output_schema, "result")
        except ValueRejected as exc:
            return "invalid_output", f"the result breaks the return contract: {exc}", None
    return "ok", "succeeded", value


def _began(stdout: bytes, redact: Callable[[bytes], bytes] | None) -> str:
    """How a stdout that is not JSON began, escaped and capped, for the failure's words."""
    if not stdout.strip():
        return "; the tool printed nothing on stdout (its result must be one JSON value there)"
    shown = (redact(stdout) if redact is not None else stdout)[:QUOTED_STDOUT]
    text = json.dumps(shown.decode("utf-8", "backslashreplace"), ensure_ascii=True)[1:-1]
    more = "..." if len(stdout) > QUOTED_STDOUT else ""
    return f"; it printed `{text}{more}`"


def _fault(point: str, attempt: int) -> None:
    """Fault injection for the crash tests: `SPECC_FAULT=after_intent:2` kills this process with
    SIGKILL at that boundary of attempt 2, exactly as a power cut or the OOM killer would."""
    wanted = os.environ.get("SPECC_FAULT")
    if wanted and wanted == f"{point}:{attempt}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


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
