"""docs/diagnostics.md is generated from `specc.explanations`; every code is documented, and
`specc explain` prints the documentation. Run with `UPDATE_GOLDEN=1` to rewrite the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from specc.cli import main
from specc.codes import ALL_CODES, Code
from specc.explanations import EXPLANATIONS, document, section

DOCS = Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"


def test_diagnostics_md_is_generated_from_explanations() -> None:
    expected = document()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        DOCS.parent.mkdir(parents=True, exist_ok=True)
        DOCS.write_text(expected, encoding="utf-8")
    assert DOCS.exists(), "docs/diagnostics.md is missing; run with UPDATE_GOLDEN=1"
    assert DOCS.read_text(encoding="utf-8") == expected, (
        "docs/diagnostics.md is out of date; run `UPDATE_GOLDEN=1 pytest tests/test_docs.py`"
    )


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: f"{c.code}-{c.name}")
def test_every_code_is_explained(code: Code) -> None:
    explanation = EXPLANATIONS.get(code.code)
    assert explanation is not None, f"{code.code} {code.name} has no entry in specc/explanations.py"
    for part in ("what", "why", "example", "fix"):
        assert getattr(explanation, part).strip(), f"{code.code} has an empty `{part}`"
    assert f"## {code.code} {code.name}" in document()


@pytest.mark.parametrize("key", ["SPC003", "spc003", "undefined-name"])
def test_explain_prints_the_section(key: str) -> None:
    result = CliRunner().invoke(main, ["explain", key])
    assert result.exit_code == 0, result.output
    code = next(c for c in ALL_CODES if c.code == "SPC003")
    assert result.output.strip() == section(code).strip()
    for heading in ("### What", "### Why", "### Example", "### Fix"):
        assert heading in result.output


def test_explain_by_slug_for_a_safety_code() -> None:
    result = CliRunner().invoke(main, ["explain", "unhandled-failure"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("## SPC105 unhandled-failure")


@pytest.mark.parametrize("key", ["SPC999", "no-such-thing"])
def test_explain_unknown_code_is_a_usage_error(key: str) -> None:
    result = CliRunner().invoke(main, ["explain", key])
    assert result.exit_code == 2
    assert "is not a diagnostic code" in result.output


def test_every_event_kind_and_field_is_documented() -> None:
    """docs/events.md has a section for every event model, listing each of its fields."""
    import re

    from specc.runtime.events import EVENT_TYPES

    text = (DOCS.parent / "events.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    for kind, model in EVENT_TYPES.items():
        assert kind in sections, f"docs/events.md has no section `## {kind}`"
        documented = set(re.findall(r"^\| `(\w+)` \|", sections[kind], flags=re.M))
        assert documented == set(model.model_fields), (kind, documented ^ set(model.model_fields))
