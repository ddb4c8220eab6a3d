"""An action's `require ... else escalate` pauses the run; a person's `specc resolve RUN --retry`
gets the call past it, as it does for a workflow's `require` (it used to pause again, forever).
Through the real CLI on Docker; a `require ... else fallback` is refused at check (guard-strategy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import agent_text, run_spec, show_json, specc, write_agent

from specc.compiler import compile_source

pytestmark = pytest.mark.usefixtures("docker_client")

ACTIONS = """action refund(amount: int) -> Paid {
    run "python3" "/tools/refund.py"
    mount "./tools"
    effect write
    risk low
    idempotent
    require amount <= 50 else escalate "a refund above 50 needs a person"
}"""


def spec(folder: Path) -> Path:
    text = agent_text(types="type Paid {\n  paid: int\n}", input_block="amount: int(0..)", actions=ACTIONS,
                      workflow="paid = refund(amount: input.amount)\nreturn paid", output="Paid")
    return write_agent(folder, text, {"refund.py": "print(json.dumps({'paid': args['amount']}))"})


def test_retry_gets_past_an_escalated_action_require(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    first = run_spec(spec(tmp_path), store, {"amount": 200}, as_json=False)
    assert first.code == 3, first.describe()
    assert "a refund above 50 needs a person" in first.last_line
    assert "require failed at paid" in first.stderr  # the step, by its workflow name
    run_id = first.run_id
    assert run_id is not None
    resolved = specc("resolve", run_id, "--retry", "--store", str(store))
    assert resolved.returncode == 0, resolved.stderr
    resumed = specc("resume", run_id, "--store", str(store), timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == {"paid": 200}
    shown = show_json(store, run_id)["events"]
    failed = [e for e in shown if e["event"] == "require_failed"]
    assert [(e["step"], e["index"]) for e in failed] == [("paid", 0)]
    events = [e["event"] for e in shown]
    assert "require_waived" in events
    assert events.count("attempt_intent") == 1  # the tool ran once, after the person's decision


def test_a_small_refund_is_not_asked(tmp_path: Path) -> None:
    run = run_spec(spec(tmp_path), tmp_path / "runs.db", {"amount": 20}, as_json=False)
    assert run.code == 0, run.describe()


def test_an_action_require_that_falls_back_is_refused_at_check() -> None:
    text = agent_text(types="type Paid {\n  paid: int\n}", input_block="amount: int(0..)",
                      actions=ACTIONS.replace('escalate "a refund above 50 needs a person"', "fallback manual")
                      + "\naction manual(amount: int) -> Paid {\n  run \"python3\" \"/tools/refund.py\"\n"
                        "  mount \"./tools\"\n  effect write\n  risk low\n  idempotent\n}",
                      workflow="paid = refund(amount: input.amount)\nreturn paid", output="Paid")
    result = compile_source(text, "fallback.agent")
    assert [d.code.name for d in result.diagnostics if d.severity.value == "error"] == ["guard-strategy"]
