"""`specc serve` as a process, with the SDK's own client: over stdio (the client starts the server)
and over streamable HTTP, every attempt in a real container. What is left behind is checked on the
engine itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from dockerfixtures import assert_no_container
from helpers import SPECC, specc, specc_env
from mcp import Client, MCPError, StdioServerParameters

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serve"


@pytest.fixture
def desk(tmp_path: Path, docker_client: Any) -> Path:
    """A copy of the fixture agent whose notes folder the sandbox user may write."""
    folder = tmp_path / "desk"
    shutil.copytree(FIXTURE, folder)
    os.chmod(folder / "notes", 0o777)
    return folder / "desk.agent"


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def statuses(store: Path) -> dict[str, str]:
    from specc.runtime.store import RunStore

    with RunStore(str(store)) as opened:
        return {run.id: run.status for run in opened.runs()}


def stdio(spec: Path, store: Path, *more: str) -> StdioServerParameters:
    return StdioServerParameters(command=SPECC[0], args=[*SPECC[1:], "serve", str(spec), "--store", str(store), *more],
                                 env=specc_env(), cwd=str(spec.parent))


# -- stdio ---------------------------------------------------------------------------------------


def test_stdio_serves_calls_in_containers_and_the_session_is_one_run(desk: Path, tmp_path: Path,
                                                                      docker_client: Any) -> None:
    store = tmp_path / "runs.db"

    async def work() -> list[Any]:
        async with Client(stdio(desk, store)) as client:
            tools = await client.list_tools()
            found = await client.call_tool("lookup", {"id": "A001"})
            missing = await client.call_tool("lookup", {"id": "A999"})
            noted = await client.call_tool("note", {"file": "today.txt", "text": "called back"})
            escaped = await client.call_tool("note", {"file": "../escape.txt", "text": "x"})
            return [tools, found, missing, noted, escaped]

    tools, found, missing, noted, escaped = anyio.run(work)
    assert {t.name for t in tools.tools} >= {"lookup", "note", "pay"}
    assert found.structured_content == {"id": "A001", "name": "Ada"}
    assert missing.is_error and "`lookup`" in text(missing)
    assert noted.structured_content == {"result": "noted"}
    assert (desk.parent / "notes" / "today.txt").read_text() == "called back\n"
    assert escaped.is_error and "`note.file`" in text(escaped)
    assert not (desk.parent / "escape.txt").exists()
    ((run_id, status),) = statuses(store).items()
    assert status == "succeeded"
    shown = specc("show", run_id, "--store", str(store))
    assert shown.returncode == 0, shown.stderr
    for call in ("call 1", "call 2", "call 3", "call 4"):
        assert call in shown.stdout, shown.stdout
    assert_no_container(docker_client, run_id)


def test_an_approval_decided_with_specc_approve_while_the_server_runs(desk: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs.db"

    async def work() -> list[Any]:
        async with Client(stdio(desk, store)) as client:
            pending = await client.call_tool("pay", {"account": "A001", "amount": 20})
            (run_id,) = statuses(store)
            approve = await anyio.to_thread.run_sync(lambda: specc("approve", run_id, "--call", "1", "--store",
                                                                   str(store)))
            paid = await client.call_tool("pay", {"account": "A001", "amount": 20})
            return [pending, approve, paid]

    pending, approve, paid = anyio.run(work)
    assert pending.is_error and "specc approve" in text(pending) and "--call 1" in text(pending)
    assert approve.returncode == 0, approve.stderr
    assert paid.structured_content == {"paid": 20}


def test_a_client_that_leaves_mid_call_leaves_no_container(desk: Path, tmp_path: Path, docker_client: Any) -> None:
    store = tmp_path / "runs.db"

    async def work() -> None:
        async with Client(stdio(desk, store)) as client:
            with anyio.move_on_after(6):  # the container is up well before; then the client goes away
                await client.call_tool("wait_a_while", {"seconds": 60})

    started = time.monotonic()
    anyio.run(work)
    assert time.monotonic() - started < 40
    ((run_id, status),) = statuses(store).items()
    assert status == "interrupted"
    assert_no_container(docker_client, run_id)


def test_sigterm_stops_the_server_and_its_call(desk: Path, tmp_path: Path, docker_client: Any) -> None:
    store = tmp_path / "runs.db"
    server = raw_call(desk, store, "wait_a_while", {"seconds": 60})
    server.send_signal(signal.SIGTERM)  # the client keeps stdin open: the server still stops
    assert server.wait(timeout=40) == 0
    assert server.stderr is not None and server.stdout is not None
    err = server.stderr.read()
    answer = json.loads(server.stdout.readline())
    assert answer["id"] == 2 and answer["result"]["isError"] and "stopped" in answer["result"]["content"][0]["text"]
    assert b"Traceback" not in err
    ((run_id, status),) = statuses(store).items()
    assert status == "interrupted"
    assert_no_container(docker_client, run_id)


def test_a_killed_server_is_cleaned_up_by_the_next_one_and_never_resumed(desk: Path, tmp_path: Path,
                                                                           docker_client: Any) -> None:
    store = tmp_path / "runs.db"
    server = raw_call(desk, store, "wait_a_while", {"seconds": 60})
    server.kill()
    server.wait(timeout=10)
    ((run_id, status),) = statuses(store).items()
    assert status == "running"
    refused = specc("resume", run_id, "--store", str(store))
    assert refused.returncode != 0 and "MCP session" in refused.stderr, refused.stderr

    async def next_session() -> types.CallToolResult:
        async with Client(stdio(desk, store)) as client:
            return await client.call_tool("lookup", {"id": "A001"})

    assert not anyio.run(next_session).is_error
    runs = statuses(store)
    assert runs[run_id] == "interrupted" and sorted(runs.values()) == ["interrupted", "succeeded"]
    assert_no_container(docker_client, run_id)  # reaped by the next server


def raw_call(spec: Path, store: Path, tool: str, arguments: dict[str, Any]) -> subprocess.Popen[bytes]:
    """A server on stdio with one call of `tool` under way (its container running)."""
    server = subprocess.Popen([*SPECC, "serve", str(spec), "--store", str(store)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=specc_env())
    assert server.stdin is not None and server.stdout is not None
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}},
    ]
    for message in messages:
        server.stdin.write((json.dumps(message) + "\n").encode())
    server.stdin.flush()
    assert json.loads(server.stdout.readline())["id"] == 1
    deadline = time.monotonic() + 30
    while not statuses_or_none(store) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the attempt's container is running
    return server


def statuses_or_none(store: Path) -> dict[str, str]:
    return statuses(store) if store.exists() else {}


def test_a_spec_that_cannot_be_served_is_refused_with_its_reason(tmp_path: Path) -> None:
    spec = tmp_path / "desk" / "desk.agent"
    shutil.copytree(FIXTURE, spec.parent)
    shutil.rmtree(spec.parent / "notes")
    done = specc("serve", str(spec), "--store", str(tmp_path / "runs.db"))
    assert done.returncode == 2 and "mount `notes`" in done.stderr and "nothing was served" in done.stderr
    assert "Traceback" not in done.stderr


# -- HTTP ----------------------------------------------------------------------------------------


class HttpServer:
    """`specc serve --transport http --port 0` in the background; `url` once it listens."""

    def __init__(self, spec: Path, store: Path, *more: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([*SPECC, "serve", str(spec), "--store", str(store), "--transport", "http",
                                      "--port", "0", *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=specc_env(env), text=True)
        self.err: list[str] = []
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.err.append(line)
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].strip()
                threading.Thread(target=self._drain, daemon=True).start()
                return
        self.proc.kill()
        raise AssertionError("the server never listened:\n" + "".join(self.err))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)


@pytest.fixture
def http_desk(desk: Path, tmp_path: Path) -> Iterator[HttpServer]:
    server = HttpServer(desk, tmp_path / "runs.db")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()


def test_http_sessions_are_runs_and_two_clients_run_side_by_side(http_desk: HttpServer, tmp_path: Path,
                                                                docker_client: Any) -> None:
    assert http_desk.url.startswith("http://127.0.0.1:")

    async def one(account: str) -> tuple[str, types.CallToolResult]:
        async with Client(http_desk.url) as client:
            result = await client.call_tool("lookup", {"id": account})
            return client.protocol_version, result

    async def both() -> list[tuple[str, types.CallToolResult]]:
        answers: list[tuple[str, types.CallToolResult]] = []

        async def keep(account: str) -> None:
            answers.append(await one(account))

        async with anyio.create_task_group() as group:
            group.start_soon(keep, "A001")
            group.start_soon(keep, "A002")
        return answers

    answers = anyio.run(both)
    assert [r.structured_content["name"] for _, r in answers] == ["Ada", "Ada"]  # type: ignore[index]
    assert {version for version, _ in answers} == {"2025-11-25"}  # fell back from 2026-07-28
    time.sleep(0.5)
    runs = statuses(tmp_path / "runs.db")
    assert sorted(runs.values()) == ["succeeded", "succeeded"], runs
    assert http_desk.stop() == 0
    assert "Traceback" not in "".join(http_desk.err)
    for run_id in runs:
        assert_no_container(docker_client, run_id)


def test_sigterm_over_http_answers_the_call_under_way_and_stops(http_desk: HttpServer, tmp_path: Path,
                                                                docker_client: Any) -> None:
    answers: list[types.CallToolResult] = []

    async def work() -> None:
        async with Client(http_desk.url) as client:
            answers.append(await client.call_tool("wait_a_while", {"seconds": 60}))

    def stop_soon() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "running" not in statuses_or_none(tmp_path / "runs.db").values():
            time.sleep(0.2)
        time.sleep(4)  # the container is up
        http_desk.proc.send_signal(signal.SIGTERM)

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    anyio.run(work)
    stopper.join()
    assert answers[0].is_error and "stopped" in text(answers[0])
    assert http_desk.proc.wait(timeout=30) == 0
    time.sleep(0.5)
    assert "Traceback" not in "".join(http_desk.err) and "ERROR" not in "".join(http_desk.err)
    ((run_id, status),) = statuses(tmp_path / "runs.db").items()
    assert status == "interrupted"
    assert_no_container(docker_client, run_id)


def test_a_port_in_use_is_a_clear_error(http_desk: HttpServer, desk: Path, tmp_path: Path) -> None:
    port = http_desk.url.rsplit(":", 1)[1].split("/")[0]
    done = specc("serve", str(desk), "--store", str(tmp_path / "other.db"), "--transport", "http", "--port", port)
    assert done.returncode == 2 and "cannot listen" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert http_desk.stop() == 0


def test_http_refuses_a_50_mb_call_and_stays_up(http_desk: HttpServer) -> None:
    async def work() -> types.CallToolResult:
        async with Client(http_desk.url) as client:
            with pytest.raises(MCPError):  # the transport refuses the body before anything reads it
                await client.call_tool("note", {"file": "a.txt", "text": "x" * (50 * 1024 * 1024)})
            return await client.call_tool("lookup", {"id": "A001"})

    assert anyio.run(work).structured_content == {"id": "A001", "name": "Ada"}
    raw = httpx.post(http_desk.url, content=b"x" * (50 * 1024 * 1024), timeout=30,
                     headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    assert raw.status_code == 413
    assert http_desk.stop() == 0


def test_http_needs_the_bearer_token_when_given_one(desk: Path, tmp_path: Path) -> None:
    token = "t0ken-" + "x" * 26
    server = HttpServer(desk, tmp_path / "runs.db", "--token-env", "DESK_MCP_TOKEN", env={"DESK_MCP_TOKEN": token})
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
        headers = {"Accept": "application/json, text/event-stream"}
        for given in (None, "Bearer wrong", f"Basic {token}"):
            sent = dict(headers, Authorization=given) if given else headers
            answer = httpx.post(server.url, json=body, headers=sent, timeout=10)
            assert answer.status_code == 401, (given, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
        ok = httpx.post(server.url, json=body, headers=dict(headers, Authorization=f"Bearer {token}"), timeout=10)
        assert ok.status_code == 200, ok.text

        async def work() -> types.CallToolResult:
            auth = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"})
            from mcp.client.streamable_http import streamable_http_client

            async with Client(streamable_http_client(server.url, http_client=auth)) as client:
                return await client.call_tool("lookup", {"id": "A001"})

        assert anyio.run(work).structured_content == {"id": "A001", "name": "Ada"}
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("more, says", [
    (["--host", "0.0.0.0"], "--allow-remote"),
    (["--host", "0.0.0.0", "--allow-remote"], "--token-env"),
    (["--allow-remote", "--token-env", "NOT_SET_HERE"], "at least 16 characters"),
])
def test_http_off_the_loopback_needs_allow_remote_and_a_token(tmp_path: Path, more: list[str], says: str) -> None:
    done = specc("serve", str(FIXTURE / "desk.agent"), "--transport", "http", *more)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_an_http_client_that_leaves_mid_call_leaves_no_container(http_desk: HttpServer, tmp_path: Path,
                                                                docker_client: Any) -> None:
    async def work() -> None:
        async with Client(http_desk.url) as client:
            with anyio.move_on_after(6):
                await client.call_tool("wait_a_while", {"seconds": 60})

    started = time.monotonic()
    anyio.run(work)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(statuses(tmp_path / "runs.db").values()) != {"interrupted"}:
        time.sleep(0.2)
    assert time.monotonic() - started < 45
    ((run_id, status),) = statuses(tmp_path / "runs.db").items()
    assert status == "interrupted"
    assert_no_container(docker_client, run_id)
    assert http_desk.stop() == 0


def test_http_elicits_an_approval_from_the_clients_user(desk: Path, tmp_path: Path) -> None:
    server = HttpServer(desk, tmp_path / "runs.db", "--approvals", "elicit")
    asked: list[str] = []

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={})

    async def work() -> types.CallToolResult:
        async with Client(server.url, elicitation_callback=user) as client:
            return await client.call_tool("pay", {"account": "A001", "amount": 12})

    try:
        assert anyio.run(work).structured_content == {"paid": 12}
        assert len(asked) == 1 and "`pay`" in asked[0]
    finally:
        assert server.stop() == 0
