"""What a failed attempt says, through the real `specc run` on Docker: stdout that is not JSON is
quoted (its first bytes, escaped, capped), a connection the egress proxy refused is named with why
and how to allow it, and attempts are counted per step ("attempt 1" for every step's first try)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import agent_text, run_spec, write_agent

from specc.runtime.backend import ConnectionEvent
from specc.runtime.run import refused_connection

pytestmark = pytest.mark.usefixtures("docker_client")

ONE = """action speak() -> Said {{
    run "python3" "/tools/speak.py"
    mount "./tools"
    effect read
    {extra}
}}"""


def one_action(folder: Path, tool: str, *, extra: str = "", scope: tuple[str, ...] = ()) -> Path:
    text = agent_text(types="type Said {\n  said: string\n}", actions=ONE.format(extra=extra),
                      workflow="said = speak()\nreturn said", output="Said", mounts=scope)
    return write_agent(folder, text, {"speak.py": tool})


def test_stdout_that_is_not_json_is_quoted_escaped_and_capped(tmp_path: Path) -> None:
    spec = one_action(tmp_path, 'import sys\nsys.stdout.write("Hello \\x1b[31mworld\\x07 " + "x" * 500)')
    run = run_spec(spec, tmp_path / "runs.db", as_json=False)
    assert run.code == 1, run.describe()
    line = run.last_line
    assert "not valid JSON" in line and "it printed `Hello \\u001b[31mworld\\u0007 xxx" in line, line
    assert "x" * 100 not in line and "...`" in line
    assert "\x1b" not in run.stderr


def test_a_tool_that_prints_nothing_is_told_where_its_result_goes(tmp_path: Path) -> None:
    spec = one_action(tmp_path, "pass")
    run = run_spec(spec, tmp_path / "runs.db", as_json=False)
    assert run.code == 1, run.describe()
    assert "the tool printed nothing on stdout (its result must be one JSON value there)" in run.last_line


def test_a_refused_connection_is_named_in_the_failure_with_how_to_allow_it(tmp_path: Path) -> None:
    tool = ("import urllib.request, sys\n"
            "try:\n"
            "    urllib.request.urlopen('http://other.example:80/', timeout=15)\n"
            "except Exception as exc:\n"
            "    sys.exit(f'cannot fetch: {exc}')\n")
    spec = one_action(tmp_path, tool, extra='network "declared.example:80"',
                      scope=('network "declared.example:80"',))
    run = run_spec(spec, tmp_path / "runs.db", as_json=True)
    assert run.code == 1, run.describe()
    reason = run.finished()["reason"]
    assert "the egress proxy refused its connection to `other.example:80`" in reason, reason
    assert "is not declared for action `speak`" in reason
    assert 'declare `network "other.example:80"` in the action and in the agent\'s `scope`' in reason


def test_a_private_address_refusal_says_how_to_trust_it() -> None:
    event = ConnectionEvent("fetch", "db.internal", 5432, False,
                            "`db.internal` resolves to 10.20.0.7, which is a private address", None)
    text = refused_connection(event)
    assert text.startswith("the egress proxy refused its connection to `db.internal:5432`")
    assert text.endswith("if that address is yours, allow it with `specc run --trust-network 10.20.0.7/32`")
    loopback = ConnectionEvent("fetch", "localhost", 80, False, "`localhost` resolves to 127.0.0.1, which is a "
                               "loopback address", None)
    assert "--trust-network" not in refused_connection(loopback)


FLAKY = """action first() -> Said {
    run "python3" "/tools/first.py"
    mount "./tools"
    effect read
}
action second() -> Said {
    run "python3" "/tools/second.py"
    mount "./tools"
    mount "./state"
    effect write
    idempotent
    on error retry 2 backoff 10ms..20ms then abort
}"""


def test_attempts_are_counted_per_step(tmp_path: Path) -> None:
    text = agent_text(types="type Said {\n  said: string\n}", actions=FLAKY, mounts=['mount "./state" read_write'],
                      workflow="a = first()\nb = second()\nreturn b", output="Said")
    second = ("import json, os, sys\n"
              "marker = '/mnt/state/tried'\n"
              "if not os.path.exists(marker):\n"
              "    open(marker, 'w').close()\n"
              "    sys.exit('not yet')\n"
              "print(json.dumps({'said': 'b'}))\n")
    spec = write_agent(tmp_path, text, {"first.py": "import json\nprint(json.dumps({'said': 'a'}))",
                                        "second.py": second}, folders={"state": 0o777})
    run = run_spec(spec, tmp_path / "runs.db", as_json=True)
    assert run.code == 0, run.describe()
    tried = [(e["step"], e["action"], e["attempt"]) for e in run.of("attempt_intent")]
    assert tried == [("a", "first", 1), ("b", "second", 1), ("b", "second", 2)]
    shown = run_spec(spec, tmp_path / "runs2.db", as_json=False)  # a fresh store: the marker is there now
    assert "b: second (attempt 1" in shown.stderr, shown.stderr
