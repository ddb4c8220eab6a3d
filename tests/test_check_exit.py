"""`specc check` run as the `specc` program ends without tearing the interpreter down (a tenth of a
small check's time): its output must still be whole and its exit status right, whatever reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from specc.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def program() -> str:
    beside = Path(sys.executable).parent / "specc"
    found = str(beside) if beside.exists() else shutil.which("specc")
    assert found, "no `specc` console script"
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([program(), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(Path.home())})


def test_the_program_prints_what_main_prints_and_exits_with_its_status() -> None:
    for spec, status in (("clean.agent", 0), ("several_errors.agent", 1)):
        path = str(FIXTURES / spec)
        ran = run("check", path)
        inside = CliRunner().invoke(main, ["check", path], env={"NO_COLOR": "1"})
        assert (ran.returncode, ran.stdout) == (status, inside.output)
        assert ran.stderr == ""


def test_a_long_output_is_whole() -> None:
    ran = run("check", "--format", "sarif", str(FIXTURES))
    assert ran.returncode == 1
    assert json.loads(ran.stdout)["version"] == "2.1.0"


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    pipeline = subprocess.run(f"'{program()}' check --format sarif '{FIXTURES}' | head -c 10", shell=True,
                              capture_output=True, text=True, timeout=120)
    assert len(pipeline.stdout) == 10
    assert "Traceback" not in pipeline.stderr


def test_only_the_program_skips_the_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import specc.main as program_module

    exits: list[int] = []

    class Exited(Exception):
        pass

    def fake_exit(status: int) -> None:
        exits.append(status)
        raise Exited

    monkeypatch.setattr("os._exit", fake_exit)
    with pytest.raises(SystemExit) as caught:  # a test, a probe: SystemExit as usual
        program_module._finish(1)
    assert caught.value.code == 1 and exits == []
    program = types.ModuleType("__main__")
    program.__file__ = "/usr/local/bin/specc"
    monkeypatch.setitem(sys.modules, "__main__", program)
    with pytest.raises(Exited):
        program_module._finish(1)
    assert exits == [1]
