"""`specc stats`: observed reliability read from run stores that the real runtime wrote in-process
(`Run` driven through the stub backend, no Docker), and the Wilson interval against known values.
The CLI runs in-process through click's CliRunner."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import agent_text

from specc.cli import main
from specc.compiler import compile_file, compile_source
from specc.ir import IR
from specc.runtime.backend import AttemptResult
from specc.runtime.run import Run
from specc.runtime.stats import Z95, collect, compound, parse_since, wilson
from specc.runtime.store import RunStore
from specc.runtime.stub_backend import Answer, StubBackend, fail, succeed
from specc.runtime.workflow import run_workflow

COUNT = "type Count {\n n: int\n}"
ROOT = Path(__file__).resolve().parents[2]


def action(name: str, *, reliability: float | None = None, handler: str = "") -> str:
    claim = f"reliability {reliability}" if reliability is not None else ""
    return f"""action {name}() -> Count {{
run "python3" "/tools/{name}.py"
mount "./tools"
effect read
{claim}
{handler}
}}"""


def spec_text(actions: str, workflow: str, *, name: str = "t", target: float | None = None) -> str:
    text = agent_text(types=COUNT, output="Count", actions=actions, workflow=workflow, name=name)
    if target is not None:
        text = text.replace('  version "1.0.0"\n', f'  version "1.0.0"\n  reliability {target}\n', 1)
    return text


#: One step calling `flaky`, which claims 0.99 and is retried twice on an error.
FLAKY = spec_text(action("flaky", reliability=0.99, handler="on error retry 2 backoff 1ms..2ms then abort"),
                  "a = flaky()\nreturn a", target=0.95)
#: Two steps: `first` claims 0.9 with one retry, `second` 0.99 with none.
TWO_STEPS = spec_text(action("first", reliability=0.9, handler="on error retry 1 backoff 1ms..2ms then abort")
                      + "\n" + action("second", reliability=0.99),
                      "a = first()\nb = second()\nreturn b", name="two", target=0.95)


def write_spec(folder: Path, text: str, name: str = "agent.agent") -> tuple[Path, IR]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tools").mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    compiled = compile_source(text.encode(), str(path))
    assert not compiled.has_errors, [d.message for d in compiled.diagnostics]
    return path, compiled.ir


def record_runs(store: Path, ir: IR, answers: Mapping[str, Sequence[Answer]], runs: int) -> list[str]:
    """`runs` runs of `ir`'s workflow; each action's answers are used in turn across all of them."""
    backend = StubBackend(answers)
    statuses = []
    with RunStore(str(store)) as runs_db:
        for _ in range(runs):
            statuses.append(run_workflow(Run.start(ir, runs_db, backend, {}, sleep=lambda s: None)).status)
    return statuses


def ok() -> AttemptResult:
    return succeed({"n": 1})


def stats(*args: str) -> Result:
    return CliRunner().invoke(main, ["stats", *args], catch_exceptions=False)


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def row(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in report["actions"] if a["action"] == name]
    assert len(found) == 1, name
    return found[0]


# --- the interval --------------------------------------------------------------------------------


@pytest.mark.parametrize(("successes", "attempts", "low", "high"), [
    (0, 0, 0.0, 1.0),
    (0, 10, 0.0, 0.277533),
    (10, 10, 0.722467, 1.0),
    (1, 10, 0.017876, 0.404150),
    (50, 100, 0.403832, 0.596168),
    (95, 100, 0.888250, 0.978456),
    (990, 1000, 0.981691, 0.994559),
])
def test_wilson_bounds_match_known_values(successes: int, attempts: int, low: float, high: float) -> None:
    got = wilson(successes, attempts)
    assert got == pytest.approx((low, high), abs=1e-6)
    assert 0.0 <= got[0] <= got[1] <= 1.0


def test_wilson_bounds_are_the_roots_of_the_score_equation() -> None:
    """Independently: the bounds solve (x/n - p)^2 = z^2 p (1 - p) / n, a quadratic in p."""
    assert Z95 == pytest.approx(1.959964, abs=1e-6)
    assert wilson(0, 7)[0] == 0.0 and wilson(7, 7)[1] == 1.0
    z2 = Z95 * Z95
    for n in range(1, 60):
        for x in range(n + 1):
            a, b, c = n + z2, -(2 * x + z2), x * x / n
            root = math.sqrt(b * b - 4 * a * c)
            low, high = wilson(x, n)
            assert (low, high) == pytest.approx(((-b - root) / (2 * a), (-b + root) / (2 * a)), abs=1e-12)
            assert low <= x / n <= high


def test_the_model_with_declared_rates_reproduces_the_checkers_estimate() -> None:
    """The IR-side model (retries read from the IR's handlers) is the checker's, step for step."""
    checked = 0
    for path in sorted((ROOT / "specs").glob("*/*.agent")):
        ir = compile_file(str(path)).ir
        if ir.reliability_estimate is None:
            continue
        _, total = compound(ir, {name: a.reliability for name, a in ir.actions.items()})
        assert total == pytest.approx(ir.reliability_estimate, rel=1e-12), path
        checked += 1
    assert checked >= 2


# --- a tool failing half the time ----------------------------------------------------------------


@pytest.fixture(scope="module")
def half(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """200 runs of `flaky`, each attempt failing with probability 1/2 (seeded)."""
    folder = tmp_path_factory.mktemp("half")
    spec, ir = write_spec(folder, FLAKY)
    rng = random.Random(20260301)
    script = [ok() if rng.random() < 0.5 else fail("error") for _ in range(1000)]
    store = folder / "runs.db"
    statuses = record_runs(store, ir, {"flaky": script}, 200)
    return spec, store, statuses


def test_a_tool_failing_half_the_time_reports_a_rate_near_a_half(half: tuple[Path, Path, list[str]]) -> None:
    spec, store, statuses = half
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    flaky = row(report, "flaky")
    # every attempt of 200 runs, retries included: about 1.75 a run
    assert 300 <= flaky["attempts"] <= 400
    assert flaky["rate"] == pytest.approx(flaky["successes"] / flaky["attempts"])
    assert abs(flaky["rate"] - 0.5) < 0.07
    assert flaky["low"] < 0.5 < flaky["high"]
    assert flaky["low"] <= flaky["rate"] <= flaky["high"]
    assert flaky["high"] - flaky["low"] < 0.12
    assert flaky["declared"] == 0.99 and flaky["below"] is True
    assert flaky["failures"] == {"error": flaky["attempts"] - flaky["successes"]}
    # one step retried twice: 1 - (1 - p)^3, which is what the runs themselves show
    p = flaky["rate"]
    compounded = report["compounded"]
    assert compounded["observed"] == pytest.approx(1 - (1 - p) ** 3)
    assert compounded["target"] == 0.95
    assert compounded["low"] < compounded["observed"] < compounded["high"]
    assert compounded["below"] is True
    assert statuses.count("succeeded") == compounded["runs_succeeded"]
    assert abs(statuses.count("succeeded") / 200 - compounded["observed"]) < 0.07
    assert report["runs"] == 200 and report["agent"] == "t"


def test_the_json_shape(half: tuple[Path, Path, list[str]]) -> None:
    spec, store, _ = half
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    assert report["version"] == 1
    assert {"version", "actions", "compounded"} <= set(report)
    for entry in report["actions"]:
        assert {"action", "attempts", "successes", "rate", "low", "high", "declared", "below"} <= set(entry)
        assert isinstance(entry["below"], bool) and isinstance(entry["attempts"], int)
    assert {"observed", "target"} <= set(report["compounded"])
    assert report["note"] is None and result_is_clean(stats(str(spec), "--store", str(store), "--format", "json"))


def result_is_clean(result: Result) -> bool:
    return result.exit_code == 0 and "Traceback" not in result.output and result.stderr == ""


def test_the_text_table_flags_the_action(half: tuple[Path, Path, list[str]]) -> None:
    spec, store, _ = half
    result = stats(str(spec), "--store", str(store))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"agent `t`: 200 runs in `{store}`")
    header = next(line for line in lines if line.startswith("action"))
    assert header.split() == ["action", "attempts", "ok", "rate", "95%", "interval", "declared"]
    flaky = next(line for line in lines if line.startswith("flaky"))
    assert flaky.split()[-2:] == ["0.99", "BELOW"]
    assert "failures: flaky: error" in result.stdout
    assert "compounded observed success:" in result.stdout and "against target 0.95: BELOW target" in result.stdout


def test_without_spec_the_store_of_one_agent_is_read_with_its_own_ir(half: tuple[Path, Path, list[str]]) -> None:
    spec, store, _ = half
    with_spec = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    without = as_json(stats("--store", str(store), "--format", "json"))
    assert without["actions"] == with_spec["actions"]
    assert without["compounded"] == with_spec["compounded"]


# --- the flag and the compounding ----------------------------------------------------------------


def test_below_only_when_the_whole_interval_is_under_the_claim(tmp_path: Path) -> None:
    actions = "\n".join([action("first", reliability=0.9), action("second", reliability=0.99), action("third")])
    spec, ir = write_spec(tmp_path, spec_text(actions, "a = first()\nb = second()\nc = third()\nreturn c"))
    # each script's last answer repeats; a failure aborts the run, so 27 runs give: first 25 of 27
    # against 0.9 (the interval holds 0.9: not below), second 20 of 25 against 0.99 (below), third
    # 10 of 20 with no claim (never below)
    answers = {"first": [fail("error")] * 2 + [ok()], "second": [fail("error")] * 5 + [ok()],
               "third": [fail("error")] * 10 + [ok()]}
    record_runs(tmp_path / "runs.db", ir, answers, 27)
    report = as_json(stats(str(spec), "--store", str(tmp_path / "runs.db"), "--format", "json"))
    a, b, c = row(report, "first"), row(report, "second"), row(report, "third")
    assert [(r["attempts"], r["successes"]) for r in (a, b, c)] == [(27, 25), (25, 20), (20, 10)]
    assert a["below"] is False and a["low"] < 0.9 < a["high"]
    assert b["below"] is True and b["high"] < 0.99
    assert c["declared"] is None and c["below"] is False
    assert (a["low"], a["high"]) == pytest.approx(wilson(25, 27))


def test_the_compounded_figure_of_a_two_step_workflow(tmp_path: Path) -> None:
    spec, ir = write_spec(tmp_path, TWO_STEPS)
    store = tmp_path / "runs.db"
    # first fails every 4th attempt (retried once), second every 5th (not retried)
    record_runs(store, ir, {"first": ([ok()] * 3 + [fail("error")]) * 100,
                            "second": ([ok()] * 4 + [fail("error")]) * 100}, 40)
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    first, second = row(report, "first"), row(report, "second")
    p1, p2 = first["rate"], second["rate"]
    assert p1 == pytest.approx(0.75, abs=0.03) and p2 == pytest.approx(0.8, abs=0.03)
    compounded = report["compounded"]
    assert compounded["basis"] == "workflow"
    assert [(s["step"], s["retries"]) for s in compounded["steps"]] == [("a", 1), ("b", 0)]
    assert compounded["observed"] == pytest.approx((1 - (1 - p1) ** 2) * p2)
    assert compounded["target"] == 0.95
    assert compounded["declared"] == pytest.approx((1 - 0.1**2) * 0.99)
    lows = (1 - (1 - first["low"]) ** 2) * second["low"]
    highs = (1 - (1 - first["high"]) ** 2) * second["high"]
    assert compounded["low"] == pytest.approx(lows) and compounded["high"] == pytest.approx(highs)
    assert compounded["below"] is (highs < 0.95)


def test_a_step_never_attempted_leaves_the_compounded_figure_unknown(tmp_path: Path) -> None:
    spec, ir = write_spec(tmp_path, TWO_STEPS)
    store = tmp_path / "runs.db"
    record_runs(store, ir, {"first": [fail("error")]}, 3)  # every run aborts at `first`
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    assert row(report, "second")["attempts"] == 0 and row(report, "second")["rate"] is None
    assert report["compounded"]["observed"] is None
    text = stats(str(spec), "--store", str(store)).stdout
    assert "compounded observed success: unknown, no attempt of step `b` yet against target 0.95" in text


def test_a_planner_compounds_its_finished_runs(tmp_path: Path) -> None:
    """No fixed steps to compound: the figure is the share of finished runs that succeeded."""
    from test_planner import FINISH, SPEC, call, turn

    from specc.runtime.planner import model_client, run_planner
    from specc.runtime.scripted_model import ScriptedModel

    for folder in ("docs", "tools"):
        (tmp_path / folder).mkdir()
    (tmp_path / "docs" / "a.txt").write_text("the answer")
    text = SPEC.replace("STEPS", "20").replace('  version "1.0.0"\n', '  version "1.0.0"\n  reliability 0.9\n')
    spec, ir = write_spec(tmp_path, text, "desk.agent")
    store = tmp_path / "runs.db"
    answers: list[Answer] = [succeed({"text": "the answer"}), succeed({"text": "the answer"}), fail("error")]
    backend = StubBackend({"read_doc": answers})
    for _ in range(3):
        with ScriptedModel([turn(call("read_doc", {"file": "a.txt"})), FINISH]) as model:
            env = {"PLANNER_URL": model.url, "PLANNER_KEY": "k", "TOKEN": "t"}
            client = model_client(ir, env)
            try:
                with RunStore(str(store)) as runs:
                    run_planner(Run.start(ir, runs, backend, {"question": "?"}, env=env, sleep=lambda s: None),
                                client)
            finally:
                client.close()
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    compounded = report["compounded"]
    assert compounded["basis"] == "runs"
    assert (compounded["runs_succeeded"], compounded["runs_finished"]) == (2, 3)
    assert compounded["observed"] == pytest.approx(2 / 3)
    assert (compounded["low"], compounded["high"]) == pytest.approx(wilson(2, 3))
    assert compounded["target"] == 0.9
    assert (row(report, "read_doc")["attempts"], row(report, "read_doc")["successes"]) == (3, 2)
    assert "observed success of the planner's runs: 0.667" in stats(str(spec), "--store", str(store)).stdout


# --- --since -------------------------------------------------------------------------------------


def backdate(store: Path, run_ids: list[str], when: float) -> None:
    db = sqlite3.connect(str(store))
    try:
        db.executemany("UPDATE runs SET started = ? WHERE id = ?", [(when, r) for r in run_ids])
        db.commit()
    finally:
        db.close()


def test_since_keeps_the_runs_started_then_or_later(tmp_path: Path) -> None:
    spec, ir = write_spec(tmp_path, TWO_STEPS)
    store = tmp_path / "runs.db"
    record_runs(store, ir, {"first": [fail("error")]}, 4)  # old runs: `first` always fails
    with RunStore(str(store)) as runs:
        old = [r.id for r in runs.runs()]
    backdate(store, old, datetime(2020, 6, 1, 12).timestamp())
    record_runs(store, ir, {"first": [ok()], "second": [ok()]}, 3)  # new runs: every attempt ok
    everything = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    assert everything["runs"] == 7 and row(everything, "first")["successes"] == 3
    for since in ("2021-01-01", "2020-06-01T12:00:01", "2020-06-02T00:00:00+00:00"):
        recent = as_json(stats(str(spec), "--store", str(store), "--since", since, "--format", "json"))
        assert recent["runs"] == 3, since
        assert (row(recent, "first")["attempts"], row(recent, "first")["rate"]) == (3, 1.0)
    assert as_json(stats(str(spec), "--store", str(store), "--since", "2020-06-01", "--format", "json"))["runs"] == 7
    later = stats(str(spec), "--store", str(store), "--since", "2999-01-01")
    assert later.exit_code == 0
    assert "no run of agent `two` started since 2999-01-01 00:00:00 (its 7 runs" in later.stdout


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-02-30", "01/03/2026", ""])
def test_a_bad_date_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    result = stats("--store", str(tmp_path / "runs.db"), "--since", bad)
    assert result.exit_code == 2
    assert f"`{bad}` is not a date: give YYYY-MM-DD or an ISO timestamp" in result.stderr
    assert "Traceback" not in result.output
    with pytest.raises(ValueError):
        parse_since(bad)


def test_a_date_is_local_midnight() -> None:
    assert parse_since("2026-03-01") == datetime(2026, 3, 1).timestamp()


# --- bad input -----------------------------------------------------------------------------------


def test_no_store_says_no_runs_yet_and_creates_nothing(tmp_path: Path) -> None:
    store = tmp_path / "none" / "runs.db"
    result = stats("--store", str(store))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no runs yet (no store at `{store}`)"
    assert not store.exists() and not store.parent.exists()
    report = as_json(stats("--store", str(store), "--format", "json"))
    assert report["actions"] == [] and report["compounded"]["observed"] is None
    assert report["note"] == f"no runs yet (no store at `{store}`)"


def test_an_empty_store_says_no_runs_yet(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    RunStore(str(store)).close()
    result = stats("--store", str(store))
    assert result.exit_code == 0 and result.stdout.strip() == f"no runs yet in `{store}`"
    # with a spec, the JSON still lists what it declares, at zero attempts
    spec, _ = write_spec(tmp_path, TWO_STEPS)
    json_result = stats(str(spec), "--store", str(store), "--format", "json")
    report = as_json(json_result)
    assert [(a["action"], a["attempts"], a["rate"], a["low"], a["high"], a["below"]) for a in report["actions"]] == [
        ("first", 0, None, 0.0, 1.0, False), ("second", 0, None, 0.0, 1.0, False)]
    assert report["compounded"]["observed"] is None and report["compounded"]["target"] == 0.95
    assert json_result.stderr.strip() == f"no runs yet in `{store}`"


def test_a_store_of_another_agent_says_what_it_holds(tmp_path: Path) -> None:
    _, flaky_ir = write_spec(tmp_path / "flaky", FLAKY)
    store = tmp_path / "runs.db"
    record_runs(store, flaky_ir, {}, 2)
    spec, _ = write_spec(tmp_path / "two", TWO_STEPS)
    result = stats(str(spec), "--store", str(store))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"`{store}` holds no run of agent `two`; it holds runs of `t` (2)"
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    assert report["runs"] == 0 and all(a["attempts"] == 0 for a in report["actions"])


def test_a_store_of_other_versions_of_the_spec_only_says_so(tmp_path: Path) -> None:
    spec, ir = write_spec(tmp_path, FLAKY)
    store = tmp_path / "runs.db"
    record_runs(store, ir, {}, 2)
    spec.write_text(FLAKY.replace("reliability 0.99", "reliability 0.9"))  # a new version of the spec
    result = stats(str(spec), "--store", str(store))
    assert result.exit_code == 0
    assert "2 runs in" in result.stdout and "2 of them of other versions of the spec" in result.stdout
    assert "none of the 2 runs of agent `t` is of this version of the spec" in result.stdout
    report = as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    assert report["other_versions"] == 2 and row(report, "flaky")["declared"] == 0.9


def test_several_agents_without_a_spec_is_a_usage_error(tmp_path: Path) -> None:
    _, flaky_ir = write_spec(tmp_path / "flaky", FLAKY)
    _, two_ir = write_spec(tmp_path / "two", TWO_STEPS)
    store = tmp_path / "runs.db"
    record_runs(store, flaky_ir, {}, 1)
    record_runs(store, two_ir, {}, 2)
    result = stats("--store", str(store))
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: `{store}` holds runs of 2 agents (`t` (1), `two` (2)); name the spec "
                                     "to report on: `specc stats SPEC`")


def test_a_spec_with_errors_exits_as_check_does(tmp_path: Path) -> None:
    bad = tmp_path / "bad.agent"
    bad.write_text(FLAKY.replace("a = flaky()", "a = flakey()"))
    result = stats(str(bad), "--store", str(tmp_path / "runs.db"))
    assert result.exit_code == 1
    assert "error[" in result.stderr and "`flakey`" in result.stderr and "did you mean `flaky`" in result.stderr
    assert "error" in result.stderr.splitlines()[-1] and result.stdout == ""
    assert CliRunner().invoke(main, ["check", str(bad)]).exit_code == 1
    junk = tmp_path / "junk.agent"
    junk.write_bytes(b"\xff\xfe\x00junk")
    assert stats(str(junk), "--store", str(tmp_path / "runs.db")).exit_code == 1


def test_a_missing_spec_is_a_usage_error(tmp_path: Path) -> None:
    result = stats(str(tmp_path / "nope.agent"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize("content", [b"this is not a database at all, just text" * 100,
                                     b"SQLite format 3\x00" + b"\x01" * 200])
def test_an_unreadable_store_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    store = tmp_path / "runs.db"
    store.write_bytes(content)
    result = stats("--store", str(store))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot open the run store `{store}`") or result.stderr.startswith(
        f"error: cannot read the run store `{store}`")
    assert "Traceback" not in result.output


def test_a_store_that_is_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = stats("--store", str(tmp_path))
    assert result.exit_code == 2
    assert "is a directory" in result.stderr and "Traceback" not in result.output


def test_the_rates_are_finite_json(half: tuple[Path, Path, list[str]]) -> None:
    spec, store, _ = half
    report = collect(str(store), compile_file(str(spec)).ir).as_json()
    text = json.dumps(report, allow_nan=False)
    assert all(math.isfinite(a["low"]) and math.isfinite(a["high"]) for a in json.loads(text)["actions"])


def test_a_built_ir_names_the_agent_too(tmp_path: Path) -> None:
    spec, ir = write_spec(tmp_path, TWO_STEPS)
    store = tmp_path / "runs.db"
    record_runs(store, ir, {"first": [ok()], "second": [ok()]}, 2)
    built = tmp_path / "agent.ir.json"
    assert CliRunner().invoke(main, ["build", str(spec), "-o", str(built)]).exit_code == 0
    from_ir = as_json(stats(str(built), "--store", str(store), "--format", "json"))
    assert from_ir == as_json(stats(str(spec), "--store", str(store), "--format", "json"))
    built.write_text(built.read_text().replace('"reliability_target": 0.95', '"reliability_target": 0.5'))
    edited = stats(str(built), "--store", str(store))
    assert edited.exit_code == 1 and "was modified after it was built" in edited.stderr
