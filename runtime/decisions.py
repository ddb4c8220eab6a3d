"""What people decide about paused runs: approvals (`specc approve`, or the timeout that denies),
and escalations (`specc resolve`). Each decision is an event in the run's log, bound to what it
decides, and used once by the resumed run."""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from . import events as ev
from .store import RunRecord, RunStore


class DecisionRefused(Exception):
    """The decision does not apply to this run as it stands; the message says why and what to do."""


def user() -> str:
    """Who decides, as the log records it."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return f"uid {os.getuid()}"


def paused_run(store: RunStore, run_id: str) -> RunRecord:
    """The run a person names (an id or an unambiguous prefix); raises `DecisionRefused`."""
    record = store.find(run_id)
    if record is None:
        raise DecisionRefused(f"no run `{run_id}` in `{store.path}` (`specc runs` lists them)")
    return record


def pending_approvals(store: RunStore, run_id: str) -> list[tuple[ev.ApprovalPending, float]]:
    """Every approval a run waits for (a paused run has one; an MCP session of `specc serve` may
    have several), each with when it was asked, oldest first."""
    pending: dict[str, tuple[ev.ApprovalPending, float]] = {}
    for stored in store.events(run_id):
        event = stored.event
        if isinstance(event, ev.ApprovalPending):
            pending.pop(event.digest, None)
            pending[event.digest] = (event, stored.at)
        elif isinstance(event, ev.ApprovalDecided | ev.ApprovalUsed):
            pending.pop(event.digest, None)
    return list(pending.values())


def pending_approval(store: RunStore, run_id: str) -> tuple[ev.ApprovalPending, float] | None:
    """The approval a paused run waits for (the latest asked), and when; None when there is none."""
    pending = pending_approvals(store, run_id)
    return pending[-1] if pending else None


def expire_approval(store: RunStore, run_id: str, now: float | None = None) -> bool:
    """Turn a pending approval older than its timeout into `denied`; True when it did."""
    now = time.time() if now is None else now
    pending = pending_approval(store, run_id)
    if pending is None:
        return False
    asked, at = pending
    if asked.timeout_s is None or now - at < asked.timeout_s:
        return False
    store.append(run_id, ev.ApprovalDecided(
        digest=asked.digest, index=asked.index, step=asked.step, action=asked.action, approved=False, by="timeout",
        reason=f"no decision within {asked.timeout_s:g}s", via="timeout"))
    return True


def approval_to_decide(store: RunStore, run_id: str, call: int | None = None) -> ev.ApprovalPending:
    """The approval a person decides with `specc approve RUN [--call N]`: what the run waits for
    (action, arguments, effect, risk); raises `DecisionRefused`."""
    record = paused_run(store, run_id)
    if record.status not in ("awaiting-approval", "running"):
        raise DecisionRefused(f"run {record.id} is {record.status}, not awaiting approval")
    if expire_approval(store, record.id):
        raise DecisionRefused(f"the approval of run {record.id} timed out and counts as denied; "
                              f"`specc resume {record.id}` continues with the denial")
    pending = pending_approvals(store, record.id)
    if not pending:
        raise DecisionRefused(f"run {record.id} is running, not awaiting approval" if record.status == "running"
                              else f"run {record.id} has no pending approval")
    if call is not None:
        chosen = [p for p in pending if p[0].index == call]
        if not chosen:
            raise DecisionRefused(f"run {record.id} has no pending approval at call {call}; "
                                  + _listing(pending))
        pending = chosen
    if len(pending) > 1:
        raise DecisionRefused(f"run {record.id} waits for {len(pending)} approvals; name one: " + _listing(pending))
    return pending[0][0]


def decide_approval(store: RunStore, run_id: str, *, approved: bool, reason: str | None,
                    call: int | None = None, digest: str | None = None) -> ev.ApprovalDecided:
    """Record a person's decision on the approval a run waits for (for an MCP session with several,
    the one of `call`); with `digest`, only if it is still the one the person was shown; raises
    `DecisionRefused`."""
    record = paused_run(store, run_id)
    asked = approval_to_decide(store, record.id, call)
    if digest is not None and asked.digest != digest:
        raise DecisionRefused(f"run {record.id} now waits for another approval than the one shown; "
                              f"`specc approve {record.id}` shows it")
    decision = ev.ApprovalDecided(digest=asked.digest, index=asked.index, step=asked.step, action=asked.action,
                                  approved=approved, by=user(), reason=reason, via="cli")
    store.append(record.id, decision)
    return decision


def _listing(pending: list[tuple[ev.ApprovalPending, float]]) -> str:
    import json

    return "; ".join(f"--call {asked.index} for `{asked.action}` {json.dumps(asked.arguments, ensure_ascii=False)}"
                     for asked, _ in pending)


def resolve_escalation(store: RunStore, run_id: str, *, decision: str | None, result: str | None,
                       reason: str | None) -> RunRecord:
    """Record a person's decision on an escalated run: "retry", "abort", or a result (JSON text,
    checked against the action's return contract); raises `DecisionRefused`."""
    from .ir_loader import IRRejected, load_ir
    from .values import ValueRejected, parse_json, validate

    record = paused_run(store, run_id)
    if record.status != "escalated":
        raise DecisionRefused(f"run {record.id} is {record.status}, not escalated")
    stored = store.events(record.id)
    finished = [e.event for e in stored if isinstance(e.event, ev.RunFinished)]
    index = finished[-1].index if finished and isinstance(finished[-1], ev.RunFinished) else None
    if index is None:
        planner = any(isinstance(e.event, ev.PlannerTurn | ev.PlannerRequestFailed) for e in stored)
        if planner and decision == "retry":
            # the planner's own request escalated: resuming asks the model again
            store.append(record.id, ev.EscalationResolved(index=None, decision="retry", by=user(), reason=reason))
            return record
        if planner and decision != "abort":
            raise DecisionRefused(f"run {record.id} escalated on a request to its model, which has no result to "
                                  "supply: --retry asks the model again, --abort ends the run")
        if decision != "abort":
            raise DecisionRefused(f"run {record.id} escalated outside a step (its budget); only --abort applies")
        reason_text = "a person aborted the run" + (f": {reason}" if reason else "")
        store.append(record.id, ev.EscalationResolved(index=None, decision="abort", by=user(), reason=reason))
        store.append(record.id, ev.RunFinished(status="failed", exit_code=1, reason=reason_text))
        store.set_status(record.id, "failed", reason=reason_text)
        return record
    value: Any = None
    if result is not None:
        try:
            ir = load_ir(record.ir.encode(), record.id)
        except IRRejected as exc:
            raise DecisionRefused(str(exc)) from None
        action = _action_at(ir, stored, index)
        if action is None:
            raise DecisionRefused("this escalation is on a `require`, which has no result; use --retry to go on "
                                  "or --abort")
        try:
            value = parse_json(result, "the result")
            schema = ir.actions[action].output_schema
            if schema is not None:
                validate(value, schema, "result")
        except ValueRejected as exc:
            raise DecisionRefused(f"refused: {exc}; the action's contract is unchanged by who supplies the result") \
                from None
    store.append(record.id, ev.EscalationResolved(
        index=index, decision="result" if result is not None else decision,  # type: ignore[arg-type]
        result=value, by=user(), reason=reason))
    return record


def _action_at(ir: Any, stored: list[Any], index: int) -> str | None:
    """The action called at position `index` (a workflow's step, a loop's item, a planner's call),
    as its events name it; None for a `require`, which calls none."""
    called = [e.event.action for e in stored if isinstance(e.event, ev.StepStarted | ev.Handler)
              and e.event.index == index and e.event.action is not None]
    return called[-1] if called else None
