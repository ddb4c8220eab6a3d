"""`specc serve` in memory: the SDK's own client against the server object, attempts on the stub
backend. Every guard of the one door applies to a call; these tests show what an MCP client sees
and what the run records. The same server as a process, over stdio and HTTP and with Docker, is in
test_serve_process.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from click.testing import CliRunner
from mcp import Client

from specc.cli import main
from specc.compiler import compile_source
from specc.runtime import events as ev
from specc.runtime.decisions import DecisionRefused, decide_approval
from specc.runtime.serve import MAX_ARGUMENT_BYTES, ServeConfig, SpecServer, output_schema
from specc.runtime.store import RunStore
from specc.runtime.stub_backend import StubBackend, fail, succeed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serve" / "desk.agent"
MODES = ["auto", "legacy"]  # auto speaks 2026-07-28 in memory; legacy the initialize handshake


def compiled(text: str | None = None) -> Any:
    source = FIXTURE.read_bytes() if text is None else text.encode()
    compilation = compile_source(source, str(FIXTURE))
    assert not compilation.has_errors
    return compilation.ir


class Desk:
    """A server over the fixture agent, its stub backend and its store."""

    def __init__(self, tmp_path: Path, *, approvals: str = "out-of-band", ir: Any = None,
                 stub: StubBackend | None = None) -> None:
        self.store_path = str(tmp_path / "runs.db")
        self.stub = stub or StubBackend(answers={
            "lookup": [succeed({"id": "A001", "name": "Ada"})],
            "pay": [lambda request: succeed({"paid": json.loads(request.stdin)["amount"]})],
            "note": [succeed("noted")],
            "fetch_status": [succeed("up")],
        })
        self.server = SpecServer(ServeConfig(ir=ir or compiled(), store_path=self.store_path,
                                             backend=lambda: self.stub, approvals=approvals,  # type: ignore[arg-type]
                                             env={}))

    def client(self, mode: str, **kwargs: Any) -> Client:
        return Client(self.server.mcp, mode=mode, raise_exceptions=True, **kwargs)

    def runs(self) -> list[Any]:
        with RunStore(self.store_path) as store:
            return store.runs()

    def events(self, run_id: str | None = None) -> list[ev.RunEvent]:
        with RunStore(self.store_path) as store:
            run_id = run_id or store.runs()[0].id
            return [e.event for e in store.events(run_id)]

    def run_id(self) -> str:
        (run,) = self.runs()
        return str(run.id)


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def session(desk: Desk, mode: str, work: Any, **kwargs: Any) -> Any:
    """Run `work(client)` in one MCP session, then end the server's sessions as a stop would."""

    async def go() -> Any:
        async with desk.client(mode, **kwargs) as client:
            answer = await work(client)
        await desk.server.close()
        return answer

    return anyio.run(go)


# -- tools ---------------------------------------------------------------------------------------


