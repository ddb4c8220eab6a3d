"""The `specc` command line: every command but `check`, which is in `specc.main` with the group.

Each command imports what it needs inside its body, so `specc check` never loads the runtime or
the Docker SDK. Exit statuses are listed in each command's --help.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import click

from specc.main import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, _spec_files, main
from specc.terminal import visible

__all__ = ["main"]


def _store_option(command: Any) -> Any:
    """`--store PATH` for every command that reads or writes runs; `specc.runtime.store.locate`
    resolves it. The help is written out here so that `specc check` never imports the runtime."""
    return click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None, metavar="PATH",
                        help="The run store (default: $SPECC_STORE, else runs.db in the nearest .specc/ folder "
                             "found upward from here, else a new .specc/runs.db here).")(command)



@main.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing the files that would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print what would change as a unified diff.")
def fmt_command(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Format specs in the one canonical layout (docs/editors.md describes it).

    PATHS are `.agent` files or folders (every `.agent` below a folder); `-` formats
    standard input to standard output. Comments stay where they were and the meaning
    is unchanged; a file that does not parse is reported and left alone.
    Exit status: 0 done (with --check or --diff: nothing would change), 1 a file
    would change under --check or --diff, or does not parse, 2 usage error.

    \b
    Examples:
      specc fmt specs/
      specc fmt --check specs/        in CI or a pre-commit hook
      specc fmt --diff agent.agent
    """
    import difflib

    from specc.diagnostics import CompileError
    from specc.fmt import format_bytes
    from specc.render import text, use_colour

    if "-" in paths and len(paths) > 1:
        raise click.UsageError("`-` (standard input) cannot be formatted together with files")
    files = ["-"] if paths == ("-",) else list(_spec_files(paths))
    changed = failed = 0
    for path in files:
        try:
            data = sys.stdin.buffer.read() if path == "-" else _read_bytes(path)
            formatted = format_bytes(data, "<stdin>" if path == "-" else path)
        except CompileError as exc:
            failed += 1
            source = data.decode("utf-8", errors="replace")
            colour = use_colour(sys.stderr)
            click.echo(text(exc.diagnostics, {d.file: source for d in exc.diagnostics}, colour), err=True, color=colour)
            continue
        if path == "-" and not (check or show_diff):
            sys.stdout.write(formatted)
            continue
        if formatted.encode() == data:
            continue
        changed += 1
        if show_diff:
            old = data.decode("utf-8").splitlines(keepends=True)
            click.echo("".join(difflib.unified_diff(old, formatted.splitlines(keepends=True), path, path)), nl=False)
        if check or show_diff:
            click.echo(f"would reformat {path}", err=True)
        else:
            _write_atomically(path, formatted.encode())
            click.echo(f"reformatted {path}", err=True)
    if path_count := len(files) - (1 if files == ["-"] else 0):
        verb = "would be reformatted" if check or show_diff else "reformatted"
        tail = f", {failed} not parsed" if failed else ""
        click.echo(f"{changed} of {path_count} file{'s' if path_count != 1 else ''} {verb}{tail}", err=True)
    sys.exit(EXIT_ERRORS if failed or ((check or show_diff) and changed) else EXIT_OK)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read `{path}`: {exc.strerror}") from None


