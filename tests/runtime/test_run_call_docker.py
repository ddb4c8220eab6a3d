"""The handler matrix of test_run_call.py through the Docker backend: every failure is caused by a
real tool in a real container (exit 1 or 3, a kill by the out-of-memory killer, junk on stdout,
sleeping past the timeout), so the sandbox's own classification is what the handlers answer.

(The `sandbox` kind, a container the engine refuses, is driven in-process only: a spec cannot
make the engine refuse one of its containers.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from callmatrix import STRATEGIES, Expected, compile_spec, expected, spec_text
from dockerfixtures import assert_no_container

from specc.runtime import events as ev
from specc.runtime.docker_backend import DockerBackend
from specc.runtime.run import Done, Paused, Position, Run
from specc.runtime.store import RunStore

ACT = """import json, os, sys, time
json.load(sys.stdin)
kind, mode = sys.argv[1], sys.argv[2]
marker = "/mnt/state/failed"
if mode == "once" and os.path.exists(marker):
    print(json.dumps({"n": 1}))
    sys.exit(0)
open(marker, "w").close()
if kind == "error":
    sys.exit(1)
if kind == "uncertain":
    sys.exit(3)
if kind == "crash":
    hog = b"x" * (512 * 1024 * 1024)
if kind == "timeout":
    time.sleep(60)
print("not json")
"""
#: `act` records in ./state whether it failed already, so it writes; retrying it is safe
WRITES = "effect write\n    idempotent"
SPARE = 'import json, sys\njson.load(sys.stdin)\nprint(json.dumps({"n": 2}))\n'

#: every strategy when the failure persists; the retry-twice one also when it happens once
CASES = [(strategy, "always") for strategy in sorted(STRATEGIES)] + [("retry2", "once")]


@pytest.mark.parametrize(("strategy", "mode"), CASES)
@pytest.mark.parametrize("kind", ["error", "crash", "invalid_output", "timeout"])
def test_the_handler_matrix_on_docker(docker_client: Any, tmp_path: Path, kind: str, strategy: str,
                                      mode: str) -> None:
    text = spec_text(f"on {kind} {STRATEGIES[strategy]}", timeout="3s" if kind == "timeout" else "30s",
                     mounts='mount "./state" read_write', act_effect=WRITES,
                     act_argv=f'"/tools/act.py" "{kind}" "{mode}"')
    ir, errors = compile_spec(tmp_path, text)
    assert ir is not None, errors
    (tmp_path / "tools" / "act.py").write_text(ACT)
    (tmp_path / "tools" / "spare.py").write_text(SPARE)
    (tmp_path / "state").mkdir()
    (tmp_path / "state").chmod(0o777)
    want = expected(strategy, mode)
    with RunStore(str(tmp_path / "runs.db")) as store, DockerBackend(docker_client) as backend:
        run = Run.start(ir, store, backend, {}, sleep=lambda s: None)
        call = run.call("act", {"x": 1}, at=Position(0, "r"))
        trail = [e.event for e in store.events(run.run_id)]
    outcomes = [e for e in trail if isinstance(e, ev.AttemptOutcome)]
    act = [e.kind for e in outcomes if e.action == "act"]
    assert len(act) == want.attempts, outcomes
    assert set(act) <= {kind, "ok"}, outcomes  # the real sandbox classified the failure as injected
    assert any(e.action == "spare" for e in outcomes) == want.spare
    assert_status(call, want)
    assert_no_container(docker_client, run.run_id)


def test_the_uncertain_exit_escalates_on_docker(docker_client: Any, tmp_path: Path) -> None:
    text = spec_text('on uncertain escalate "a person decides"', mounts='mount "./state" read_write',
                     act_effect=WRITES, act_argv='"/tools/act.py" "uncertain" "always"')
    ir, errors = compile_spec(tmp_path, text)
    assert ir is not None, errors
    (tmp_path / "tools" / "act.py").write_text(ACT)
    (tmp_path / "state").mkdir()
    (tmp_path / "state").chmod(0o777)
    with RunStore(str(tmp_path / "runs.db")) as store, DockerBackend(docker_client) as backend:
        run = Run.start(ir, store, backend, {})
        call = run.call("act", {"x": 1}, at=Position(0, "r"))
        kinds = [e.event.kind for e in store.events(run.run_id) if isinstance(e.event, ev.AttemptOutcome)]
    assert call == Paused("escalated", "a person decides")
    assert kinds == ["uncertain"]


def assert_status(call: Any, want: Expected) -> None:
    if want.status == "succeeded":
        assert isinstance(call, Done), call
        assert call.result == ({"n": 2} if want.spare else {"n": 1})
    elif want.status == "escalated":
        assert isinstance(call, Paused) and call.status == "escalated", call
    else:
        assert not isinstance(call, Done | Paused), call
        if want.reason:
            assert want.reason in call.reason
