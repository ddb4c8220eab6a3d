"""`specc test`: fault injection generated from the spec, and the team's own scenarios.

For every action a run can reach and every failure that can happen to it, a case injects the
failure once (the first attempt fails) or always (every attempt fails), runs the agent through the
one door with every other action answering a canned result, and compares what happened with what
the IR's handlers declare: the attempts, the backoffs within their bounds, the fallback that ran,
the pause or failure with its declared reason, nothing run after the end, no non-idempotent action
run twice, a complete and verifiable event trail, nothing left behind. The expectation is worked
out here from the handlers alone, not by the runtime under test.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from specc.handling import chain, final
from specc.ir import IR, ActionIR, StrategyIR

from . import events as ev
from .backend import AttemptRequest, AttemptResult, Backend, Delegating, Report
from .run import Outcome, Position, Run, reachable_actions
from .samples import NoSample, sample
from .store import RunStore
from .stub_backend import fail, succeed
from .workflow import run_workflow

#: The failures a backend can bring about for any action.
INJECTED = ("timeout", "error", "crash", "invalid_output", "uncertain", "sandbox")
RETRYABLE = frozenset({"timeout", "error", "crash", "invalid_output", "sandbox"})
Mode = Literal["once", "always"]


@dataclass(frozen=True)
class Case:
    """One failure of one action: `kind` injected `once` or `always`; `budget` for the run's limits."""

    action: str
    kind: str
    mode: Mode

    @property
    def name(self) -> str:
        return f"{self.action} {self.kind} {self.mode}"


@dataclass
class Behaviour:
    """How a run went, as far as a case compares it."""

    status: str
    attempts: int
    ran: list[str]
    reason: str | None = None
    backoffs: list[tuple[float, float]] = field(default_factory=list)
    #: parallel to `ran`: whether that attempt's call asked a person for an approval
    asked: list[bool] = field(default_factory=list)

    def shown(self) -> dict[str, Any]:
        return {"status": self.status, "attempts": self.attempts, "ran": self.ran, "reason": self.reason}


@dataclass
class CaseResult:
    case: Case
    expected: Behaviour
    observed: Behaviour
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"action": self.case.action, "kind": self.case.kind, "mode": self.case.mode, "ok": self.ok,
                "expected": self.expected.shown(), "observed": self.observed.shown(), "problems": self.problems}


class SpecTestError(Exception):
    """The cases cannot run (no sample input, an unusable scenario); the message says why."""


# -- the cases -----------------------------------------------------------------------------------


def cases_for(ir: IR, only: str | None = None) -> list[Case]:
    """Every failure of every action a run can reach (or of `only`), once and always; the run's
    budget last."""
    found: list[Case] = []
    for action in reachable_actions(ir):
        if only is not None and action.name != only:
            continue
        for kind in INJECTED:
            found.extend(Case(action.name, kind, mode) for mode in ("once", "always"))
        if action.approval == "required":
            found.append(Case(action.name, "denied", "always"))
    if only is None and ir.workflow is not None:
        found.append(Case("*", "budget", "always"))
    return found


# -- what the handlers declare -------------------------------------------------------------------


def retries(strategy: StrategyIR) -> list[tuple[float, float]]:
    """The backoff bounds of every retry a strategy grants, in order."""
    bounds: list[tuple[float, float]] = []
    for step in chain(strategy):
        if step.kind != "retry":
            break
        bounds.extend([(step.backoff_min_ms / 1000, step.backoff_max_ms / 1000)] * step.count)
    return bounds