def _write_atomically(path: str, data: bytes) -> None:
    """Replace a file's content in one step, keeping its permissions: never half a spec."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".specc-fmt-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise click.ClickException(f"cannot write `{path}`: {exc.strerror}") from None


@main.command()
@click.argument("code", required=False)
@click.option("--list", "list_codes", is_flag=True, help="List every code with its name.")
def explain(code: str | None, list_codes: bool) -> None:
    """Explain a diagnostic code (`SPC003`) or name (`undefined-name`).

    \b
    Examples:
      specc explain SPC003
      specc explain unhandled-failure
      specc explain --list
    """
    from specc.codes import ALL_CODES, lookup
    from specc.diagnostics import did_you_mean
    from specc.explanations import section

    if list_codes or code is None:
        if code is None and not list_codes:
            raise click.UsageError("give a code such as `SPC003`, or `--list`")
        for c in ALL_CODES:
            click.echo(f"{c.code}  {c.name:<26} {c.severity.value:<8} {c.summary}")
        return
    found = lookup(code)
    if found is None:
        hint = did_you_mean(code, {c.code for c in ALL_CODES} | {c.name for c in ALL_CODES})
        raise click.UsageError(f"`{code}` is not a diagnostic code" + (f"; {hint}" if hint else "")
                               + " (`specc explain --list` lists them)")
    click.echo(section(found))


@main.command()
@click.option("--debounce", type=click.IntRange(0, 5000), default=150, show_default=True, metavar="MS",
              help="How long a document rests after an edit before it is checked again.")
def lsp(debounce: int) -> None:
    """Run the language server over stdin and stdout, for editors.

    Diagnostics as you type (each with its code and a link to its docs), hover,
    go to definition, references, completion, quick fixes and formatting for
    `.agent` files. Point the editor's LSP client at `specc lsp`; docs/editors.md
    shows how. Needs the `lsp` extra: `pip install 'specc[lsp]'`.
    """
    try:
        from specc.lsp.server import serve
    except ImportError as exc:
        raise click.ClickException(
            f"`specc lsp` needs pygls, which is not installed ({exc.msg}); install it with `pip install 'specc[lsp]'`"
        ) from None
    serve(debounce / 1000)


@main.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False),
              help="Where to write the IR (default: SPEC with the extension .ir.json; `-` for stdout).")
def build(spec: str, out: str | None) -> None:
    """Compile SPEC to its IR, the sealed artifact `specc run` executes.

    Nothing is written when the spec has errors (exit 1). The output is
    deterministic: the same spec gives the same bytes.

    \b
    Examples:
      specc build specs/invoice/invoice.agent
      specc build agent.agent -o build/agent.ir.json
    """
    from specc.compiler import compile_source
    from specc.ir import to_bytes
    from specc.render import summary, text, use_colour

    if not os.path.isfile(spec):
        raise click.UsageError(f"`{spec}` does not exist" if not os.path.exists(spec) else f"`{spec}` is not a file")
    with open(spec, "rb") as handle:
        result = compile_source(handle.read(), spec)
    colour = use_colour(sys.stderr)
    if result.diagnostics:
        click.echo(text(result.diagnostics, {spec: result.source}, colour), err=True)
    if result.has_errors:
        click.echo(summary(result.diagnostics, 1, colour) + "; no IR written", err=True)
        sys.exit(EXIT_ERRORS)
    data = to_bytes(result.ir)
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target = out or (spec[: -len(".agent")] if spec.endswith(".agent") else spec) + ".ir.json"
    tmp = target + ".tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise click.UsageError(f"cannot write `{target}`: {exc.strerror}") from None
    click.echo(f"wrote {target} ({len(data)} bytes, {result.ir.hash[:19]})", err=True)


def _read_input(value: str | None) -> str | bytes:
    """The input as given: JSON text, or the bytes of @FILE (decoded strictly later)."""
    from specc.runtime.values import MAX_JSON_BYTES

    if value is None:
        return "{}"
    if value.startswith("@"):
        path = value[1:]
        try:
            size = os.path.getsize(path)
            if size > MAX_JSON_BYTES:
                _fail(f"input rejected: the input file `{path}` is {size:,} bytes, more than the "
                      f"{MAX_JSON_BYTES:,} bytes allowed; nothing was run", EXIT_USAGE)
            with open(path, "rb") as handle:
                return handle.read(MAX_JSON_BYTES + 1)
        except OSError as exc:
            raise click.UsageError(f"cannot read the input file `{path}`: {exc.strerror}") from None
    return value


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {visible(message)}", err=True)
    sys.exit(code)


@main.command()
@click.argument("spec_or_ir", type=click.Path(dir_okay=False))
@click.option("--input", "input_value", metavar="JSON|@FILE", help="The run's input: JSON text, or @FILE to read it.")
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Stream events as JSON lines on stdout instead of progress.")
@click.option("--approval-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="An approval nobody decides within this many seconds counts as denied.")
@click.option("--egress-network", metavar="NAME",
              help="An existing Docker network the egress proxies reach declared hosts through.")
@click.option("--trust-network", "trusted", multiple=True, metavar="CIDR",
              help="Private addresses (e.g. 10.20.0.0/16) the declared hosts may resolve to; repeatable.")
def run(spec_or_ir: str, input_value: str | None, store_path: str | None, as_json: bool,
        approval_timeout: float | None, egress_network: str | None, trusted: tuple[str, ...]) -> None:
    """Run an agent (its workflow, or its planner), each action in its own hardened container.

    SPEC_OR_IR is an `.agent` file (compiled first; refused if it has errors) or
    an IR written by `specc build`. The input is checked against the agent's
    `input` contract before anything runs.

    \b
    Exit status: 0 succeeded, 1 failed (a handler aborted), 2 usage error or
    input rejected, 3 paused (awaiting approval or escalated), 4 the spec has
    errors, 5 the sandbox is unavailable, 130 interrupted.

    \b
    Examples:
      specc run specs/file_pipeline/file_pipeline.agent --input @specs/file_pipeline/input.json
      specc run build/agent.ir.json --input '{"file": "march.csv"}' --json
    """
    from specc.runtime.run import EXIT_SPEC, preflight
    from specc.runtime.values import ValueRejected

    ir = _load_for_run(spec_or_ir, EXIT_SPEC)
    if ir.workflow is None and ir.planner is None:
        _fail(f"agent `{ir.agent}` has neither a `workflow` nor a `planner`: it only declares tools, which "
              "`specc serve` serves (nothing was run)", EXIT_USAGE)
    raw = _read_input(input_value)
    options = _run_options(approval_timeout, egress_network, trusted)
    try:
        value = preflight(ir, raw, os.environ)
    except ValueRejected as exc:
        _fail(_refusal(exc, ir, spec_or_ir, input_value), EXIT_USAGE)
    store = _open_store(store_path)
    _execute(ir, store, options, as_json=as_json, start=lambda backend, **kw: _start(ir, store, backend, value,
                                                                                    options, **kw))


def _run_options(approval_timeout: float | None, egress_network: str | None, trusted: tuple[str, ...]) -> Any:
    import ipaddress

    from specc.runtime.run import RunOptions

    for cidr in trusted:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise click.BadParameter(f"`{cidr}` is not a network such as 10.20.0.0/16",
                                     param_hint="--trust-network") from None
    return RunOptions(approval_timeout, egress_network, trusted)


def _refusal(exc: Exception, ir: Any, spec: str, input_value: str | None) -> str:
    """Why `specc run` refused before anything ran: the machine is not ready, or the input breaks
    the agent's `input` contract (then where that contract is written, and how to pass an input)."""
    from specc.runtime.values import HostNotReady

    if isinstance(exc, HostNotReady):
        return f"this machine is not ready to run `{ir.agent}`: {exc}; nothing was run"
    text = str(exc)
    if text.startswith("`input"):
        if input_value is None:
            text += ("; no --input was given: pass the run's input as JSON, `--input '{\"field\": ...}'`, "
                     "or from a file, `--input @input.json`")
        text += f" (the `input` contract: {_input_line(spec, ir)})"
    return f"input rejected: {text}; nothing was run"


def _input_line(spec: str, ir: Any) -> str:
    """Where the agent's `input` block is written: `FILE:LINE` for a spec, the file for an IR."""
    import re

    if not spec.endswith(".json"):
        try:
            with open(spec, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle, 1):
                    if re.match(r"\s*input\s*\{", line):
                        return f"{spec}:{number}"
        except OSError:
            pass
        return spec
    return f"the `input` block of `{ir.source.file}`"


def _start(ir: Any, store: Any, backend: Any, value: Any, options: Any, **kwargs: Any) -> Any:
    from specc.runtime.run import Run

    return Run.start(ir, store, backend, value, options=options, **kwargs)


def _open_store(store_path: str | None, *, existing: bool = False) -> Any:
    """The run store (`specc.runtime.store.locate`); with `existing`, a missing one is an error."""
    from specc.runtime.store import RunStore, StoreError, locate

    where = locate(store_path)
    if existing and not where.exists:
        _fail(f"no run store at {where.described()}; give `--store PATH` or set ${_store_env()}", EXIT_USAGE)
    try:
        return RunStore(where.path)
    except StoreError as exc:
        _fail(str(exc), EXIT_USAGE)


def _store_env() -> str:
    from specc.runtime.store import STORE_ENV

    return STORE_ENV


def _backend(options: Any) -> Any:
    """The backend a run's attempts execute on: the local Docker engine."""
    from specc.runtime.docker_backend import DockerBackend

    return DockerBackend(egress_upstream=options.egress_upstream, trusted_networks=options.trusted_networks)


