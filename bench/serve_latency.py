"""What serving adds to a call: `specc serve` against a direct `Run.call`, the sandbox excluded.

The same action is called `--calls` times through each way in, every attempt answered at once by
the in-process stub backend (which stands in for the container, so what is measured is specc's
and MCP's own work, with the fsynced events of every call):

- `direct`: `Run.call` in this process, as a workflow or a planner makes it;
- `memory`: the SDK's client against the server object (JSON-RPC over in-memory streams);
- `stdio`: a `specc serve` process on stdio (the server built as the CLI builds it, the backend
  swapped for the stub), the SDK's client in this process;
- `http`: the same over streamable HTTP on the loopback.

The ways are measured interleaved, in rounds, so that load on the machine falls on all of them.
Per call it prints the median and p90 of each and what each served way adds to `direct` (the
client's side included: the SDK client checks every result against the tool's output schema), and
what the stdio and HTTP servers spend per call inside themselves besides `Run.call` (timed in the
server process). Target: at most 5 ms added per call.

Usage: `python bench/serve_latency.py [--calls 100] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MS = 5.0
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "serve" / "desk.agent"


def compiled() -> Any:
    from specc.compiler import compile_source

    return compile_source(FIXTURE.read_bytes(), str(FIXTURE)).ir


def stub() -> Any:
    from specc.runtime.stub_backend import StubBackend, succeed

    return StubBackend(answers={"lookup": [succeed({"id": "A001", "name": "Ada"})]})


def config(store: str, transport: str = "stdio") -> Any:
    from specc.runtime.run import RunOptions
    from specc.runtime.serve import ServeConfig

    ir = compiled()
    ir.limits["steps"] = 10**9  # the bench's calls, not the fixture's limits
    return ServeConfig(ir=ir, store_path=store, backend=stub, options=RunOptions(), env={},
                       transport=transport)  # type: ignore[arg-type]


def direct(store: str, calls: int) -> list[float]:
    from specc.runtime.run import Position, Run
    from specc.runtime.store import RunStore

    ir = config(store).ir
    times = []
    with RunStore(store) as opened:
        run = Run.start(ir, opened, stub(), None, env={})
        for n in range(1, calls + 1):
            started = time.perf_counter()
            run.call("lookup", {"id": "A001"}, at=Position(n, f"call {n}", bound_to_step=False))
            times.append(time.perf_counter() - started)
        run.finish("succeeded", 0)
    return times


async def _served(client: Any, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call_tool("lookup", {"id": "A001"})
        times.append(time.perf_counter() - started)
        assert not result.is_error, result
    return times


def memory(store: str, calls: int) -> list[float]:
    import anyio
    from mcp import Client

    from specc.runtime.serve import SpecServer

    server = SpecServer(config(store))

    async def go() -> list[float]:
        async with Client(server.mcp, mode="legacy") as client:
            times = await _served(client, calls)
        await server.close()
        return times

    return anyio.run(go)


def stdio(store: str, calls: int) -> list[float]:
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=[__file__, "--serve", "stdio", store])

    async def go() -> list[float]:
        async with Client(params) as client:
            await client.call_tool("lookup", {"id": "A001"})  # the process is up and its run started
            return await _served(client, calls)

    return anyio.run(go)


def http(store: str, calls: int) -> list[float]:
    import anyio
    from mcp import Client

    server = subprocess.Popen([sys.executable, __file__, "--serve", "http", store], stderr=subprocess.PIPE,
                              text=True)
    assert server.stderr is not None
    url = ""
    while not url:
        line = server.stderr.readline()
        if not line:
            raise SystemExit("the HTTP server did not start")
        if line.startswith("listening on "):
            url = line.split(" ", 2)[2].strip()

    async def go() -> list[float]:
        async with Client(url) as client:
            await client.call_tool("lookup", {"id": "A001"})
            return await _served(client, calls)

    try:
        return anyio.run(go)
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve(transport: str, store: str) -> None:
    """The server side of `stdio` and `http`: a `SpecServer` on the stub backend. It writes, next to
    the store, how long each call took inside the server and how much of it was `Run.call`."""
    import anyio

    from specc.runtime import run as run_module
    from specc.runtime.serve import SpecServer, serve_http, serve_stdio

    timings: dict[str, list[float]] = {"handler": [], "door": []}
    door = run_module.Run.call

    def timed_door(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return door(self, *args, **kwargs)
        finally:
            timings["door"].append(time.perf_counter() - started)

    run_module.Run.call = timed_door  # type: ignore[method-assign]
    server = SpecServer(config(store, transport))
    handler = server._call_tool

    async def timed_handler(ctx: Any, params: Any) -> Any:
        started = time.perf_counter()
        try:
            return await handler(ctx, params)
        finally:
            timings["handler"].append(time.perf_counter() - started)

    import mcp_types

    server.mcp.add_request_handler("tools/call", mcp_types.CallToolRequestParams, timed_handler)
    try:
        if transport == "stdio":
            anyio.run(serve_stdio, server)
        else:
            anyio.run(lambda: serve_http(server, host="127.0.0.1", port=0, token=None,
                                         announce=lambda url: print(f"listening on {url}", file=sys.stderr,
                                                                    flush=True)))
    finally:
        Path(store + ".timings.json").write_text(json.dumps(timings))


def inside(store: str) -> list[float]:
    """What the server added to each call inside itself: its handler's time less `Run.call`'s."""
    path = Path(store + ".timings.json")
    for _ in range(100):
        if path.exists():
            break
        time.sleep(0.1)
    timings = json.loads(path.read_text())
    return [h - d for h, d in zip(timings["handler"][1:], timings["door"][1:], strict=True)]


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per way per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--serve", nargs=2, metavar=("TRANSPORT", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    ways = {"direct": direct, "memory": memory, "stdio": stdio, "http": http}
    times: dict[str, list[float]] = {name: [] for name in ways}
    server_side: dict[str, list[float]] = {"stdio": [], "http": []}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for name, way in ways.items():
                store = os.path.join(folder, f"{name}-{round_}.db")
                times[name] += way(store, args.calls)
                if name in server_side:
                    server_side[name] += inside(store)
    print(f"specc serve latency: {args.calls} calls x {args.rounds} rounds per way, stub backend "
          f"(python {platform.python_version()}, {os.cpu_count()} cpus)")
    base = statistics.median(times["direct"])
    print(f"{'way':<8} {'median ms':>10} {'p90 ms':>8} {'added ms':>9}")
    for name, values in times.items():
        added = "" if name == "direct" else f"{1000 * (statistics.median(values) - base):9.2f}"
        print(f"{name:<8} {ms(values, 0.5):10.2f} {ms(values, 0.9):8.2f} {added:>9}")
    for name, values in server_side.items():
        print(f"inside the {name} server, per call, besides Run.call: median {ms(values, 0.5):.2f} ms, "
              f"p90 {ms(values, 0.9):.2f} ms")
    worst = max(statistics.median(v) for k, v in times.items() if k != "direct") - base
    verdict = "meets" if 1000 * worst <= TARGET_MS else "misses"
    print(f"most added per call: {1000 * worst:.2f} ms ({verdict} the target of at most {TARGET_MS:g} ms)")


if __name__ == "__main__":
    main()
