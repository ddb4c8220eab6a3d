"""`specc serve`: an agent's actions as Model Context Protocol tools, every call through the one
guarded call (`Run.call`), with the official `mcp` SDK.

One MCP session is one run in the store. Over stdio the server process serves one client, so the
process is the session, whatever protocol revision the client speaks. Over streamable HTTP a session
is what the protocol's `Mcp-Session-Id` names; the revisions that have no session (2026-07-28 and
later) are answered with the revisions that do, and the SDK's clients fall back to them.

A session's calls run one at a time, in the order they arrive, on a thread of their own (a `Run`
and its store connection belong to one thread); sessions run side by side. The agent's limits bound
the session: `steps` counts attempts as in any run, and `wall` counts the time calls take, not the
time the client spends between them. When they are spent, the run ends and every later call of the
session is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from specc.ir import IR, ActionIR

from . import events as ev
from .backend import Backend, BackendUnavailable, Interrupted, Interruptible
from .run import (
    EXIT_INTERRUPTED,
    EXIT_SUCCEEDED,
    ArgumentsRejected,
    Done,
    Failed,
    Paused,
    Position,
    Run,
    RunOptions,
    approval_digest,
)
from .store import RunStore, StoreError

Approvals = Literal["out-of-band", "elicit"]
APPROVAL_MODES: tuple[Approvals, ...] = ("out-of-band", "elicit")

#: The most a call's arguments may weigh, as compact JSON: a call past it is refused unread.
MAX_ARGUMENT_BYTES = 1024 * 1024
#: The key of specc's approval question among a 2026-07-28 call's input requests.
APPROVAL_INPUT = "specc-approval"

_ELICIT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


#: The session's client went away (or the server was stopped) during a call: the attempt was
#: stopped and its container removed; the run ends as interrupted.
Cancelled = Interrupted


# -- tools ---------------------------------------------------------------------------------------


def tool_for(action: ActionIR) -> types.Tool:
    """The MCP tool of an action: its contracts as schemas, its description, and annotations from
    its effect, idempotency and network."""
    annotations = types.ToolAnnotations(
        read_only_hint=action.effect == "read",
        destructive_hint=action.effect == "destructive",
        idempotent_hint=action.idempotent or action.effect == "read",
        open_world_hint=bool(action.hosts),
    )
    description = action.description or f"Action `{action.name}` of the agent."
    guard = f" (effect {action.effect}, risk {action.risk}"
    if action.approval != "required":
        guard += ")"
    elif action.approval_when is None:
        guard += "; a person approves each call)"
    else:  # `approval required when`: the condition is over the call's arguments
        guard += "; a person approves the calls its approval condition selects)"
    output = action.output_schema
    return types.Tool(name=action.name, description=description + guard, input_schema=action.input_schema,
                      output_schema=None if output is None else output_schema(output), annotations=annotations)


def output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A return contract as MCP's `outputSchema`, whose root must be an object: a record's own
    schema at the root, anything else wrapped as `{"result": ...}` (as `structured` wraps it)."""
    defs = schema.get("$defs", {})
    if _record(schema):
        return schema if schema.get("type") == "object" else {**defs[_ref_name(schema)], "$defs": defs}
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "$schema")}
    wrapped: dict[str, Any] = {"type": "object", "properties": {"result": inner}, "required": ["result"],
                               "additionalProperties": False}
    if defs:
        wrapped["$defs"] = defs
    return wrapped


def structured(schema: dict[str, Any] | None, value: Any) -> Any:
    """A result as the structured content its `output_schema` describes."""
    if schema is None:
        return None
    return value if _record(schema) else {"result": value}


def _ref_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return ref.removeprefix("#/$defs/") if isinstance(ref, str) else ""


