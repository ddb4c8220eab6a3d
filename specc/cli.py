"""The `specc` command line: check, explain, build, and the runtime's commands.

Each command imports what it needs inside its body, so `specc check` never loads the runtime or
the Docker SDK. Exit statuses follow DESIGN sections 3 and 5.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from specc import __version__

if TYPE_CHECKING:
    from specc.diagnostics import Diagnostic

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class _Group(click.Group):
    """Lists commands in the order they are declared, which is the order a user learns them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="specc")
def main() -> None:
    """specc: compile agent specs and run them in sandboxes.

    \b
    Write an agent in an `.agent` file, then:
      specc check specs/            prove every spec well formed and safe
      specc explain SPC003          learn what a diagnostic means and how to fix it
      specc build spec.agent        write the compiled artifact (IR)
      specc run spec.agent --input @input.json
    """


def _spec_files(paths: tuple[str, ...]) -> Iterator[str]:
    for path in paths:
        if os.path.isdir(path):
            found = False
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(".agent"):
                        found = True
                        yield os.path.join(root, name)
            if not found:
                raise click.UsageError(f"no `.agent` file found under `{path}`")
        elif os.path.exists(path):
            yield path
        else:
            raise click.UsageError(f"`{path}` does not exist")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="How to print the diagnostics.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any).")
@click.option("--explain-reliability", is_flag=True,
              help="Print each workflow's reliability table, even when the target is met.")
def check(paths: tuple[str, ...], fmt: str, strict: bool, explain_reliability: bool) -> None:
    """Check specs: syntax, names, types, limits and safety.

    PATHS are `.agent` files or folders (every `.agent` below a folder is checked).
    Exit status: 0 clean (warnings allowed), 1 errors found (or warnings under
    --strict), 2 usage error.

    \b
    Examples:
      specc check specs/
      specc check --format sarif specs/ > specc.sarif
      specc check --strict agent.agent
    """
    from specc.codes import Severity
    from specc.compiler import compile_source
    from specc.render import as_json, as_sarif, summary, text, use_colour

    try:
        files = list(_spec_files(paths))
    except click.UsageError:
        raise
    diagnostics: list[Diagnostic] = []
    sources: dict[str, str | None] = {}
    tables: list[str] = []
    for path in files:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise click.UsageError(f"cannot read `{path}`: {exc.strerror}") from None
        result = compile_source(data, path)
        sources[path] = result.source
        found = result.diagnostics
        if strict:
            found = [_as_error(d) for d in found]
        diagnostics.extend(found)
        if explain_reliability and result.agent is not None and result.symbols is not None:
            from specc.passes.reliability import table

            tables.append(f"{path}:\n{table(result)}")
    if fmt == "json":
        click.echo(as_json(diagnostics))
    elif fmt == "sarif":
        click.echo(as_sarif(diagnostics))
    else:
        colour = use_colour(sys.stdout)
        rendered = text(diagnostics, sources, colour)
        if rendered:
            click.echo(rendered)
        for table_text in tables:
            click.echo(table_text)
        click.echo(summary(diagnostics, len(files), colour))
    failed = any(d.severity is Severity.ERROR for d in diagnostics)
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


def _as_error(d: Diagnostic) -> Diagnostic:
    from dataclasses import replace

    from specc.codes import Severity

    return replace(d, severity=Severity.ERROR) if d.severity is Severity.WARNING else d


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


if __name__ == "__main__":  # pragma: no cover
    main()
