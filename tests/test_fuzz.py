"""Fuzzing the front end with hypothesis: mutated example specs and random bytes never make
`compile_source` raise, every diagnostic it returns is well formed, and every renderer copes.

Under CI (`CI=true`) the runs are larger (2,000 examples in all) and derandomized, so a failure
reproduces; locally they are smaller to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from specc.codes import ALL_CODES, BY_CODE, Severity
from specc.compiler import Compilation, compile_source
from specc.render import as_json, as_sarif, summary, text

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"

#: Example specs to mutate: the fixtures, and the examples of specs/ when there are any.
BASES: tuple[str, ...] = tuple(
    path.read_text("utf-8")
    for path in sorted([*FIXTURES.glob("*.agent"), *(ROOT / "specs").glob("**/*.agent")])
)

#: Words and punctuation of the language, and a few literals of each lexical kind.
TOKENS: tuple[str, ...] = (
    "agent", "version", "description", "limits", "steps", "wall", "reliability", "scope", "sandbox",
    "mount", "at", "read_only", "read_write", "network", "env", "secret", "image", "memory", "cpus",
    "pids", "timeout", "output", "type", "input", "action", "run", "effect", "read", "write",
    "destructive", "risk", "low", "medium", "high", "approval", "required", "none", "idempotent", "by",
    "require", "else", "on", "retry", "backoff", "then", "fallback", "escalate", "abort", "workflow",
    "return", "planner", "llm", "model", "endpoint", "api_key", "instructions", "max_turns", "user",
    "tools", "untrusted", "finish",
    "string", "int", "number", "bool", "path", "url", "list", "under", "host", "and", "or", "not", "in",
    "len", "true", "false", "any", "invalid_input", "denied", "error", "crash", "invalid_output",
    "uncertain", "budget",
    "{", "}", "(", ")", "[", "]", "<", ">", "<=", ">=", "==", "!=", "=", "->", ":", ",", ".", "..", "|",
    "?", "-", "#", "\n", " ", "\t", '"', "/", "\\",
    '"x"', '""', '"\\u00e9"', '"\\q"', '"./inbox"', '"/"', '"/etc"', '"/var/run/docker.sock"',
    "/^a$/", "/(a+)+/", "/[/", "/[[a]/", "/[a&&b]/", "0", "1", "-1", "0.5", "1.5", "99999999999999999999999", "1e9",
    "0..0",
    "5..1", "..3", "2..", "30s", "0ms", "500ms", "5m", "2h", "99999h", "256MiB", "0KiB", "1GiB", "9999GiB",
    "Invoice", "Line", "Receipt", "Nope", "invoice", "pay", "read_invoice", "receipt", "x", "_", "PAYMENTS_TOKEN",
    "\u00e9", "\u200b", "\ufeff", "\U0001f600", "\r", "\r\n", "\x0b", "\x0c", "\x00", "\\u0000", "\\ud800",
    "\\u00", "~",
    "\"~/x\"", "\"..\"", "\"./inbox/../..\"", "\"\\n\"", "\"a:b\"", "\":0\"", "\"host:99999\"", "\"h:\"",
)

def fuzz_settings(in_ci: int, local: int) -> settings:
    """`in_ci` examples, derandomized, under CI; `local` examples, random, elsewhere."""
    return settings(
        max_examples=in_ci if IN_CI else local, deadline=None, derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """An example spec after a few random edits: the kind of text an editor sees mid-keystroke."""
    spec = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(
            ["delete", "insert_token", "insert_chars", "replace_word", "swap_lines", "duplicate_line",
             "delete_line", "truncate", "duplicate_span"]
        ))
        spec = _mutate(draw, spec, kind)
    return spec


def _mutate(draw: st.DrawFn, spec: str, kind: str) -> str:
    at = draw(st.integers(0, len(spec)))
    if kind == "delete":
        return spec[:at] + spec[at + draw(st.integers(1, 40)):]
    if kind == "insert_token":
        sep = draw(st.sampled_from(["", " ", "\n"]))
        return spec[:at] + sep + draw(st.sampled_from(TOKENS)) + sep + spec[at:]
    if kind == "insert_chars":
        return spec[:at] + draw(st.text(max_size=6)) + spec[at:]
    if kind == "replace_word":
        words = list(_WORD.finditer(spec))
        if not words:
            return spec
        word = words[draw(st.integers(0, len(words) - 1))]
        return spec[: word.start()] + draw(st.sampled_from(TOKENS)) + spec[word.end():]
    if kind == "truncate":
        return spec[:at]
    if kind == "duplicate_span":
        end = min(len(spec), at + draw(st.integers(1, 300)))
        return spec[:end] + spec[at:end] + spec[end:]
    lines = spec.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "swap_lines":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "duplicate_line":
        lines.insert(i, lines[i])
    else:
        del lines[i]
    return "\n".join(lines)


#: Words that can stand in for each other without breaking the grammar.
SWAPS: tuple[tuple[str, ...], ...] = (
    ("read", "write", "destructive"), ("low", "medium", "high"), ("read_only", "read_write"),
    ("abort", "escalate"), ("string", "int", "number", "bool", "path", "url"), ("true", "false"),
    ("==", "!=", "<", "<=", ">", ">="), ("and", "or"),
    ("invalid_input", "denied", "timeout", "error", "crash", "invalid_output", "uncertain", "sandbox", "budget",
     "any"),
)
_NUMBER = re.compile(r"(?<![\w.])[0-9]+(?:\.[0-9]+)?")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_NAME = re.compile(r"\b[a-z_][a-z0-9_]*\b|\b[A-Z][A-Za-z0-9]*\b")


@st.composite
def near_valid_specs(draw: st.DrawFn) -> str:
    """An example spec after edits that mostly keep it parseable, so that the passes after the
    parser see odd but well-formed agents: names, numbers, strings and keywords swapped for others
    of their kind, whole statements dropped or repeated."""
    spec = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["name", "number", "string", "keyword", "drop_line", "repeat_line"]))
        if kind in ("drop_line", "repeat_line"):
            lines = spec.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = [] if kind == "drop_line" else [lines[i], lines[i]]
            spec = "\n".join(lines)
            continue
        pattern = {"name": _NAME, "number": _NUMBER, "string": _STRING}.get(kind)
        if pattern is None:
            group = draw(st.sampled_from(SWAPS))
            pattern = re.compile("|".join(rf"(?<![\w=<>!]){re.escape(w)}(?![\w=])" for w in group))
            replacement = draw(st.sampled_from(group))
        elif kind == "number":
            replacement = draw(st.sampled_from(["0", "1", "2", "3", "0.0", "0.5", "0.999", "1.0", "100000",
                                                "4294967296", "99999999999999999999"]))
        else:
            found = pattern.findall(spec) or ["x"]
            pool = [*found, '"/"', '"/etc"', '"./missing"', '"specc/base"', '"a:1"', '"[("'] if kind == "string" \
                else found
            replacement = draw(st.sampled_from(sorted(set(pool))))
        matches = list(pattern.finditer(spec))
        if matches:
            m = matches[draw(st.integers(0, len(matches) - 1))]
            spec = spec[: m.start()] + replacement + spec[m.end():]
    return spec


def assert_sound(result: Compilation, path: str) -> None:
    """The diagnostics are values that every consumer can trust, and every renderer takes them."""
    assert result.path == path
    line_count = result.source.count("\n") + 1 if result.source is not None else None
    for d in result.diagnostics:
        assert d.code in ALL_CODES and BY_CODE[d.code.code] is d.code, d
        assert isinstance(d.severity, Severity), d
        assert d.file == path, d
        assert d.message and "\n" not in d.message, d
        span = d.span
        assert 1 <= span.line and 1 <= span.column, d
        assert (span.end_line, span.end_column) >= (span.line, span.column), d
        if line_count is not None:
            assert span.line <= line_count, d
        for label in d.labels:
            assert 1 <= label.span.line and 1 <= label.span.column, d
    for colour in (False, True):
        rendered = text(result.diagnostics, {path: result.source}, colour)
        assert isinstance(rendered, str)
        rendered.encode("utf-8")
        assert summary(result.diagnostics, 1, colour)
    # what the CLI writes must be writable as UTF-8: a lone surrogate in a message is not
    rendered_json, rendered_sarif = as_json(result.diagnostics), as_sarif(result.diagnostics)
    rendered_json.encode("utf-8")
    rendered_sarif.encode("utf-8")
    document = json.loads(rendered_json)
    assert len(document["diagnostics"]) == len(result.diagnostics)
    sarif = json.loads(rendered_sarif)
    assert len(sarif["runs"][0]["results"]) == len(result.diagnostics)
    if result.source is None:  # only bytes that are not UTF-8 text, or too many of them, have no source
        assert result.has_errors and result.diagnostics[0].code.name in {"encoding", "syntax"}


def test_the_bases_check_without_errors() -> None:
    """The mutations start from specs that are right, so what the fuzzer finds is its own doing."""
    assert BASES
    for spec in BASES:
        if "several mistakes" in spec:
            continue
        result = compile_source(spec, "base.agent")
        assert not result.has_errors, [d.message for d in result.diagnostics]


@fuzz_settings(in_ci=1200, local=300)
@given(spec=mutated_specs())
def test_mutated_specs_never_raise(spec: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_sound(compile_source(spec, "mutated.agent"), "mutated.agent")
    assert not caught, [str(w.message) for w in caught]  # a warning would reach the user's stderr


@fuzz_settings(in_ci=800, local=150)
@given(spec=near_valid_specs())
def test_near_valid_specs_never_raise(spec: str) -> None:
    assert_sound(compile_source(spec, "near.agent"), "near.agent")


@fuzz_settings(in_ci=300, local=60)
@given(spec=mutated_specs(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
def test_mutated_specs_as_bytes_never_raise(spec: str, encoding: str) -> None:
    try:
        data = spec.encode(encoding)
    except UnicodeEncodeError:
        data = spec.encode("utf-8", "surrogatepass")
    assert_sound(compile_source(data, "bytes.agent"), "bytes.agent")


@fuzz_settings(in_ci=800, local=200)
@given(data=st.binary(max_size=4096))
@example(data=b"")
@example(data=b"\xef\xbb\xbf")
@example(data=b"\x00")
@example(data=b"agent a {\n" + b"\xff" * 3 + b"\n}\n")
@example(data=b"\xc3")
@example(data=b"\n" * 1000 + b"\x80")
def test_random_bytes_never_raise(data: bytes) -> None:
    assert_sound(compile_source(data, "random.agent"), "random.agent")


@fuzz_settings(in_ci=300, local=60)
@given(prefix=st.integers(0, 4000), junk=st.binary(min_size=1, max_size=64))
def test_a_valid_spec_with_junk_bytes_inside_never_raises(prefix: int, junk: bytes) -> None:
    data = BASES[0].encode("utf-8")
    at = min(prefix, len(data))
    assert_sound(compile_source(data[:at] + junk + data[at:], "junk.agent"), "junk.agent")


@fuzz_settings(in_ci=300, local=60)
@given(source=st.text(max_size=2000))
def test_random_text_never_raises(source: str) -> None:
    assert_sound(compile_source(source, "text.agent"), "text.agent")


# --- found by fuzzing: each with its own example -------------------------------------------------


def test_a_regex_python_warns_about_leaves_stderr_clean(tmp_path: Path) -> None:
    """`[[` and `&&` in a character class make Python emit a FutureWarning ("possible nested set");
    neither `specc check` nor a run's contract check prints it."""
    from specc.runtime.values import validate

    spec = tmp_path / "regex.agent"
    spec.write_text('agent a {\n  limits {\n    steps 5\n    wall 1m\n  }\n  input {\n'
                    '    s: string /[[x]y/\n    t: string /[x&&z]/\n  }\n}\n')
    result = subprocess.run([sys.executable, "-W", "default", "-m", "specc.cli", "check", str(spec)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    assert result.stderr == ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate("[y", {"type": "string", "pattern": "[[q]y"}, "input.s")
    assert not caught


def test_the_benchmark_spec_keeps_steps_within_the_checker_bound() -> None:
    """bench/gen_spec.py wrote `steps` of four an action, past the checker's 10,000 beyond 2,500."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from gen_spec import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from specc.passes.limits import BOUNDS

    for actions in (64, 2_500, 2_600, 9_000):
        steps = int(re.search(r"^    steps (\d+)$", generate(actions), re.M).group(1))  # type: ignore[union-attr]
        assert actions <= steps <= BOUNDS["steps"][1], (actions, steps)
