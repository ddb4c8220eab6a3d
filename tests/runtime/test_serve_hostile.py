"""`specc serve` against a hostile or sloppy client: lines that are not JSON-RPC, arguments of odd
shapes and values, paths that try to leave their mount, secrets in what a tool prints when it
fails, approvals carried to another session, and bearer tokens and headers that should not pass.
In memory with the SDK's client and the stub backend where nothing needs a container; as a
`specc serve` process where the transport itself is under test (no attempt runs a container)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from helpers import SPECC, specc_env
from mcp import Client
from test_serve_process import FIXTURE, HttpServer

from specc.compiler import compile_source
from specc.runtime import events as ev
from specc.runtime.decisions import decide_approval
from specc.runtime.serve import ServeConfig, SpecServer
from specc.runtime.store import RunStore
from specc.runtime.stub_backend import StubBackend, fail, succeed

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def desk_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "desk"
    shutil.copytree(FIXTURE, folder)
    os.chmod(folder / "notes", 0o777)
    return folder / "desk.agent"


def server_for(spec: Path, store: Path, stub: StubBackend, env: dict[str, str] | None = None) -> SpecServer:
    compilation = compile_source(spec.read_bytes(), str(spec))
    assert not compilation.has_errors
    return SpecServer(ServeConfig(ir=compilation.ir, store_path=str(store), backend=lambda: stub, env=env or {}))


def in_session(server: SpecServer, work: Any) -> Any:
    async def go() -> Any:
        async with Client(server.mcp, mode="legacy", raise_exceptions=True) as client:
            answer = await work(client)
        await server.close()
        return answer

    return anyio.run(go)


# -- stdio: lines a sloppy client sends ----------------------------------------------------------


def test_stdio_survives_lines_that_are_not_json_rpc_and_arguments_of_odd_values(tmp_path: Path) -> None:
    spec = desk_copy(tmp_path)
    server = subprocess.Popen([*SPECC, "serve", str(spec), "--store", str(tmp_path / "runs.db")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=specc_env())
    assert server.stdin is not None and server.stdout is not None
    calls = {
        1: '{"name": "lookup", "arguments": null}',                       # null: no arguments
        2: '{"name": "lookup", "arguments": {"id": "A001", "extra": 1}}',
        3: '{"name": "lookup", "arguments": {"id": 1e400}}',               # a number JSON cannot hold
        4: '{"name": "lookup", "arguments": {"id": "A001\\u0000"}}',
        5: '{"name": "note", "arguments": {"file": "a\\u0000b", "text": "x"}}',
    }
    lines = [json.dumps(INIT), '{"jsonrpc": "2.0", "method": "notifications/initialized"}', "{not json",
             "\udcff garbage".encode("utf-8", "surrogateescape").decode("latin-1"),
             *(f'{{"jsonrpc": "2.0", "id": {i}, "method": "tools/call", "params": {params}}}'
               for i, params in calls.items())]
    try:
        server.stdin.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        server.stdin.flush()
        answers: dict[int, Any] = {}
        deadline = time.monotonic() + 60
        while len(answers) < 1 + len(calls) and time.monotonic() < deadline:
            ready, _, _ = select.select([server.stdout], [], [], 1)
            if ready:
                line = server.stdout.readline()
                if not line:
                    break
                message = json.loads(line)
                answers[message["id"]] = message
    finally:
        server.stdin.close()  # the client leaves: the server ends its session and exits
        server.wait(timeout=60)
    assert server.stderr is not None
    err = server.stderr.read()
    assert server.returncode == 0
    assert sorted(answers) == [0, *calls], answers
    said = {i: answers[i]["result"] for i in calls}
    assert all(result["isError"] for result in said.values()), said
    assert "missing the field `id`" in said[1]["content"][0]["text"]
    assert "unknown field `extra`" in said[2]["content"][0]["text"]
    assert "`lookup.id` must be a `string`" in said[3]["content"][0]["text"]
    assert "must match" in said[4]["content"][0]["text"]
    assert "`note.file` contains a NUL byte" in said[5]["content"][0]["text"]
    assert b"Traceback" not in err


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("file, says", [
    ("/etc/passwd", "absolute path"),
    ("/mnt/notes/a.txt", "absolute path"),
    ("a/../../x", "climbs out of its mount"),
    ("linkdir/x.txt", "through a symlink"),
    ("pw", "through a symlink"),
    ("up", "through a symlink"),
])
def test_a_path_that_leaves_its_mount_by_any_road_is_refused(tmp_path: Path, file: str, says: str) -> None:
    spec = desk_copy(tmp_path)
    notes = spec.parent / "notes"
    (tmp_path / "outside").mkdir()
    (notes / "linkdir").symlink_to(tmp_path / "outside")
    (notes / "pw").symlink_to("/etc/passwd")
    (notes / "up").symlink_to("../desk.agent")
    stub = StubBackend(answers={"note": [succeed("noted")]})
    server = server_for(spec, tmp_path / "runs.db", stub)
    result = in_session(server, lambda c: c.call_tool("note", {"file": file, "text": "x"}))
    assert result.is_error and "`note.file`" in text(result) and says in text(result), text(result)
    assert stub.calls == []


# -- secrets -------------------------------------------------------------------------------------


def test_a_secret_in_what_a_failing_tool_said_is_redacted_from_the_error(tmp_path: Path) -> None:
    secret = "tok-0123456789abcdef"
    spec = desk_copy(tmp_path)
    source = spec.read_text().replace('    run "python3" "/tools/lookup.py"',
                                      '    run "python3" "/tools/lookup.py"\n    env DESK_TOKEN')
    spec.write_text(source.replace("  scope {\n", "  scope {\n    env DESK_TOKEN secret\n"))
    stub = StubBackend(answers={"lookup": [fail("error", f"the token {secret} was refused"),
                                           fail("crash", f"RuntimeError: {json.dumps(secret)}")]})
    server = server_for(spec, tmp_path / "runs.db", stub, env={"DESK_TOKEN": secret})

    async def work(client: Client) -> list[types.CallToolResult]:
        return [await client.call_tool("lookup", {"id": "A001"}), await client.call_tool("lookup", {"id": "A002"})]

    results = in_session(server, work)
    assert all(r.is_error for r in results)
    shown = json.dumps([r.model_dump(mode="json") for r in results])
    assert secret not in shown and "[redacted]" in shown
    with RunStore(str(tmp_path / "runs.db")) as store:
        (run,) = store.runs()
        assert secret not in json.dumps([e.event.model_dump(mode="json") for e in store.events(run.id)])


# -- approvals -----------------------------------------------------------------------------------


def test_an_approval_decided_in_one_session_does_not_carry_to_the_next(tmp_path: Path) -> None:
    spec = desk_copy(tmp_path)
    store = tmp_path / "runs.db"
    stub = StubBackend(answers={"pay": [succeed({"paid": 20})]})
    first = server_for(spec, store, stub)

    async def ask_and_approve(client: Client) -> str:
        asked = await client.call_tool("pay", {"account": "A001", "amount": 20})
        assert asked.is_error and "specc approve" in text(asked)
        run_id = first.sessions["process"].run.run_id  # type: ignore[union-attr]
        with RunStore(str(store)) as opened:
            decide_approval(opened, run_id, approved=True, reason=None, call=1)
        return run_id

    approved_in = in_session(first, ask_and_approve)  # the session ends before the approval is used
    second = server_for(spec, store, stub)
    again = in_session(second, lambda c: c.call_tool("pay", {"account": "A001", "amount": 20}))
    assert again.is_error and "pending" in text(again) and approved_in not in text(again)
    assert stub.calls == []
    with RunStore(str(store)) as opened:
        runs = {r.id: r.status for r in opened.runs()}
        assert runs[approved_in] == "succeeded" and len(runs) == 2
        (other,) = set(runs) - {approved_in}
        assert any(isinstance(e.event, ev.ApprovalPending) for e in opened.events(other))
        assert not any(isinstance(e.event, ev.ApprovalUsed) for e in opened.events(other))


# -- HTTP: the gate ------------------------------------------------------------------------------


def test_http_token_and_headers_edge_cases(tmp_path: Path, docker_client: Any) -> None:
    token = "t0ken-" + "y" * 26
    server = HttpServer(desk_copy(tmp_path), tmp_path / "runs.db", "--token-env", "DESK_MCP_TOKEN",
                        env={"DESK_MCP_TOKEN": token})
    accept = {"Accept": "application/json, text/event-stream"}
    try:
        with httpx.Client(timeout=10) as http:
            def post(headers: dict[str, str]) -> int:
                return http.post(server.url, json=INIT, headers={**accept, **headers}).status_code

            assert post({"Authorization": "Bearer"}) == 401
            assert post({"Authorization": f"Bearer {token}x"}) == 401
            assert post({"Authorization": f"Bearer {token[:-1]}"}) == 401
            assert post({"Authorization": f"bearer {token}"}) == 200  # the scheme is case-insensitive
            for method in ("GET", "DELETE"):
                assert http.request(method, server.url, headers=accept).status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            assert post({**auth, "Host": "evil.example"}) == 421  # DNS rebinding
            assert post({**auth, "Origin": "http://evil.example"}) == 403
            modern = http.post(server.url, json={"jsonrpc": "2.0", "id": "m", "method": "tools/list"},
                               headers={**accept, "mcp-protocol-version": "2026-07-28"})
            assert modern.status_code == 401  # the token before anything else
    finally:
        assert server.stop() == 0
    assert "Traceback" not in "".join(server.err)