def _execute(ir: Any, store: Any, options: Any, *, as_json: bool, start: Any) -> NoReturn:
    """Check the backend, start (or continue) the run, run its workflow, print the result and the
    last line."""
    import signal

    from specc.runtime.backend import BackendUnavailable
    from specc.runtime.progress import Human, JsonLines
    from specc.runtime.run import EXIT_SANDBOX
    from specc.runtime.store import StoreError
    from specc.runtime.workflow import run_workflow

    if ir.planner is not None:
        from specc.runtime.run import endpoint_problem

        missing = [n for n in (ir.planner.endpoint_env, ir.planner.api_key_env) if n and not os.environ.get(n)]
        if missing:
            store.close()
            _fail(f"the planner needs env var `{missing[0]}`, which is not set; nothing was run", EXIT_USAGE)
        problem = endpoint_problem(os.environ[ir.planner.endpoint_env])
        if problem is not None:
            store.close()
            _fail(f"env var `{ir.planner.endpoint_env}` {problem}; nothing was run", EXIT_USAGE)
    listener = JsonLines() if as_json else Human()
    prompt = None
    if not as_json and sys.stdin.isatty() and sys.stderr.isatty():
        prompt = _terminal_prompt(ir, options.approval_timeout_s)
    backend = _backend(options)
    try:
        backend.check(a.image for a in ir.actions.values())
        backend.reap()
    except BackendUnavailable as exc:
        store.close()
        _fail(f"{exc}; nothing was run", EXIT_SANDBOX)
    _check_programs(ir, store, backend)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        with backend:
            run = start(backend, listener=listener, prompt=prompt)
            if ir.planner is not None:
                from specc.runtime.planner import model_client, run_planner

                client = model_client(ir, dict(os.environ))
                try:
                    outcome = run_planner(run, client)
                finally:
                    client.close()
            else:
                outcome = run_workflow(run)
    except StoreError as exc:
        _fail(f"{exc}; the run stopped before its next action", EXIT_USAGE)
    except BackendUnavailable as exc:
        _fail(f"{exc}; the run stopped", EXIT_SANDBOX)
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
        store.close()
    if outcome.status == "succeeded" and not as_json:
        click.echo(visible(json.dumps(outcome.result, indent=2, ensure_ascii=False), lines=True))
    click.echo(visible(_last_line(outcome)), err=True)
    sys.exit(outcome.exit_code)


def _check_programs(ir: Any, store: Any, backend: Any) -> None:
    """Every program the run can start is there (each image's PATH searched once), or exit 4."""
    from specc.runtime.programs import ProgramFinder
    from specc.runtime.run import EXIT_SPEC, reachable_actions

    if isinstance(backend, ProgramFinder):
        missing = backend.missing_programs(reachable_actions(ir))
        if missing:
            store.close()
            _fail(f"the spec cannot run here: {missing[0].message()}; nothing was run", EXIT_SPEC)


def _terminal_prompt(ir: Any, timeout_s: float | None) -> Any:
    """Ask a person on the terminal; the default answer, and silence past the timeout, is deny."""

    def ask(step: str, action: Any, arguments: Any) -> tuple[bool, str | None]:
        import select

        click.echo("", err=True)
        click.echo(visible(f"approval needed for step `{step}`: action `{action.name}`"), err=True)
        if ir.description:
            click.echo(visible(f"  agent:     {ir.agent}: {ir.description}"), err=True)
        click.echo(f"  effect:    {action.effect}    risk: {action.risk}", err=True)
        shown = visible(json.dumps(arguments, indent=2, ensure_ascii=False), lines=True)
        click.echo("  arguments: " + shown.replace("\n", "\n  "), err=True)
        click.echo("approve? [y/N] ", err=True, nl=False)
        if timeout_s is not None:
            ready, _, _ = select.select([sys.stdin], [], [], timeout_s)
            if not ready:
                click.echo("\nno answer in time: denied", err=True)
                return False, f"no answer within {timeout_s:g}s"
        answer = sys.stdin.readline().strip().lower()
        approved = answer in ("y", "yes")
        click.echo("approved" if approved else "denied", err=True)
        return approved, None

    return ask


@main.command()
@click.argument("spec_or_ir", type=click.Path(dir_okay=False))
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="stdio: one client, which starts this command; http: streamable HTTP at /mcp.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="HTTP: the address to listen on; one off the loopback needs --allow-remote.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="HTTP: the port; 0 takes a free one (the address is printed on stderr).")
@click.option("--allow-remote", is_flag=True,
              help="HTTP: listen off the loopback; needs --token-env.")
@click.option("--token-env", metavar="VAR",
              help="HTTP: the env var holding the bearer token every request must carry.")
@click.option("--approvals", type=click.Choice(["out-of-band", "elicit"]), default="out-of-band",
              show_default=True,
              help="out-of-band: a person decides with `specc approve`; elicit: the client asks its user.")
@_store_option
@click.option("--egress-network", metavar="NAME",
              help="An existing Docker network the egress proxies reach declared hosts through.")
@click.option("--trust-network", "trusted", multiple=True, metavar="CIDR",
              help="Private addresses (e.g. 10.20.0.0/16) the declared hosts may resolve to; repeatable.")
def serve(spec_or_ir: str, transport: str, host: str, port: int, allow_remote: bool, token_env: str | None,
          approvals: str, store_path: str | None, egress_network: str | None, trusted: tuple[str, ...]) -> None:
    """Serve the agent's actions as MCP tools, every call under the spec's guards.

    Each action is a tool with its contracts as schemas. A call is checked
    against its contract and scope, needs the approvals the spec asks for, runs
    in its own hardened container, and is handled and recorded exactly as in
    `specc run`. One MCP session is one run: `specc show RUN` lists its calls,
    and the agent's `limits` bound the session. Logs go to stderr.

    \b
    Exit status: 0 stopped, 2 usage error, 4 the spec has errors,
    5 the sandbox is unavailable.

    \b
    Examples:
      specc serve specs/support_desk/support_desk.agent
      specc serve agent.agent --transport http --port 8765
      SPECC_TOKEN=... specc serve agent.agent --transport http --host 0.0.0.0 \\
          --allow-remote --token-env SPECC_TOKEN
    """
    from specc.runtime.run import EXIT_SANDBOX, EXIT_SPEC

    ir = _load_for_run(spec_or_ir, EXIT_SPEC)
    token = None
    if transport == "http":
        from specc.runtime.serve import LOOPBACK

        if host not in LOOPBACK and not allow_remote:
            raise click.BadParameter(f"`{host}` is not the loopback: serving off it needs --allow-remote and "
                                     "--token-env", param_hint="--host")
        if allow_remote and not token_env:
            raise click.UsageError("--allow-remote needs --token-env VAR: the env var with the bearer token "
                                   "every request must carry")
    if token_env:
        token = os.environ.get(token_env, "")
        if len(token) < 16:
            raise click.UsageError(f"env var `{token_env}` must hold the bearer token, at least 16 characters "
                                   f"(it holds {len(token)}); for example `export {token_env}=$(openssl rand -hex 32)`")
    options = _run_options(None, egress_network, trusted)
    from specc.runtime.serve import ServeConfig, SpecServer, check_server

    store = _open_store(store_path)
    store.close()
    config = ServeConfig(ir=ir, store_path=store.path, backend=lambda: _backend(options),
                         approvals=approvals,  # type: ignore[arg-type]
                         options=options, env=dict(os.environ), store_hint=store_path,
                         transport=transport)  # type: ignore[arg-type]
    problem, code = check_server(config)
    if problem is not None:
        _fail(f"{problem}; nothing was served", EXIT_SANDBOX if code == "sandbox" else EXIT_USAGE)
    _serve(SpecServer(config), transport, host, port, token)


