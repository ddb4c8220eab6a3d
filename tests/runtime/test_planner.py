"""`planner llm` against a real HTTP server on the loopback that speaks chat completions (the
scripted model), with the in-process backend: every bad proposal, every failure of the model
request, approvals, resume, and what the model is never sent.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from specc.compiler import compile_source
from specc.ir import IR
from specc.runtime import events as ev
from specc.runtime.decisions import decide_approval
from specc.runtime.planner import REMINDER, model_client, run_planner
from specc.runtime.run import Outcome, Run, claim
from specc.runtime.scripted_model import ScriptedModel
from specc.runtime.store import RunStore
from specc.runtime.stub_backend import StubBackend, fail, succeed

SECRET = "s3cr3t-token-value"
API_KEY = "sk-planner-key-0123456789"

SPEC = """agent desk {
  version "1.0.0"
  limits {
    steps STEPS
    wall 1m
  }
  scope {
    mount "./docs" read_only
    mount "./tools" at "/tools" read_only
    env PLANNER_URL
    env PLANNER_KEY secret
    env TOKEN secret
  }
  sandbox {
    image "specc/base:bookworm"
  }
  type Page {
    text: string
  }
  type Answer {
    answer: string(1..100)
  }
  input {
    question: string
  }
  output Answer
  planner llm {
    model "scripted"
    endpoint env PLANNER_URL
    api_key env PLANNER_KEY
    instructions "Answer the question from the documents."
    max_turns 6
    timeout 500ms
    on timeout, error retry 2 backoff 10ms..50ms then abort
    on invalid_output retry 1 backoff 10ms..20ms then abort
  }
  action read_doc(file: path under "./docs") -> Page {
    description "Reads one document."
    run "python3" "/tools/read.py"
    mount "./docs"
    mount "./tools"
    effect read
    untrusted
  }
  action pay(amount: number(0..100)) -> Page {
    description "Pays an amount."
    run "python3" "/tools/pay.py"
    mount "./tools"
    env TOKEN
    effect write
    risk high
    approval required
    idempotent
  }
  on denied abort "the payment was denied"
  on any abort
}
"""


def call(name: str, arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def turn(*calls: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"tool_calls": list(calls), **more}


FINISH = turn(call("finish", {"answer": "forty-two"}))


def compile_desk(tmp_path: Path, steps: int = 20) -> IR:
    for folder in ("docs", "tools"):
        (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / "docs" / "a.txt").write_text("the answer")
    path = tmp_path / "desk.agent"
    path.write_text(SPEC.replace("STEPS", str(steps)))
    compiled = compile_source(path.read_bytes(), str(path))
    assert not compiled.has_errors, [d.message for d in compiled.diagnostics]
    return compiled.ir


class Session:
    """A planner run in-process: the scripted model, the stub backend, the store."""

    def __init__(self, tmp_path: Path, turns: list[dict[str, Any]], *, steps: int = 20,
                 answers: dict[str, list[Any]] | None = None, prompt: Any = None, url: str | None = None) -> None:
        self.ir = compile_desk(tmp_path, steps)
        self.store_path = str(tmp_path / "runs.db")
        self.backend = StubBackend(answers or {"read_doc": [succeed({"text": "the answer"})],
                                               "pay": [succeed({"text": f"paid with {SECRET}"})]})
        self.model = ScriptedModel(turns).start()
        self.env = {"PLANNER_URL": url or self.model.url, "PLANNER_KEY": API_KEY, "TOKEN": SECRET}
        self.sleeps: list[float] = []
        self.prompt = prompt

    def start(self) -> Outcome:
        with RunStore(self.store_path) as store:
            run = Run.start(self.ir, store, self.backend, {"question": "what is it?"}, env=self.env,
                            sleep=self.sleeps.append, prompt=self.prompt)
            self.run_id = run.run_id
            return self._drive(run)

    def resume(self) -> Outcome:
        with RunStore(self.store_path) as store:
            record, ir, state = claim(store, self.run_id)
            return self._drive(Run.resume(ir, store, self.backend, record, state, env=self.env,
                                          sleep=self.sleeps.append, prompt=self.prompt))

    def _drive(self, run: Run) -> Outcome:
        client = model_client(self.ir, self.env)
        try:
            return run_planner(run, client)
        finally:
            client.close()

    def events(self) -> list[ev.RunEvent]:
        with RunStore(self.store_path) as store:
            return [e.event for e in store.events(self.run_id)]

    def told(self, request: int) -> list[dict[str, Any]]:
        """The `tool` and reminder messages sent in request `request` (1-based) after its last reply."""
        messages = self.model.requests[request - 1]["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        return messages[last + 1:]

    def close(self) -> None:
        self.model.stop()


@pytest.fixture
def session(tmp_path: Path) -> Any:
    made: list[Session] = []

    def make(turns: list[dict[str, Any]], **options: Any) -> Session:
        made.append(Session(tmp_path, turns, **options))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_a_planner_reads_then_finishes(session: Any) -> None:
    s = session([turn(call("read_doc", {"file": "a.txt"})), FINISH])
    outcome = s.start()
    assert (outcome.status, outcome.result) == ("succeeded", {"answer": "forty-two"})
    assert len(s.model.requests) == 2
    first = s.model.requests[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert json.loads(first["messages"][1]["content"]) == {"question": "what is it?"}
    assert {t["function"]["name"] for t in first["tools"]} == {"read_doc", "pay", "finish"}
    finish = next(t for t in first["tools"] if t["function"]["name"] == "finish")
    assert finish["function"]["parameters"]["type"] == "object"
    assert "answer" in finish["function"]["parameters"]["properties"]
    (told,) = s.told(2)
    assert told["role"] == "tool" and json.loads(told["content"]) == {"text": "the answer"}
    assert told["tool_call_id"] == first_call_id(s, 1)
    assert s.backend.calls[0].stdin == b'{"file": "/mnt/docs/a.txt"}'
    turns = [e for e in s.events() if isinstance(e, ev.PlannerTurn)]
    assert [t.turn for t in turns] == [1, 2] and turns[0].usage is not None


def first_call_id(s: Session, turn_number: int) -> str:
    turns = [e for e in s.events() if isinstance(e, ev.PlannerTurn)]
    return str(turns[turn_number - 1].response["choices"][0]["message"]["tool_calls"][0]["id"])


@pytest.mark.parametrize(("proposal", "said"), [
    (call("delete_all", {}), "there is no tool `delete_all`; the tools are `pay`, `read_doc` and `finish`"),
    (call("read_doc", "{not json"), "the arguments are not JSON"),
    (call("read_doc", "[1, 2]"), "must be one JSON object"),
    (call("pay", {"amount": 500}), "amount"),
    (call("pay", {"amount": 5, "to": "me"}), "to"),
    (call("read_doc", {"file": "../../etc/passwd"}), "climbs out of its mount"),
    (call("read_doc", {"file": "/etc/passwd"}), "absolute path"),
    (call("finish", {"answer": ""}), "finish"),
    (call("finish", {"verdict": "done"}), "finish"),
])
def test_a_rejected_proposal_is_answered_and_nothing_runs(session: Any, proposal: dict[str, Any], said: str) -> None:
    s = session([turn(proposal), FINISH])
    outcome = s.start()
    assert outcome.status == "succeeded"
    assert s.backend.calls == []
    (told,) = s.told(2)
    assert told["role"] == "tool" and told["content"].startswith("rejected: ")
    assert said in told["content"]
    answers = [e for e in s.events() if isinstance(e, ev.PlannerAnswer)]
    assert [a.outcome for a in answers] == ["rejected", "finished"]


def test_a_reply_without_a_call_gets_a_reminder(session: Any) -> None:
    s = session([{"content": "I think the answer is 42."}, FINISH])
    assert s.start().status == "succeeded"
    assert s.told(2) == [{"role": "user", "content": REMINDER}]


def test_the_same_rejected_call_three_times_ends_the_run(session: Any) -> None:
    s = session([turn(call("pay", {"amount": 1000}), repeat=True)])
    outcome = s.start()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "the same rejected call to `pay` 3 times in a row" in (outcome.reason or "")
    assert len(s.model.requests) == 3
    assert s.backend.calls == []


def test_thirty_calls_in_one_turn_are_bounded_by_the_steps(session: Any) -> None:
    calls = [call("read_doc", {"file": f"missing/{i}/../../../x"}) for i in range(30)]
    s = session([turn(*calls)], steps=8)
    outcome = s.start()
    assert outcome.status == "failed"
    assert "steps" in (outcome.reason or "")
    answers = [e for e in s.events() if isinstance(e, ev.PlannerAnswer)]
    assert len(answers) == 8 and all(a.outcome == "rejected" for a in answers)
    assert s.backend.calls == []


def test_several_calls_in_one_response_run_in_order(session: Any) -> None:
    s = session([turn(call("read_doc", {"file": "a.txt"}), call("read_doc", {"file": "a.txt"})), FINISH],
                prompt=lambda *a: (True, None))
    assert s.start().status == "succeeded"
    assert s.backend.ran() == ["read_doc", "read_doc"]
    told = s.told(2)
    assert [m["tool_call_id"] for m in told] == ["call_1_1", "call_1_2"]


def test_max_turns_without_finish_is_a_budget_failure(session: Any) -> None:
    s = session([{"content": "thinking", "repeat": True}])
    outcome = s.start()
    assert outcome.status == "failed"
    assert "max_turns" in (outcome.reason or "")
    assert len(s.model.requests) == 6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_endpoint_that_is_down_is_an_error_retried_then_aborted(session: Any) -> None:
    s = session([FINISH], url=f"http://127.0.0.1:{free_port()}/v1")
    outcome = s.start()
    assert outcome.status == "failed"
    assert "failed with `error`" in (outcome.reason or "")
    failed = [e for e in s.events() if isinstance(e, ev.PlannerRequestFailed)]
    assert [f.kind for f in failed] == ["error"] * 3
    assert len(s.sleeps) == 2 and all(0.01 <= d <= 0.05 for d in s.sleeps)


def test_a_server_error_is_retried(session: Any) -> None:
    s = session([{"status": 500, "body": "upstream exploded"}, FINISH])
    assert s.start().status == "succeeded"
    failed = [e for e in s.events() if isinstance(e, ev.PlannerRequestFailed)]
    assert [(f.kind, f.status) for f in failed] == [("error", 500)]
    assert "upstream exploded" in failed[0].detail


@pytest.mark.parametrize(("after", "waited"), [("0.03", 0.03), ("5", 0.05), ("0", 0.01)])
def test_a_429_retry_after_is_honoured_within_the_backoff(session: Any, after: str, waited: float) -> None:
    s = session([{"status": 429, "headers": {"Retry-After": after}}, FINISH])
    assert s.start().status == "succeeded"
    assert s.sleeps == [pytest.approx(waited)]


def test_html_instead_of_a_completion_is_invalid_output(session: Any) -> None:
    s = session([{"raw": "<html><body>Bad gateway</body></html>", "repeat": True}])
    outcome = s.start()
    assert outcome.status == "failed"
    assert "invalid_output" in (outcome.reason or "") and "not JSON" in (outcome.reason or "")
    assert len(s.model.requests) == 2


def test_a_model_that_does_not_answer_in_time_is_a_timeout(session: Any) -> None:
    s = session([{"delay_s": 1.5, **FINISH}, {"delay_s": 1.5, **FINISH}, FINISH])
    outcome = s.start()
    assert outcome.status == "succeeded"
    failed = [e for e in s.events() if isinstance(e, ev.PlannerRequestFailed)]
    assert [f.kind for f in failed] == ["timeout", "timeout"]


def test_an_approval_pauses_and_resume_never_asks_the_model_again(session: Any) -> None:
    s = session([turn(call("pay", {"amount": 10})), FINISH])
    paused = s.start()
    assert paused.status == "awaiting-approval"
    assert len(s.model.requests) == 1 and s.backend.calls == []
    with RunStore(s.store_path) as store:
        decide_approval(store, s.run_id, approved=True, reason="fine")
    done = s.resume()
    assert done.status == "succeeded"
    assert len(s.model.requests) == 2, "a recorded turn was asked of the model again"
    assert s.backend.ran() == ["pay"]
    assert sum(isinstance(e, ev.PlannerTurn) for e in s.events()) == 2


def test_a_denied_approval_goes_to_the_denied_handler(session: Any) -> None:
    s = session([turn(call("pay", {"amount": 10})), FINISH], prompt=lambda *a: (False, "no"))
    outcome = s.start()
    assert (outcome.status, outcome.reason) == ("failed", "the payment was denied")
    assert s.backend.calls == []


def test_an_action_failure_goes_to_its_handlers(session: Any) -> None:
    s = session([turn(call("read_doc", {"file": "a.txt"})), FINISH], answers={"read_doc": [fail("error")]})
    outcome = s.start()
    assert outcome.status == "failed" and "`read_doc` failed with `error`" in (outcome.reason or "")
    assert len(s.model.requests) == 1


def test_the_model_never_sees_a_secret_and_the_key_is_never_stored(session: Any, tmp_path: Path) -> None:
    s = session([turn(call("pay", {"amount": 10})), FINISH], prompt=lambda *a: (True, None))
    assert s.start().status == "succeeded"
    sent = json.dumps(s.model.requests)
    assert SECRET not in sent and "[redacted]" in sent
    assert all(r["authorization"] == f"Bearer {API_KEY}" for r in s.model.requests)
    stored = (tmp_path / "runs.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("runs.db-*"))
    assert API_KEY.encode() not in stored and SECRET.encode() not in stored
