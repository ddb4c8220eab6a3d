"""Bad run inputs through the real `specc run`: each is rejected with exit 2 before anything runs.

"Before anything runs" is checked three ways: no `attempt_intent` event and no run in the store, no
container created by the `specc run` process (the engine's own event log, filtered by the owner
label), and the tool's marker file absent. The message names the field and the rule it broke.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import agent_text, assert_nothing_ran, run_spec, run_statuses, write_agent

from specc.runtime.values import ValueRejected, parse_json, validate

pytestmark = pytest.mark.usefixtures("docker_client")

MB = 1024 * 1024


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    text = agent_text(
        mounts=['mount "./out" read_write'],
        input_block="name: string(1..100)\ncount: int(0..1000)\ntags: list<string>?",
        actions="""action record(name: string, count: int) {
            run "python3" "/tools/record.py"
            mount "./out"
            mount "./tools"
            effect write
            risk low
            }""",
        workflow="record(name: input.name, count: input.count)",
    )
    return write_agent(folder, text, {"record.py": 'open("/mnt/out/ran", "w").write("x")\nprint("{}")'},
                       folders={"out": 0o777})


DIGITS = "1" * 5000

BAD_INPUTS = [
    # (id, input text, words the message must contain: the field and the rule)
    ("nan", '{"name": "a", "count": NaN}', ["count", "NaN"]),
    ("infinity", '{"name": "a", "count": -Infinity}', ["count", "Infinity"]),
    ("huge-float", '{"name": "a", "count": 1e999}', ["count", "too large"]),
    ("duplicate-keys", '{"name": "a", "name": "b", "count": 1}', ["name", "twice"]),
    ("5000-digit-int", '{"name": "a", "count": ' + DIGITS + "}", ["count", "5,000 digits"]),
    ("lone-surrogate", '{"name": "\\ud800", "count": 1}', ["name", "surrogate"]),
    ("lone-surrogate-late", '{"name": "ok\\udfff", "count": 1}', ["name", "\\udfff"]),
    ("string-for-int", '{"name": "a", "count": "5"}', ["count", "must be an `int`"]),
    ("float-for-int", '{"name": "a", "count": 1.0}', ["count", "must be an `int`"]),
    ("bool-for-int", '{"name": "a", "count": true}', ["count", "must be an `int`"]),
    ("unknown-field", '{"name": "a", "count": 1, "extra": true}', ["extra", "unknown field", "its fields are"]),
    ("missing-field", '{"name": "a"}', ["count", "missing the field"]),
    ("out-of-range", '{"name": "a", "count": 1001}', ["count", "at most 1000"]),
    ("too-short", '{"name": "", "count": 1}', ["name", "at least 1 character"]),
    ("nested-nan", '{"name": "a", "count": 1, "tags": ["x", NaN]}', ["tags[1]", "NaN"]),
    ("nested-wrong-type", '{"name": "a", "count": 1, "tags": ["x", 2]}', ["tags[1]", "string"]),
    ("invalid-json", '{"name": "a", "count": 1', ["not valid JSON"]),
    ("not-an-object", '["a", 1]', ["input", "must be a `record`"]),
    ("empty", "", ["not valid JSON"]),
]


@pytest.mark.parametrize("text, words", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_rejected_before_anything_runs(spec: Path, tmp_path: Path, text: str,
                                                    words: list[str]) -> None:
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, text)
    assert run.code == 2, run.describe()
    assert "input rejected" in run.last_line and "nothing was run" in run.last_line, run.last_line
    for word in words:
        assert word in run.last_line, f"`{word}` is not named in: {run.last_line}"
    assert_nothing_ran(run, spec.parent / "out" / "ran")
    assert run_statuses(store) == {}


def test_a_100_mb_string_from_a_file_is_rejected_before_anything_runs(spec: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "w") as handle:
        handle.write('{"name": "')
        chunk = "a" * MB
        for _ in range(100):
            handle.write(chunk)
        handle.write('", "count": 1}')
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, f"@{big}")
    assert run.code == 2, run.describe()
    assert "input rejected" in run.last_line and "bytes" in run.last_line, run.last_line
    assert_nothing_ran(run, spec.parent / "out" / "ran")
    assert run_statuses(store) == {}


def test_the_size_refusal_tells_the_real_size_of_the_input_file(spec: Path, tmp_path: Path) -> None:
    """A 100 MB input file is not "67,108,865 bytes": the message must not state a truncated size."""
    big = tmp_path / "big.json"
    with open(big, "w") as handle:
        handle.write('{"name": "' + "a" * (100 * MB) + '", "count": 1}')
    run = run_spec(spec, tmp_path / "runs.db", f"@{big}")
    assert run.code == 2, run.describe()
    assert f"{64 * MB + 1:,}" not in run.last_line, run.last_line


def test_input_file_that_is_not_utf8_is_rejected(spec: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"name": "caf\xe9", "count": 1}')
    run = run_spec(spec, tmp_path / "runs.db", f"@{bad}")
    assert run.code == 2, run.describe()
    assert "input rejected" in run.last_line
    # the file holds the byte 0xe9, not a surrogate: the message must say what is wrong with it
    assert "UTF-8" in run.last_line, run.last_line
    assert_nothing_ran(run, spec.parent / "out" / "ran")


def test_a_good_input_runs(spec: Path, tmp_path: Path) -> None:
    """The same spec with a good input does run the tool, so the tests above are meaningful."""
    marker = spec.parent / "out" / "ran"
    run = run_spec(spec, tmp_path / "runs.db", {"name": "a", "count": 7, "tags": ["x"]})
    try:
        assert run.code == 0, run.describe()
        assert marker.exists()
        assert len(run.of("attempt_intent")) == 1
    finally:
        marker.unlink(missing_ok=True)


# --- the strict JSON of runtime/values.py, in process --------------------------------------------


@pytest.mark.parametrize("text, message", [
    ('{"a": {"b": [1, NaN]}}', "the input at `a.b[1]` is `NaN`"),
    ('{"a": [{"k": 1, "k": 2}]}', "the input at `a[0]` has the key `k` twice"),
    ('{"a": 1' + "0" * 30 + "}", "the input at `a` is an integer of 31 digits"),
    ('{"a": "x\\udc00y"}', "the input at `a` has a string with a lone surrogate (`\\udc00`)"),
    ("Infinity", "the input is `Infinity`"),
])
def test_parse_json_names_the_field_that_broke_the_rule(text: str, message: str) -> None:
    with pytest.raises(ValueRejected) as caught:
        parse_json(text, "the input")
    assert message in str(caught.value)


def test_an_int_must_be_written_without_a_fraction() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    validate({"n": 3}, schema, "input")
    for bad in (3.0, True, "3"):
        with pytest.raises(ValueRejected, match="input.n"):
            validate({"n": bad}, schema, "input")
    validate(json.loads('{"n": 3.5}'), {"type": "object", "properties": {"n": {"type": "number"}}}, "input")
