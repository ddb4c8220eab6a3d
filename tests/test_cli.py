"""The `specc` command line as a user meets it: help, exit statuses, the rustc-style text output and
its colour rules (NO_COLOR, FORCE_COLOR, a terminal or not)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from specc.cli import main
from specc.codes import ALL_CODES

FIXTURES = Path(__file__).parent / "fixtures"
SEVERAL = FIXTURES / "several_errors.agent"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Colour switches cleared for every run, so that the machine's own settings do not leak in.
NO_COLOUR_SETTINGS: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None}


def invoke(*args: str, **env: str | None) -> Result:
    result = CliRunner().invoke(main, list(args), prog_name="specc", env={**NO_COLOUR_SETTINGS, **env},
                                catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def run_in_terminal(*args: str, **env: str) -> tuple[int, str]:
    """Run `specc ARGS` with its stdout on a pseudo-terminal, as in an interactive shell."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in NO_COLOUR_SETTINGS} | env
    process = subprocess.Popen([sys.executable, "-m", "specc.cli", *args], stdout=follower,
                               stderr=subprocess.PIPE, env=environ)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    status = process.wait(timeout=60)
    assert process.stderr is not None
    assert b"Traceback" not in process.stderr.read()
    return status, b"".join(chunks).decode("utf-8")


def line_of(path: Path, needle: str) -> tuple[int, int]:
    text = path.read_text("utf-8")
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- help and usage ------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Usage: specc" in result.output
    for command in ("check", "explain"):
        assert re.search(rf"^\s+{command}\s+\S", result.output, re.MULTILINE), command
    assert invoke("-h").output == result.output