def test_every_action_is_a_tool_with_its_contracts_and_annotations(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    listed = session(desk, "legacy", lambda c: c.list_tools())
    tools = {tool.name: tool for tool in listed.tools}
    assert sorted(tools) == ["fetch_status", "lookup", "note", "pay", "wait_a_while"]
    lookup, pay, status = tools["lookup"], tools["pay"], tools["fetch_status"]
    assert lookup.description.startswith("The account with this id.")
    assert lookup.input_schema["properties"]["id"]["pattern"] == "^A[0-9]{3}$"
    assert lookup.input_schema["additionalProperties"] is False
    assert lookup.output_schema["type"] == "object" and set(lookup.output_schema["required"]) == {"id", "name"}
    assert lookup.annotations.read_only_hint is True and lookup.annotations.destructive_hint is False
    assert lookup.annotations.idempotent_hint is True and lookup.annotations.open_world_hint is False
    assert pay.annotations.read_only_hint is False and pay.annotations.idempotent_hint is False
    assert "a person approves each call" in pay.description
    assert status.annotations.open_world_hint is True and status.annotations.idempotent_hint is True
    # a return contract that is not a record is wrapped, as its structured content is
    assert status.output_schema["properties"]["result"]["type"] == "string"
    assert desk.runs() == []  # listing tools starts no run


def test_a_destructive_action_is_announced_as_destructive(tmp_path: Path) -> None:
    ir = compiled(FIXTURE.read_text().replace("    effect write\n    idempotent by file",
                                              "    effect destructive\n    approval required\n    idempotent by file"))
    listed = session(Desk(tmp_path, ir=ir), "auto", lambda c: c.list_tools())
    note = next(tool for tool in listed.tools if tool.name == "note")
    assert note.annotations.destructive_hint is True and note.annotations.read_only_hint is False


def test_output_schemas_keep_their_definitions_at_the_root() -> None:
    record = {"$defs": {"R": {"type": "object", "properties": {"a": {"$ref": "#/$defs/S"}}}, "S": {"type": "string"}},
              "$ref": "#/$defs/R"}
    assert output_schema(record)["type"] == "object" and output_schema(record)["$defs"] == record["$defs"]
    listed = {"$defs": {"S": {"type": "string"}}, "type": "array", "items": {"$ref": "#/$defs/S"}}
    wrapped = output_schema(listed)
    assert wrapped["properties"]["result"] == {"type": "array", "items": {"$ref": "#/$defs/S"}}
    assert wrapped["$defs"] == listed["$defs"]


# -- calls ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_call_runs_through_the_door_and_the_session_is_one_run(tmp_path: Path, mode: str) -> None:
    desk = Desk(tmp_path)

    async def work(client: Client) -> list[types.CallToolResult]:
        return [await client.call_tool("lookup", {"id": "A001"}), await client.call_tool("fetch_status",
                                                                                        {"service": "db"})]

    found, status = session(desk, mode, work)
    assert not found.is_error and found.structured_content == {"id": "A001", "name": "Ada"}
    assert json.loads(text(found)) == {"id": "A001", "name": "Ada"}
    assert status.structured_content == {"result": "up"}
    (run,) = desk.runs()
    assert run.status == "succeeded"
    events = desk.events(run.id)
    opened = next(e for e in events if isinstance(e, ev.SessionOpened))
    assert opened.transport == "stdio" and opened.approvals == "out-of-band"
    finished = [e for e in events if isinstance(e, ev.StepFinished)]
    assert [(e.step, e.action) for e in finished] == [("call 1", "lookup"), ("call 2", "fetch_status")]
    assert isinstance(events[-1], ev.RunFinished) and events[-1].reason == "the MCP session ended"
    assert [r.action for r in desk.stub.calls] == ["lookup", "fetch_status"]
    assert desk.stub.calls[0].run_id == run.id


@pytest.mark.parametrize("arguments, says", [
    ({}, "missing the field `id`"),
    ({"id": "A001", "extra": 1}, "extra"),
    ({"id": 7}, "`lookup.id`"),
    ({"id": "bad"}, "must match"),
])
def test_bad_arguments_are_an_error_result_that_names_the_field(tmp_path: Path, arguments: dict[str, Any],
                                                                says: str) -> None:
    desk = Desk(tmp_path)
    result = session(desk, "auto", lambda c: c.call_tool("lookup", arguments))
    assert result.is_error and says in text(result)
    assert desk.stub.calls == []  # nothing ran
    handlers = [e for e in desk.events() if isinstance(e, ev.Handler)]
    assert handlers and handlers[0].kind == "invalid_input"


def test_a_path_out_of_its_mount_is_refused_before_anything_runs(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    result = session(desk, "auto", lambda c: c.call_tool("note", {"file": "../../etc/passwd", "text": "x"}))
    assert result.is_error and "`note.file`" in text(result)
    assert desk.stub.calls == []


def test_an_unknown_tool_and_a_huge_argument_are_refused_and_recorded(tmp_path: Path) -> None:
    desk = Desk(tmp_path)

    async def work(client: Client) -> list[types.CallToolResult]:
        unknown = await client.call_tool("format_disk", {})
        huge = await client.call_tool("note", {"file": "a.txt", "text": "x" * (50 * 1024 * 1024)})
        after = await client.call_tool("lookup", {"id": "A001"})
        return [unknown, huge, after]

    unknown, huge, after = session(desk, "auto", work)
    assert unknown.is_error and "no tool `format_disk`" in text(unknown) and "`lookup`" in text(unknown)
    assert huge.is_error and f"{MAX_ARGUMENT_BYTES:,}" in text(huge)
    assert not after.is_error  # the server stays up and consistent
    refused = [e for e in desk.events() if isinstance(e, ev.CallRefused)]
    assert [(e.index, e.tool) for e in refused] == [(1, "format_disk"), (2, "note")]
    assert [r.action for r in desk.stub.calls] == ["lookup"]


def test_a_failed_action_is_an_error_result_and_the_session_goes_on(tmp_path: Path) -> None:
    stub = StubBackend(answers={"lookup": [fail("error", "no such account")], "fetch_status": [succeed("up")]})
    desk = Desk(tmp_path, stub=stub)

    async def work(client: Client) -> list[types.CallToolResult]:
        return [await client.call_tool("lookup", {"id": "A999"}),
                await client.call_tool("fetch_status", {"service": "db"})]

    failed, later = session(desk, "auto", work)
    assert failed.is_error and "`lookup`" in text(failed)
    assert [r.action for r in stub.calls] == ["lookup", "lookup", "fetch_status"]  # `retry 1` applied
    assert not later.is_error


def test_the_limits_bound_the_session(tmp_path: Path) -> None:
    desk = Desk(tmp_path)  # limits: steps 6

    async def work(client: Client) -> list[types.CallToolResult]:
        return [await client.call_tool("lookup", {"id": "A001"}) for _ in range(8)]

    results = session(desk, "auto", work)
    assert [r.is_error for r in results] == [False] * 6 + [True, True]
    assert "used all 6 steps" in text(results[6]) and "no more calls are taken" in text(results[7])
    assert text(results[6]) == text(results[7])
    assert len(desk.stub.calls) == 6
    (run,) = desk.runs()
    assert run.status == "failed"


def test_secrets_never_reach_the_client(tmp_path: Path) -> None:
    source = FIXTURE.read_text().replace('    run "python3" "/tools/lookup.py"',
                                         '    run "python3" "/tools/lookup.py"\n    env DESK_TOKEN')
    source = source.replace('  scope {\n', '  scope {\n    env DESK_TOKEN secret\n')
    stub = StubBackend(answers={"lookup": [succeed({"id": "A001", "name": "tok-0123456789abcdef"})]})
    desk = Desk(tmp_path, ir=compiled(source), stub=stub)
    desk.server.config.env = {"DESK_TOKEN": "tok-0123456789abcdef"}
    result = session(desk, "auto", lambda c: c.call_tool("lookup", {"id": "A001"}))
    assert "tok-0123456789abcdef" not in json.dumps(result.model_dump(mode="json"))


# -- approvals out of band -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_approval_is_decided_out_of_band_while_the_server_holds_the_store(tmp_path: Path, mode: str) -> None:
    desk = Desk(tmp_path)

    async def work(client: Client) -> list[Any]:
        asked = await client.call_tool("pay", {"account": "A001", "amount": 20})
        other = await client.call_tool("pay", {"account": "A001", "amount": 900})
        run_id = desk.server.sessions["process"].run.run_id  # type: ignore[union-attr]
        with RunStore(desk.store_path) as store:  # as `specc approve` does, from outside
            with pytest.raises(DecisionRefused, match="waits for 2 approvals"):
                decide_approval(store, run_id, approved=True, reason=None)
            decide_approval(store, run_id, approved=True, reason="ok", call=1)
        paid = await client.call_tool("pay", {"account": "A001", "amount": 20})
        again = await client.call_tool("pay", {"account": "A001", "amount": 20})
        still = await client.call_tool("pay", {"account": "A001", "amount": 900})
        return [asked, other, paid, again, still, run_id]

    asked, other, paid, again, still, run_id = session(desk, mode, work)
    assert asked.is_error and f"specc approve {run_id} --call 1" in text(asked)
    assert other.is_error and "--call 2" in text(other)
    assert not paid.is_error and paid.structured_content == {"paid": 20}
    assert again.is_error and "--call 4" in text(again)  # one approval is used once
    assert still.is_error and "pending" in text(still)  # other arguments stay pending
    assert [json.loads(r.stdin)["amount"] for r in desk.stub.calls] == [20]
    used = [e for e in desk.events(run_id) if isinstance(e, ev.ApprovalUsed)]
    assert len(used) == 1 and used[0].approved


def test_specc_approve_names_the_call_and_a_denial_fails_the_call(tmp_path: Path) -> None:
    desk = Desk(tmp_path)

    async def work(client: Client) -> list[Any]:
        await client.call_tool("pay", {"account": "A001", "amount": 20})
        await client.call_tool("pay", {"account": "A002", "amount": 30})
        run_id = desk.server.sessions["process"].run.run_id  # type: ignore[union-attr]
        runner = CliRunner()
        several = runner.invoke(main, ["approve", run_id, "--store", desk.store_path])
        denied = runner.invoke(main, ["approve", run_id, "--call", "2", "--deny", "--reason", "too much",
                                      "--store", desk.store_path])
        result = await client.call_tool("pay", {"account": "A002", "amount": 30})
        return [several, denied, result]

    several, denied, result = session(desk, "auto", work)
    assert several.exit_code == 2 and "--call 1" in several.output and "--call 2" in several.output
    assert denied.exit_code == 0 and "at call 2" in denied.output, denied.output
    assert result.is_error and "the payment was not approved" in text(result)
    assert desk.stub.calls == []


# -- approvals by elicitation --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ["accept", "decline", "cancel"])
def test_elicitation_asks_the_clients_user(tmp_path: Path, mode: str, answer: str) -> None:
    desk = Desk(tmp_path, approvals="elicit")
    asked: list[str] = []

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=answer, content={} if answer == "accept" else None)  # type: ignore[arg-type]

    result = session(desk, mode, lambda c: c.call_tool("pay", {"account": "A001", "amount": 20}),
                     elicitation_callback=user)
    assert len(asked) == 1 and "`pay`" in asked[0] and "risk: high" in asked[0] and '"amount": 20' in asked[0]
    decided = [e for e in desk.events() if isinstance(e, ev.ApprovalDecided)]
    assert [(e.via, e.approved) for e in decided] == [("elicitation", answer == "accept")]
    if answer == "accept":
        assert not result.is_error and result.structured_content == {"paid": 20}
    else:
        assert result.is_error and "not approved" in text(result) and desk.stub.calls == []


async def never_asked(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    raise AssertionError("these tests answer the server's question themselves")


def test_elicitation_refuses_an_answer_made_for_other_arguments_or_used_twice(tmp_path: Path) -> None:
    desk = Desk(tmp_path, approvals="elicit")
    accept = {"specc-approval": types.ElicitResult(action="accept", content={})}

    async def work(client: Client) -> list[types.CallToolResult]:
        first = await client.session.call_tool("pay", {"account": "A001", "amount": 20}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        other = await client.call_tool("pay", {"account": "A001", "amount": 999}, input_responses=accept,
                                       request_state=first.request_state)
        paid = await client.call_tool("pay", {"account": "A001", "amount": 20}, input_responses=accept,
                                      request_state=first.request_state)
        replayed = await client.call_tool("pay", {"account": "A001", "amount": 20}, input_responses=accept,
                                          request_state=first.request_state)
        forged = await client.call_tool("pay", {"account": "A001", "amount": 20}, input_responses=accept,
                                        request_state="0" * 32 + ".x")
        return [other, paid, replayed, forged]

    other, paid, replayed, forged = session(desk, "auto", work, elicitation_callback=never_asked)
    assert other.is_error and "does not belong to it" in text(other)
    assert paid.structured_content == {"paid": 20}
    assert replayed.is_error and "used already" in text(replayed)  # one answer approves one call
    assert forged.is_error and "did not ask it" in text(forged)
    assert [json.loads(r.stdin)["amount"] for r in desk.stub.calls] == [20]


@pytest.mark.parametrize("mode", MODES)
def test_a_person_is_never_asked_about_arguments_the_contract_rejects(tmp_path: Path, mode: str) -> None:
    asked: list[str] = []

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={})

    for approvals in ("elicit", "out-of-band"):
        desk = Desk(tmp_path / approvals, approvals=approvals)
        result = session(desk, mode, lambda c: c.call_tool("pay", {"account": "A001", "amount": "all of it"}),
                         elicitation_callback=user)
        assert result.is_error and "`pay.amount`" in text(result)
        assert not any(isinstance(e, ev.ApprovalPending | ev.ApprovalDecided) for e in desk.events())
    assert asked == [] and desk.stub.calls == []


def test_rejected_calls_count_against_the_steps(tmp_path: Path) -> None:
    desk = Desk(tmp_path)  # limits: steps 6

    async def work(client: Client) -> list[types.CallToolResult]:
        return [await client.call_tool("lookup", {"id": "bad"}) for _ in range(7)]

    results = session(desk, "auto", work)
    assert all(r.is_error for r in results) and "used all 6 steps" in text(results[6])
    (run,) = desk.runs()
    assert run.status == "failed"


def test_elicitation_without_the_capability_denies(tmp_path: Path) -> None:
    desk = Desk(tmp_path, approvals="elicit")
    result = session(desk, "legacy", lambda c: c.call_tool("pay", {"account": "A001", "amount": 20}))
    assert result.is_error and desk.stub.calls == []
    decided = [e for e in desk.events() if isinstance(e, ev.ApprovalDecided)]
    assert not decided[0].approved and "no elicitation capability" in (decided[0].reason or "")


# -- a client that goes away ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_client_that_goes_away_mid_call_interrupts_the_run(tmp_path: Path, mode: str) -> None:
    stub = StubBackend()
    started = threading.Event()

    def long_attempt(request: Any) -> Any:
        started.set()
        assert stub.interrupted.wait(20), "the attempt was never interrupted"
        return fail("crash")

    stub.answers = {"lookup": [long_attempt]}
    desk = Desk(tmp_path, stub=stub)

    async def work(client: Client) -> None:
        with anyio.move_on_after(0.5):
            await client.call_tool("lookup", {"id": "A001"})

    session(desk, mode, work)
    assert started.is_set() and stub.interrupted.is_set()
    (run,) = desk.runs()
    assert run.status == "interrupted"
    events = desk.events(run.id)
    assert any(isinstance(e, ev.AttemptIntent) for e in events)
    assert not any(isinstance(e, ev.AttemptOutcome) for e in events)  # what it returned was not the tool's
    assert [e.tool for e in events if isinstance(e, ev.CallCancelled)] == ["lookup"]


@pytest.mark.parametrize("mode", MODES)
def test_a_cancelled_call_does_not_end_the_session(tmp_path: Path, mode: str) -> None:
    stub = StubBackend()

    def long_attempt(request: Any) -> Any:
        assert stub.interrupted.wait(20), "the attempt was never interrupted"
        stub.interrupted.clear()
        return fail("crash")

    stub.answers = {"wait_a_while": [long_attempt], "lookup": [succeed({"id": "A001", "name": "Ada"})]}
    desk = Desk(tmp_path, stub=stub)

    async def work(client: Client) -> types.CallToolResult:
        with anyio.move_on_after(0.5):
            await client.call_tool("wait_a_while", {"seconds": 30})
        return await client.call_tool("lookup", {"id": "A001"})

    after = session(desk, mode, work)
    assert after.structured_content == {"id": "A001", "name": "Ada"}
    (run,) = desk.runs()
    assert run.status == "succeeded"  # the session went on, and ended normally
    assert [e.tool for e in desk.events(run.id) if isinstance(e, ev.CallCancelled)] == ["wait_a_while"]
