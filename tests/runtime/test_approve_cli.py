"""`specc approve RUN` shows what it approves (step, action, arguments, effect, risk) and, on a
terminal, asks to confirm; `--yes` skips the question. Run as a user would, in a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from specc.runtime import events as ev
from specc.runtime.store import RunStore

RUN = "r20260101000000-abcdef"


def paused(tmp_path: Path) -> Path:
    store_path = tmp_path / "runs.db"
    with RunStore(str(store_path)) as store:
        store.create_run(RUN, "refunds", "sha256:spec", "sha256:ir", {}, "{}")
        store.append(RUN, ev.ApprovalPending(digest="sha256:d1", index=2, step="refund", action="issue_refund",
                                             arguments={"order": "ORD-1", "amount": 200}, effect="write",
                                             risk="high"))
        store.set_status(RUN, "awaiting-approval", reason="action `issue_refund` needs a person's approval")
    return store_path


def decisions(store_path: Path) -> list[ev.ApprovalDecided]:
    with RunStore(str(store_path)) as store:
        return [e.event for e in store.events(RUN) if isinstance(e.event, ev.ApprovalDecided)]


def in_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run `specc ARGS` with stdin, stdout and stderr on a pseudo-terminal; type `answer` when asked."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "specc.cli", *args], stdin=follower, stdout=follower,
                               stderr=follower, env={**os.environ, "NO_COLOR": "1"})
    os.close(follower)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    os.close(leader)
    return process.wait(timeout=60), seen.decode("utf-8", "replace")


def test_approve_on_a_terminal_shows_the_call_and_a_no_decides_nothing(tmp_path: Path) -> None:
    store = paused(tmp_path)
    status, text = in_terminal(["approve", RUN, "--store", str(store)], "n")
    assert status == 1, text
    assert "step `refund` waits for approval of action `issue_refund`" in text
    assert "effect:    write    risk: high" in text and '"amount": 200' in text and '"order": "ORD-1"' in text
    assert "approve it? [y/N]" in text
    assert "nothing was decided; the run still waits" in text
    assert decisions(store) == []


def test_approve_on_a_terminal_with_yes_typed_records_the_decision(tmp_path: Path) -> None:
    store = paused(tmp_path)
    status, text = in_terminal(["approve", RUN, "--store", str(store)], "y")
    assert status == 0, text
    assert "approved `issue_refund` for run" in text
    assert [(d.digest, d.approved) for d in decisions(store)] == [("sha256:d1", True)]


def test_deny_asks_too(tmp_path: Path) -> None:
    store = paused(tmp_path)
    status, text = in_terminal(["approve", RUN, "--deny", "--store", str(store)], "y")
    assert status == 0 and "deny it? [y/N]" in text, text
    assert [d.approved for d in decisions(store)] == [False]


def test_the_yes_flag_skips_the_question_and_a_pipe_is_never_asked(tmp_path: Path) -> None:
    store = paused(tmp_path)
    status, text = in_terminal(["approve", RUN, "--yes", "--store", str(store)], "n")
    assert status == 0 and "[y/N]" not in text, text
    assert "issue_refund" in text
    other = tmp_path / "other"
    other.mkdir()
    store = paused(other)
    piped = subprocess.run([sys.executable, "-m", "specc.cli", "approve", RUN, "--store", str(store)],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert "issue_refund" in piped.stderr and "[y/N]" not in piped.stderr
