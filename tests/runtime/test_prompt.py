"""The approval prompt on a terminal: `specc run` driven through a pseudo-terminal, in a real container.

The prompt must show the action, its arguments (secrets redacted), effect and risk; an empty
answer (Enter) denies, so the tool never runs and the `denied` handler decides; `y` approves.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from helpers import SPECC, agent_text, containers, specc_env, write_agent

from specc.runtime.store import RunStore

pytestmark = pytest.mark.usefixtures("docker_client")

SECRET = "s3cr3t-tok-4711"

PAY = """action pay(to: string, amount: int(1..1000), memo: string) -> Receipt {
run "python3" "/tools/pay.py"
mount "./ledger"
mount "./tools"
env PAY_TOKEN
effect write
risk high
approval required
on denied abort "the payment was not approved"
}"""

PAY_TOOL = """
with open("/mnt/ledger/paid.jsonl", "a") as f:
    f.write(json.dumps({"to": args["to"], "amount": args["amount"]}) + "\\n")
print(json.dumps({"to": args["to"], "amount": args["amount"]}))
"""


def _spec(root: Path) -> Path:
    text = agent_text(
        mounts=['mount "./ledger" read_write'],
        env=["env PAY_TOKEN secret"],
        types="type Receipt {\n to: string\n amount: int\n}",
        input_block="to: string(1..40)\namount: int(1..1000)\nmemo: string(..200)",
        output="Receipt",
        actions=PAY,
        workflow="r = pay(to: input.to, amount: input.amount, memo: input.memo)\nreturn r",
    ).replace('version "1.0.0"', 'version "1.0.0"\n  description "Pays one supplier invoice."')
    return write_agent(root, text, {"pay.py": PAY_TOOL}, folders={"ledger": 0o777})


class Terminal:
    """`specc run` with its stdin, stdout and stderr on a pseudo-terminal the test types into."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        env = specc_env({"PAY_TOKEN": SECRET, "TERM": "xterm"})
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=str(cwd),
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.seen = b""

    def read_until(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"never saw {text!r} on the terminal:\n{self.text}")
        return self.text

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every holder of the terminal's other side is gone
            return False
        self.seen += chunk
        return bool(chunk)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"`specc run` did not end:\n{self.text}")
        os.close(self.master)
        return self.proc.returncode

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace").replace("\r\n", "\n")


def _run_on_terminal(root: Path, answer: str | None, *extra: str) -> tuple[int, str, str, Path]:
    """Run until the prompt, type `answer` (None: type nothing), and wait for the end."""
    spec = _spec(root)
    store = root / "runs.db"
    value = {"to": "ACME", "amount": 40, "memo": f"token {SECRET}"}
    term = Terminal([*SPECC, "run", str(spec), "--store", str(store), "--input", json.dumps(value), *extra], root)
    try:
        prompt = term.read_until("approve? [y/N]")
        if answer is not None:
            term.type(answer)
        code = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait()
    with RunStore(str(store)) as runs:
        run_id = runs.runs()[0].id
    assert not containers(f"specc.run_id={run_id}"), "a container of the run is left"
    return code, prompt, term.text, store


def _assert_prompt_shows_the_call(prompt: str) -> None:
    assert "`pay`" in prompt, prompt
    assert "effect:" in prompt and "write" in prompt, prompt
    assert "risk: high" in prompt, prompt
    assert '"to": "ACME"' in prompt and '"amount": 40' in prompt, prompt
    assert "Pays one supplier invoice." in prompt, prompt
    assert SECRET not in prompt, "the prompt shows a secret"
    assert "[redacted]" in prompt, prompt


def test_enter_denies_and_the_tool_never_runs(tmp_path: Path) -> None:
    code, prompt, output, store = _run_on_terminal(tmp_path, "\n")

    _assert_prompt_shows_the_call(prompt)
    assert code == 1, output
    assert "the payment was not approved" in output
    assert not (tmp_path / "ledger" / "paid.jsonl").exists(), "the tool ran although the answer was the default"
    with RunStore(str(store)) as runs:
        run = runs.runs()[0]
        events = runs.events(run.id)
    assert run.status == "failed"
    decided = [e.data for e in events if e.kind == "approval_decided"]
    assert len(decided) == 1 and decided[0]["approved"] is False and decided[0]["via"] == "terminal"
    assert not [e for e in events if e.kind == "attempt_intent"]
    assert SECRET not in json.dumps([e.data for e in events]), "the store holds the secret"


def test_y_approves_and_the_tool_runs(tmp_path: Path) -> None:
    code, prompt, output, store = _run_on_terminal(tmp_path, "y\n")

    _assert_prompt_shows_the_call(prompt)
    assert code == 0, output
    lines = (tmp_path / "ledger" / "paid.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"to": "ACME", "amount": 40}]
    with RunStore(str(store)) as runs:
        run = runs.runs()[0]
        events = runs.events(run.id)
    assert run.status == "succeeded"
    decided = [e.data for e in events if e.kind == "approval_decided"]
    assert len(decided) == 1 and decided[0]["approved"] is True and decided[0]["via"] == "terminal"


def test_silence_past_the_approval_timeout_denies(tmp_path: Path) -> None:
    started = time.monotonic()
    code, prompt, output, store = _run_on_terminal(tmp_path, None, "--approval-timeout", "1")

    assert code == 1, output
    assert time.monotonic() - started < 60
    assert "the payment was not approved" in output
    assert not (tmp_path / "ledger" / "paid.jsonl").exists()
    with RunStore(str(store)) as runs:
        events = runs.events(runs.runs()[0].id)
    decided = [e.data for e in events if e.kind == "approval_decided"]
    assert len(decided) == 1 and decided[0]["approved"] is False