def _serve(server: Any, transport: str, host: str, port: int, token: str | None) -> NoReturn:
    import anyio

    from specc.runtime.serve import serve_http, serve_stdio

    config = server.config
    tools = ", ".join(sorted(config.ir.actions))
    intro = (f"specc serve: agent `{config.ir.agent}`, tools {tools}; approvals {config.approvals}; "
             f"each session is a run in {config.store_path}")

    def announce(address: str) -> None:
        click.echo(f"{intro}\nspecc serve: listening on {address}", err=True)

    try:
        if transport == "stdio":
            click.echo(intro + "; serving on stdio", err=True)
            anyio.run(serve_stdio, server)
        else:
            anyio.run(lambda: serve_http(server, host=host, port=port, token=token, announce=announce))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)
    sys.exit(0)


@main.command()
@click.argument("spec_or_ir", required=False, type=click.Path(dir_okay=False))
@click.option("--inputs", metavar="FILE.jsonl", type=click.Path(dir_okay=False),
              help="One input per line (JSON); a line that is not valid is reported and skipped.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True,
              help="At most this many runs at once.")
@click.option("--resume", "resume_id", is_flag=False, flag_value="", default=None, metavar="[BATCH]",
              help="Finish a batch that was stopped or killed (the store's last unfinished one when no id "
                   "is given); no finished run runs again.")
@_store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON line per finished run, then the summary, on stdout.")
@click.option("--backend", "backend_name", type=click.Choice(["docker", "ray"]), default="docker",
              show_default=True, help="docker: the local engine; ray: the nodes of a Ray cluster (--address).")
@click.option("--address", metavar="ADDR", help="Ray: the cluster's address (e.g. 10.0.0.5:6379, or `auto`).")
@click.option("--egress-network", metavar="NAME",
              help="An existing Docker network the egress proxies reach declared hosts through.")
@click.option("--trust-network", "trusted", multiple=True, metavar="CIDR",
              help="Private addresses (e.g. 10.20.0.0/16) the declared hosts may resolve to; repeatable.")
def batch(spec_or_ir: str | None, inputs: str | None, concurrency: int, resume_id: str | None,
          store_path: str | None, as_json: bool, backend_name: str, address: str | None,
          egress_network: str | None, trusted: tuple[str, ...]) -> None:
    """Run an agent once per input line, at most N runs at once.

    Each line's run is a normal durable run in the store, tagged with the
    batch; `specc runs --batch BATCH` lists them, `specc show RUN` shows one.
    The batch's id is the first line printed on stderr: after a kill,
    `specc batch --resume BATCH` finishes what is left. At the end a summary
    gives the statuses, the failure kinds, the slowest actions and the runs
    waiting for a person.

    \b
    Exit status: 0 every run succeeded, 1 a run failed or a line was bad,
    2 usage error, 3 a run waits for a person, 4 the spec has errors,
    5 the sandbox is unavailable, 130 stopped before the end.

    \b
    Examples:
      specc batch specs/refund/refund.agent --inputs tickets.jsonl --concurrency 8
      specc batch --resume
      specc batch agent.agent --inputs day.jsonl --backend ray --address auto
    """
    from specc.runtime.batch import BatchRefused, claim_batch, create, new_batch_id
    from specc.runtime.run import EXIT_SANDBOX, EXIT_SPEC

    if resume_id is None and (spec_or_ir is None or inputs is None):
        raise click.UsageError("give SPEC and --inputs FILE.jsonl, or --resume [BATCH]")
    if resume_id is not None and inputs is not None:
        raise click.UsageError("--resume takes the batch's own inputs; --inputs starts a new batch")
    if backend_name == "ray" and not address:
        raise click.UsageError("--backend ray needs --address (the cluster's, or `auto`)")
    options = _run_options(None, egress_network, trusted)
    backend_factory = _batch_backend(backend_name, address, options)
    store = _open_store(store_path, existing=resume_id is not None)
    problems: list[tuple[int, str]] = []
    try:
        if resume_id is None:
            assert spec_or_ir is not None and inputs is not None
            batch_id = new_batch_id()
            click.echo(f"batch {batch_id}", err=True)  # first, so that a killed batch can be found again
            ir = _load_for_run(spec_or_ir, EXIT_SPEC)
            if ir.workflow is None and ir.planner is None:
                _fail(f"agent `{ir.agent}` has neither a `workflow` nor a `planner`; nothing to run", EXIT_USAGE)
            _check_batch_host(ir, backend_factory)
            record, problems = create(store, ir, os.path.abspath(spec_or_ir), os.path.abspath(inputs), concurrency,
                                      dict(os.environ), batch_id=batch_id)
            for line, reason in problems:
                click.echo(visible(f"{inputs}:{line}: skipped: {reason}"), err=True)
        else:
            record = claim_batch(store, resume_id or None)
            click.echo(f"batch {record.id} (resumed)", err=True)
            _check_batch_host(_ir_of(record), backend_factory)
            problems = [(i.line, i.problem) for i in store.batch_items(record.id) if i.problem]
    except BatchRefused as exc:
        store.close()
        _fail(str(exc), EXIT_USAGE)
    except _SandboxMissing as exc:
        store.close()
        _fail(f"{exc}; nothing was run", EXIT_SANDBOX)
    finally:
        path = store.path
        store.close()
    _run_batch(path, record, backend_factory, options, problems, as_json)


class _SandboxMissing(Exception):
    pass


def _ir_of(record: Any) -> Any:
    from specc.runtime.ir_loader import load_ir

    return load_ir(record.ir.encode(), record.id)


def _batch_backend(name: str, address: str | None, options: Any) -> Any:
    if name == "ray":
        from specc.runtime.ray_backend import RayBackend

        return lambda: RayBackend(address or "auto", egress_upstream=options.egress_upstream,
                                  trusted_networks=options.trusted_networks)
    return lambda: _backend(options)


def _check_batch_host(ir: Any, backend_factory: Any) -> None:
    from specc.runtime.backend import BackendUnavailable

    backend = backend_factory()
    try:
        backend.check(a.image for a in ir.actions.values())
        backend.reap()
    except BackendUnavailable as exc:
        raise _SandboxMissing(str(exc)) from None
    finally:
        backend.close()


