"""The `specc` program: its command group and `specc check`; every other command is in `specc.cli`.

An editor runs `specc check` on every keystroke, so the program it starts holds only the group and
the check: the other commands' options cost a check about a tenth of its time to build, and the group
imports `specc.cli` only when a command other than `check` is named, or every command is listed
(`specc --help`, shell completion). Exit statuses are listed in each command's --help.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import click

from specc import __version__

if TYPE_CHECKING:
    from specc.diagnostics import Diagnostic

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class _Group(click.Group):
    """Lists commands in the order they are declared, which is the order a user learns them; the
    commands of `specc.cli` are imported when one of them is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register_all()
        return list(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            _register_all()
        return self.commands.get(cmd_name)


def _register_all() -> None:
    """Import `specc.cli`, whose commands add themselves to `main`, unless they already have (it is
    imported, or run as `python -m specc.cli`)."""
    if set(main.commands) <= {"check"}:
        import specc.cli  # noqa: F401


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
            click.echo(rendered, color=colour)
        for table_text in tables:
            click.echo(table_text)
        click.echo(summary(diagnostics, len(files), colour), color=colour)
    failed = any(d.severity is Severity.ERROR for d in diagnostics)
    _finish(EXIT_ERRORS if failed else EXIT_OK)


def _finish(status: int) -> NoReturn:
    """End `specc check`. Run as the `specc` program, it leaves without tearing the interpreter down
    (freeing every module and object costs more than checking a small spec, and a check leaves
    nothing behind: no open file, no exit handler), after flushing its output; called any other way
    (tests, a probe that calls `main`), it raises `SystemExit` as usual."""
    program = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    if os.path.basename(program) in ("specc", "specc.exe"):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed pipe: the status still says how the check went
        os._exit(status)
    sys.exit(status)


def _as_error(d: Diagnostic) -> Diagnostic:
    from specc.codes import Severity
    from specc.record import replace

    return replace(d, severity=Severity.ERROR) if d.severity is Severity.WARNING else d