def expected(ir: IR, case: Case, steps: list[tuple[str, bool]]) -> Behaviour:
    """What the IR declares for `case`, given the actions of the happy path's steps in order, each
    with whether it asked for an approval (an `approval required when` asks only for some calls)."""
    ran: list[str] = []
    backoffs: list[tuple[float, float]] = []
    limit = ir.limits["steps"]
    failed_once = False

    def attempt(action: str) -> bool:
        """Record one attempt; False when the budget forbids it."""
        if len(ran) >= limit:
            return False
        ran.append(action)
        return True

    def budget() -> Behaviour:
        strategy = ir.budget_handler.strategy
        status = "escalated" if strategy.kind == "escalate" else "failed"
        return Behaviour(status, ran.count(case.action), ran, strategy.reason, backoffs)

    if case.kind == "budget":
        limit = max(0, len(steps) - 1)
        for action, _ in steps:
            if not attempt(action):
                return budget()
        return Behaviour("succeeded", 0, ran)
    for action, asked in steps:
        if action != case.action or (case.mode == "once" and failed_once) or (case.kind == "denied" and not asked):
            if not attempt(action):
                return budget()
            continue
        failed_once = True
        handler = ir.actions[action].handlers[case.kind].strategy
        if case.kind != "denied":
            if not attempt(action):
                return budget()
            granted = retries(handler) if case.kind in RETRYABLE else []
            if case.mode == "once" and granted:
                backoffs.append(granted[0])
                if not attempt(action):
                    return budget()
                continue
            for bounds in granted:
                backoffs.append(bounds)
                if not attempt(action):
                    return budget()
        then = final(handler) or StrategyIR(kind="abort")
        if then.kind == "fallback" and then.target is not None:
            if not attempt(then.target):
                return budget()
            continue
        status = "escalated" if then.kind == "escalate" else "failed"
        return Behaviour(status, ran.count(case.action), ran, then.reason, backoffs)
    return Behaviour("succeeded", ran.count(case.action), ran, None, backoffs)


# -- injection -----------------------------------------------------------------------------------


class Injector(Delegating):
    """Wraps a backend: the action under test fails as the case says, every other attempt answers
    its canned result. With the stub backend nothing runs; with Docker every attempt runs in its
    real, hardened container, the failure caused by a real tool (exit 1 or 3, junk on stdout, the
    out-of-memory killer, sleeping past the timeout, a user the engine cannot start)."""

    def __init__(self, inner: Backend, ir: IR, canned: Mapping[str, list[dict[str, Any]]], case: Case | None,
                 *, docker: bool) -> None:
        super().__init__(inner)
        self.ir = ir
        self.canned = canned
        self.case = case
        self.docker = docker
        self.attempts: dict[str, int] = {}
        self.failed = False

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        count = self.attempts.get(request.action, 0)
        self.attempts[request.action] = count + 1
        case = self.case
        if case is not None and case.action == request.action and case.kind in INJECTED \
                and (case.mode == "always" or not self.failed):
            self.failed = True
            return self._failure(request, case.kind, report)
        answers = self.canned.get(request.action) or [{"result": None}]
        answer = answers[min(count, len(answers) - 1)]
        if "fail" in answer:
            return self._failure(request, str(answer["fail"]), report)
        return self._result(request, answer.get("result"), report)

    def _result(self, request: AttemptRequest, value: Any, report: Report) -> AttemptResult:
        if not self.docker:
            return succeed(value)
        code = f"import sys; sys.stdin.read(); print({json.dumps(json.dumps(value))})"
        return self.inner.run(_python(request, code), report)

    def _failure(self, request: AttemptRequest, kind: str, report: Report) -> AttemptResult:
        if not self.docker:
            return fail(kind, f"injected {kind}")
        programs = {
            "error": "import sys; sys.stdin.read(); print('injected error', file=sys.stderr); sys.exit(1)",
            "uncertain": "import sys; sys.stdin.read(); sys.exit(3)",
            "invalid_output": "import sys; sys.stdin.read(); print('this is not JSON')",
            "crash": "import sys; sys.stdin.read(); hog = [b'x' * 2 ** 20 for _ in range(1 << 16)]",
            "timeout": "import sys, time; sys.stdin.read(); time.sleep(3600)",
            "sandbox": "print('never runs')",
        }
        changed = _python(request, programs[kind])
        if kind == "timeout":  # the sleep outlasts a short timeout, not the action's own
            changed = _replace(changed, limits=_replace(changed.limits, timeout_s=min(changed.limits.timeout_s, 2.0)))
        if kind == "sandbox":  # a user no image has: the engine cannot start the container
            changed = _replace(changed, user="specc-no-such-user")
        return self.inner.run(changed, report)


