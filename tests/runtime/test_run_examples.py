"""Every example in `specs/` that needs no network runs end to end through the real `specc run`, with
its own `input.json`, from a copy in tmp_path so that its outputs do not dirty the repository.

`refund` has an `approval required` action: without a terminal the run pauses with exit 3 and the
status awaiting-approval; `specc approve` and `specc resume` then finish it. An example with a
planner runs against the scripted model server with the example's own `model_script.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Run, containers, run_spec, run_statuses, show_json, specc

from specc.runtime.scripted_model import ScriptedModel

pytestmark = pytest.mark.usefixtures("docker_client")

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _examples() -> list[Path]:
    return sorted(p for p in SPECS.iterdir() if p.is_dir() and list(p.glob("*.agent")) and (p / "input.json").exists())


def _needs_network(agent: str) -> bool:
    return re.search(r'^\s*network\s+"', agent, re.MULTILINE) is not None


def _copy(example: Path, tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / example.name
    shutil.copytree(example, folder, symlinks=True)
    spec = next(folder.glob("*.agent"))
    for name in re.findall(r'mount\s+"\./([^"]+)"(?:\s+at\s+"[^"]*")?\s+read_write', spec.read_text()):
        (folder / name).mkdir(exist_ok=True)
        (folder / name).chmod(0o777)  # tools run as uid 65534
    return folder, spec


def _file_pipeline(folder: Path, run: Run, store: Path) -> None:
    result = run.finished()["result"]
    written = folder / "outbox" / result["file"]
    assert written.exists()
    assert hashlib.sha256(written.read_bytes()).hexdigest() == result["sha256"]
    assert len(json.loads(written.read_text())["records"]) == result["records"] > 0


def _repo_report(folder: Path, run: Run, store: Path) -> None:
    result = run.finished()["result"]
    report = folder / "reports" / result["file"]
    assert report.exists() and report.stat().st_size == result["bytes"]
    assert report.read_text().startswith("#")


def _refund(folder: Path, run: Run, store: Path) -> None:
    ledger = folder / "ledger" / "refunds.jsonl"
    assert not ledger.exists() or ledger.read_text() == "", "the refund was issued without an approval"
    assert run.of("approval_pending", action="issue_refund"), run.describe()
    assert not run.of("attempt_intent", action="issue_refund")
    run_id = run.run_id
    assert run_id is not None
    # a person approves; the run resumes from the store and issues the refund once
    approved = specc("approve", run_id, "--store", str(store), "--reason", "checked by the test", cwd=folder)
    assert approved.returncode == 0, approved.stderr
    resumed = specc("resume", run_id, "--store", str(store), cwd=folder, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert run_statuses(store) == {run_id: "succeeded"}
    lines = ledger.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["order_id"] == "ORD-100234"


def _support_desk(folder: Path, run: Run, store: Path) -> None:
    outbox = folder / "outbox"
    assert not (outbox / "refunds.jsonl").exists(), "the refund was issued without an approval"
    assert run.of("approval_pending", action="refund"), run.describe()
    assert len(run.of("planner_turn")) == 3 and len(_MODEL[0].requests) == 3
    run_id = run.run_id
    assert run_id is not None
    approved = specc("approve", run_id, "--store", str(store), cwd=folder)
    assert approved.returncode == 0, approved.stderr
    resumed = specc("resume", run_id, "--store", str(store), cwd=folder, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert run_statuses(store) == {run_id: "succeeded"}
    assert len(_MODEL[0].requests) == 5, "a recorded turn was asked of the model again"
    refunds = (outbox / "refunds.jsonl").read_text().splitlines()
    assert [json.loads(line)["order"] for line in refunds] == ["ORD-100234"]
    assert len((outbox / "replies.jsonl").read_text().splitlines()) == 1
    shown = specc("show", run_id, "--store", str(store), cwd=folder)
    assert "turn 3: the model says refund(" in shown.stdout, shown.stdout
    assert show_json(store, run_id)["result"]["outcome"] == "refunded"


def _alert_triage(folder: Path, run: Run, store: Path) -> None:
    def sent(log: str) -> list[str]:
        return [json.loads(line)["alert"] for line in (folder / log).read_text().splitlines()]

    # the critical outage (420 customers, below the approval's 1000) is announced at once and paged;
    # the major one is only paged; its repeat and the info alert are ignored; the minor ones ticketed
    assert sent("status/incidents.jsonl") == ["AL-1001"]
    assert sent("pages/pages.jsonl") == ["AL-1001", "AL-1002"]
    assert sent("tickets/tickets.jsonl") == ["AL-1004", "AL-1005"]
    assert not run.of("approval_pending"), run.describe()
    result = run.finished()["result"]
    assert [p["reference"] for p in result["paged"]] == ["PG-00001", "PG-00002"] and result["ignored"] == 2


def _support_refunds(folder: Path, run: Run, store: Path) -> None:
    payments = folder / "payments" / "refunds.jsonl"
    # the refund of 19.90 needs nobody; the one of 189.00 waits for its own approval
    assert [json.loads(line)["request"] for line in payments.read_text().splitlines()] == ["RQ-10422-1"]
    pending = run.of("approval_pending", action="pay_refund")
    assert len(pending) == 1 and pending[0]["arguments"]["request"]["amount"] == 189.0, run.describe()
    run_id = run.run_id
    assert run_id is not None
    approved = specc("approve", run_id, "--store", str(store), cwd=folder)
    assert approved.returncode == 0, approved.stderr
    resumed = specc("resume", run_id, "--store", str(store), cwd=folder, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert [json.loads(line)["request"] for line in payments.read_text().splitlines()] == ["RQ-10422-1", "RQ-10422-2"]
    assert len((folder / "outbox" / "replies.jsonl").read_text().splitlines()) == 1
    assert show_json(store, run_id)["result"] == {"ticket": "T-10422", "file": "replies.jsonl", "refunds": 2}


#: the scripted model of the example being run, if it has a planner
_MODEL: list[ScriptedModel] = []


#: example -> (exit status, status in `specc runs`, further checks)
EXPECTED: dict[str, tuple[int, str, Callable[[Path, Run, Path], None] | None]] = {
    "alert_triage": (0, "succeeded", _alert_triage),
    "file_pipeline": (0, "succeeded", _file_pipeline),
    "repo_report": (0, "succeeded", _repo_report),
    "refund": (3, "awaiting-approval", _refund),
    "support_desk": (3, "awaiting-approval", _support_desk),
    "support_refunds": (3, "awaiting-approval", _support_refunds),
}


@pytest.mark.parametrize("example", _examples(), ids=lambda p: p.name)
def test_example_runs_end_to_end(example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = next(example.glob("*.agent")).read_text()
    if _needs_network(agent):
        pytest.skip(f"{example.name} declares network hosts that do not exist on a test machine")
    folder, spec = _copy(example, tmp_path)
    store = tmp_path / "runs.db"
    _MODEL.clear()
    script = folder / "model_script.json"
    if script.exists():
        _MODEL.append(ScriptedModel(json.loads(script.read_text())["turns"]).start())
        monkeypatch.setenv("PLANNER_URL", _MODEL[0].url)
    try:
        _run_example(example, folder, spec, store)
    finally:
        for model in _MODEL:
            model.stop()


def _run_example(example: Path, folder: Path, spec: Path, store: Path) -> None:
    run = run_spec(spec, store, f"@{folder / 'input.json'}", cwd=folder)

    code, status, check = EXPECTED.get(example.name, (0, "succeeded", None))
    assert run.code == code, run.describe()
    assert run.run_id is not None
    assert run_statuses(store) == {run.run_id: status}
    assert run.finished()["status"] == status
    assert not containers(f"specc.run_id={run.run_id}")
    if check is not None:
        check(folder, run, store)
    assert not containers(f"specc.run_id={run.run_id}")


def test_every_example_is_covered() -> None:
    """A new example either runs here with the default expectation (exit 0) or is listed above."""
    names = {p.name for p in _examples()}
    assert set(EXPECTED) <= names, f"examples gone from specs/: {set(EXPECTED) - names}"
