"""What a tool prints reaches a person with its control characters visible and harmless (issue 13,
item 7), through the real `specc run` against the real engine: the progress, the printed result, the
last line, `specc runs` and `specc show`; while `--json` keeps every character exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import agent_text, run_spec, run_statuses, specc, specc_env, write_agent

pytestmark = pytest.mark.usefixtures("docker_client")

#: Retitle the window, clear the screen, colour, a carriage return over a forged line, a bell, a
#: right-to-left override, a one-byte CSI, and rich markup that would style or break the console.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r  ok forged: done\u202eevil\x9b2J [/] [bold]b\x7f"
#: What must never reach a terminal raw.
CONTROLS = ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\x7f")

FAILS_LOUDLY = f"""
sys.stderr.write({HOSTILE!r})
sys.exit(1)
"""

SUCCEEDS_WITH_IT = f"""
print(json.dumps({{"echo": {HOSTILE!r}}}))
"""


def _spec(folder: Path, tool: str) -> Path:
    text = agent_text(
        types="type Echo {\n echo: string\n}",
        output="Echo",
        actions="""action speak() -> Echo {
            run "python3" "/tools/speak.py"
            mount "./tools"
            effect read
            }""",
        workflow="e = speak()\nreturn e",
    )
    return write_agent(folder, text, {"speak.py": tool})


def _assert_harmless(where: str, text: str) -> None:
    for char in CONTROLS:
        assert char not in text, f"{where} holds {char!r} raw:\n{text!r}"


def _assert_shown_harmlessly(store: Path, *printed: str) -> None:
    for text in printed:
        _assert_harmless("what `specc run` printed", text)
    for args in (("runs",), *(("show", run_id) for run_id in run_statuses(store))):
        done = specc(*args, "--store", str(store))
        assert done.returncode == 0, done.stderr
        _assert_harmless(f"`specc {' '.join(args)}`", done.stdout + done.stderr)


def test_a_failing_tools_escape_sequences_are_made_visible(tmp_path: Path) -> None:
    spec = _spec(tmp_path, FAILS_LOUDLY)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=False, env=specc_env())
    assert run.code == 1, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    _assert_shown_harmlessly(store, run.stdout, run.stderr)
    last = run.stderr.strip().splitlines()[-1]
    assert "\\u202eevil\\u009b2J [/] [bold]b" in last, last
    shown = specc("show", next(iter(run_statuses(store))), "--store", str(store)).stdout
    assert "the tool said: ok forged: done\\u202eevil" in shown, shown


def test_a_result_holding_escape_sequences_is_printed_as_the_same_json(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SUCCEEDS_WITH_IT)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=False, env=specc_env())
    assert run.code == 0, run.describe()
    _assert_shown_harmlessly(store, run.stdout, run.stderr)
    assert json.loads(run.stdout) == {"echo": HOSTILE}, run.stdout


def test_json_output_keeps_every_character(tmp_path: Path) -> None:
    spec = _spec(tmp_path, FAILS_LOUDLY)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=True, env=specc_env())
    assert run.code == 1, run.describe()
    assert [o["stderr"] for o in run.of("attempt_outcome")] == [HOSTILE]
    run_id = next(iter(run_statuses(store)))
    shown = json.loads(specc("show", run_id, "--store", str(store), "--json").stdout)
    assert [e["stderr"] for e in shown["events"] if e["event"] == "attempt_outcome"] == [HOSTILE]