def test_version() -> None:
    from specc import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_check_help_mentions_the_exit_statuses() -> None:
    result = invoke("check", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert "0 clean" in flat
    assert "1 errors found" in flat
    assert "2 usage error" in flat
    for option in ("--format", "--strict"):
        assert option in result.output


def test_explain_list_names_every_code() -> None:
    result = invoke("explain", "--list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(ALL_CODES)
    for line, code in zip(lines, ALL_CODES, strict=True):
        assert line.split()[:3] == [code.code, code.name, code.severity.value]


@pytest.mark.parametrize("key", ["SPC001", "spc001", "syntax"])
def test_explain_a_code_by_number_or_name(key: str) -> None:
    result = invoke("explain", key)
    assert result.exit_code == 0
    assert result.output.startswith("## SPC001 syntax")
    for heading in ("### What", "### Why", "### Example"):
        assert heading in result.output


def test_explain_every_code_has_a_section() -> None:
    for code in ALL_CODES:
        result = invoke("explain", code.code)
        assert result.exit_code == 0, code
        assert result.output.startswith(f"## {code.code} {code.name}"), code


def test_explain_an_unknown_code_is_a_usage_error_with_a_suggestion() -> None:
    result = invoke("explain", "unused-defintion")
    assert result.exit_code == 2
    assert "`unused-defintion` is not a diagnostic code" in result.output
    assert "unused-definition" in result.output


def test_explain_without_a_code_is_a_usage_error() -> None:
    assert invoke("explain").exit_code == 2


@pytest.mark.parametrize("args", [["check", "--bogus", str(SEVERAL)], ["--bogus"], ["check", "--format", "xml",
                                                                                     str(SEVERAL)], ["frobnicate"]])
def test_unknown_options_and_commands_exit_2(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "specc.cli", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Error:" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "specc"
    if not script.exists():
        pytest.skip("specc is not installed beside this interpreter")
    result = subprocess.run([str(script), "check", str(FIXTURES / "clean.agent")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == "checked 1 file: no problems found"


# --- text output ---------------------------------------------------------------------------------


def test_text_output_shows_location_snippet_caret_and_help() -> None:
    result = invoke("check", str(SEVERAL))
    assert result.exit_code == 1
    out = result.output
    line, column = line_of(SEVERAL, '"/etc"')
    assert f"error[SPC101]: mount `/etc` exposes `/etc` to the agent\n   --> {SEVERAL}:{line}:{column}\n" in out
    block = out.split("error[SPC101]")[1].split("\n\n")[0].splitlines()
    snippet = [b for b in block if b.startswith(f"{line} |")]
    assert snippet == [f"{line} |     mount \"/etc\" read_only"]
    caret = block[block.index(snippet[0]) + 1]
    assert caret == "   | " + " " * (column - 1) + "^" * len('"/etc"')
    assert block[-1].startswith("   = help: ")


def test_text_output_has_no_help_line_where_the_diagnostic_has_none() -> None:
    out = invoke("check", str(SEVERAL)).output
    block = out.split("error[SPC003]: type `Quantity` is not declared")[1].split("\n\n")[0]
    assert "= help:" not in block
    assert "^^^^^^^^" in block


def test_text_output_ends_with_a_summary() -> None:
    assert invoke("check", str(SEVERAL)).output.rstrip().splitlines()[-1] == "3 errors and 2 warnings in 1 file"
    clean = invoke("check", str(FIXTURES / "clean.agent"))
    assert (clean.exit_code, clean.output) == (0, "checked 1 file: no problems found\n")


def test_the_diagnostics_come_in_file_order() -> None:
    out = invoke("check", str(SEVERAL)).output
    lines = [int(m.group(1)) for m in re.finditer(rf"--> {re.escape(str(SEVERAL))}:(\d+):\d+", out)]
    assert len(lines) == 5
    assert lines == sorted(lines)


# --- colour --------------------------------------------------------------------------------------


def test_no_colour_when_not_a_terminal() -> None:
    result = invoke("check", str(SEVERAL))
    assert result.exit_code == 1
    assert not ANSI.search(result.output)


def test_no_colour_with_no_color_even_when_forced() -> None:
    result = invoke("check", str(SEVERAL), NO_COLOR="1", FORCE_COLOR="1")
    assert not ANSI.search(result.output)


def test_force_color_gives_ansi_escapes_in_a_pipe() -> None:
    """FORCE_COLOR is for CI logs, where stdout is a pipe: click must not strip the escapes."""
    environ = {k: v for k, v in os.environ.items() if k not in NO_COLOUR_SETTINGS} | {"FORCE_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "specc.cli", "check", str(SEVERAL)], capture_output=True,
                            text=True, timeout=60, env=environ)
    assert result.returncode == 1
    assert "\x1b[1;31merror[SPC101]" in result.stdout
    assert "\x1b[1;33mwarning[SPC115]" in result.stdout
    # without its escapes the coloured text is the plain one
    assert ANSI.sub("", result.stdout) == invoke("check", str(SEVERAL)).output


def test_json_and_sarif_are_never_coloured() -> None:
    for fmt in ("json", "sarif"):
        result = invoke("check", "--format", fmt, str(SEVERAL), FORCE_COLOR="1")
        assert not ANSI.search(result.output), fmt


def test_colour_on_a_terminal() -> None:
    status, out = run_in_terminal("check", str(SEVERAL))
    assert status == 1
    assert ANSI.search(out)
    assert "error[SPC101]" in ANSI.sub("", out)


def test_no_color_on_a_terminal() -> None:
    status, out = run_in_terminal("check", str(SEVERAL), NO_COLOR="1")
    assert status == 1
    assert "error[SPC101]" in out
    assert not ANSI.search(out)


def test_explain_reliability_rounds_what_it_computes_and_says_retries_count_as_independent() -> None:
    from specc.passes.reliability import computed

    result = invoke("check", "--explain-reliability", str(FIXTURES.parents[1] / "specs/invoice/invoice.agent"))
    assert result.exit_code == 0, result.output
    assert "0.999999999999" not in result.output and "0.999992" not in result.output
    assert "workflow success: 0.999 (target 0.95)" in result.output
    assert "retries count as independent attempts" in result.output
    # three significant figures, rounded down, the float's noise dropped; more only to stay on the
    # right side of the target
    assert computed(0.9 * 0.95) == "0.855"
    assert computed(0.59049) == "0.590"
    assert computed(0.99999887) == "0.999"
    assert computed(0.99995, 0.9999) == "0.9999"
    assert computed(0.99987, 0.9999) == "0.999"