def _run_batch(store_path: str, record: Any, backend_factory: Any, options: Any, problems: list[tuple[int, str]],
               as_json: bool) -> NoReturn:
    import signal
    import time as _time

    from specc.runtime.batch import Batch, Progress, Summary
    from specc.runtime.planner import model_client
    from specc.runtime.store import StoreError

    env = dict(os.environ)

    def on_line(outcome: Any) -> None:
        if as_json:
            click.echo(json.dumps({"line": outcome.line, "run_id": outcome.run_id, "status": outcome.status,
                                   "reason": outcome.reason}, ensure_ascii=False))

    runner = Batch(store_path, record, backend_factory, options=options, env=env,
                   planner=lambda ir: model_client(ir, env), on_line=on_line)
    total = len([1 for _ in _items_to_count(store_path, record.id)])
    progress = Progress(total=total)
    stopping = {"asked": False}

    def stop(signum: int, frame: object) -> None:
        if not stopping["asked"]:
            stopping["asked"] = True
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    started = _time.monotonic()
    display = _BatchDisplay(progress, enabled=not as_json)
    try:
        with display:
            outcomes, interrupted = runner.run(progress)
    except StoreError as exc:
        _fail(f"{exc}; `specc batch --resume {record.id}` goes on once the store is readable", EXIT_USAGE)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    summary = Summary(record, outcomes, problems, interrupted, _time.monotonic() - started)
    _print_summary(store_path, summary, as_json)
    sys.exit(summary.exit_code)


def _items_to_count(store_path: str, batch_id: str) -> list[Any]:
    from specc.runtime.store import RunStore

    with RunStore(store_path) as store:
        return [i for i in store.batch_items(batch_id) if i.problem is None]


class _BatchDisplay:
    """The live progress of a batch on stderr: a bar on a terminal, a line every few seconds
    otherwise; nothing with --json."""

    def __init__(self, progress: Any, *, enabled: bool) -> None:
        self.progress = progress
        self.enabled = enabled
        self._stop = None if not enabled else __import__("threading").Event()
        self._thread: Any = None

    def __enter__(self) -> _BatchDisplay:
        if self.enabled:
            import threading

            self._thread = threading.Thread(target=self._show, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=2)

    def line(self) -> str:
        import time as _time

        p = self.progress
        with p.lock:
            done, counts, running = p.finished(), dict(p.counts), p.running
        elapsed = _time.monotonic() - p.started
        rate = done / elapsed * 60 if elapsed > 0 else 0.0
        eta = (p.total - done) / (done / elapsed) if done and elapsed > 0 else None
        paused = counts.get("awaiting-approval", 0) + counts.get("escalated", 0)
        return (f"{done}/{p.total} done: {counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
                f"{paused} paused, {running} running; {rate:.1f} runs/min"
                + (f", ETA {eta:.0f}s" if eta is not None else ""))

    def _show(self) -> None:
        assert self._stop is not None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            with Live(console=Console(stderr=True), refresh_per_second=4, transient=True) as live:
                while not self._stop.wait(0.25):
                    live.update(self.line())
            return
        while not self._stop.wait(5):
            click.echo(self.line(), err=True)


def _print_summary(store_path: str, summary: Any, as_json: bool) -> None:
    from collections import Counter

    from specc.runtime.batch import failure_kinds, slowest_actions
    from specc.runtime.store import RunStore

    outcomes = summary.outcomes
    statuses = Counter(o.status for o in outcomes)
    run_ids = [o.run_id for o in outcomes if o.run_id]
    with RunStore(store_path) as store:
        kinds = failure_kinds(store, [o.run_id for o in outcomes if o.status == "failed" and o.run_id])
        slow = slowest_actions(store, run_ids)
    waiting = [o for o in outcomes if o.status in ("awaiting-approval", "escalated")]
    if as_json:
        click.echo(json.dumps({
            "batch": summary.batch.id, "lines": len(outcomes) + len(summary.problems), "statuses": dict(statuses),
            "bad_lines": [{"line": n, "reason": r} for n, r in summary.problems], "failure_kinds": dict(kinds),
            "slowest_actions": [{"action": a, "attempts": n, "p50_s": round(p50, 3), "max_s": round(m, 3)}
                                for a, n, p50, m in slow],
            "waiting": [{"line": o.line, "run_id": o.run_id, "status": o.status} for o in waiting],
            "seconds": round(summary.seconds, 3), "stopped": summary.interrupted}, ensure_ascii=False))
        return
    click.echo(f"batch {summary.batch.id}: {len(outcomes)} runs, {len(summary.problems)} bad lines, "
               f"{summary.seconds:.1f}s" + (" (stopped: `specc batch --resume "
                                           f"{summary.batch.id}` finishes it)" if summary.interrupted else ""))
    for status, count in statuses.most_common():
        click.echo(f"  {status:<18} {count:>6}")
    if kinds:
        click.echo("failure kinds: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    if slow:
        click.echo("slowest actions (per attempt):")
        for action, attempts, p50, longest in slow:
            click.echo(f"  {action:<24} {attempts:>6} attempts  p50 {p50:.2f}s  max {longest:.2f}s")
    for outcome in waiting[:20]:
        verb = "specc approve" if outcome.status == "awaiting-approval" else "specc resolve"
        click.echo(f"waiting for a person: line {outcome.line}: run {outcome.run_id} ({outcome.status}; "
                   f"`{verb} {outcome.run_id}`, then `specc batch --resume {summary.batch.id}`)")
    if len(waiting) > 20:
        click.echo(f"... and {len(waiting) - 20} more (`specc runs --batch {summary.batch.id}`)")


def _load_for_run(path: str, exit_spec: int) -> Any:
    from specc.compiler import compile_source
    from specc.render import summary, text, use_colour

    if not os.path.isfile(path):
        raise click.UsageError(f"`{path}` does not exist" if not os.path.exists(path) else f"`{path}` is not a file")
    with open(path, "rb") as handle:
        data = handle.read()
    if path.endswith(".json"):
        from specc.runtime.ir_loader import IRRejected, load_ir

        try:
            return load_ir(data, path)
        except IRRejected as exc:
            _fail(str(exc), exit_spec)
    result = compile_source(data, path)
    if result.has_errors:
        colour = use_colour(sys.stderr)
        click.echo(text(result.diagnostics, {path: result.source}, colour), err=True)
        _fail(f"{summary(result.diagnostics, 1, colour)}; fix them, then run again (nothing was run)", exit_spec)
    return result.ir


def _last_line(outcome: Any) -> str:
    run_id, where = outcome.run_id, f" at step `{outcome.step}`" if outcome.step else ""
    if outcome.status == "succeeded":
        return f"run {run_id} succeeded; `specc show {run_id}` shows every step"
    if outcome.status == "escalated":
        return (f"run {run_id} paused{where}: {outcome.reason}; a person decides with "
                f"`specc resolve {run_id} --retry | --abort | --result JSON`")
    if outcome.status == "awaiting-approval":
        return (f"run {run_id} is waiting{where}: {outcome.reason}; decide with `specc approve {run_id}` "
                f"(or `--deny`), then `specc resume {run_id}`")
    if outcome.status == "interrupted":
        return f"run {run_id} was interrupted{where}; no container is left; `specc show {run_id}` shows how far it got"
    return f"run {run_id} failed{where}: {outcome.reason}; `specc show {run_id}` shows the trace"


@main.command("test")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--backend", type=click.Choice(["stub", "docker"]), default="stub", show_default=True,
              help="stub: no Docker, failures simulated at the backend boundary; docker: real containers.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True,
              help="A matrix on a terminal, the JSON report, or JUnit XML for CI.")
