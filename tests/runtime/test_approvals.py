"""Approvals and escalations through the real `specc run`, `specc approve`, `specc resolve` and `specc resume`.

`pay` is `risk high` and `approval required`: its tool appends the arguments it received to
`ledger/pay.jsonl` (a read-write mount), so the ledger shows whether, how often and with what the
tool really ran. Nothing runs without a person's decision bound to this spec version, this step and
these exact arguments, and one decision is used once.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import SPECC, agent_text, containers, run_statuses, show_json, specc_env, write_agent

from specc.runtime.store import RunStore

pytestmark = pytest.mark.usefixtures("docker_client")

RECEIPT = "type Receipt {\n to: string\n amount: int\n}"

PAY = """action pay(to: string, amount: int(1..1000)) -> Receipt {
run "python3" "/tools/pay.py"
mount "./ledger"
mount "./tools"
effect write
risk high
approval required
on denied abort "the payment was not approved"
}"""

PAY_TOOL = """
with open("/mnt/ledger/pay.jsonl", "a") as f:
    f.write(json.dumps(args, sort_keys=True) + "\\n")
print(json.dumps({"to": args["to"], "amount": args["amount"]}))
"""

QUOTE_TYPE = 'type Quote {\n amount: int(0..1000)\n currency: "EUR" | "USD"\n}'

QUOTE = """action quote() -> Quote {
run "python3" "/tools/quote.py"
mount "./tools"
effect read
on uncertain escalate "the quote needs a person"
}"""

#: counts its runs on stderr only; exit 3 means "uncertain"
QUOTE_TOOL = 'print("cannot decide this one", file=sys.stderr)\nsys.exit(3)\n'


def _pay_spec(root: Path, *, twice: bool = False, version: str = "1.0.0", **limits: str) -> Path:
    workflow = ("r1 = pay(to: input.to, amount: input.amount)\nr2 = pay(to: input.to, amount: input.amount)\n"
                "return r2") if twice else "r = pay(to: input.to, amount: input.amount)\nreturn r"
    text = agent_text(
        mounts=['mount "./ledger" read_write'],
        types=RECEIPT,
        input_block="to: string(1..40)\namount: int(1..1000)",
        output="Receipt",
        actions=PAY,
        workflow=workflow,
        **limits,
    ).replace('version "1.0.0"', f'version "{version}"')
    return write_agent(root, text, {"pay.py": PAY_TOOL}, folders={"ledger": 0o777})


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`specc ARGS` with no terminal (stdin is /dev/null, so nothing prompts)."""
    return subprocess.run([*SPECC, *args], capture_output=True, text=True, timeout=timeout, env=specc_env(),
                          stdin=subprocess.DEVNULL)


def _run(spec: Path, store: Path, value: Any, *extra: str) -> tuple[subprocess.CompletedProcess[str], str]:
    done = _cli("run", str(spec), "--store", str(store), "--input", json.dumps(value), *extra)
    ids = [line.split()[0] for line in _cli("runs", "--store", str(store)).stdout.splitlines()]
    assert ids, done.stderr
    return done, ids[0]  # newest first


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _ledger(root: Path) -> list[dict[str, Any]]:
    path = root / "ledger" / "pay.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _events(store: Path, run_id: str, kind: str) -> list[dict[str, Any]]:
    """The run's events of `kind`, read from the store (each event's data, with its time as `at`)."""
    with RunStore(str(store)) as runs:
        return [{**e.data, "at": e.at} for e in runs.events(run_id) if e.kind == kind]


def _no_container_left(run_id: str) -> None:
    assert not containers(f"specc.run_id={run_id}"), f"containers of run {run_id} left on the engine"


def _paused(root: Path, value: Any, store: Path | None = None, **spec: Any) -> tuple[Path, str]:
    store = store or root / "runs.db"
    done, run_id = _run(_pay_spec(root, **spec), store, value)
    assert done.returncode == 3, done.stderr
    assert f"specc approve {run_id}" in _last(done), _last(done)
    assert run_statuses(store)[run_id] == "awaiting-approval"
    assert _ledger(root) == [], "the tool ran before anyone approved"
    return store, run_id


