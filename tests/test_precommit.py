"""`.pre-commit-hooks.yaml`: each hook's entry, run as pre-commit runs it (the console script with
the staged files that match `files` appended), does what docs/editors.md says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def hooks() -> dict[str, dict[str, str]]:
    """The hooks file, read as the flat list of mappings it is (`- id: ...` then `key: value`)."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in (ROOT / ".pre-commit-hooks.yaml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"(- |  )([a-z_]+): (.+)", line)
        assert match, f"unexpected line in .pre-commit-hooks.yaml: {line!r}"
        if match.group(1) == "- ":
            current = {}
        current[match.group(2)] = match.group(3)
        if "id" in current:
            found[current["id"]] = current
    return found


def run(entry: str, *files: Path) -> subprocess.CompletedProcess[str]:
    program, *args = entry.split()
    script = Path(sys.executable).parent / program
    command = str(script) if script.exists() else shutil.which(program)
    assert command, f"no `{program}` console script"
    return subprocess.run([command, *args, *map(str, files)], capture_output=True, text=True, timeout=120)


def test_the_hooks_are_declared() -> None:
    found = hooks()
    assert set(found) == {"specc-check", "specc-fmt"}
    for hook in found.values():
        assert hook["language"] == "python"  # pre-commit installs this repository's package
        assert re.search(hook["files"], "specs/invoice/invoice.agent")
        assert not re.search(hook["files"], "specs/invoice/input.json")


def test_specc_check_hook_stops_a_commit_with_errors() -> None:
    entry = hooks()["specc-check"]["entry"]
    assert run(entry, FIXTURES / "clean.agent").returncode == 0
    failed = run(entry, FIXTURES / "clean.agent", FIXTURES / "several_errors.agent")
    assert failed.returncode == 1 and "several_errors.agent" in failed.stdout


def test_specc_fmt_hook_rewrites_and_is_then_quiet(tmp_path: Path) -> None:
    entry = hooks()["specc-fmt"]["entry"]
    spec = tmp_path / "a.agent"
    spec.write_text("agent   a {\n  limits {\n    steps 3 # why\n    wall 1m\n  }\n}\n")
    first = run(entry, spec)
    assert first.returncode == 0 and f"reformatted {spec}" in first.stderr
    assert spec.read_text() == "agent a {\n  limits {\n    steps 3  # why\n    wall 1m\n  }\n}\n"
    again = run(entry, spec)  # pre-commit passes when the hook changes nothing
    assert again.returncode == 0 and "reformatted" in again.stderr and f"{spec}" not in again.stderr
