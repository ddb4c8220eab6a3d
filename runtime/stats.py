"""Observed reliability (`specc stats`): each action's attempts in the run store, its success rate
with a 95% Wilson score interval against the `reliability` the spec declares, and the agent's
compounded observed success against its target, by the checker's model (`specc.reliability`)."""

from __future__ import annotations

import math
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal

from specc.failure import RETRYABLE
from specc.handling import retried, retries
from specc.ir import IR, ActionIR, StepIR

from . import events as ev
from .store import RunRecord, RunStore, StoreError

#: The standard normal quantile of a two-sided 95% interval.
Z95: Final = 1.959963984540054
#: The JSON shape's version (docs/stats.md).
STATS_VERSION: Final = 1
#: More runs than any store holds; `RunStore.runs` takes a limit, and stats reads them all.
ALL_RUNS: Final = 2**62


class StatsError(Exception):
    """The store cannot be read, or it does not say which agent to report on; the message says why."""


# --- the interval and the model ------------------------------------------------------------------


def wilson(successes: int, attempts: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion: (0, 1) with no attempts. Unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0 or n successes."""
    if attempts <= 0:
        return 0.0, 1.0
    n, p = attempts, successes / attempts
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at 0 and n successes one bound is exactly 0 or 1; do not let rounding move it off
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= attempts else min(1.0, centre + half)
    return low, high


def step_retries(action: ActionIR) -> int:
    """The retries a step calling `action` gets: the fewest over the retryable kinds whose handler
    retries, as `specc.reliability.step_retries` counts them on the syntax tree."""
    counts = [retries(handler.strategy) for kind, handler in action.handlers.items()
              if kind in RETRYABLE and retried(handler.strategy)]
    return min(counts) if counts else 0


@dataclass(frozen=True)
class StepStats:
    """One workflow call: its action's per-attempt rate, its retries, and its success with them."""

    step: str
    action: str
    rate: float | None
    retries: int
    success: float | None


def compound(ir: IR, rates: Mapping[str, float | None]) -> tuple[list[StepStats], float | None]:
    """Each workflow call with its success 1 - (1 - p)^(n + 1), p its action's rate in `rates` and n
    its retries, and their product (None when some step has no rate, or without a workflow)."""
    steps: list[StepStats] = []
    total = _block(ir, ir.workflow or [], rates, steps)
    if not steps or any(s.success is None for s in steps):
        return steps, None
    return steps, total


def _block(ir: IR, block: list[StepIR], rates: Mapping[str, float | None], steps: list[StepStats]) -> float | None:
    """Append a block's calls to `steps`; its success by the checker's model: the product over its
    steps, a loop's body to the power of its most turns, a branch's weaker side."""
    total: float | None = 1.0
    for step in block:
        success: float | None = 1.0
        if step.kind == "call" and step.action is not None and step.action in ir.actions:
            n = step_retries(ir.actions[step.action])
            p = rates.get(step.action)
            success = None if p is None else 1 - (1 - p) ** (n + 1)
            steps.append(StepStats(step.name or step.action, step.action, p, n, success))
        elif step.kind == "for":
            body = _block(ir, step.body or [], rates, steps)
            success = None if body is None else body ** (step.max_items or 1)
        elif step.kind == "if":
            then = _block(ir, step.body or [], rates, steps)
            other = _block(ir, step.orelse or [], rates, steps)
            success = None if then is None or other is None else min(then, other)
        total = None if total is None or success is None else total * success
    return total


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionStats:
    """What the store says of one action: its attempts (recorded outcomes), how many were "ok", and
    the failures by kind; `declared` is the spec's `reliability` (None when it declares none)."""

    action: str
    attempts: int
    successes: int
    declared: float | None
    failures: Mapping[str, int] = field(default_factory=dict)
    in_spec: bool = True

    @property
    def rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.successes, self.attempts)

    @property
    def below(self) -> bool:
        """The whole 95% interval lies below the declared reliability."""
        return self.declared is not None and self.attempts > 0 and self.interval[1] < self.declared

    def as_json(self) -> dict[str, Any]:
        low, high = self.interval
        return {"action": self.action, "attempts": self.attempts, "successes": self.successes, "rate": self.rate,
                "low": low, "high": high, "declared": self.declared, "below": self.below,
                "failures": dict(sorted(self.failures.items())), "in_spec": self.in_spec}


Basis = Literal["workflow", "runs"]


@dataclass(frozen=True)
class Compounded:
    """The agent's observed success against its target. `basis` says how it was found: "workflow"
    (the checker's model over the workflow's steps with observed rates), "runs" (a planner's
    share of finished runs that succeeded), or None (no workflow and no planner)."""

    basis: Basis | None
    observed: float | None
    low: float | None
    high: float | None
    target: float | None
    declared: float | None
    steps: Sequence[StepStats] = ()
    runs_succeeded: int = 0
    runs_finished: int = 0

    @property
    def below(self) -> bool:
        """Even the optimistic end of the observed figure lies below the target."""
        return self.target is not None and self.high is not None and self.high < self.target

    def as_json(self) -> dict[str, Any]:
        return {"observed": self.observed, "target": self.target, "low": self.low, "high": self.high,
                "below": self.below, "declared": self.declared, "basis": self.basis,
                "steps": [{"step": s.step, "action": s.action, "rate": s.rate, "retries": s.retries,
                           "success": s.success} for s in self.steps],
                "runs_succeeded": self.runs_succeeded, "runs_finished": self.runs_finished}