def test_approve_then_resume_runs_the_action_with_the_approved_arguments(tmp_path: Path) -> None:
    store, run_id = _paused(tmp_path, {"to": "ACME", "amount": 40})
    listed = _cli("runs", "--status", "awaiting-approval", "--store", str(store))
    assert run_id in listed.stdout
    pending = _events(store, run_id, "approval_pending")
    assert len(pending) == 1
    assert pending[0]["arguments"] == {"to": "ACME", "amount": 40}
    assert pending[0]["effect"] == "write" and pending[0]["risk"] == "high"

    approved = _cli("approve", run_id, "--reason", "invoice checked", "--store", str(store))
    assert approved.returncode == 0, approved.stderr
    decided = _events(store, run_id, "approval_decided")
    assert len(decided) == 1
    assert decided[0]["approved"] is True and decided[0]["by"] == getpass.getuser()
    assert decided[0]["reason"] == "invoice checked" and decided[0]["at"] > 0
    assert decided[0]["digest"] == pending[0]["digest"]

    done = _cli("resume", run_id, "--store", str(store))

    assert done.returncode == 0, done.stderr
    assert _ledger(tmp_path) == [{"to": "ACME", "amount": 40}]
    intents = _events(store, run_id, "attempt_intent")
    assert [i["arguments"] for i in intents] == [{"to": "ACME", "amount": 40}]
    assert show_json(store, run_id)["result"] == {"to": "ACME", "amount": 40}
    _no_container_left(run_id)


def test_deny_applies_the_denied_handler_and_the_tool_never_runs(tmp_path: Path) -> None:
    store, run_id = _paused(tmp_path, {"to": "ACME", "amount": 40})

    denied = _cli("approve", run_id, "--deny", "--reason", "not this month", "--store", str(store))
    assert denied.returncode == 0, denied.stderr
    done = _cli("resume", run_id, "--store", str(store))

    assert done.returncode == 1, done.stderr
    assert "the payment was not approved" in _last(done)
    assert run_statuses(store)[run_id] == "failed"
    assert _ledger(tmp_path) == []
    assert _events(store, run_id, "attempt_intent") == []
    handlers = _events(store, run_id, "handler")
    assert [h["kind"] for h in handlers] == ["denied"], handlers
    _no_container_left(run_id)


