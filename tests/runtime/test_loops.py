"""Loops, branches and conditional approvals through the real `specc run`, `approve` and `resume`.

The agent refunds each order of a batch: `check` reads the order (effect read), `refund` appends it
to `ledger/refunds.jsonl` (a read-write mount) and needs a person only for more than 50. A branch
returns early on an empty batch. The ledger shows whether, how often and with what each tool ran:
every item runs once, a failing item ends the run there, a kill in the middle of the loop resumes
at the item and the step it stopped at, and each item's approval is bound to its own arguments.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import SPECC, agent_text, containers, run_statuses, show_json, specc_env, write_agent

from specc.runtime.store import RunStore

pytestmark = pytest.mark.usefixtures("docker_client")

TYPES = """type Order {
id: string(1..20)
amount: int(1..1000)
}
type Checked {
id: string
amount: int
}
type Refunded {
id: string
amount: int
}
type Report {
refunded: list<Refunded>(..4)
}"""

ACTIONS = """action check(order: Order) -> Checked {
run "python3" "/tools/check.py"
mount "./tools"
effect read
}
action refund(order: Checked) -> Refunded {
run "python3" "/tools/refund.py"
mount "./ledger"
mount "./tools"
effect write
risk high
idempotent by order.id
approval required when order.amount > 50
on error abort "the refund failed"
on denied abort "the refund was not approved"
}"""

WORKFLOW = """if len(input.orders) == 0 {
return {refunded: []}
}
refunded = for order in input.orders {
checked = check(order: order)
refund(order: checked)
}
return {refunded: refunded}"""

TOOLS = {
    "check.py": 'print(json.dumps({"id": args["order"]["id"], "amount": args["order"]["amount"]}))\n',
    # an order whose id starts with "bad" fails; every other one is written to the ledger first
    "refund.py": """
order = args["order"]
if order["id"].startswith("bad"):
    print("the payments API refused", order["id"], file=sys.stderr)
    sys.exit(1)
with open("/mnt/ledger/refunds.jsonl", "a") as f:
    f.write(json.dumps(order, sort_keys=True) + "\\n")
