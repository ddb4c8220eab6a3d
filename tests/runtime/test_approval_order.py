"""The order of the one guarded call: the arguments against the contract, then the action's
`require`s, then the approval. A person is never asked about a call the spec refuses anyway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from specc.compiler import compile_source
from specc.runtime import events as ev
from specc.runtime.run import ArgumentsRejected, Failed, Paused, Position, Run
from specc.runtime.store import RunStore
from specc.runtime.stub_backend import StubBackend, succeed

SPEC = """agent payer {
  version "1.0.0"
  limits {
    steps 5
    wall 1m
  }
  scope {
    mount "./tools" read_only
  }
  sandbox {
    image "specc/base:bookworm"
  }
  action pay(amount: int(1..100000)) -> int {
    run "python3" "/tools/pay.py"
    effect write
    risk high
    approval required
    require amount <= 10000 else escalate "amount above the auto-pay limit"
  }
  on denied abort
  on invalid_input abort
  on error, crash, timeout, sandbox, uncertain abort
  on invalid_output abort
}
"""


def started(tmp_path: Path) -> tuple[Run, RunStore, StubBackend]:
    (tmp_path / "tools").mkdir()
    compilation = compile_source(SPEC, str(tmp_path / "payer.agent"))
    assert not compilation.has_errors, compilation.diagnostics
    store = RunStore(str(tmp_path / "runs.db"))
    stub = StubBackend(answers={"pay": [succeed(1)]})
    return Run.start(compilation.ir, store, stub, None, env={}), store, stub


def kinds(store: RunStore, run: Run) -> list[type[Any]]:
    return [type(e.event) for e in store.events(run.run_id)]


def test_a_require_that_fails_escalates_before_any_approval_is_asked(tmp_path: Path) -> None:
    run, store, stub = started(tmp_path)
    outcome = run.call("pay", {"amount": 20000}, at=Position(0, "pay"))
    assert isinstance(outcome, Paused) and outcome.status == "escalated"
    assert outcome.reason == "amount above the auto-pay limit"
    assert ev.ApprovalPending not in kinds(store, run) and stub.calls == []
    store.close()


@pytest.mark.parametrize("arguments", [{"amount": "all of it"}, {"amount": 0}, {}])
def test_arguments_the_contract_rejects_are_never_put_to_a_person(tmp_path: Path, arguments: Any) -> None:
    run, store, stub = started(tmp_path)
    outcome = run.call("pay", arguments, at=Position(0, "pay"))
    assert isinstance(outcome, Failed) and "`pay" in outcome.reason
    assert ev.ApprovalPending not in kinds(store, run) and stub.calls == []
    rejected = run.call("pay", ArgumentsRejected("no amount"), at=Position(1, "again"))
    assert isinstance(rejected, Failed)
    store.close()


def test_a_call_that_passes_its_guards_waits_for_its_approval(tmp_path: Path) -> None:
    run, store, stub = started(tmp_path)
    outcome = run.call("pay", {"amount": 20}, at=Position(0, "pay"))
    assert isinstance(outcome, Paused) and outcome.status == "awaiting-approval"
    assert ev.ApprovalPending in kinds(store, run) and stub.calls == []
    store.close()
