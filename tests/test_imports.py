"""`specc check` stays fast by never importing the runtime or the heavy libraries it does not need
(the compiler never imports the runtime, docker or requests: `specc check` must stay fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
#: Top-level packages `specc check` must not load, and why.
FORBIDDEN = {
    "docker": "the Docker SDK is the runtime's",
    "requests": "pulled in by the Docker SDK",
    "httpx": "the planner's model client, a network client",
    "specc.runtime": "the runtime",
    "jsonschema": "contracts are checked at run time, not by `specc check`",
    "rich": "costs about a third of the time budget of `specc check`",
}

PROBE = """
import json, sys
from specc.cli import main
sys.argv = ["specc", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    status = exc.code
sys.stderr.write("\\nMODULES " + json.dumps({"status": status, "modules": sorted(sys.modules)}) + "\\n")
"""


def modules_loaded_by(*args: str, probe: str = PROBE) -> tuple[int, set[str]]:
    """Run `specc ARGS` in a fresh interpreter; its exit status and every module it imported."""
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(list(args))], capture_output=True, text=True, timeout=120,
    )
    marker = [line for line in result.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, result.stderr
    report = json.loads(marker[-1].removeprefix("MODULES "))
    return report["status"], set(report["modules"])


def forbidden_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
@pytest.mark.parametrize("spec", ["clean.agent", "several_errors.agent"])
def test_check_imports_no_runtime_nor_heavy_library(fmt: str, spec: str) -> None:
    status, modules = modules_loaded_by("check", "--format", fmt, str(FIXTURES / spec))
    assert status == (0 if spec == "clean.agent" else 1)
    assert "specc.compiler" in modules and "specc.lowering" in modules  # the probe did run the check
    assert forbidden_in(modules) == []
    # a dataclass compiles its methods when its module is imported, about 1 ms a class: the check
    # path's value classes are `specc.record`s (SARIF's rules come from `specc.explanations`)
    assert fmt == "sarif" or "dataclasses" not in modules


def test_check_of_a_folder_imports_no_runtime() -> None:
    status, modules = modules_loaded_by("check", "--strict", str(FIXTURES))
    assert status == 1
    assert forbidden_in(modules) == []


def test_explain_imports_no_runtime() -> None:
    status, modules = modules_loaded_by("explain", "SPC001")
    assert status in (0, None)
    assert forbidden_in(modules) == []


def test_the_probe_sees_a_forbidden_import() -> None:
    """The probe can fail: importing the Docker SDK by hand shows up."""
    pytest.importorskip("docker")
    result = subprocess.run(
        [sys.executable, "-c", "import docker, sys; print('docker' in sys.modules, 'requests' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.split() == ["True", "True"]
    assert forbidden_in({"docker", "docker.api", "requests", "rich.console"}) == [
        "docker", "docker.api", "requests", "rich.console"
    ]


LANGUAGE_SERVER_PROBE = """
import json, sys
from lsprotocol import types as lsp
from specc.lsp.server import build
server = build()
uri = "file://" + sys.argv[1]
text = open(sys.argv[1], encoding="utf-8").read()
server.diagnose(uri, text, 1)
server.hover(uri, text, 1, lsp.Position(0, 0))
server.locations(uri, text, 1, lsp.Position(0, 0), True)
server.format(text)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_language_server_imports_no_runtime() -> None:
    """`specc lsp` is compiler-side: checking, hovering and formatting load no runtime, Docker or
    network client."""
    result = subprocess.run([sys.executable, "-c", LANGUAGE_SERVER_PROBE, str(FIXTURES / "clean.agent")],
                            capture_output=True, text=True, timeout=120)
    modules = set(json.loads(result.stdout))
    assert "specc.lsp.server" in modules and "specc.passes.names" in modules
    assert forbidden_in(modules) == []


#: The probe as the `specc` program starts: from `specc.main`, the console script's entry point.
PROGRAM = PROBE.replace("from specc.cli import main", "from specc.main import main")


@pytest.mark.parametrize(("args", "builds_all"), [
    (("check", str(FIXTURES / "clean.agent")), False),
    (("check", "--format", "json", str(FIXTURES / "several_errors.agent")), False),
    (("explain", "SPC003"), True),
    (("--help",), True),
    (("no-such-command",), True),
])
def test_the_program_builds_the_other_commands_only_when_asked(args: tuple[str, ...], builds_all: bool) -> None:
    status, modules = modules_loaded_by(*args, probe=PROGRAM)
    assert status in (0, 1, 2) and ("specc.cli" in modules) is builds_all


def test_the_program_lists_every_command_with_its_short_help() -> None:
    from specc.cli import main as everything

    def help_of(module: str) -> str:
        result = subprocess.run([sys.executable, "-c", f"from {module} import main; main()", "--help"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    listed = help_of("specc.main")
    assert listed == help_of("specc.cli")  # every command registered before the group ran
    commands = listed.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in commands if line.strip()] == list(everything.commands)
    assert len(everything.commands) > 10 and all(len(line.split()) > 2 for line in commands)
