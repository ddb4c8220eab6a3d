"""`specc test`: every case of every example holds on the stub backend; a planted difference is
found and shown side by side; the reports' shapes; bad scenario files and specs; and one example's
cases through real containers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner, Result

from specc.cli import main
from specc.compiler import compile_file
from specc.runtime import spectest
from specc.runtime.backend import AttemptRequest, AttemptResult, Delegating, Report
from specc.runtime.stub_backend import StubBackend

SPECS = Path(__file__).resolve().parents[2] / "specs"
EXAMPLES = sorted(p for p in SPECS.glob("*/*.agent"))


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_case_of_every_example_holds_on_the_stub_backend(spec: Path) -> None:
    done = cli("test", str(spec), "--format", "json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["version"] == 1 and report["failed"] == 0 and report["passed"] == len(report["cases"]) > 20
    kinds = {(c["action"], c["kind"]) for c in report["cases"]}
    ir = compile_file(str(spec)).ir
    for action in spectest.reachable_actions(ir):
        assert {(action.name, k) for k in spectest.INJECTED} <= kinds
        if action.approval == "required":
            assert (action.name, "denied") in kinds
    for case in report["cases"]:
        assert {"action", "kind", "mode", "ok", "expected", "observed"} <= set(case)
        if case["mode"] != "scenario":
            assert {"status", "attempts", "ran"} <= set(case["expected"]) and case["mode"] in ("once", "always")
    scenarios = [c for c in report["cases"] if c["mode"] == "scenario"]
    assert scenarios, f"{spec.parent.name} has no scenario file"


class Disobeying(Delegating):
    """A backend that reports every injected timeout as an error: the run then follows the
    handler for `error`, not the one the spec declares for `timeout`."""

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        result = self.inner.run(request, report)
        if result.kind == "timeout":
            result.kind, result.exit_code, result.detail = "error", 1, "exited with status 1"
        return result


def refund_target(**options: Any) -> spectest.Target:
    spec = SPECS / "refund" / "refund.agent"
    ir = compile_file(str(spec)).ir
    canned, _ = spectest.load_scenarios(spec.with_suffix(".scenarios.json"), ir)
    value = json.loads((spec.parent / "input.json").read_text())
    return spectest.Target(ir, value, canned, StubBackend, **options)


def test_a_planted_difference_is_found_with_both_sides_shown() -> None:
    results = spectest.run_all(refund_target(wrap=Disobeying), only="lookup_order")
    failed = [r for r in results if not r.ok]
    assert {(r.case.kind, r.case.mode) for r in failed} == {("timeout", "once"), ("timeout", "always")}
    always = next(r for r in failed if r.case.mode == "always")
    # declared: `on timeout ... retry 2 ... then abort`: three attempts; observed: error's handler, one
    assert always.expected.attempts == 3 and always.observed.attempts == 1
    assert any("attempts: declared 3, observed 1" in p for p in always.problems)
    assert all(r.ok for r in results if r.case.kind != "timeout")


def test_the_cli_shows_a_difference_and_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    original = spectest.Target.__init__

    def planted(self: spectest.Target, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.wrap = Disobeying

    monkeypatch.setattr(spectest.Target, "__init__", planted)
    done = cli("test", str(SPECS / "refund" / "refund.agent"), "--only", "lookup_order")
    assert done.exit_code == 1
    assert "lookup_order timeout always" in done.stdout
    assert "declared: " in done.stdout and "observed: " in done.stdout
    assert "cases differ from the spec" in done.stderr


def test_junit_lists_every_case() -> None:
    done = cli("test", str(SPECS / "invoice" / "invoice.agent"), "--format", "junit")
    assert done.exit_code == 0, done.output
    suite = ElementTree.fromstring(done.stdout.split("?>", 1)[1])
    assert suite.tag == "testsuite" and suite.get("failures") == "0"
    assert int(suite.get("tests") or 0) == len(suite.findall("testcase")) > 20


def test_only_an_unknown_action_is_a_usage_error() -> None:
    done = cli("test", str(SPECS / "invoice" / "invoice.agent"), "--only", "pya")
    assert done.exit_code == 2 and "did you mean `pay`" in done.output


def copy_example(tmp_path: Path, name: str) -> Path:
    shutil.copytree(SPECS / name, tmp_path / name)
    return tmp_path / name / f"{name}.agent"


@pytest.mark.parametrize(("edit", "said"), [
    (lambda text: text.replace('"scenarios": [', '"scenarios": [,'), "refund.scenarios.json:"),
    (lambda text: text.replace('"issue_refund": [{"fail": "error"}]', '"isue_refund": [{"fail": "error"}]'),
     "`isue_refund`, which is not an action of `refund`; did you mean `issue_refund`?"),
    (lambda text: text.replace('{"fail": "error"}', '{"fail": "gremlins"}'), "with KIND one of"),
    (lambda text: text.replace('"expect": {"status": "succeeded"', '"expect": {"status": "fine"'), "expect.status"),
])
def test_a_bad_scenario_file_is_a_located_error(tmp_path: Path, edit: Any, said: str) -> None:
    spec = copy_example(tmp_path, "refund")
    scenarios = spec.with_suffix(".scenarios.json")
    scenarios.write_text(edit(scenarios.read_text()))
    done = cli("test", str(spec))
    assert done.exit_code == 2, done.output
    assert said in done.output and str(scenarios) in done.output


def test_a_spec_with_errors_exits_as_check_would(tmp_path: Path) -> None:
    spec = copy_example(tmp_path, "invoice")
    spec.write_text(spec.read_text().replace("pay(invoice: invoice", "pya(invoice: invoice"))
    done = cli("test", str(spec))
    assert done.exit_code == 1, done.output
    assert "`pya`" in done.output and "nothing was run" in done.output


def test_a_scenario_that_does_not_hold_fails(tmp_path: Path) -> None:
    spec = copy_example(tmp_path, "refund")
    scenarios = spec.with_suffix(".scenarios.json")
    scenarios.write_text(scenarios.read_text().replace('"reason": "the refund was not approved"',
                                                       '"reason": "the refund was approved"'))
    done = cli("test", str(spec), "--format", "json")
    assert done.exit_code == 1
    failed = [c for c in json.loads(done.stdout)["cases"] if not c["ok"]]
    assert [c["kind"] for c in failed] == ["a denied refund is never issued"]
    assert "reason: expected `the refund was approved`" in failed[0]["problems"][0]


@pytest.mark.usefixtures("docker_client")
def test_an_example_on_docker(tmp_path: Path) -> None:
    """Every generated case of the refund example through real containers: the real sandbox's
    classification of exit 1 and 3, junk, the out-of-memory killer, a timeout and an engine that
    cannot start the container is what the handlers answer."""
    spec = copy_example(tmp_path, "refund")
    (spec.parent / "ledger").chmod(0o777)
    done = cli("test", str(spec), "--backend", "docker", "--format", "json")
    report = json.loads(done.stdout)
    assert done.exit_code == 0, [c for c in report["cases"] if not c["ok"]]
    assert report["failed"] == 0 and report["passed"] > 40