def test_an_approval_nobody_decides_in_time_counts_as_denied(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    done, run_id = _run(_pay_spec(tmp_path), store, {"to": "ACME", "amount": 40}, "--approval-timeout", "1")
    assert done.returncode == 3, done.stderr
    time.sleep(2)

    resumed = _cli("resume", run_id, "--store", str(store))

    assert resumed.returncode == 1, resumed.stderr
    assert "the payment was not approved" in _last(resumed)
    decided = _events(store, run_id, "approval_decided")
    assert len(decided) == 1 and decided[0]["approved"] is False and decided[0]["by"] == "timeout"
    assert _ledger(tmp_path) == []
    _no_container_left(run_id)


def test_approve_after_the_timeout_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    done, run_id = _run(_pay_spec(tmp_path), store, {"to": "ACME", "amount": 40}, "--approval-timeout", "1")
    assert done.returncode == 3, done.stderr
    time.sleep(2)

    late = _cli("approve", run_id, "--store", str(store))

    assert late.returncode == 2, late.stderr
    assert "timed out" in late.stderr
    assert not [e for e in _events(store, run_id, "approval_decided") if e["approved"]]
    resumed = _cli("resume", run_id, "--store", str(store))
    assert resumed.returncode == 1, resumed.stderr
    assert _ledger(tmp_path) == []


def _copy_decision(store: Path, source_run: str, target_run: str) -> None:
    """Replay `source_run`'s decision into `target_run`'s log, as a forger with write access would."""
    with RunStore(str(store)) as runs:
        decided = [e for e in runs.events(source_run) if e.kind == "approval_decided"]
        assert len(decided) == 1
        runs.append(target_run, decided[0].event)


def test_an_approval_never_applies_to_edited_arguments(tmp_path: Path) -> None:
    store, first = _paused(tmp_path / "one", {"to": "ACME", "amount": 40}, store=tmp_path / "runs.db")
    _, second = _paused(tmp_path / "two", {"to": "ACME", "amount": 900}, store=store)
    assert _cli("approve", first, "--store", str(store)).returncode == 0
    _copy_decision(store, first, second)

    replayed = _cli("resume", second, "--store", str(store))

    assert replayed.returncode == 3, replayed.stderr
    assert run_statuses(store)[second] == "awaiting-approval"
    assert _ledger(tmp_path / "two") == [], "an approval for 40 paid 900"
    assert not _events(store, second, "approval_used")
    # the approval still works where it belongs
    done = _cli("resume", first, "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert _ledger(tmp_path / "one") == [{"to": "ACME", "amount": 40}]


def test_an_approval_never_applies_to_another_run_with_the_same_arguments(tmp_path: Path) -> None:
    """One person's decision pays once: replayed into a second run of the same spec with the same
    arguments, it must not approve that run too (the decision is bound to its run, not only to the
    spec, step and arguments)."""
    value = {"to": "ACME", "amount": 40}
    store, first = _paused(tmp_path / "one", value, store=tmp_path / "runs.db")
    _, second = _paused(tmp_path / "two", value, store=store)
    assert _cli("approve", first, "--store", str(store)).returncode == 0
    assert _cli("resume", first, "--store", str(store)).returncode == 0
    _copy_decision(store, first, second)

    replayed = _cli("resume", second, "--store", str(store))

    assert _ledger(tmp_path / "two") == [], "one approval paid in two runs"
    assert replayed.returncode == 3, replayed.stderr


def test_an_approval_for_an_older_spec_version_is_refused(tmp_path: Path) -> None:
    value = {"to": "ACME", "amount": 40}
    store, old = _paused(tmp_path / "old", value, store=tmp_path / "runs.db", version="1.0.0")
    _, new = _paused(tmp_path / "new", value, store=store, version="1.0.1")
    old_pending, new_pending = _events(store, old, "approval_pending")[0], _events(store, new, "approval_pending")[0]
    assert old_pending["arguments"] == new_pending["arguments"]
    assert old_pending["digest"] != new_pending["digest"], "the digest does not bind the spec version"
    assert _cli("approve", old, "--store", str(store)).returncode == 0
    _copy_decision(store, old, new)

    replayed = _cli("resume", new, "--store", str(store))

    assert replayed.returncode == 3, replayed.stderr
    assert run_statuses(store)[new] == "awaiting-approval"
    assert _ledger(tmp_path / "new") == []


def test_an_approval_is_used_once_the_same_call_twice_needs_two(tmp_path: Path) -> None:
    store, run_id = _paused(tmp_path, {"to": "ACME", "amount": 40}, twice=True)
    assert _cli("approve", run_id, "--store", str(store)).returncode == 0

    again = _cli("resume", run_id, "--store", str(store))

    assert again.returncode == 3, again.stderr
    assert run_statuses(store)[run_id] == "awaiting-approval"
    assert _ledger(tmp_path) == [{"to": "ACME", "amount": 40}]
    pending = _events(store, run_id, "approval_pending")
    assert len(pending) == 2 and pending[0]["digest"] != pending[1]["digest"]
    assert pending[0]["arguments"] == pending[1]["arguments"]

    # replaying the first (already used) decision does not approve the second call either
    with RunStore(str(store)) as runs:
        used = [e for e in runs.events(run_id) if e.kind == "approval_decided"][0]
        runs.append(run_id, used.event)
    still = _cli("resume", run_id, "--store", str(store))
    assert still.returncode == 3, still.stderr
    assert len(_ledger(tmp_path)) == 1

    assert _cli("approve", run_id, "--store", str(store)).returncode == 0
    done = _cli("resume", run_id, "--store", str(store))
    assert done.returncode == 0, done.stderr
    assert len(_ledger(tmp_path)) == 2
    assert len(_events(store, run_id, "approval_used")) == 2
    _no_container_left(run_id)


def test_time_waiting_for_an_approval_is_not_counted_against_wall(tmp_path: Path) -> None:
    store, run_id = _paused(tmp_path, {"to": "ACME", "amount": 40}, wall="6s", timeout="5s")
    time.sleep(7)  # longer than the whole run's `wall`
    assert _cli("approve", run_id, "--store", str(store)).returncode == 0

    done = _cli("resume", run_id, "--store", str(store))

    assert done.returncode == 0, done.stderr
    assert _ledger(tmp_path) == [{"to": "ACME", "amount": 40}]
    finished = _events(store, run_id, "run_finished")
    assert finished[-1]["wall_used_s"] < 6, finished


def test_the_approval_timeout_of_a_run_applies_to_its_later_approvals(tmp_path: Path) -> None:
    """`--approval-timeout` is the run's: the second approval, asked after a resume, times out too."""
    store = tmp_path / "runs.db"
    done, run_id = _run(_pay_spec(tmp_path, twice=True), store, {"to": "ACME", "amount": 40},
                        "--approval-timeout", "4")
    assert done.returncode == 3, done.stderr
    assert _cli("approve", run_id, "--store", str(store)).returncode == 0
    again = _cli("resume", run_id, "--store", str(store))
    assert again.returncode == 3, again.stderr
    pending = _events(store, run_id, "approval_pending")
    assert [p["timeout_s"] for p in pending] == [4, 4], pending
    time.sleep(5)

    late = _cli("resume", run_id, "--store", str(store))

    assert late.returncode == 1, late.stderr
    assert "the payment was not approved" in _last(late)
    assert len(_ledger(tmp_path)) == 1


def test_approve_refuses_a_run_that_is_not_awaiting_approval(tmp_path: Path) -> None:
    store, run_id = _paused(tmp_path, {"to": "ACME", "amount": 40})
    assert _cli("approve", run_id, "--store", str(store)).returncode == 0
    assert _cli("resume", run_id, "--store", str(store)).returncode == 0

    finished = _cli("approve", run_id, "--store", str(store))
    assert finished.returncode == 2, finished.stderr
    assert "not awaiting approval" in finished.stderr

    unknown = _cli("approve", "r00000000000000-000000", "--store", str(store))
    assert unknown.returncode == 2, unknown.stderr
    assert len(_events(store, run_id, "approval_decided")) == 1


def _escalated(root: Path) -> tuple[Path, str]:
    text = agent_text(types=QUOTE_TYPE, output="Quote", actions=QUOTE, workflow="q = quote()\nreturn q")
    spec = write_agent(root, text, {"quote.py": QUOTE_TOOL})
    store = root / "runs.db"
    done, run_id = _run(spec, store, {})
    assert done.returncode == 3, done.stderr
    assert f"specc resolve {run_id}" in _last(done)
    assert run_statuses(store)[run_id] == "escalated"
    listed = _cli("runs", "--status", "escalated", "--store", str(store))
    assert run_id in listed.stdout
    return store, run_id


@pytest.mark.parametrize(("result", "field"), [
    ('{"amount": "twelve", "currency": "EUR"}', "amount"),
    ('{"amount": 12, "currency": "GBP"}', "currency"),
    ('{"amount": 12}', "currency"),
    ('{"amount": 5000, "currency": "EUR"}', "amount"),
])
def test_a_person_supplied_result_that_breaks_the_contract_is_refused(tmp_path: Path, result: str,
                                                                      field: str) -> None:
    store, run_id = _escalated(tmp_path)

    refused = _cli("resolve", run_id, "--result", result, "--store", str(store))

    assert refused.returncode == 2, refused.stderr
    assert field in refused.stderr, refused.stderr
    assert not _events(store, run_id, "escalation_resolved")
    assert run_statuses(store)[run_id] == "escalated"


def test_a_valid_person_supplied_result_becomes_the_step_result(tmp_path: Path) -> None:
    store, run_id = _escalated(tmp_path)
    tries = len(_events(store, run_id, "attempt_intent"))
    wrong = _cli("approve", run_id, "--store", str(store))
    assert wrong.returncode == 2 and "not awaiting approval" in wrong.stderr, wrong.stderr

    accepted = _cli("resolve", run_id, "--result", '{"amount": 12, "currency": "EUR"}', "--reason", "phoned them",
                    "--store", str(store))
    assert accepted.returncode == 0, accepted.stderr
    resolved = _events(store, run_id, "escalation_resolved")
    assert len(resolved) == 1 and resolved[0]["source"] == "person" and resolved[0]["by"] == getpass.getuser()
    done = _cli("resume", run_id, "--store", str(store))

    assert done.returncode == 0, done.stderr
    assert show_json(store, run_id)["result"] == {"amount": 12, "currency": "EUR"}
    finished = _events(store, run_id, "step_finished")
    assert finished[-1]["source"] == "person" and finished[-1]["result"] == {"amount": 12, "currency": "EUR"}
    assert len(_events(store, run_id, "attempt_intent")) == tries, "the uncertain tool ran again"
    _no_container_left(run_id)
