"""`Run.call`, the one door, driven directly through the whole handler matrix against the
in-process backend (a real `Backend`, no containers), and the table of every place a strategy can
be written: what `specc check` accepts runs exactly as written, and what it cannot honour it refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from callmatrix import STRATEGIES, TOOL_KINDS, Expected, compile_spec, expected, spec_text

from specc.ir import IR
from specc.runtime import events as ev
from specc.runtime.run import Done, Failed, Paused, Position, Run
from specc.runtime.store import RunStore
from specc.runtime.stub_backend import StubBackend, fail, succeed
from specc.runtime.workflow import run_workflow

ACT, SPARE = {"n": 1}, {"n": 2}


class Observed:
    """A run through the stub backend, and what happened in it."""

    def __init__(self, ir: IR, store_path: Path, backend: StubBackend, prompt: Any = None) -> None:
        self.sleeps: list[float] = []
        self.backend = backend
        with RunStore(str(store_path)) as store:
            self.run = Run.start(ir, store, backend, {}, sleep=self.sleeps.append, prompt=prompt)
            self.call = self.run.call("act", {"x": 1}, at=Position(0, "r"))
            self.events = [e.event for e in store.events(self.run.run_id)]

    def attempts(self, action: str) -> int:
        return sum(1 for e in self.events if isinstance(e, ev.AttemptIntent) and e.action == action)

    @property
    def status(self) -> str:
        if isinstance(self.call, Done):
            return "succeeded"
        return self.call.status if isinstance(self.call, Paused) else "failed"


def assert_as_declared(seen: Observed, want: Expected) -> None:
    assert seen.status == want.status, seen.call
    assert seen.attempts("act") == want.attempts
    assert (seen.attempts("spare") > 0) == want.spare
    if want.status == "succeeded":
        assert isinstance(seen.call, Done)
        assert seen.call.result == (SPARE if want.spare else ACT)
        assert isinstance(seen.events[-1], ev.StepFinished)
    elif want.reason is not None:
        assert isinstance(seen.call, Failed | Paused)
        assert want.reason in seen.call.reason
    assert len(seen.sleeps) == len(want.backoffs)
    for slept, (low, high) in zip(seen.sleeps, want.backoffs, strict=True):
        assert low <= slept <= high
    # the trail is complete: every attempt has its outcome, and it is the backend's every call
    outcomes = [e for e in seen.events if isinstance(e, ev.AttemptOutcome)]
    assert len(outcomes) == seen.attempts("act") + seen.attempts("spare") == len(seen.backend.calls)


@pytest.mark.parametrize("mode", ["once", "always"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("kind", sorted(TOOL_KINDS))
def test_the_handler_matrix_in_process(tmp_path: Path, kind: str, strategy: str, mode: str) -> None:
    ir, errors = compile_spec(tmp_path, spec_text(f"on {kind} {STRATEGIES[strategy]}"))
    if not TOOL_KINDS[kind] and "retry" in STRATEGIES[strategy]:
        assert errors == ["non-retryable"]
        return
    assert ir is not None, errors
    script = [fail(kind), succeed(ACT)] if mode == "once" else [fail(kind)]
    seen = Observed(ir, tmp_path / "runs.db", StubBackend({"act": script, "spare": [succeed(SPARE)]}))
    assert_as_declared(seen, expected(strategy, mode))


@pytest.mark.parametrize("strategy", ["fallback", "escalate", "abort"])
def test_a_denied_approval_goes_to_its_handler(tmp_path: Path, strategy: str) -> None:
    ir, errors = compile_spec(tmp_path, spec_text(f"on denied {STRATEGIES[strategy]}", approval="approval required"))
    assert ir is not None, errors
    asked: list[str] = []

    def deny(label: str, action: Any, arguments: Any) -> tuple[bool, str | None]:
        asked.append(action.name)
        return False, "not today"

    seen = Observed(ir, tmp_path / "runs.db", StubBackend({"spare": [succeed(SPARE)]}), prompt=deny)
    assert asked == ["act"]
    assert_as_declared(seen, Expected(*{"fallback": ("succeeded", 0, True), "escalate": ("escalated", 0, False),
                                        "abort": ("failed", 0, False)}[strategy]))


def test_without_a_prompt_an_approval_pauses_before_any_attempt(tmp_path: Path) -> None:
    ir, errors = compile_spec(tmp_path, spec_text(approval="approval required"))
    assert ir is not None, errors
    seen = Observed(ir, tmp_path / "runs.db", StubBackend())
    assert seen.call == Paused("awaiting-approval", "action `act` needs a person's approval")
    assert seen.backend.calls == []
    assert isinstance(seen.events[-1], ev.ApprovalPending)


def test_arguments_that_break_the_contract_are_invalid_input_and_never_attempted(tmp_path: Path) -> None:
    ir, errors = compile_spec(tmp_path, spec_text('on invalid_input escalate "bad arguments"'))
    assert ir is not None, errors
    with RunStore(str(tmp_path / "runs.db")) as store:
        backend = StubBackend()
        call = Run.start(ir, store, backend, {}).call("act", {"x": "one"}, at=Position(0, "r"))
    assert call == Paused("escalated", "bad arguments")
    assert backend.calls == []


@pytest.mark.parametrize(("handler", "status"), [("on budget abort", "failed"), ("on budget escalate", "escalated")])
def test_the_steps_budget_ends_retries_with_the_budget_handler(tmp_path: Path, handler: str, status: str) -> None:
    ir, errors = compile_spec(tmp_path, spec_text("on error retry 5 backoff 10ms..20ms", agent_handler=handler,
                                                  steps=3))
    assert ir is not None, errors
    seen = Observed(ir, tmp_path / "runs.db", StubBackend({"act": [fail("error")]}))
    assert seen.status == status
    assert seen.attempts("act") == 3
    assert any(isinstance(e, ev.Handler) and e.kind == "budget" for e in seen.events)
    if status == "failed":
        assert isinstance(seen.call, Failed) and seen.call.kind == "budget"


# --- every place a strategy is written, every strategy ---------------------------------------------

PLACES = {
    "action handler": lambda s: {"act_handler": f"on error {s}"},
    "agent handler": lambda s: {"agent_handler": f"on error {s}"},
    "then": lambda s: {"act_handler": f"on error retry 1 backoff 10ms..20ms then {s}"},
    "workflow require": lambda s: {"workflow_require": f"require 1 == 2 else {s}"},
    "action require": lambda s: {"act_require": f"require x > 5 else {s}"},
}
PLACED = {"retry": "retry 1 backoff 10ms..20ms", "fallback": "fallback spare", "escalate": 'escalate "why"',
          "abort": 'abort "why"'}


@pytest.mark.parametrize("strategy", sorted(PLACED))
@pytest.mark.parametrize("place", sorted(PLACES))
def test_what_checks_clean_runs_as_written(tmp_path: Path, place: str, strategy: str) -> None:
    ir, errors = compile_spec(tmp_path, spec_text(**PLACES[place](PLACED[strategy])))
    guard = place.endswith("require")
    if guard and strategy in ("retry", "fallback"):
        # the same values fail the guard again: the checker refuses, so nothing can run it wrongly
        assert errors == ["guard-strategy"]
        return
    assert ir is not None, errors
    backend = StubBackend({"act": [fail("error")], "spare": [succeed(SPARE)]})
    with RunStore(str(tmp_path / "runs.db")) as store:
        outcome = run_workflow(Run.start(ir, store, backend, {}, sleep=lambda s: None))
    ran = backend.ran()
    if guard:  # the guard fails before `act` makes any attempt
        assert ran == []
        assert (outcome.status, outcome.reason) == ({"escalate": "escalated", "abort": "failed"}[strategy], "why")
        return
    first = 2 if place == "then" else 1
    if strategy == "retry":
        assert ran == ["act"] * (first + 1)
        assert outcome.status == "failed"
    elif strategy == "fallback":
        assert ran == ["act"] * first + ["spare"]
        assert (outcome.status, outcome.result) == ("succeeded", SPARE)
    else:
        assert ran == ["act"] * first
        assert (outcome.status, outcome.reason) == ({"escalate": "escalated", "abort": "failed"}[strategy], "why")


def test_a_short_secret_never_corrupts_the_runtimes_own_fields(tmp_path: Path) -> None:
    """A secret that happens to stand inside the runtime's own words (`io` in `action`, `via`) is
    redacted from what tools said, never from kinds, names and indexes: resume still reads them."""
    from specc.runtime.run import load_state

    text = spec_text("on error abort").replace(
        'mount "./tools" at "/tools" read_only', 'mount "./tools" at "/tools" read_only\n    env TOK secret').replace(
        "effect read\n", "effect read\n    env TOK\n", 1)
    ir, errors = compile_spec(tmp_path, text)
    assert ir is not None, errors
    backend = StubBackend({"act": [succeed({"n": 1})]})
    with RunStore(str(tmp_path / "runs.db")) as store:
        run = Run.start(ir, store, backend, {}, env={"TOK": "io"})
        assert run.call("act", {"x": 1}, at=Position(0, "r")) == Done({"n": 1})
        trail = store.events(run.run_id)
        assert not [e for e in trail if isinstance(e.event, ev.Unreadable)]
        assert load_state(store, run.run_id).finished == {0: {"n": 1}}
        assert all("action" not in e.data or "[redacted]" not in str(e.data["action"]) for e in trail)


def test_a_log_that_does_not_read_back_is_never_resumed(tmp_path: Path) -> None:
    import sqlite3

    from specc.runtime.run import RunRefused, claim

    ir, errors = compile_spec(tmp_path, spec_text(approval="approval required"))
    assert ir is not None, errors
    with RunStore(str(tmp_path / "runs.db")) as store:
        run = Run.start(ir, store, StubBackend(), {})
        paused = run.call("act", {"x": 1}, at=Position(0, "r"))
        assert isinstance(paused, Paused)
        run.stop(paused, Position(0, "r"))
    db = sqlite3.connect(str(tmp_path / "runs.db"))
    db.execute("UPDATE events SET data = ? WHERE kind = 'step_started'", (json.dumps({"index": "zero"}),))
    db.commit()
    db.close()
    with RunStore(str(tmp_path / "runs.db")) as store, pytest.raises(RunRefused, match="was not resumed"):
        claim(store, run.run_id)