print(json.dumps(order))
""",
}


def _spec(root: Path) -> Path:
    text = agent_text(
        mounts=['mount "./ledger" read_write'],
        types=TYPES,
        input_block="orders: list<Order>(..4)",
        output="Report",
        actions=ACTIONS,
        workflow=WORKFLOW,
    )
    return write_agent(root, text, TOOLS, folders={"ledger": 0o777})


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`specc ARGS` with no terminal (stdin is /dev/null, so nothing prompts)."""
    return subprocess.run([*SPECC, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or specc_env(), stdin=subprocess.DEVNULL)


def _run(root: Path, orders: list[dict[str, Any]], env: dict[str, str] | None = None,
         ) -> tuple[subprocess.CompletedProcess[str], str]:
    store = root / "runs.db"
    done = _cli("run", str(_spec(root)), "--store", str(store), "--input", json.dumps({"orders": orders}), env=env)
    ids = list(run_statuses(store))
    assert len(ids) == 1, done.stderr
    return done, ids[0]


def _ledger(root: Path) -> list[dict[str, Any]]:
    path = root / "ledger" / "refunds.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _events(root: Path, run_id: str, kind: str, **match: Any) -> list[dict[str, Any]]:
    with RunStore(str(root / "runs.db")) as runs:
        found = [e.data for e in runs.events(run_id) if e.kind == kind]
    return [e for e in found if all(e.get(k) == v for k, v in match.items())]


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _no_container_left(run_id: str) -> None:
    assert not containers(f"specc.run_id={run_id}"), f"containers of run {run_id} left on the engine"


def _order(name: str, amount: int) -> dict[str, Any]:
    return {"id": name, "amount": amount}


def test_a_loop_runs_its_body_once_per_item_and_collects_the_last_results(tmp_path: Path) -> None:
    orders = [_order("o1", 10), _order("o2", 20), _order("o3", 30)]

    done, run_id = _run(tmp_path, orders)

    assert done.returncode == 0, done.stderr
    assert _ledger(tmp_path) == orders
    assert show_json(tmp_path / "runs.db", run_id)["result"] == {"refunded": orders}
    intents = _events(tmp_path, run_id, "attempt_intent")
    assert [(i["action"], i["arguments"]) for i in intents] == [
        (action, {"order": order}) for order in orders for action in ("check", "refund")]
    # every item's steps have positions and names of their own
    labels = [i["step"] for i in intents]
    assert labels == ["checked (order 1)", "refund (order 1)", "checked (order 2)", "refund (order 2)",
                      "checked (order 3)", "refund (order 3)"]
    assert len({i["index"] for i in intents}) == 6
    # no refund was above 50: nobody was asked
    assert not _events(tmp_path, run_id, "approval_pending")
    _no_container_left(run_id)


def test_a_branch_returns_early_and_nothing_runs(tmp_path: Path) -> None:
    done, run_id = _run(tmp_path, [])

    assert done.returncode == 0, done.stderr
    assert show_json(tmp_path / "runs.db", run_id)["result"] == {"refunded": []}
    assert not _events(tmp_path, run_id, "attempt_intent")


def test_an_item_that_fails_ends_the_run_at_that_item(tmp_path: Path) -> None:
    orders = [_order("o1", 10), _order("bad2", 20), _order("o3", 30)]

    done, run_id = _run(tmp_path, orders)

    assert done.returncode == 1, done.stderr
    assert "the refund failed" in _last(done) and "order 2" in _last(done), _last(done)
    assert _ledger(tmp_path) == [orders[0]], "the third item ran after the second failed"
    assert not _events(tmp_path, run_id, "attempt_intent", action="check", arguments={"order": orders[2]})
    finished = _events(tmp_path, run_id, "run_finished")[-1]
    assert finished["status"] == "failed" and finished["step"] == "refund (order 2)"
    _no_container_left(run_id)


def test_two_items_one_refund_runs_unasked_the_other_waits_for_its_own_approval(tmp_path: Path) -> None:
    orders = [_order("small", 20), _order("large", 200)]
    store = tmp_path / "runs.db"

    done, run_id = _run(tmp_path, orders)

    assert done.returncode == 3, done.stderr
    assert f"specc approve {run_id}" in _last(done), _last(done)
    assert _ledger(tmp_path) == [orders[0]], "the refund of 20 needs nobody; the one of 200 waits"
    pending = _events(tmp_path, run_id, "approval_pending")
    assert len(pending) == 1
    assert pending[0]["arguments"] == {"order": orders[1]} and pending[0]["step"] == "refund (order 2)"

    approved = _cli("approve", run_id, "--reason", "checked the order", "--store", str(store))
    assert approved.returncode == 0, approved.stderr
    resumed = _cli("resume", run_id, "--store", str(store))

    assert resumed.returncode == 0, resumed.stderr
    assert _ledger(tmp_path) == orders, "each refund ran exactly once"
    assert show_json(store, run_id)["result"] == {"refunded": orders}
    used = _events(tmp_path, run_id, "approval_used")
    assert len(used) == 1 and used[0]["digest"] == pending[0]["digest"] and used[0]["approved"] is True
    # the first item was not run again: its results were reused
    assert {e["step"] for e in _events(tmp_path, run_id, "step_reused")} == {"checked (order 1)", "refund (order 1)",
                                                                            "checked (order 2)"}
    _no_container_left(run_id)


def test_an_approval_binds_its_own_item_and_not_another_with_the_same_arguments(tmp_path: Path) -> None:
    orders = [_order("same", 200), _order("same", 200)]
    store = tmp_path / "runs.db"
    _, run_id = _run(tmp_path, orders)
    approved = _cli("approve", run_id, "--store", str(store))
    assert approved.returncode == 0, approved.stderr

    resumed = _cli("resume", run_id, "--store", str(store))

    assert resumed.returncode == 3, resumed.stderr  # the second item asks again, with its own digest
    assert _ledger(tmp_path) == [orders[0]]
    pending = _events(tmp_path, run_id, "approval_pending")
    assert [p["step"] for p in pending] == ["refund (order 1)", "refund (order 2)"]
    assert pending[0]["digest"] != pending[1]["digest"]
    _no_container_left(run_id)


def test_killed_in_the_middle_of_a_loop_resume_reenters_at_the_item_and_step_it_stopped_at(tmp_path: Path) -> None:
    orders = [_order("o1", 10), _order("o2", 20), _order("o3", 30)]
    # attempts are numbered across the run: check 1, refund 2, check 3, refund 4 (item 2's refund)
    killed, run_id = _run(tmp_path, orders, env=specc_env({"SPECC_FAULT": "before_intent:4"}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert run_statuses(tmp_path / "runs.db")[run_id] == "running"
    assert _ledger(tmp_path) == [orders[0]]

    resumed = _cli("resume", run_id, "--store", str(tmp_path / "runs.db"))

    assert resumed.returncode == 0, resumed.stderr
    assert _ledger(tmp_path) == orders, "every refund ran exactly once"
    reused = [e["step"] for e in _events(tmp_path, run_id, "step_reused")]
    assert reused == ["checked (order 1)", "refund (order 1)", "checked (order 2)"]
    intents = [(e["action"], e["arguments"]["order"]["id"]) for e in _events(tmp_path, run_id, "attempt_intent")]
    assert intents == [("check", "o1"), ("refund", "o1"), ("check", "o2"), ("refund", "o2"), ("check", "o3"),
                       ("refund", "o3")]
    assert show_json(tmp_path / "runs.db", run_id)["result"] == {"refunded": orders}
    _no_container_left(run_id)