def _record(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "object":
        return True
    target = schema.get("$defs", {}).get(_ref_name(schema))
    return isinstance(target, dict) and target.get("type") == "object" and len(schema.keys() - {"$ref", "$defs",
                                                                                                  "$schema"}) == 0


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _weight(arguments: Any) -> int:
    return len(json.dumps(arguments, ensure_ascii=False, separators=(",", ":")).encode())


# -- sessions ------------------------------------------------------------------------------------


@dataclass
class ServeConfig:
    """What every session of one server shares."""

    ir: IR
    store_path: str
    backend: Callable[[], Backend]
    approvals: Approvals = "out-of-band"
    options: RunOptions = field(default_factory=RunOptions)
    env: Mapping[str, str] | None = None
    #: the `--store` a person types to reach this store, for the messages that name a command
    store_hint: str | None = None
    transport: Literal["stdio", "http"] = "stdio"


class Session:
    """One MCP session: one run, started at its first call, ended when the session ends."""

    def __init__(self, config: ServeConfig, key: str) -> None:
        self.config = config
        self.key = key
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="specc-session")
        self._lock = anyio.Lock()
        self.run: Run | None = None
        self._store: RunStore | None = None
        self._backend: Interruptible | None = None
        self._calls = 0
        self._idle_since = time.monotonic()
        self._seen = 0  # the last event of the run this session has read decisions from
        self.ended: str | None = None  # why the session takes no more calls
        self._cut_last = False  # the last call was stopped before its end
        self._asked: set[str] = set()  # the approval questions asked and not yet answered (nonces)
        self.client: str | None = None
        self.protocol: str | None = None

    # The session's thread owns its run; every touch of it goes through here.
    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        future: Future[Any] = self._thread.submit(work)
        try:
            return await asyncio.wrap_future(future)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._interrupt(future)
            raise

    async def _interrupt(self, future: Future[Any]) -> None:
        """The client cancelled the call or went away: stop its attempt and wait for the call to
        unwind (its container removed, the cut recorded). The session goes on; if it ends now, it
        ends as interrupted."""
        await self.stop_call()
        try:
            await asyncio.wrap_future(future)
        except BaseException:  # noqa: BLE001 - whatever the cut-off call raised
            pass

    async def stop_call(self) -> None:
        """Stop the attempt under way, if any (from the event loop)."""
        if self._backend is not None and self.run is not None:
            backend, run_id = self._backend, self.run.run_id
            await anyio.to_thread.run_sync(backend.interrupt, run_id)

    async def call(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult | \
            types.InputRequiredResult:
        async with self._lock:
            if self.ended is not None:
                return _error(self.ended)
            action = self.config.ir.actions.get(params.name)
            if self.config.approvals != "elicit" or action is None or action.approval != "required":
                # nothing to ask the client's user: one trip to the session's thread
                done: types.CallToolResult = await self._in_thread(
                    lambda: self._prepare(params) or self._call(params, None))
                return done
            refused: types.CallToolResult | None = await self._in_thread(lambda: self._prepare(params))
            if refused is not None:
                return refused
            decision = await self._ask(ctx, params)
            if isinstance(decision, types.InputRequiredResult | types.CallToolResult):
                return decision
            answer: types.CallToolResult = await self._in_thread(lambda: self._call(params, decision))
            return answer

    async def end(self) -> None:
        """The session is over: end its run (interrupted when its last call was cut off, else
        succeeded), release its resources."""
        async with self._lock:
            await asyncio.wrap_future(self._thread.submit(self._end))
        self._thread.shutdown(wait=True)

    # -- in the session's thread -----------------------------------------------------------

    def _open(self) -> Run:
        if self.run is not None:
            return self.run
        config = self.config
        self._store = RunStore(config.store_path)
        self._backend = Interruptible(config.backend())
        self.run = Run.start(config.ir, self._store, self._backend, None, options=config.options, env=config.env,
                             sleep=self._sleep)
        self.run.record(ev.SessionOpened(transport=config.transport, client=self.client, protocol=self.protocol,
                                         approvals=config.approvals))
        self._idle_since = time.monotonic()
        return self.run

    def _sleep(self, seconds: float) -> None:
        """A retry's backoff, cut short when the client goes away."""
        if self._backend is not None:
            self._backend.wait(seconds)

    def _prepare(self, params: types.CallToolRequestParams) -> types.CallToolResult | None:
        """Answer what no action can take (an unknown tool, arguments too large) and arguments its
        contract or scope rejects, before a person is asked anything; None to go on."""
        run = self._open()
        action = self.config.ir.actions.get(params.name)
        arguments = params.arguments or {}
        reason: str | None = None
        if action is None:
            tools = ", ".join(f"`{name}`" for name in sorted(self.config.ir.actions))
            reason = f"there is no tool `{params.name}`; this server's tools are {tools}"
        elif (size := _weight(arguments)) > MAX_ARGUMENT_BYTES:
            reason = (f"the arguments of `{params.name}` are {size:,} bytes as JSON, over the {MAX_ARGUMENT_BYTES:,} "
                      "a call may carry; pass large data through a mounted folder and a path argument")
        if reason is not None:
            self._calls += 1
            run.record(ev.CallRefused(index=self._calls, tool=params.name, reason=reason))
            return _error(reason)
        assert action is not None
        why = run.check_arguments(action.name, arguments)
        if why is None:
            return None
        # A rejected call counts as a step (as a planner's rejected proposal does), so that a client
        # cannot fill the store with calls that never run; its handlers answer it as in any run.
        self._calls += 1
        at = Position(self._calls, f"call {self._calls}", bound_to_step=False)
        spent = run.spend_step(at)
        return self._answer(run, at, action, spent or run.call(action.name, ArgumentsRejected(why), at=at))

    def _call(self, params: types.CallToolRequestParams, decision: tuple[bool, str | None] | None) \
            -> types.CallToolResult:
        run = self._open()
        action = self.config.ir.actions[params.name]
        arguments = dict(params.arguments or {})
        self._calls += 1
        at = Position(self._calls, f"call {self._calls}", bound_to_step=False)
        now = time.monotonic()
        run.budget.started += now - self._idle_since  # `wall` counts the calls, not the time between them
        try:
            if action.approval == "required":
                self._take_decisions(run)
            if decision is not None:
                self._decided(run, at, action, arguments, decision)
            outcome = run.call(action.name, arguments, at=at)
        except Interrupted:
            return self._cut(run, at, action)
        finally:
            self._idle_since = time.monotonic()
        return self._answer(run, at, action, outcome)

    def _cut(self, run: Run, at: Position, action: ActionIR) -> types.CallToolResult:
        """The call was stopped before its end: record it, and make the backend take calls again."""
        assert self._backend is not None
        self._cut_last = True
        reason = ("the call was stopped before its end (the client cancelled it or went away, or the server is "
                  "stopping): its attempt was killed and its container removed; what it did before is not known")
        run.record(ev.CallCancelled(index=at.step, tool=action.name, reason=reason))
        self._backend.cancelled.clear()
        return _error(reason)

    def _answer(self, run: Run, at: Position, action: ActionIR, outcome: Done | Failed | Paused) \
            -> types.CallToolResult:
        """What the client is told of a call's outcome."""
        self._cut_last = False
        if isinstance(outcome, Done):
            value = run.redact(outcome.result)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=json.dumps(value, ensure_ascii=False))],
                structured_content=structured(action.output_schema, value))
        if (isinstance(outcome, Failed) and outcome.kind == "budget") or self._spent(run):
            run.stop(outcome, at)
            used = (f"all {run.budget.steps} steps" if run.budget.used_steps >= run.budget.steps
                    else "all the `wall` time")
            self.ended = (f"this session's run {run.run_id} used {used} of the agent's `limits` and has ended; no "
                          "more calls are taken (a new session starts a new run)")
            return _error(self.ended)
        if isinstance(outcome, Paused) and outcome.status == "awaiting-approval":
            return _error(self._pending_message(run, at, action))
        if isinstance(outcome, Paused):
            return _error(f"`{action.name}` escalated to a person: {run.redact(outcome.reason)}. The call did not "
                          f"complete; the run ({run.run_id}) records why")
        reason = str(run.redact(outcome.reason))
        return _error(reason if f"`{action.name}`" in reason else f"`{action.name}` failed: {reason}")

    def _spent(self, run: Run) -> bool:
        return run.budget.used_steps >= run.budget.steps or run.budget.remaining_s() <= 0

    def _pending_message(self, run: Run, at: Position, action: ActionIR) -> str:
        store = f" --store {self.config.store_hint}" if self.config.store_hint else ""
        return (f"`{action.name}` (effect {action.effect}, risk {action.risk}) needs a person's approval, which is "
                f"pending. A person decides with `specc approve {run.run_id} --call {at.step}{store}` (or "
                f"`--deny`); once approved, make the same call with the same arguments again and it runs once. "
                "Other arguments need their own approval")

    def _take_decisions(self, run: Run) -> None:
        """The approvals people decided (`specc approve`) since the last call, for `call` to use."""
        assert self._store is not None
        for stored in self._store.events(run.run_id, after=self._seen):
            self._seen = stored.seq
            event = stored.event
            if isinstance(event, ev.ApprovalDecided):
                run.state.approvals[event.digest] = (event.approved, event.by, event.reason)
            elif isinstance(event, ev.ApprovalUsed):
                run.state.approvals.pop(event.digest, None)

    def _decided(self, run: Run, at: Position, action: ActionIR, arguments: dict[str, Any],
                 decision: tuple[bool, str | None]) -> None:
        """Record what the client's user answered through elicitation, bound like any approval."""
        digest = approval_digest(run.run_id, self.config.ir.source.sha256, at, action.name, arguments)
        approved, reason = decision
        who = f"the user of {self.client}" if self.client else "the client's user"
        run.record(ev.ApprovalDecided(digest=digest, index=at.step, step=at.label, action=action.name,
                                      approved=approved, by=who, reason=reason, via="elicitation"))
        run.state.approvals[digest] = (approved, who, reason)

    def _end(self) -> None:
        run, self.run = self.run, None
        try:
            if run is not None and self.ended is None:
                run.budget.started += time.monotonic() - self._idle_since  # the time after the last call
                if self._cut_last:
                    run.finish("interrupted", EXIT_INTERRUPTED, reason="the MCP session was cut off during a call")
                else:
                    run.finish("succeeded", EXIT_SUCCEEDED, reason="the MCP session ended")
        finally:
            self.ended = self.ended or "this MCP session has ended"
            if self._backend is not None:
                self._backend.close()
            if self._store is not None:
                self._store.close()

    # -- approvals by elicitation, in the event loop ---------------------------------------

    async def _ask(self, ctx: Any, params: types.CallToolRequestParams) \
            -> tuple[bool, str | None] | types.InputRequiredResult | types.CallToolResult:
        """With `--approvals elicit`, the answer of the client's user for an action that needs a
        person, or what to answer the client instead."""
        action = self.config.ir.actions[params.name]
        arguments = params.arguments or {}
        question = self._question(action, arguments)
        capability = types.ClientCapabilities(elicitation=types.ElicitationCapability())
        if not ctx.session.check_client_capability(capability):
            return False, "the client cannot ask its user (it declared no elicitation capability)"
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:  # the question rides back as an input request
            answer = (params.input_responses or {}).get(APPROVAL_INPUT)
            if answer is None:
                nonce = secrets.token_hex(16)
                self._asked.add(nonce)
                request = types.ElicitRequest(params=types.ElicitRequestFormParams(
                    message=question, requested_schema=_ELICIT_SCHEMA))
                return types.InputRequiredResult(input_requests={APPROVAL_INPUT: request},
                                                 request_state=f"{nonce}.{self._token(action.name, arguments, nonce)}")
            nonce, _, signed = (params.request_state or "").partition(".")
            if nonce not in self._asked or not hmac.compare_digest(signed, self._token(action.name, arguments, nonce)):
                return _error(f"the approval answer sent with this call of `{action.name}` does not belong to it "
                              "(its arguments changed, it was used already, or this server did not ask it); call "
                              "again to be asked")
            self._asked.discard(nonce)  # one answer approves one call
            return _answered(getattr(answer, "action", None))
        if not ctx.session.can_send_request:
            return False, "this connection cannot carry a question to the client's user"
        result = await ctx.session.elicit_form(question, _ELICIT_SCHEMA, related_request_id=ctx.request_id)
        return _answered(result.action)

    def _question(self, action: ActionIR, arguments: Mapping[str, Any]) -> str:
        shown = json.dumps(arguments, indent=2, ensure_ascii=False)
        if len(shown) > 4000:
            shown = shown[:4000] + "\n…"
        why = f"\nwhy approval: {action.approval_reason}" if action.approval_reason else ""
        return (f"Approve `{action.name}` of agent `{self.config.ir.agent}`?\neffect: {action.effect}, risk: "
                f"{action.risk}{why}\narguments:\n{shown}\nAccept approves this one call; anything else denies it.")

    def _token(self, action: str, arguments: Any, nonce: str) -> str:
        canonical = json.dumps([self.key, action, arguments, nonce], sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        return hmac.new(_SERVER_KEY, canonical.encode(), hashlib.sha256).hexdigest()


def _answered(action: Any) -> tuple[bool, str | None]:
    if action == "accept":
        return True, None
    return False, f"the client's user chose `{action}`" if action else "the client sent no answer"


#: Binds an approval question to its answer for this process's lifetime.
_SERVER_KEY = secrets.token_bytes(32)


# -- the MCP server ------------------------------------------------------------------------------


class SpecServer:
    """The agent's actions as an MCP server: tools from the IR, one `Session` per MCP session."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.sessions: dict[str, Session] = {}
        self.tools = [tool_for(action) for action in config.ir.actions.values()]
        self.mcp: Server[Any] = Server(f"specc-{config.ir.agent}", version=_version(),
                                       instructions=config.ir.description,
                                       on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    async def _list_tools(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools)

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) \
            -> types.CallToolResult | types.InputRequiredResult:
        session = self.session(_session_key(ctx))
        if session.client is None:
            session.client, session.protocol = _client_of(ctx), ctx.protocol_version
        try:
            return await session.call(ctx, params)
        except Cancelled:
            return _error("the call was stopped: the server is shutting down")
        except (StoreError, BackendUnavailable) as exc:
            print(f"specc serve: {exc}", file=sys.stderr)
            return _error(f"`{params.name}` could not be run: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug must cost one call, never the server
            print(f"specc serve: internal error on a call of `{params.name}`: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return _error(f"`{params.name}` could not be run: specc serve failed internally ({type(exc).__name__}); "
                          "the server's stderr has the detail")

    def session(self, key: str) -> Session:
        if key not in self.sessions:
            self.sessions[key] = Session(self.config, key)
        return self.sessions[key]

    async def end_session(self, key: str) -> None:
        session = self.sessions.pop(key, None)
        if session is not None:
            await session.end()

    async def stop_calls(self) -> None:
        """Stop every call under way (the server is stopping): each answers its client, and its run
        ends as interrupted with its session."""
        for session in list(self.sessions.values()):
            await session.stop_call()

    async def close(self) -> None:
        """Stop the calls under way and end every session still open."""
        await self.stop_calls()
        for key in list(self.sessions):
            await self.end_session(key)


def _session_key(ctx: Any) -> str:
    """The MCP session a request belongs to: HTTP's `Mcp-Session-Id`, else the process's one."""
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        session_id = headers.get("mcp-session-id")
        if session_id:
            return f"http:{session_id}"
    return "process"


def _client_of(ctx: Any) -> str | None:
    params = ctx.session.client_params
    info = getattr(params, "client_info", None)
    if info is None:
        return None
    return f"{info.name} {info.version}".strip()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("specc")
    except PackageNotFoundError:
        return "0"


# -- transports ----------------------------------------------------------------------------------


async def serve_stdio(server: SpecServer) -> None:
    """Serve one client on stdin and stdout until it closes them, or a signal stops the server."""
    from mcp.server.stdio import stdio_server

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_Stop().on_signal, server, None)
            async with stdio_server() as (read, write):
                await server.mcp.run(read, write, server.mcp.create_initialization_options())
            group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await server.close()


@dataclass
class _Stop:
    """SIGINT and SIGTERM stop the server: the calls under way are stopped (their containers
    removed) and their runs end as interrupted."""

    signalled: bool = False

    async def on_signal(self, server: SpecServer, web: Any) -> None:
        """Wait for a signal; then stop the calls under way (each answers its client) and end the
        sessions. Over HTTP the web server then stops; over stdio the process exits at once, since
        the SDK's reading of stdin cannot be cancelled while the client keeps it open."""
        import os
        import signal

        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                self.signalled = True
                print("specc serve: stopping; calls under way are stopped and their runs end as interrupted",
                      file=sys.stderr, flush=True)
                with anyio.CancelScope(shield=True):
                    await server.stop_calls()
                    await anyio.sleep(0.2)  # the stopped calls answer their clients
                    if web is not None:
                        web.should_exit = True
                        return
                    await server.close()
                sys.stdout.flush()
                os._exit(0)


LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: HTTP sessions open at once; a client past it is answered 503 until one ends (a session ends when
#: its client ends it, or after 30 minutes without a request).
MAX_HTTP_SESSIONS = 32
MCP_PATH = "/mcp"


async def serve_http(server: SpecServer, *, host: str, port: int, token: str | None,
                     announce: Callable[[str], None]) -> None:
    """Serve MCP clients over streamable HTTP on `host:port` at `/mcp` until a signal stops the
    server. With `token`, every request must carry `Authorization: Bearer TOKEN`. `announce` gets
    the address once the server listens (the port the system chose when `port` is 0)."""
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    class Manager(StreamableHTTPSessionManager):
        """Ends a session's run when the protocol ends the session (the client's DELETE, the idle
        timeout, the server stopping)."""

        async def _discard_session(self, session_id: str, transport: Any) -> None:
            await super()._discard_session(session_id, transport)
            with anyio.CancelScope(shield=True):
                await server.end_session(f"http:{session_id}")

    security = None
    if host in LOOPBACK:  # a web page must not reach a server on the loopback through DNS rebinding
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    # Plain JSON answers unless a call may ask the client's user mid-call (elicitation needs the
    # call's event stream): an event stream per call costs tens of milliseconds.
    manager = Manager(app=server.mcp, security_settings=security, json_response=server.config.approvals != "elicit",
                      max_sessions=MAX_HTTP_SESSIONS)
    gate = _Gate(StreamableHTTPASGIApp(manager), token)
    app = Starlette(routes=[Route(MCP_PATH, endpoint=gate, methods=["GET", "POST", "DELETE"])],
                    lifespan=lambda _: manager.run())
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=5)

    class Web(uvicorn.Server):
        """uvicorn, with the signals left to `_Stop` (uvicorn's own would re-raise them at exit)."""

        def capture_signals(self) -> Any:
            return contextlib.nullcontext()

    web = Web(config)
    stopped = _Stop()

    async def tell_when_listening() -> None:
        while not web.started:
            await anyio.sleep(0.02)
        bound = web.servers[0].sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        announce(f"http://{shown}:{bound[1]}{MCP_PATH}")

    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.create_server((host, port), family=family)  # a port in use is an OSError here
    listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # connections inherit it: no 40 ms stalls
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(tell_when_listening)
            group.start_soon(stopped.on_signal, server, web)
            await web.serve(sockets=[listening])
            group.cancel_scope.cancel()
    finally:
        listening.close()
        with anyio.CancelScope(shield=True):
            await server.close()


class _Gate:
    """In front of the MCP endpoint: the bearer token (compared in constant time), and the protocol
    revisions that have sessions (a 2026-07-28 request is answered with the ones served here, which
    is the SDK clients' cue to fall back to them)."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
        from starlette.responses import JSONResponse

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token is not None:
            given = headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token):
                response = JSONResponse({"error": "invalid_token",
                                         "error_description": "this server needs `Authorization: Bearer TOKEN`"},
                                        status_code=401, headers={"WWW-Authenticate": 'Bearer realm="specc"'})
                await response(scope, receive, send)
                return
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS and scope.get("method") == "POST":
            request_id = await _request_id(receive)
            body = {"jsonrpc": "2.0", "id": request_id, "error": {
                "code": types.UNSUPPORTED_PROTOCOL_VERSION,
                "message": f"protocol {version} has no sessions, and each specc session is one run: over HTTP "
                           f"this server speaks {', '.join(HANDSHAKE_PROTOCOL_VERSIONS)} (over stdio, every revision)",
                "data": {"supported": list(HANDSHAKE_PROTOCOL_VERSIONS), "requested": version}}}
            await JSONResponse(body, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _request_id(receive: Any, limit: int = 64 * 1024) -> Any:
    """The JSON-RPC id of a request body, for an error that answers it (None when unreadable)."""
    body = b""
    while len(body) <= limit:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed.get("id") if isinstance(parsed, dict) else None


def check_server(config: ServeConfig) -> tuple[str | None, Literal["usage", "sandbox"]]:
    """Before serving: every action can get what it declares on this host (env vars, mounts), and
    the backend runs every image; what is wrong, and whose problem it is, or (None, ...)."""
    from .run import check_host, check_secrets
    from .values import ValueRejected

    ir = config.ir
    env = config.env if config.env is not None else {}
    try:
        check_secrets(ir, env)
        check_host(ir.actions.values(), env)
    except ValueRejected as exc:
        return str(exc), "usage"
    backend = config.backend()
    try:
        backend.check(a.image for a in ir.actions.values())
        backend.reap()
        with RunStore(config.store_path) as store:
            close_dead_sessions(store)
    except BackendUnavailable as exc:
        return str(exc), "sandbox"
    finally:
        backend.close()
    return None, "usage"


def close_dead_sessions(store: RunStore) -> list[str]:
    """End as interrupted the sessions whose server process died (killed before it could end them);
    their containers are the reaper's. Returns their run ids."""
    from .owner import current_owner, owner_gone

    closed = []
    for record in store.runs(status="running", limit=1000):
        if not owner_gone(record.owner) or not any(isinstance(e.event, ev.SessionOpened)
                                                   for e in store.events(record.id)):
            continue
        if store.claim_crashed(record.id, record.owner, current_owner()):
            reason = "the server process of this MCP session died"
            store.append(record.id, ev.RunFinished(status="interrupted", exit_code=EXIT_INTERRUPTED, reason=reason))
            store.set_status(record.id, "interrupted", reason=reason)
            closed.append(record.id)
    return closed
