"""The whole package is clean under `mypy --strict` as pyproject.toml configures it: a plain `mypy`
from the repository root checks every file of `specc/`, `runtime/` and `grammar/` under its installed
name (`specc.*`, `specc.runtime.*`, `specc.grammar`). mypy's cache (.mypy_cache) makes a rerun take
a second or two; the first run takes longer."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The folders that install as the `specc` package (pyproject's package-dir mapping).
SOURCES = ("specc", "runtime", "grammar")


def python_files() -> list[Path]:
    return sorted(path for folder in SOURCES for path in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def test_no_part_of_the_package_is_exempted() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config.get("strict") is True
    for override in config.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        exempt = {"ignore_missing_imports", "ignore_errors", "follow_imports"} & set(override)
        assert not (exempt and any(m == "specc" or m.startswith("specc.") for m in modules)), override


def test_mypy_strict_checks_every_file_and_reports_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    checked = re.search(r"^Success: no issues found in (\d+) source files?$", output, re.MULTILINE)
    assert checked, output
    # mypy names each module after the folder it finds it in; a runtime/ file it did not find as
    # `specc.runtime.*` is either missing from this count or breaks `specc`'s imports of it above.
    expected = python_files()
    assert int(checked.group(1)) == len(expected), (
        f"mypy checked {checked.group(1)} files, the package has {len(expected)}:\n"
        + "\n".join(str(path.relative_to(ROOT)) for path in expected))