@click.option("--only", "only", metavar="ACTION", help="Only the cases of this action.")
@click.option("--input", "input_value", metavar="JSON|@FILE",
              help="The run's input (default: input.json beside the spec, else a sample of the contract).")
@click.option("--scenarios", "scenarios_path", type=click.Path(dir_okay=False),
              help="A scenario file (default: SPEC's name with .scenarios.json, when it exists).")
def test_command(spec: str, backend: str, fmt: str, only: str | None, input_value: str | None,
                 scenarios_path: str | None) -> None:
    """Test the unhappy paths: inject every failure the spec handles, compare with its handlers.

    For each action a run can reach and each failure kind (timeout, error,
    crash, invalid_output, uncertain, sandbox; denied where it needs
    approval; the run's budget), the failure is injected once and always,
    the agent runs with every other action answering a canned result, and
    what happened is compared with what the spec declares: attempts,
    backoffs, fallbacks, pauses and failures with their reasons. Scenarios
    written beside the spec run too (docs/testing.md).

    \b
    Exit status: 0 every case holds, 1 a case differs (or the spec has
    errors), 2 usage error, 5 Docker unavailable (--backend docker).

    \b
    Examples:
      specc test specs/refund/refund.agent
      specc test specs/refund/refund.agent --backend docker --only issue_refund
      specc test agent.agent --format junit > specc-test.xml
    """
    from pathlib import Path

    from specc.runtime import spectest
    from specc.runtime.backend import BackendUnavailable
    from specc.runtime.run import EXIT_SANDBOX
    from specc.runtime.values import ValueRejected, parse_json, validate

    ir = _load_for_run(spec, EXIT_ERRORS)
    if only is not None and only not in ir.actions:
        from specc.diagnostics import did_you_mean

        hint = did_you_mean(only, set(ir.actions))
        raise click.UsageError(f"`{only}` is not an action of `{ir.agent}`" + (f"; {hint}" if hint else ""))
    spec_path = Path(spec)
    if input_value is None and (spec_path.parent / "input.json").exists():
        input_value = "@" + str(spec_path.parent / "input.json")
    try:
        value = parse_json(_read_input(input_value), "the input") if input_value else spectest.sample_input(ir)
        if ir.input_schema is not None:
            validate(value, ir.input_schema, "input")
        scenario_file = Path(scenarios_path) if scenarios_path else spec_path.with_suffix(".scenarios.json")
        if scenarios_path and not scenario_file.exists():
            raise click.UsageError(f"`{scenarios_path}` does not exist")
        canned, scenarios = spectest.load_scenarios(scenario_file, ir) if scenario_file.exists() \
            else (spectest.canned_results(ir), [])
        if backend == "docker":
            from specc.runtime.docker_backend import DockerBackend

            def make() -> Any:
                return DockerBackend()

            probe = DockerBackend()
            probe.check(a.image for a in ir.actions.values())
            probe.reap()
        else:
            from specc.runtime.stub_backend import StubBackend

            def make() -> Any:
                return StubBackend()

        target = spectest.Target(ir, value, canned, make, docker=backend == "docker")
        results = spectest.run_all(target, only)
        scenario_results = [spectest.run_scenario(target, s) for s in scenarios] if only is None else []
    except ValueRejected as exc:
        _fail(f"input rejected: {exc}; nothing was run", EXIT_USAGE)
    except spectest.SpecTestError as exc:
        _fail(str(exc), EXIT_USAGE)
    except BackendUnavailable as exc:
        _fail(f"{exc}; nothing was run", EXIT_SANDBOX)
    failed = sum(not r.ok for r in results) + sum(not s.ok for s in scenario_results)
    if fmt == "json":
        click.echo(json.dumps(spectest.report_json(results, scenario_results), indent=2, ensure_ascii=False))
    elif fmt == "junit":
        click.echo(spectest.report_junit(ir.agent, results, scenario_results))
    else:
        _print_matrix(ir, results, scenario_results)
    total = len(results) + len(scenario_results)
    verdict = "every case holds" if not failed else f"{failed} of {total} cases differ from the spec"
    click.echo(f"{ir.agent}: {total} cases ({len(scenario_results)} scenarios), {verdict} "
               f"[{backend} backend]", err=True)
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


