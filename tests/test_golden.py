"""Golden tests of `specc check`'s diagnostics: every `tests/golden/<case>.agent` is compiled and
its rendered diagnostics compared with `<case>.expected`. Run with `UPDATE_GOLDEN=1` to rewrite the
expectations, then review the diff."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from specc.codes import ALL_CODES
from specc.compiler import compile_source
from specc.render import summary, text

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
CASES = sorted(GOLDEN.glob("*.agent"))
#: `error[SPC003]`, `warning[SPC113]`: the head line of every rendered diagnostic.
HEAD = re.compile(r"^(?:error|warning|note)\[(SPC[0-9]{3})\]", re.MULTILINE)


def render(case: Path) -> str:
    """What `specc check tests/golden/<case>.agent` prints, without colour."""
    path = case.relative_to(ROOT).as_posix()
    compilation = compile_source(case.read_bytes(), path)
    diagnostics = compilation.diagnostics
    rendered = text(diagnostics, {path: compilation.source}, colour=False)
    out = rendered + "\n" if rendered else ""
    return out + summary(diagnostics, 1, colour=False) + "\n"


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_golden(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # relative mounts and the rendered file name are relative to the repo
    actual = render(case)
    expected_file = case.with_suffix(".expected")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"{expected_file.name} is missing; run with UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(encoding="utf-8")


def test_every_code_has_a_golden_case() -> None:
    hit: set[str] = set()
    for expected in GOLDEN.glob("*.expected"):
        hit.update(HEAD.findall(expected.read_text(encoding="utf-8")))
    missing = [f"{c.code} {c.name}" for c in ALL_CODES if c.code not in hit]
    assert not missing, f"no golden case hits: {', '.join(missing)}"


def test_every_case_has_its_expectation() -> None:
    stems = {case.stem for case in CASES}
    orphans = sorted(p.name for p in GOLDEN.glob("*.expected") if p.stem not in stems)
    assert not orphans, f"expectations without a case: {orphans}"
