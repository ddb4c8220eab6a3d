"""How fast `specc lsp` answers, on a generated ~2,000-line spec (bench/gen_spec.py).

Prints, measured in one process and interleaved round by round so that both sides see the same
machine load:
(a) a re-check after a one-character edit by the language server's incremental checker
    (`specc.lsp.incremental.Checker`, which keeps the items that did not change), against
    `compile_source` of the same edited text; the target is at most 25% of it. Edits move round the
    file; half of them add a line, so later items must be moved too;
(b) whether the garbage collector is on after every check (the checker pauses it during a check,
    as `compile_source` does, and must leave a long-lived process collecting);
(c) hover and go-to-definition, answered by the server's own methods on an up-to-date analysis,
    and the first hover after an edit (which builds the name index); target under 10 ms;
(d) the same requests as an editor sees them: round trips over stdio to a `specc lsp` process
    through pygls's client.
Usage: `python bench/lsp_latency.py [--actions 60] [--rounds 40]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_spec import generate  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402

from specc.compiler import compile_source  # noqa: E402
from specc.lsp.incremental import Checker  # noqa: E402
from specc.lsp.navigation import Index  # noqa: E402
from specc.lsp.positions import to_utf16  # noqa: E402
from specc.lsp.server import SpecServer  # noqa: E402

TARGET_RATIO = 0.25
TARGET_NAVIGATION_MS = 10.0


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(values) * 1000:.2f} ms (min {ordered[0] * 1000:.2f}, p95 {p95 * 1000:.2f})"


def edits(text: str, rounds: int, seed: int = 1) -> list[str]:
    """One edit per round: a character typed at the end of a line, or a new line, round the file."""
    rng = random.Random(seed)
    lines = text.split("\n")
    out = []
    for k in range(rounds):
        i = (k * 997) % (len(lines) - 2) + 1
        edited = list(lines)
        if k % 2:
            edited.insert(i, "")
        else:
            edited[i] = edited[i] + " " * rng.randint(1, 3)
        out.append("\n".join(edited))
    return out


def recheck(text: str, path: str, rounds: int) -> None:
    checker = Checker(path)
    checker.check(text)
    compile_source(text, path)
    wall: dict[str, list[float]] = {"full": [], "incremental": []}
    cpu: dict[str, list[float]] = {"full": [], "incremental": []}
    collecting = True
    parsed = 0
    for edited in edits(text, rounds):
        for side, check in (("full", compile_source), ("incremental", checker.check)):
            start, start_cpu = time.perf_counter(), time.process_time()
            check(edited, path) if side == "full" else check(edited)
            wall[side].append(time.perf_counter() - start)
            cpu[side].append(time.process_time() - start_cpu)
        collecting = collecting and gc.isenabled()
        parsed += checker.parsed
        checker.check(text)  # back to the original, so every round is one edit away
    print(f"(a) compile_source of the edited text: wall {ms(wall['full'])}")
    print(f"    incremental re-check:              wall {ms(wall['incremental'])}")
    for name, times in (("wall", wall), ("CPU", cpu)):
        ratio = statistics.median(times["incremental"]) / statistics.median(times["full"])
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"    ratio of medians, {name} time: {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})")
    print(f"    CPU time: compile_source median {statistics.median(cpu['full']) * 1000:.1f} ms, incremental "
          f"{statistics.median(cpu['incremental']) * 1000:.1f} ms; items parsed again per edit: {parsed / rounds:.1f}")
    print(f"(b) garbage collector on after every check: {'yes' if collecting else 'NO'}")


def navigation(text: str, path: str, rounds: int) -> None:
    uri = Path(path).as_uri()
    server = SpecServer()
    server.diagnose(uri, text, 1)
    analysis = server.analysis(uri, text, 1)
    index = analysis.index
    assert index is not None
    rng = random.Random(2)
    picks = [rng.choice(index.occurrences) for _ in range(rounds)]
    lines = text.split("\n")

    def at(o: object) -> lsp.Position:
        span = o.span  # type: ignore[attr-defined]
        return lsp.Position(span.line - 1, to_utf16(lines[span.line - 1], span.column + 1))

    hover, definition, first = [], [], []
    for o in picks:
        start = time.perf_counter()
        assert server.hover(uri, text, 1, at(o)) is not None
        hover.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert server.locations(uri, text, 1, at(o), True)
        definition.append(time.perf_counter() - start)
    for version, edited in enumerate(edits(text, max(5, rounds // 4)), 2):
        server.diagnose(uri, edited, version)
        start = time.perf_counter()
        server.hover(uri, edited, version, lsp.Position(0, 0))
        first.append(time.perf_counter() - start)
    start = time.perf_counter()
    Index.build(analysis.compilation.agent, lines)  # type: ignore[arg-type]
    build = time.perf_counter() - start
    ok = max(statistics.median(hover), statistics.median(definition)) * 1000 < TARGET_NAVIGATION_MS
    print(f"(c) hover:      {ms(hover)}")
    print(f"    definition: {ms(definition)}  (target < {TARGET_NAVIGATION_MS:.0f} ms: {'met' if ok else 'MISSED'})")
    print(f"    first hover after an edit, were the index not built ahead (the server builds it once the "
          f"diagnostics are out): {ms(first)}; the index alone {build * 1000:.1f} ms")


async def over_stdio(text: str, path: str, rounds: int) -> None:
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench", "1")
    arrived = asyncio.Event()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: lsp.PublishDiagnosticsParams) -> None:
        arrived.set()

    await client.start_io(sys.executable, "-c", "from specc.cli import main; main()", "lsp")
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), process_id=None))
    client.initialized(lsp.InitializedParams())
    uri = Path(path).as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="agent", version=1, text=text)))
    await asyncio.wait_for(arrived.wait(), 60)
    lines = text.split("\n")
    targets = [(n, line.index("step_")) for n, line in enumerate(lines) if "step_" in line][:rounds]
    hover, definition = [], []
    document = lsp.TextDocumentIdentifier(uri=uri)
    for n, column in targets:
        where = lsp.Position(n, column + 2)
        start = time.perf_counter()
        await client.text_document_hover_async(lsp.HoverParams(document, where))
        hover.append(time.perf_counter() - start)
        start = time.perf_counter()
        await client.text_document_definition_async(lsp.DefinitionParams(document, where))
        definition.append(time.perf_counter() - start)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    print(f"(d) over stdio, request to answer: hover {ms(hover)}; definition {ms(definition)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actions", type=int, default=60, help="actions in the generated spec (default 60)")
    parser.add_argument("--rounds", type=int, default=40, help="edits and requests to time (default 40)")
    args = parser.parse_args()
    text = generate(args.actions)
    folder = tempfile.mkdtemp(prefix="specc-lsp-bench-")
    path = os.path.join(folder, "big.agent")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"spec:    {text.count(chr(10)) + 1} lines, {args.actions} actions")
    recheck(text, path, args.rounds)
    navigation(text, path, args.rounds)
    asyncio.run(over_stdio(text, path, args.rounds))
    os.unlink(path)
    os.rmdir(folder)


if __name__ == "__main__":
    main()