def _replace(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _python(request: AttemptRequest, code: str) -> AttemptRequest:
    changed: AttemptRequest = _replace(request, argv=("python3", "-c", code))
    return changed


# -- running -------------------------------------------------------------------------------------


@dataclass
class Target:
    """What the cases run against: the IR, the run's input, the canned results, the backend."""

    ir: IR
    value: Any
    canned: dict[str, list[dict[str, Any]]]
    backend: Callable[[], Backend]
    docker: bool = False
    #: wraps the injecting backend (the tests plant a backend that disobeys, to see a case fail)
    wrap: Callable[[Backend], Backend] | None = None


def canned_results(ir: IR) -> dict[str, list[dict[str, Any]]]:
    """A result every action's contract admits, for the attempts a case does not inject into."""
    canned: dict[str, list[dict[str, Any]]] = {}
    for action in ir.actions.values():
        try:
            canned[action.name] = [{"result": sample(action.output_schema) if action.output_schema else None}]
        except NoSample as exc:
            raise SpecTestError(f"{exc}; give `{action.name}` a result in a scenario") from None
    return canned


def sample_input(ir: IR) -> Any:
    if ir.input_schema is None:
        return {}
    try:
        return sample(ir.input_schema, where="input")
    except NoSample as exc:
        raise SpecTestError(f"{exc}; give an input with `--input`") from None


@contextmanager
def _store() -> Iterator[RunStore]:
    with tempfile.TemporaryDirectory(prefix="specc-test-") as folder, RunStore(os.path.join(folder, "runs.db")) as s:
        yield s


def observe(target: Target, case: Case | None, *, deny: Collection[str] = (),
            steps_limit: int | None = None, turns: list[dict[str, Any]] | None = None,
            canned: Mapping[str, list[dict[str, Any]]] | None = None) -> tuple[Behaviour, list[str], Outcome]:
    """Run the agent once under `case` (None: the happy path) and say what happened."""
    ir = target.ir
    sleeps: list[float] = []
    env = {var.name: "specc-test-value" for action in ir.actions.values() for var in action.env}
    inner = target.backend()
    injector = Injector(inner, ir, canned if canned is not None else target.canned, case, docker=target.docker)
    backend: Backend = target.wrap(injector) if target.wrap is not None else injector

    prompted: set[str] = set()

    def decide(label: str, action: ActionIR, arguments: Any) -> tuple[bool, str | None]:
        prompted.add(label)
        denied = action.name in deny
        return (not denied, "denied by the test" if denied else None)

    problems: list[str] = []
    with _store() as store:
        try:
            run = Run.start(ir, store, backend, target.value, env=env, sleep=sleeps.append, prompt=decide)
            if steps_limit is not None:
                run.budget.steps = steps_limit
            if ir.workflow is not None:
                outcome = run_workflow(run)
            else:
                outcome = _drive_planner(run, ir, turns, case)
        finally:
            backend.close()
        stored = store.events(run.run_id)
        trail = [e.event for e in stored]
        problems.extend(store.verify(run.run_id))
    ran = [e.action for e in trail if isinstance(e, ev.AttemptIntent)]
    asked = [e.step in prompted for e in trail if isinstance(e, ev.AttemptIntent)]
    # attempts are numbered per step: an attempt is its step, its action and its number there
    intents = Counter((e.index, e.action, e.attempt) for e in trail if isinstance(e, ev.AttemptIntent))
    outcomes = Counter((e.index, e.action, e.attempt) for e in trail if isinstance(e, ev.AttemptOutcome))
    if intents != outcomes:
        cut = sorted(f"{action} attempt {n} at step {index}" for index, action, n in intents - outcomes)
        problems.append(f"attempts {cut} have an intent and no outcome in the trail")
    if not trail or not isinstance(trail[-1], ev.RunFinished):
        problems.append("the trail does not end with the run's outcome")
    for action in set(ran):
        if not ir.actions[action].idempotent and ran.count(action) > 1:
            problems.append(f"`{action}` is not idempotent and ran {ran.count(action)} times")
    if target.docker:
        problems.extend(_left_behind(inner, run.run_id))
    attempts = ran.count(case.action) if case is not None else 0
    return Behaviour(outcome.status, attempts, ran, outcome.reason, [(s, s) for s in sleeps], asked), problems, outcome


def _drive_planner(run: Run, ir: IR, turns: list[dict[str, Any]] | None, case: Case | None) -> Outcome:
    """A planner's case calls the action under test once through the door, with sample arguments;
    a scenario's scripted turns drive the real planner loop."""
    if turns is not None:
        from .planner import run_planner
        from .scripted_model import ScriptedModel

        assert ir.planner is not None
        with ScriptedModel(turns) as model:
            from .model import ModelClient

            client = ModelClient(model.url, ir.planner.model, timeout_s=ir.planner.timeout_ms / 1000)
            try:
                return run_planner(run, client)
            finally:
                client.close()
    assert case is not None
    action = ir.actions[case.action]
    at = Position(0, case.action)
    try:
        arguments = sample(action.input_schema, where=action.name)
    except NoSample as exc:
        return run.finish("failed", 1, reason=str(exc))
    outcome = run.call(action.name, arguments, at=at)
    if isinstance(outcome, Outcome):  # pragma: no cover - call returns call outcomes
        return outcome
    from .run import Done

    if isinstance(outcome, Done):
        return run.finish("succeeded", 0, result=outcome.result)
    return run.stop(outcome, at)


def _left_behind(backend: Backend, run_id: str) -> list[str]:
    client = getattr(backend, "client", None)
    if client is None:
        return []
    found = client.containers.list(all=True, ignore_removed=True, filters={"label": [f"specc.run_id={run_id}"]})
    return [f"container `{c.name}` was left behind" for c in found]


def happy_path(target: Target) -> list[tuple[str, bool]]:
    """The actions of the workflow's steps as a run with no failure takes them, each with whether
    it asked for an approval."""
    behaviour, problems, outcome = observe(target, None)
    if outcome.status != "succeeded" or problems:
        raise SpecTestError(f"the run with every action succeeding did not succeed ({outcome.status}: "
                            f"{outcome.reason or '; '.join(problems)}); give inputs or canned results that reach "
                            "every step in a scenario")
    return list(zip(behaviour.ran, behaviour.asked, strict=True))


def run_case(target: Target, case: Case, steps: list[tuple[str, bool]]) -> CaseResult:
    if target.ir.workflow is None:
        steps = [(case.action, True)]
    want = expected(target.ir, case, steps)
    if case.kind == "budget":
        seen, problems, _ = observe(target, case, steps_limit=max(0, len(steps) - 1))
    else:
        seen, problems, _ = observe(target, case, deny={case.action} if case.kind == "denied" else ())
    return CaseResult(case, want, seen, problems + compare(want, seen))


def compare(want: Behaviour, seen: Behaviour) -> list[str]:
    problems = []
    if seen.status != want.status:
        problems.append(f"status: declared {want.status}, observed {seen.status} ({seen.reason})")
    if seen.attempts != want.attempts:
        problems.append(f"attempts: declared {want.attempts}, observed {seen.attempts}")
    if seen.ran != want.ran:
        problems.append(f"actions run: declared {want.ran}, observed {seen.ran}")
    if want.reason and want.reason not in (seen.reason or ""):
        problems.append(f"reason: declared `{want.reason}`, observed `{seen.reason}`")
    if len(seen.backoffs) != len(want.backoffs):
        problems.append(f"backoffs: declared {len(want.backoffs)}, observed {len(seen.backoffs)}")
    else:
        for (waited, _), (low, high) in zip(seen.backoffs, want.backoffs, strict=True):
            if not low - 1e-6 <= waited <= high + 1e-6:
                problems.append(f"a backoff of {waited:.3f}s is outside its declared {low:g}..{high:g}s")
    return problems


def run_all(target: Target, only: str | None = None,
            progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    steps = happy_path(target) if target.ir.workflow is not None else []
    results = []
    for case in cases_for(target.ir, only):
        result = run_case(target, case, steps)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


# -- scenarios -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    value: Any
    canned: dict[str, list[dict[str, Any]]]
    approvals: str
    turns: list[dict[str, Any]] | None
    expect: dict[str, Any]
    line: int


def load_scenarios(path: Path, ir: IR) -> tuple[dict[str, list[dict[str, Any]]], list[Scenario]]:
    """The canned results of a scenario file (for the generated cases and as every scenario's
    defaults) and its scenarios (format in docs/testing.md); raises `SpecTestError` with the file,
    line and column of what is wrong."""
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise SpecTestError(f"{path}:{line}:{column}: not JSON: {getattr(exc, 'msg', exc)}") from None

    def where(needle: str) -> str:
        index = text.find(needle)
        line = text.count("\n", 0, index) + 1 if index >= 0 else 1
        return f"{path}:{line}"

    if not isinstance(document, dict) or not isinstance(document.get("scenarios", []), list):
        raise SpecTestError(f"{path}:1: expected an object with `results` and a list `scenarios`")
    unknown_top = set(document) - {"results", "scenarios"}
    if unknown_top:
        raise SpecTestError(f"{path}:1: unknown keys {sorted(unknown_top)}; a scenario file has `results` and "
                            "`scenarios`")

    def answers_of(results: Any, owner: str) -> dict[str, list[dict[str, Any]]]:
        canned = canned_results(ir)
        if not isinstance(results, dict):
            raise SpecTestError(f"{path}: the `results` of {owner} are an object: action -> answers")
        for action, answers in results.items():
            if action not in ir.actions:
                from specc.diagnostics import did_you_mean

                hint = did_you_mean(action, set(ir.actions))
                raise SpecTestError(f"{where(json.dumps(action))}: {owner} names `{action}`, which is not an "
                                    f"action of `{ir.agent}`" + (f"; {hint}" if hint else ""))
            answers = answers if isinstance(answers, list) else [answers]
            for answer in answers:
                if not isinstance(answer, dict) or not ({"result"} <= set(answer) or {"fail"} <= set(answer)) \
                        or answer.get("fail", "error") not in INJECTED:
                    kinds = ", ".join(INJECTED)
                    raise SpecTestError(f"{where(json.dumps(action))}: each answer of `{action}` is "
                                        f'{{"result": VALUE}} or {{"fail": KIND}} with KIND one of {kinds}')
            canned[action] = answers
        return canned

    defaults = answers_of(document.get("results") or {}, "the file")
    found = []
    for number, raw in enumerate(document["scenarios"], 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise SpecTestError(f"{path}: scenario {number} has no `name`")
        name = raw["name"]
        at = where(f'"{name}"')
        unknown = set(raw) - {"name", "input", "results", "approvals", "model", "expect"}
        if unknown:
            raise SpecTestError(f"{at}: scenario `{name}` has unknown keys {sorted(unknown)}")
        canned = {**defaults, **{k: v for k, v in answers_of(raw.get("results") or {}, f"scenario `{name}`").items()
                                 if k in (raw.get("results") or {})}}
        approvals = raw.get("approvals", "grant")
        if approvals not in ("grant", "deny"):
            raise SpecTestError(f"{at}: `approvals` is `grant` or `deny`")
        expect = raw.get("expect") or {}
        if not isinstance(expect, dict) or expect.get("status") not in (
                "succeeded", "failed", "escalated", "awaiting-approval"):
            raise SpecTestError(f"{at}: scenario `{name}` needs `expect.status`: succeeded, failed, escalated or "
                                "awaiting-approval")
        value = raw.get("input", {})
        if isinstance(value, str) and value.startswith("@"):
            try:
                value = json.loads((path.parent / value[1:]).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SpecTestError(f"{at}: cannot read the input `{value}`: {exc}") from None
        turns = raw.get("model")
        if turns is not None and ir.planner is None:
            raise SpecTestError(f"{at}: scenario `{name}` scripts a model, but `{ir.agent}` has no planner")
        found.append(Scenario(name, value, canned, approvals, turns, expect, int(at.rsplit(":", 1)[1])))
    return defaults, found


@dataclass
class ScenarioResult:
    scenario: Scenario
    observed: Behaviour
    result: Any
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def run_scenario(target: Target, scenario: Scenario) -> ScenarioResult:
    from .values import ValueRejected, validate

    if target.ir.input_schema is not None:
        try:
            validate(scenario.value, target.ir.input_schema, "input")
        except ValueRejected as exc:
            return ScenarioResult(scenario, Behaviour("rejected", 0, []), None, [f"the input is refused: {exc}"])
    scoped = Target(target.ir, scenario.value, scenario.canned, target.backend, target.docker, target.wrap)
    denied = {a.name for a in target.ir.actions.values() if a.approval == "required"} \
        if scenario.approvals == "deny" else set()
    seen, problems, outcome = observe(scoped, None, turns=scenario.turns, deny=denied)
    expect = scenario.expect
    if seen.status != expect["status"]:
        problems.append(f"status: expected {expect['status']}, observed {seen.status} ({seen.reason})")
    if "result" in expect and outcome.result != expect["result"]:
        problems.append(f"result: expected {json.dumps(expect['result'])}, observed {json.dumps(outcome.result)}")
    if "reason" in expect and str(expect["reason"]) not in (seen.reason or ""):
        problems.append(f"reason: expected `{expect['reason']}`, observed `{seen.reason}`")
    if "ran" in expect and seen.ran != expect["ran"]:
        problems.append(f"actions run: expected {expect['ran']}, observed {seen.ran}")
    return ScenarioResult(scenario, seen, outcome.result, problems)


# -- reports -------------------------------------------------------------------------------------


def report_json(results: list[CaseResult], scenarios: list[ScenarioResult]) -> dict[str, Any]:
    cases = [r.as_json() for r in results]
    cases += [{"action": "scenario", "kind": s.scenario.name, "mode": "scenario", "ok": s.ok,
               "expected": s.scenario.expect, "observed": s.observed.shown(), "problems": s.problems}
              for s in scenarios]
    passed = sum(1 for c in cases if c["ok"])
    return {"version": 1, "cases": cases, "passed": passed, "failed": len(cases) - passed}


def report_junit(agent: str, results: list[CaseResult], scenarios: list[ScenarioResult]) -> str:
    from xml.etree import ElementTree as ET

    failures = sum(not r.ok for r in results) + sum(not s.ok for s in scenarios)
    suite = ET.Element("testsuite", name=f"specc test {agent}", tests=str(len(results) + len(scenarios)),
                       failures=str(failures), errors="0")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"{agent}.{r.case.action}",
                             name=f"{r.case.kind} {r.case.mode}")
        if not r.ok:
            failure = ET.SubElement(case, "failure", message="; ".join(r.problems))
            failure.text = (f"declared: {json.dumps(r.expected.shown())}\nobserved: {json.dumps(r.observed.shown())}\n"
                            + "\n".join(r.problems))
    for s in scenarios:
        case = ET.SubElement(suite, "testcase", classname=f"{agent}.scenarios", name=s.scenario.name)
        if not s.ok:
            ET.SubElement(case, "failure", message="; ".join(s.problems)).text = "\n".join(s.problems)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def matrix_rows(results: list[CaseResult]) -> list[tuple[str, dict[str, str]]]:
    """Per action, per kind: `ok` marks for once and always, `FAIL` where a case differs."""
    rows: dict[str, dict[str, str]] = {}
    for r in results:
        cell = rows.setdefault(r.case.action, {}).get(r.case.kind, "")
        rows[r.case.action][r.case.kind] = cell + ("." if r.ok else "X")
    return list(rows.items())


