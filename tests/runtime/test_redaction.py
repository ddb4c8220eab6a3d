"""Secrets in every form a tool can print them, through the real `specc run` (issue 13, item 4).

A secret with a quote, a backslash and non-ASCII, printed raw, JSON-escaped with `\\uXXXX` and as
UTF-8, escaped twice and three times, and as Python's repr, on stdout, on stderr, in the result and
in the reason a run failed: none of it reaches the run store, the event stream, the progress,
`specc show` or the last line. A secret under 4 characters is refused before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import (
    agent_text,
    assert_nothing_ran,
    run_spec,
    run_statuses,
    specc,
    specc_env,
    store_bytes,
    write_agent,
)

pytestmark = pytest.mark.usefixtures("docker_client")

#: A quote, a backslash, Latin-1, a BMP symbol and an astral one, between two markers that would show
#: any partial leak.
SECRET = 'Zq7"k\\é€😀x-QJ7W'


def forms(secret: str) -> list[str]:
    """Every printed form the tools below use."""
    once_ascii = json.dumps(secret)
    once_utf8 = json.dumps(secret, ensure_ascii=False)
    return [
        secret,
        once_ascii[1:-1],
        once_utf8[1:-1],
        json.dumps(once_ascii)[1:-1],
        json.dumps(once_utf8, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(once_ascii)),
        repr(secret),
        repr(secret.encode()),
        once_ascii.replace("\\u00e9", "\\u00E9"),
    ]


#: Prints every form on both streams, and returns them in its result, as keys and values.
LEAK_EVERY_FORM = """
token = os.environ["API_TOKEN"]
once_ascii, once_utf8 = json.dumps(token), json.dumps(token, ensure_ascii=False)
forms = [token, once_ascii[1:-1], once_utf8[1:-1], json.dumps(once_ascii)[1:-1],
         json.dumps(once_utf8, ensure_ascii=False)[1:-1], json.dumps(json.dumps(once_ascii)), repr(token),
         repr(token.encode()), once_ascii.replace("\\\\u00e9", "\\\\u00E9")]
for form in forms:
    print("stderr says " + form, file=sys.stderr)
sys.stdout.write(json.dumps({"echo": " | ".join(forms), "nested": json.dumps({"t": token, token: forms})},
                            ensure_ascii=%s))
"""

#: Fails, its last line (which becomes the run's reason) holding the secret JSON-escaped twice.
FAIL_WITH_IT = """
token = os.environ["API_TOKEN"]
print("refused: " + json.dumps(json.dumps({"token": token})), file=sys.stderr)
sys.exit(1)
"""


def _spec(folder: Path, tool: str) -> Path:
    text = agent_text(
        env=["env API_TOKEN secret"],
        types="type Echo {\n echo: string\n nested: string\n}",
        output="Echo",
        actions="""action leak() -> Echo {
            run "python3" "/tools/leak.py"
            mount "./tools"
            env API_TOKEN
            effect read
            }""",
        workflow="e = leak()\nreturn e",
    )
    return write_agent(folder, text, {"leak.py": tool})


def _store_text(store: Path) -> str:
    data = store_bytes(store)
    assert data, "the store is empty"
    return data.decode("utf-8", "replace")


def _assert_no_form(where: str, text: str) -> None:
    for form in forms(SECRET):
        assert form not in text, f"{where} holds the secret as {form!r}"
    for marker in ("Zq7", "QJ7W"):
        assert marker not in text, f"{where} holds part of the secret ({marker!r})"


def _assert_nowhere(store: Path, *printed: str) -> None:
    _assert_no_form("the run store", _store_text(store))
    for text in printed:
        _assert_no_form("what `specc run` printed", text)
    for run_id in run_statuses(store):
        for args in (("show", run_id), ("show", run_id, "--json")):
            shown = specc(*args, "--store", str(store))
            assert shown.returncode == 0, shown.stderr
            _assert_no_form(f"`specc {' '.join(args)}`", shown.stdout + shown.stderr)


@pytest.mark.parametrize("ascii_only", [True, False], ids=["ascii-escapes", "utf8"])
@pytest.mark.parametrize("as_json", [True, False], ids=["json-events", "progress"])
def test_every_form_of_the_secret_is_redacted(tmp_path: Path, ascii_only: bool, as_json: bool) -> None:
    spec = _spec(tmp_path, LEAK_EVERY_FORM % ascii_only)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=as_json, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 0, run.describe()
    _assert_nowhere(store, run.stdout, run.stderr)
    if as_json:
        result = run.finished()["result"]
        assert result["echo"].count("[redacted]") == len(forms(SECRET)), result
        outcome = run.of("attempt_outcome")[0]
        assert outcome["stderr"].count("[redacted]") == len(forms(SECRET)), outcome["stderr"]


def test_a_reason_quoting_the_secret_escaped_twice_is_redacted(tmp_path: Path) -> None:
    spec = _spec(tmp_path, FAIL_WITH_IT)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=False, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 1, run.describe()
    last = run.stderr.strip().splitlines()[-1]
    assert "refused:" in last and "[redacted]" in last, last
    _assert_nowhere(store, run.stdout, run.stderr)


@pytest.mark.parametrize("value", ["x", "a\\\"", "é€😀"], ids=["one-char", "three-ascii", "three-non-ascii"])
def test_a_secret_under_four_characters_is_refused_before_anything_runs(tmp_path: Path, value: str) -> None:
    spec = _spec(tmp_path, 'print("{}")')
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, env=specc_env({"API_TOKEN": value}))
    assert run.code == 2, run.describe()
    last = run.stderr.strip().splitlines()[-1]
    assert "`API_TOKEN`" in last and f"{len(value)} character" in last and "nothing was run" in last, last
    assert_nothing_ran(run)
    assert not store.exists() or not run_statuses(store)


#: Fills stderr to 5 bytes short of the 64 KiB specc keeps, then prints the secret: only its first
#: 5 bytes are kept, and they end the last line.
CUT_AT_THE_CAP = """
token = os.environ["API_TOKEN"]
sys.stderr.write("x" * 65530 + "\\n" + token + "\\n")
sys.exit(1)
"""


def test_a_secret_cut_at_the_stderr_cap_does_not_survive_in_part(tmp_path: Path) -> None:
    spec = _spec(tmp_path, CUT_AT_THE_CAP)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=False, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 1, run.describe()
    last = run.stderr.strip().splitlines()[-1]
    assert "the tool said: [redacted]" in last, last
    _assert_nowhere(store, run.stdout, run.stderr)