@dataclass(frozen=True)
class Report:
    """`specc stats`: the runs it read and what they say. `note` explains an empty or partial
    selection (no store, no run of this agent, only runs of other spec versions)."""

    store: str
    agent: str | None
    runs: int
    other_versions: int
    since: float | None
    actions: Sequence[ActionStats]
    compounded: Compounded
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"version": STATS_VERSION, "agent": self.agent, "store": self.store, "runs": self.runs,
                "other_versions": self.other_versions, "since": self.since,
                "actions": [a.as_json() for a in self.actions], "compounded": self.compounded.as_json(),
                "note": self.note}


_NOTHING = Compounded(None, None, None, None, None, None)


def parse_since(text: str) -> float:
    """The Unix time of `--since`: a date (YYYY-MM-DD, local midnight) or an ISO 8601 timestamp
    (local time unless it carries an offset); ValueError says what is expected."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day).timestamp()
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(f"`{text}` is not a date: give YYYY-MM-DD or an ISO timestamp such as "
                         "2026-03-01T14:30:00") from None


def collect(path: str, ir: IR | None, since: float | None = None) -> Report:
    """Read the store at `path` (never creating one) and report on the runs of `ir`'s agent started
    at `since` or later; without `ir`, on the one agent the store holds, as its newest run declared
    it. Runs of every version of the spec count; `other_versions` says how many differ from `ir`."""
    agent = ir.agent if ir is not None else None
    if not os.path.exists(path):
        return _empty(path, ir, since, f"no runs yet (no store at `{path}`)")
    try:
        with RunStore(path) as store:
            records = store.runs(None, ALL_RUNS)
            if not records:
                return _empty(path, ir, since, f"no runs yet in `{path}`")
            agents = Counter(r.agent for r in records)
            if agent is None:
                if len(agents) > 1:
                    raise StatsError(f"`{path}` holds runs of {len(agents)} agents ({_names(agents)}); name the "
                                     "spec to report on: `specc stats SPEC`")
                (agent,) = agents
            mine = [r for r in records if r.agent == agent]
            if not mine:
                return _empty(path, ir, since, f"`{path}` holds no run of agent `{agent}`; it holds runs of "
                              f"{_names(agents)}")
            if ir is None:
                ir = _newest_ir(mine)
            chosen = [r for r in mine if since is None or r.started >= since]
            if not chosen:
                first = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(min(r.started for r in mine)))
                return _empty(path, ir, since, f"no run of agent `{agent}` started since {_when(since)} "
                              f"(its {len(mine)} runs in `{path}` started from {first})", agent=agent)
            outcomes = [e for r in chosen for e in _outcomes(store, r)]
    except StoreError as exc:
        raise StatsError(str(exc)) from None
    except (sqlite3.Error, ValueError) as exc:
        raise StatsError(f"cannot read the run store `{path}`: {exc}") from None
    spec_hash = ir.source.sha256 if ir is not None else None
    other = sum(1 for r in chosen if r.spec_hash != spec_hash)
    note = None
    if ir is None:
        note = f"no stored IR of agent `{agent}` loads, so what it declares is unknown"
    elif other == len(chosen):
        note = (f"none of the {len(chosen)} runs of agent `{agent}` is of this version of the spec; they count, "
                "with what this version declares")
    return Report(path, agent, len(chosen), other, since, _actions(ir, outcomes), _compounded(ir, chosen, outcomes),
                  note)


def _empty(path: str, ir: IR | None, since: float | None, note: str, agent: str | None = None) -> Report:
    """A report with no attempts: each action the spec declares at zero, the target unmet by nothing."""
    actions = _actions(ir, [])
    compounded = _NOTHING if ir is None else Compounded(_basis(ir), None, None, None, ir.reliability_target,
                                                        ir.reliability_estimate, compound(ir, {})[0])
    return Report(path, ir.agent if ir is not None else agent, 0, 0, since, actions, compounded, note)


def _names(agents: Counter[str]) -> str:
    return ", ".join(f"`{name}` ({count})" for name, count in sorted(agents.items()))


def _when(since: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since or 0))


def _newest_ir(records: list[RunRecord]) -> IR | None:
    """The IR of the newest run whose stored IR still loads (an edited one is refused and skipped)."""
    from .ir_loader import IRRejected, load_ir

    for record in sorted(records, key=lambda r: r.started, reverse=True):
        try:
            return load_ir(record.ir.encode(), f"the IR of run {record.id}")
        except IRRejected:
            continue
    return None


def _outcomes(store: RunStore, record: RunRecord) -> list[ev.AttemptOutcome]:
    return [e.event for e in store.events(record.id) if isinstance(e.event, ev.AttemptOutcome)]


def _actions(ir: IR | None, outcomes: Sequence[ev.AttemptOutcome]) -> list[ActionStats]:
    """One row per action the spec declares and per action the store saw, sorted by name."""
    attempts: Counter[str] = Counter(o.action for o in outcomes)
    successes: Counter[str] = Counter(o.action for o in outcomes if o.kind == "ok")
    failures: dict[str, Counter[str]] = {}
    for o in outcomes:
        if o.kind != "ok":
            failures.setdefault(o.action, Counter())[o.kind] += 1
    declared = ir.actions if ir is not None else {}
    names = sorted(set(declared) | set(attempts))
    return [ActionStats(name, attempts[name], successes[name],
                        declared[name].reliability if name in declared else None,
                        dict(failures.get(name, {})), in_spec=ir is None or name in declared)
            for name in names]


def _basis(ir: IR) -> Basis | None:
    if ir.workflow is not None:
        return "workflow"
    return "runs" if ir.planner is not None else None


def _compounded(ir: IR | None, runs: Sequence[RunRecord], outcomes: Sequence[ev.AttemptOutcome]) -> Compounded:
    succeeded = sum(1 for r in runs if r.status == "succeeded")
    finished = succeeded + sum(1 for r in runs if r.status == "failed")
    if ir is None:
        return Compounded(None, None, None, None, None, None, runs_succeeded=succeeded, runs_finished=finished)
    basis = _basis(ir)
    target, declared = ir.reliability_target, ir.reliability_estimate
    if basis == "runs":
        # a planner's model picks which actions run and how often: no fixed steps to compound, so
        # the figure is the share of its finished runs that succeeded, with its own interval
        if not finished:
            return Compounded(basis, None, None, None, target, declared, (), succeeded, finished)
        low, high = wilson(succeeded, finished)
        return Compounded(basis, succeeded / finished, low, high, target, declared, (), succeeded, finished)
    counted = _actions(ir, outcomes)
    steps, observed = compound(ir, {a.action: a.rate for a in counted})
    # the same model at every action's bounds: it is monotone in each rate, so the true figure
    # lies between these at least as often as all the actions' intervals hold at once
    _, lowest = compound(ir, {a.action: a.interval[0] if a.attempts else None for a in counted})
    _, highest = compound(ir, {a.action: a.interval[1] if a.attempts else None for a in counted})
    return Compounded(basis, observed, lowest, highest, target, declared, steps, succeeded, finished)


# --- text ----------------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    """The report as a table for a terminal; a `below` flag where the interval lies under the claim."""
    from specc.passes.reliability import fmt

    def prob(value: float | None) -> str:
        return "-" if value is None else fmt(value)

    lines: list[str] = []
    since = f", started since {_when(report.since)}" if report.since is not None else ""
    if report.agent is not None and report.runs:
        versions = f", {report.other_versions} of them of other versions of the spec" if report.other_versions else ""
        lines.append(f"agent `{report.agent}`: {report.runs} run{'s' if report.runs != 1 else ''} in "
                     f"`{report.store}`{since}{versions}")
    if report.note:
        lines.append(report.note)
    if not report.runs:
        return "\n".join(lines)
    header = ("action", "attempts", "ok", "rate", "95% interval", "declared", "")
    body = []
    for a in report.actions:
        low, high = a.interval
        flag = "BELOW" if a.below else ("" if a.in_spec else "(not in the spec)")
        body.append((a.action, str(a.attempts), str(a.successes), prob(a.rate),
                     f"{fmt(low)}..{fmt(high)}" if a.attempts else "-", prob(a.declared), flag))
    lines.extend(_table(header, body))
    failing = [f"{a.action}: " + ", ".join(f"{kind} {count}" for kind, count in sorted(a.failures.items()))
               for a in report.actions if a.failures]
    if failing:
        lines.append("failures: " + "; ".join(failing))
    c = report.compounded
    target = f" against target {fmt(c.target)}" if c.target is not None else " (no target declared)"
    band = f" ({fmt(c.low)}..{fmt(c.high)})" if c.low is not None and c.high is not None else ""
    verdict = ": BELOW target" if c.below else ""
    if c.basis == "workflow":
        lines.append("")
        lines.extend(_table(("step", "action", "rate", "retries", "success"),
                            [(s.step, s.action, prob(s.rate), str(s.retries), prob(s.success)) for s in c.steps]))
        declared = f" (the spec estimates {fmt(c.declared)})" if c.declared is not None else ""
        if c.observed is None:
            missing = [s.step for s in c.steps if s.rate is None]
            lines.append("compounded observed success: unknown, no attempt of step "
                         + ", ".join(f"`{m}`" for m in missing) + f" yet{target}")
        else:
            lines.append(f"compounded observed success: {prob(c.observed)}{band}{target}{verdict}{declared}")
    elif c.basis == "runs":
        lines.append(f"observed success of the planner's runs: {prob(c.observed)}{band}, {c.runs_succeeded} of "
                     f"{c.runs_finished} finished runs{target}{verdict}")
    return "\n".join(lines)


def _table(header: tuple[str, ...], body: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *body]]