def _print_matrix(ir: Any, results: Any, scenarios: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from specc.runtime.spectest import INJECTED

    def shown(text: str) -> str:
        return escape(visible(text))

    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    kinds = [*INJECTED, "denied", "budget"]
    table = Table(title=f"specc test {ir.agent}: each cell is once/always (. holds, X differs, - not a case)")
    table.add_column("action")
    for kind in kinds:
        table.add_column(kind, justify="center")
    rows: dict[str, dict[str, str]] = {}
    for r in results:
        cells = rows.setdefault(r.case.action, {})
        cells[r.case.kind] = cells.get(r.case.kind, "") + ("." if r.ok else "X")
    for action, cells in rows.items():
        table.add_row(action, *(cells.get(kind, "-") for kind in kinds))
    console.print(table)
    for s in scenarios:
        console.print(f"scenario {s.scenario.name}: " + ("holds" if s.ok else "DIFFERS"))
    for r in results:
        if not r.ok:
            console.print(f"\n[bold red]{shown(r.case.name)}[/]")
            console.print(f"  declared: {shown(json.dumps(r.expected.shown(), ensure_ascii=False))}")
            console.print(f"  observed: {shown(json.dumps(r.observed.shown(), ensure_ascii=False))}")
            for problem in r.problems:
                console.print(f"  - {shown(problem)}")
    for s in scenarios:
        if not s.ok:
            console.print(f"\n[bold red]scenario {shown(s.scenario.name)}[/]")
            for problem in s.problems:
                console.print(f"  - {shown(problem)}")


@main.command()
@click.argument("run_id")
@click.option("--deny", is_flag=True, help="Refuse instead of approving.")
@click.option("--reason", help="Why; recorded with the decision.")
@click.option("--call", type=click.IntRange(min=1), metavar="N",
              help="The call to decide, when an MCP session of `specc serve` waits for several.")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Decide without asking to confirm on a terminal.")
@_store_option
def approve(run_id: str, deny: bool, reason: str | None, call: int | None, assume_yes: bool,
            store_path: str | None) -> None:
    """Approve (or --deny) the action a paused run waits for.

    It shows what it decides (step, action, arguments, effect, risk) and, on
    a terminal, asks to confirm (--yes skips the question). The decision is
    recorded with who and when, bound to the spec version, the step and
    those exact arguments; it applies to nothing else and only once.
    `specc resume RUN` then continues the run.

    \b
    Exit status: 0 decided, 1 not confirmed (nothing decided), 2 usage error
    or no such pending approval.
    """
    from specc.runtime.decisions import DecisionRefused, approval_to_decide, decide_approval
    from specc.runtime.store import StoreError

    with _open_store(store_path, existing=True) as store:
        try:
            asked = approval_to_decide(store, run_id, call)
            _show_approval(asked)
            if not assume_yes and sys.stdin.isatty() and sys.stderr.isatty() and not click.confirm(
                    f"{'deny' if deny else 'approve'} it?", default=False, err=True):
                _fail("nothing was decided; the run still waits", EXIT_ERRORS)
            decision = decide_approval(store, run_id, approved=not deny, reason=reason, call=call,
                                       digest=asked.digest)
            record = store.find(run_id)
        except (DecisionRefused, StoreError) as exc:
            _fail(str(exc), EXIT_USAGE)
    verdict = "denied" if deny else "approved"
    if record.status == "running":  # an MCP session of `specc serve`: its client calls again
        click.echo(f"{verdict} `{decision.action}` at call {decision.index} of run {record.id}; the same call with the "
                   "same arguments, made again in that MCP session, uses the decision once")
    else:
        click.echo(f"{verdict} `{decision.action}` for run {record.id}; `specc resume {record.id}` continues it")


def _show_approval(asked: Any) -> None:
    """What `specc approve` is about to decide, on stderr."""
    click.echo(visible(f"step `{asked.step}` waits for approval of action `{asked.action}`"), err=True)
    click.echo(f"  effect:    {asked.effect}    risk: {asked.risk}", err=True)
    shown = visible(json.dumps(asked.arguments, indent=2, ensure_ascii=False), lines=True)
    click.echo("  arguments: " + shown.replace("\n", "\n  "), err=True)


@main.command()
@click.argument("run_id")
@click.option("--retry", "decision", flag_value="retry", help="Run the escalated step again.")
@click.option("--abort", "decision", flag_value="abort", help="End the run as failed.")
@click.option("--result", "result", metavar="JSON",
              help="Supply the step's result yourself (checked against its contract).")
@click.option("--reason", help="Why; recorded with the decision.")
@_store_option
def resolve(run_id: str, decision: str | None, result: str | None, reason: str | None,
            store_path: str | None) -> None:
    """Decide an escalated run: --retry, --abort, or --result JSON.

    A result supplied by a person must meet the action's return contract and
    is recorded as coming from a person. `specc resume RUN` then continues.
    """
    from specc.runtime.decisions import DecisionRefused, resolve_escalation
    from specc.runtime.store import StoreError

    if (decision is None) == (result is None):
        raise click.UsageError("give exactly one of --retry, --abort or --result JSON")
    with _open_store(store_path, existing=True) as store:
        try:
            record = resolve_escalation(store, run_id, decision=decision, result=result, reason=reason)
            status = (store.find(record.id) or record).status
        except (DecisionRefused, StoreError) as exc:
            _fail(str(exc), EXIT_USAGE)
    if status == "failed":
        click.echo(f"run {record.id} aborted")
    else:
        click.echo(f"recorded for run {record.id}; `specc resume {record.id}` continues it")


@main.command()
@click.argument("run_id")
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Stream events as JSON lines on stdout.")
def resume(run_id: str, store_path: str | None, as_json: bool) -> None:
    """Continue a paused, interrupted or crashed run from the store.

    Finished steps keep their results. An attempt whose outcome was never
    recorded runs again only if its action is idempotent; otherwise the run
    escalates to a person. Budgets carry over; time paused is not counted.
    """
    from specc.runtime.run import Run, RunRefused, claim
    from specc.runtime.store import StoreError

    store = _open_store(store_path, existing=True)
    try:
        record, ir, state = claim(store, run_id)
    except (RunRefused, StoreError) as exc:
        store.close()
        _fail(str(exc), EXIT_USAGE)
    _execute(ir, store, state.options, as_json=as_json,
             start=lambda backend, **kw: Run.resume(ir, store, backend, record, state, **kw))


@main.command()
@_store_option
@click.option("--status", type=click.Choice(["running", "succeeded", "failed", "escalated", "awaiting-approval",
                                             "interrupted"]), help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--batch", "batch_id", metavar="BATCH", help="Only the runs of this batch (`specc batch`).")
def runs(store_path: str | None, status: str | None, limit: int, batch_id: str | None) -> None:
    """List runs, newest first."""
    import time as _time

    from specc.runtime.store import RunStore, StoreError, locate

    where = locate(store_path)
    path = where.path
    if not where.exists:
        click.echo(f"no runs yet (no store at {where.described()})")
        return
    try:
        with RunStore(path) as store:
            if batch_id is not None:
                found = store.batch(batch_id)
                if found is None:
                    _fail(f"no batch `{batch_id}` in {path}", EXIT_USAGE)
                batch_id = found.id
            records = store.runs(status, limit, batch=batch_id)
    except StoreError as exc:
        _fail(str(exc), EXIT_USAGE)
    if not records:
        click.echo("no runs" + (f" with status {status}" if status else ""))
        return
    for r in records:
        started = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(r.started))
        click.echo(visible(f"{r.id}  {started}  {r.status:<17} {r.agent}" + (f"  ({r.reason})" if r.reason else "")))


@main.command()
@click.argument("run_id")
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print the run and its events as JSON.")
@click.option("--verify", is_flag=True, help="Check the event log's hash chain (exit 1 when it was tampered with).")
def show(run_id: str, store_path: str | None, as_json: bool, verify: bool) -> None:
    """Show one run: its status and every event, in order."""
    import time as _time

    from specc.runtime.store import StoreError

    try:
        with _open_store(store_path, existing=True) as store:
            path = store.path
            record = store.find(run_id)
            if record is None:
                _fail(f"no run `{run_id}` in `{path}` (`specc runs` lists them)", EXIT_USAGE)
            assert record is not None
            events = store.events(record.id)
            problems = store.verify(record.id) if verify else []
    except StoreError as exc:
        _fail(str(exc), EXIT_USAGE)
    if as_json:
        click.echo(json.dumps({
            "id": record.id, "agent": record.agent, "status": record.status, "reason": record.reason,
            "spec_hash": record.spec_hash, "ir_hash": record.ir_hash, "input": record.input, "result": record.result,
            "events": [{"seq": e.seq, "at": e.at, **e.data, "event": e.kind} for e in events],
            **({"verify": problems} if verify else {}),
        }, indent=2, ensure_ascii=False))
    else:
        click.echo(visible(f"run {record.id}  agent {record.agent}  status {record.status}"))
        if record.reason:
            click.echo(visible(f"reason: {record.reason}"))
        for e in events:
            at = _time.strftime("%H:%M:%S", _time.localtime(e.at))
            click.echo(visible(f"{e.seq:>4} {at} {e.kind:<16} {_summarise(e)}"))
        if verify:
            click.echo("log verified: the hash chain is intact" if not problems else "log TAMPERED:\n  "
                       + "\n  ".join(problems))
    if verify and problems:
        sys.exit(EXIT_ERRORS)


def _summarise(stored: Any) -> str:
    from specc.runtime import events as ev

    event = stored.event
    if isinstance(event, ev.AttemptOutcome):
        return (f"{event.step}: {event.action} attempt {event.attempt} -> {event.kind} "
                f"({event.duration_s}s, exit {event.exit_code}) {event.detail}")
    if isinstance(event, ev.AttemptIntent):
        arguments = json.dumps(event.arguments, ensure_ascii=False)
        return f"{event.step}: {event.action} attempt {event.attempt} args {arguments}"
    if isinstance(event, ev.Handler):
        where = f"{event.step}: " if event.step else ""
        return f"{where}on {event.kind}: {event.strategy} {event.reason or ''}".rstrip()
    if isinstance(event, ev.Connection):
        verdict = "allowed" if event.allowed else "refused"
        return f"{event.action} -> {event.host}:{event.port} {verdict} {event.reason}"
    if isinstance(event, ev.PlannerTurn):
        from specc.runtime.model import ModelReply, parse_completion

        reply = parse_completion(json.dumps(event.response).encode())
        if not isinstance(reply, ModelReply):
            return f"turn {event.turn}: (unreadable response)"
        said = [f"{c.name}({c.arguments})" for c in reply.tool_calls] or [json.dumps(reply.content or "")]
        return f"turn {event.turn}: the model says " + "; ".join(said)
    if isinstance(event, ev.PlannerAnswer):
        return f"turn {event.turn} call {event.call} {event.name}: {event.outcome} {event.content}"[:300]
    if isinstance(event, ev.PlannerRequestFailed):
        return f"turn {event.turn}: the model request failed with {event.kind}: {event.detail}"
    if isinstance(event, ev.SessionOpened):
        return (f"MCP session over {event.transport} from {event.client or 'an unnamed client'} "
                f"(protocol {event.protocol or '?'}; approvals {event.approvals})")
    if isinstance(event, ev.CallRefused):
        return f"call {event.index} {event.tool}: refused: {event.reason}"
    shown = {k: v for k, v in stored.data.items() if k != "sealed"}  # ciphertext, for resume only
    return json.dumps(shown, ensure_ascii=False)[:300]


@main.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@_store_option
@click.option("--since", metavar="DATE", help="Only runs started then or later: YYYY-MM-DD or an ISO timestamp.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print the report.")
def stats(spec: str | None, store_path: str | None, since: str | None, fmt: str) -> None:
    """Observed reliability: each action's success rate in the run store against its claim.

    Per action: attempts, successes, the rate with its 95% Wilson interval,
    the declared `reliability`, and BELOW where the whole interval lies under
    it; then the agent's compounded observed success against its target.
    SPEC (an `.agent` file or a built IR) picks the agent; runs of every
    version of it count. Without SPEC the store must hold runs of one agent.

    \b
    Exit status: 0 report printed (also when there are no runs yet), 1 the
    spec has errors, 2 usage error or an unreadable store.

    \b
    Examples:
      specc stats specs/invoice/invoice.agent
      specc stats --since 2026-03-01 --format json
    """
    from specc.runtime.stats import StatsError, collect, parse_since, render_text
    from specc.runtime.store import locate

    since_at = None
    if since is not None:
        try:
            since_at = parse_since(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    ir = None
    if spec is not None:
        from specc.compiler import compile_source
        from specc.render import summary, text, use_colour

        if not os.path.isfile(spec):
            raise click.UsageError(f"`{spec}` is not a file" if os.path.exists(spec) else f"`{spec}` does not exist")
        try:
            with open(spec, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise click.UsageError(f"cannot read `{spec}`: {exc.strerror}") from None
        if spec.endswith(".json"):
            from specc.runtime.ir_loader import IRRejected, load_ir

            try:
                ir = load_ir(data, spec)
            except IRRejected as exc:
                _fail(str(exc), EXIT_ERRORS)
        result = compile_source(data, spec) if ir is None else None
        if result is not None and result.has_errors:
            colour = use_colour(sys.stderr)
            click.echo(text(result.diagnostics, {spec: result.source}, colour), err=True, color=colour)
            _fail(f"{summary(result.diagnostics, 1, colour)}; fix them to report on this spec", EXIT_ERRORS)
        if result is not None:
            ir = result.ir
    try:
        report = collect(locate(store_path).path, ir, since_at)
    except StatsError as exc:
        _fail(str(exc), EXIT_USAGE)
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        if report.note:
            click.echo(report.note, err=True)
    else:
        click.echo(render_text(report))


@main.group()
def image() -> None:
    """Build the images specc runs tools in (no registry needed)."""


@image.command("build")
@click.option("--force", is_flag=True, help="Rebuild even when the image exists.")
def image_build(force: bool) -> None:
    """Build specc/base:bookworm (Debian with python3) from Debian's packages."""
    from specc.runtime import image as images

    try:
        if not force and images.image_exists():
            click.echo("specc/base:bookworm exists; `--force` rebuilds it")
            return
        images.build_base_image()
    except Exception as exc:  # noqa: BLE001 - the engine and debootstrap fail in many ways; say so plainly
        _fail(f"the image build failed: {exc}", 5)
    click.echo("built specc/base:bookworm")


if __name__ == "__main__":  # pragma: no cover
    main()
