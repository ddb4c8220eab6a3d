"""Handlers, guards and budgets through the real `specc run`, each action in a real container.

Every test writes a small agent that checks clean, runs it with `--json` and a store in tmp_path,
and asserts the exit status, the events (attempts, handler decisions) and what `specc runs` and
`specc show` recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import agent_text, containers, run_spec, run_statuses, show_json, write_agent

pytestmark = pytest.mark.usefixtures("docker_client")

COUNT_TYPE = "type Count {\n count: int\n}"

#: Counts its calls in /mnt/state/count; fails (exit 1) until the third call.
FLAKY = """
path = "/mnt/state/count"
n = int(open(path).read()) if os.path.exists(path) else 0
n += 1
with open(path, "w") as f:
    f.write(str(n))
if n <= 2:
    print(f"call {n}: failing on purpose", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"count": n}))
"""

FAIL = 'print("always failing", file=sys.stderr)\nsys.exit(1)\n'


def _state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def _no_container_left(run_id: str | None) -> None:
    assert run_id is not None
    assert not containers(f"specc.run_id={run_id}"), "a container of the run is left on the engine"


def test_flaky_tool_succeeds_on_the_third_attempt_with_backoff_recorded(tmp_path: Path) -> None:
    text = agent_text(
        mounts=['mount "./state" read_write'],
        types=COUNT_TYPE,
        output="Count",
        actions="""action flaky() -> Count {
            run "python3" "/tools/flaky.py"
            mount "./state"
            mount "./tools"
            effect write
            risk low
            idempotent
            on error retry 3 backoff 100ms..1s
            }""",
        workflow="c = flaky()\nreturn c",
    )
    spec = write_agent(tmp_path, text, {"flaky.py": FLAKY}, folders={"state": 0o777})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 0, run.describe()
    assert run.finished()["result"] == {"count": 3}
    assert (_state(tmp_path) / "count").read_text() == "3"
    attempts = run.of("attempt_outcome", action="flaky")
    assert [a["kind"] for a in attempts] == ["error", "error", "ok"]
    assert len(run.of("attempt_intent", action="flaky")) == 3
    retries = run.of("handler", action="flaky", strategy="retry")
    assert [r["retry"] for r in retries] == [1, 2]
    for index, retry in enumerate(retries):
        assert retry["kind"] == "error"
        # exponential with jitter, capped: the n-th delay lies in [min, min(max, min * 2**n)]
        assert 0.1 <= retry["backoff_s"] <= min(1.0, 0.1 * 2**index) + 1e-3, retry
    # the engine really waited: each retry starts at least its backoff after the failure
    outcomes = run.of("attempt_outcome", action="flaky")
    intents = run.of("attempt_intent", action="flaky")
    for retry, failed, next_intent in zip(retries, outcomes[:2], intents[1:], strict=True):
        assert next_intent["at"] - failed["at"] >= retry["backoff_s"] - 0.01

    # the store has the same decisions, and the run is listed as succeeded
    assert run.run_id is not None
    shown = show_json(tmp_path / "runs.db", run.run_id)
    assert shown["status"] == "succeeded"
    stored = [e for e in shown["events"] if e.get("strategy") == "retry" and "backoff_s" in e]
    assert [e["backoff_s"] for e in stored] == [r["backoff_s"] for r in retries]
    assert len([e for e in shown["events"] if (e.get("event") or e["kind"]) == "attempt_intent"]) == 3
    assert run_statuses(tmp_path / "runs.db") == {run.run_id: "succeeded"}
    _no_container_left(run.run_id)


def test_show_json_keeps_the_type_of_every_event(tmp_path: Path) -> None:
    """`specc show --json` lists the same events, of the same types, as the `--json` stream."""
    text = agent_text(
        mounts=['mount "./state" read_write'],
        types=COUNT_TYPE,
        output="Count",
        actions="""action flaky() -> Count {
            run "python3" "/tools/flaky.py"
            mount "./state"
            mount "./tools"
            effect write
            risk low
            idempotent
            on error retry 3 backoff 100ms..100ms
            }""",
        workflow="c = flaky()\nreturn c",
    )
    spec = write_agent(tmp_path, text, {"flaky.py": FLAKY}, folders={"state": 0o777})
    run = run_spec(spec, tmp_path / "runs.db")
    assert run.code == 0 and run.run_id is not None, run.describe()
    streamed = [e["event"] for e in run.events]
    assert "handler" in streamed and "attempt_outcome" in streamed
    shown = show_json(tmp_path / "runs.db", run.run_id)
    # the event's type, whatever key a fix puts it under, must not be overwritten by its data
    stored = [e.get("event") or e["kind"] for e in shown["events"]]
    assert stored == streamed


def test_retries_exhausted_then_fallback_stands_in(tmp_path: Path) -> None:
    text = agent_text(
        types="type Source {\n name: string\n}",
        output="Source",
        actions="""action primary() -> Source {
            run "python3" "/tools/fail.py"
            mount "./tools"
            effect read
            on error retry 2 backoff 100ms..200ms then fallback backup
            }
            action backup() -> Source {
            run "python3" "/tools/backup.py"
            mount "./tools"
            effect read
            }""",
        workflow="s = primary()\nreturn s",
    )
    spec = write_agent(tmp_path, text, {"fail.py": FAIL, "backup.py": 'print(json.dumps({"name": "backup"}))'})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 0, run.describe()
    assert run.finished()["result"] == {"name": "backup"}
    assert [a["kind"] for a in run.of("attempt_outcome", action="primary")] == ["error"] * 3
    assert [a["kind"] for a in run.of("attempt_outcome", action="backup")] == ["ok"]
    fallback = run.of("handler", action="primary", strategy="fallback")
    assert len(fallback) == 1 and fallback[0]["target"] == "backup", run.of("handler")
    # the fallback's result stands in for the step
    assert run.of("step_finished", step="s")[0]["result"] == {"name": "backup"}
    _no_container_left(run.run_id)


def test_escalate_pauses_the_run_with_exit_3(tmp_path: Path) -> None:
    text = agent_text(
        actions="""action ask() {
            run "python3" "/tools/fail.py"
            mount "./tools"
            effect read
            on error escalate "the tool needs a person"
            }""",
        workflow="ask()",
    )
    spec = write_agent(tmp_path, text, {"fail.py": FAIL})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 3, run.describe()
    assert "the tool needs a person" in run.last_line
    assert "specc resolve" in run.last_line
    assert run.finished()["status"] == "escalated"
    assert run.run_id is not None
    assert run_statuses(tmp_path / "runs.db") == {run.run_id: "escalated"}
    assert len(run.of("attempt_intent")) == 1
    _no_container_left(run.run_id)


def test_abort_exits_1_with_the_reason_on_the_last_line(tmp_path: Path) -> None:
    text = agent_text(
        actions="""action doomed() {
            run "python3" "/tools/fail.py"
            mount "./tools"
            effect read
            on error abort "the ledger tool is broken"
            }""",
        workflow="doomed()",
    )
    spec = write_agent(tmp_path, text, {"fail.py": FAIL})
    run = run_spec(spec, tmp_path / "runs.db", as_json=False)

    assert run.code == 1, run.describe()
    assert "the ledger tool is broken" in run.last_line
    assert run.run_id is not None
    assert run_statuses(tmp_path / "runs.db") == {run.run_id: "failed"}
    _no_container_left(run.run_id)


def test_workflow_require_else_abort_stops_before_the_next_step(tmp_path: Path) -> None:
    text = agent_text(
        mounts=['mount "./out" read_write'],
        types="type Verdict {\n ok: bool\n}",
        actions="""action judge() -> Verdict {
            run "python3" "/tools/judge.py"
            mount "./tools"
            effect read
            }
            action act() {
            run "python3" "/tools/act.py"
            mount "./out"
            mount "./tools"
            effect write
            risk low
            }""",
        workflow='v = judge()\nrequire v.ok else abort "the verdict was not ok"\nact()',
    )
    spec = write_agent(tmp_path, text, {
        "judge.py": 'print(json.dumps({"ok": False}))',
        "act.py": 'open("/mnt/out/acted", "w").write("x")\nprint("{}")',
    }, folders={"out": 0o777})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 1, run.describe()
    assert "the verdict was not ok" in run.last_line
    assert run.of("require_failed"), run.describe()
    assert not run.of("attempt_intent", action="act")
    assert not (tmp_path / "out" / "acted").exists()
    _no_container_left(run.run_id)


def test_action_require_else_escalate_pauses_before_the_tool_runs(tmp_path: Path) -> None:
    text = agent_text(
        mounts=['mount "./out" read_write'],
        input_block="amount: int",
        actions="""action pay(amount: int) {
            run "python3" "/tools/pay.py"
            mount "./out"
            mount "./tools"
            effect write
            risk low
            require amount <= 100 else escalate "amounts above 100 need a person"
            }""",
        workflow="pay(amount: input.amount)",
    )
    spec = write_agent(tmp_path, text, {"pay.py": 'open("/mnt/out/paid", "w").write("x")\nprint("{}")'},
                       folders={"out": 0o777})
    run = run_spec(spec, tmp_path / "runs.db", {"amount": 500})

    assert run.code == 3, run.describe()
    assert "amounts above 100 need a person" in run.last_line
    assert run.run_id is not None
    assert run_statuses(tmp_path / "runs.db") == {run.run_id: "escalated"}
    assert not run.of("attempt_intent")
    assert not (tmp_path / "out" / "paid").exists()

    # the same spec under the limit pays
    run = run_spec(spec, tmp_path / "runs.db", {"amount": 50})
    assert run.code == 0, run.describe()
    assert (tmp_path / "out" / "paid").exists()


def test_steps_limit_stops_retries_with_budget(tmp_path: Path) -> None:
    text = agent_text(
        steps=2,
        actions="""action always_fails() {
            run "python3" "/tools/fail.py"
            mount "./tools"
            effect read
            on error retry 5 backoff 100ms..100ms
            }""",
        workflow="always_fails()",
    )
    spec = write_agent(tmp_path, text, {"fail.py": FAIL})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 1, run.describe()
    assert len(run.of("attempt_intent")) == 2
    assert len(run.of("attempt_outcome")) == 2
    budget = run.of("handler", kind="budget")
    assert len(budget) == 1, run.of("handler")
    assert "steps" in budget[0]["reason"]
    assert "steps" in run.last_line
    _no_container_left(run.run_id)


def test_wall_limit_kills_a_slow_tool(tmp_path: Path) -> None:
    text = agent_text(
        wall="3s",
        actions="""action slow() {
            run "python3" "/tools/slow.py"
            mount "./tools"
            effect read
            timeout 30s
            }""",
        workflow="slow()",
    )
    spec = write_agent(tmp_path, text, {"slow.py": 'time.sleep(10)\nprint("{}")'})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 1, run.describe()
    assert 3 <= run.elapsed <= 6.5, f"the run took {run.elapsed:.1f}s under a 3s wall\n{run.describe()}"
    assert "wall" in run.last_line, run.last_line
    assert run.of("handler", kind="budget"), run.of("handler")
    outcomes = run.of("attempt_outcome")
    assert len(outcomes) == 1 and outcomes[0]["duration_s"] < 4.5, outcomes
    _no_container_left(run.run_id)


def test_uncertain_exit_3_escalates(tmp_path: Path) -> None:
    text = agent_text(
        actions="""action unsure() {
            run "python3" "/tools/unsure.py"
            mount "./tools"
            effect read
            }""",
        workflow="unsure()",
        handlers="on uncertain escalate\non any abort",
    )
    spec = write_agent(tmp_path, text, {"unsure.py": 'print("cannot decide", file=sys.stderr)\nsys.exit(3)'})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 3, run.describe()
    assert [o["kind"] for o in run.of("attempt_outcome")] == ["uncertain"]
    assert run.of("handler", kind="uncertain", strategy="escalate")
    assert run.run_id is not None
    assert run_statuses(tmp_path / "runs.db") == {run.run_id: "escalated"}
    _no_container_left(run.run_id)


@pytest.mark.parametrize("stdout, why", [
    ('print("hello, not json")', "not JSON"),
    ('print("{\\"name\\": \\"a\\"} {}")', "two JSON values"),
    ('print(json.dumps({"name": "a", "extra": 1}))', "an extra field"),
    ('print(json.dumps({"name": 5}))', "a wrong type"),
    ('print(json.dumps({}))', "a missing field"),
    ('sys.stdout.buffer.write(b"\\xff\\xfe")', "invalid UTF-8"),
])
def test_output_breaking_the_contract_is_invalid_output(tmp_path: Path, stdout: str, why: str) -> None:
    text = agent_text(
        types="type Named {\n name: string\n}",
        actions="""action talk() -> Named {
            run "python3" "/tools/talk.py"
            mount "./tools"
            effect read
            }""",
        output="Named",
        workflow="n = talk()\nreturn n",
        handlers='on invalid_output abort "the tool broke its contract"\non any abort',
    )
    spec = write_agent(tmp_path, text, {"talk.py": stdout})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 1, f"{why}: {run.describe()}"
    assert [o["kind"] for o in run.of("attempt_outcome")] == ["invalid_output"], why
    assert run.of("handler", kind="invalid_output", strategy="abort"), why
    assert "the tool broke its contract" in run.last_line
    _no_container_left(run.run_id)


def test_invalid_output_can_be_retried(tmp_path: Path) -> None:
    text = agent_text(
        mounts=['mount "./state" read_write'],
        types=COUNT_TYPE,
        output="Count",
        actions="""action shaky() -> Count {
            run "python3" "/tools/shaky.py"
            mount "./state"
            mount "./tools"
            effect write
            risk low
            idempotent
            on invalid_output retry 1 backoff 100ms..100ms
            }""",
        workflow="c = shaky()\nreturn c",
    )
    shaky = FLAKY.replace("n <= 2", "n <= 1").replace("sys.exit(1)", 'print("garbage")\n    sys.exit(0)')
    spec = write_agent(tmp_path, text, {"shaky.py": shaky}, folders={"state": 0o777})
    run = run_spec(spec, tmp_path / "runs.db")

    assert run.code == 0, run.describe()
    assert [o["kind"] for o in run.of("attempt_outcome")] == ["invalid_output", "ok"]
    assert run.finished()["result"] == {"count": 2}
