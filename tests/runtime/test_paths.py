"""Path arguments, argv, env and secrets through the real `specc run` (issue 4, point 4).

A `path` argument is written relative to its mount's root and reaches the tool as the absolute path
inside the container; one that leaves its mount (`..`, absolute, a sibling folder sharing the
mount's prefix, a symlink out, a NUL byte) is refused before any container starts. Arguments arrive
verbatim (no shell anywhere), undeclared host env vars are invisible, and a declared secret never
reaches the run store nor anything `specc` prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import (
    agent_text,
    assert_nothing_ran,
    containers,
    containers_created,
    run_spec,
    run_statuses,
    specc,
    specc_env,
    write_agent,
)

pytestmark = pytest.mark.usefixtures("docker_client")

READ_TOOL = """
path = args["file"]
print(json.dumps({"path": path, "content": open(path).read()}))
"""

SEEN = "type Seen {\n path: string\n content: string\n}"
PICK = "type Pick {\n file: string\n}"

BAD_PATHS = [
    ("dotdot", "../../etc/passwd"),
    ("absolute", "/etc/passwd"),
    ("sibling-prefix", "../inbox2/x"),
    ("dotdot-inside-then-out", "2026/../../inbox2/x"),
    ("symlink-out", "link"),
    ("symlink-absolute", "abs"),
    ("symlink-dir-out", "linkdir/x"),
    ("nul-byte", "inv\u0000.json"),
]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """inbox/ with a nested file and hostile symlinks; inbox2/ beside it sharing its prefix."""
    inbox = tmp_path / "inbox"
    (inbox / "2026").mkdir(parents=True)
    (inbox / "2026" / "inv-7.json").write_text('{"id": "INV-000007"}')
    (tmp_path / "inbox2").mkdir()
    (tmp_path / "inbox2" / "x").write_text("the sibling's secret")
    (tmp_path / "secret.txt").write_text("outside the mount")
    (inbox / "link").symlink_to("../secret.txt")
    (inbox / "abs").symlink_to("/etc/passwd")
    (inbox / "linkdir").symlink_to("../inbox2")
    (inbox / "latest").symlink_to("2026/inv-7.json")  # stays inside: allowed
    for folder in (inbox, inbox / "2026", tmp_path / "inbox2"):
        folder.chmod(0o755)
    for file in (inbox / "2026" / "inv-7.json", tmp_path / "inbox2" / "x", tmp_path / "secret.txt"):
        file.chmod(0o644)
    return tmp_path


def _input_spec(folder: Path) -> Path:
    text = agent_text(
        mounts=['mount "./inbox" read_only'],
        types=SEEN,
        input_block='file: path under "./inbox"',
        output="Seen",
        actions="""action read(file: path under "./inbox") -> Seen {
            run "python3" "/tools/read.py"
            mount "./inbox"
            mount "./tools"
            effect read
            }""",
        workflow="s = read(file: input.file)\nreturn s",
        handlers='on invalid_input abort "a path argument was refused"\non any abort',
    )
    return write_agent(folder, text, {"read.py": READ_TOOL})


def _computed_spec(folder: Path) -> Path:
    """The path comes from a tool's result, so only the action's own check can refuse it."""
    text = agent_text(
        mounts=['mount "./inbox" read_only'],
        types=PICK + "\n" + SEEN,
        input_block="file: string",
        output="Seen",
        actions="""action pick(file: string) -> Pick {
            run "python3" "/tools/pick.py"
            mount "./tools"
            effect read
            }
            action read(file: path under "./inbox") -> Seen {
            run "python3" "/tools/read.py"
            mount "./inbox"
            mount "./tools"
            effect read
            }""",
        workflow="p = pick(file: input.file)\ns = read(file: p.file)\nreturn s",
        handlers='on invalid_input abort "a path argument was refused"\non any abort',
    )
    return write_agent(folder, text, {"read.py": READ_TOOL, "pick.py": 'print(json.dumps({"file": args["file"]}))'})


@pytest.mark.parametrize("bad", [case[1] for case in BAD_PATHS], ids=[case[0] for case in BAD_PATHS])
def test_input_path_leaving_its_mount_is_refused_before_anything_runs(layout: Path, bad: str) -> None:
    spec = _input_spec(layout)
    store = layout / "runs.db"
    run = run_spec(spec, store, {"file": bad})
    # refused before any container starts; the runtime checks input paths up front
    assert run.code == 2, run.describe()
    assert "input rejected" in run.last_line and "input.file" in run.last_line, run.last_line
    assert_nothing_ran(run)
    assert run_statuses(store) == {}


@pytest.mark.parametrize("bad", [case[1] for case in BAD_PATHS], ids=[case[0] for case in BAD_PATHS])
def test_computed_path_leaving_its_mount_is_invalid_input_without_a_container(layout: Path, bad: str) -> None:
    spec = _computed_spec(layout)
    run = run_spec(spec, layout / "runs.db", {"file": bad})
    assert run.code == 1, run.describe()
    assert "a path argument was refused" in run.last_line
    refused = run.of("handler", action="read", kind="invalid_input")
    assert len(refused) == 1 and refused[0]["strategy"] == "abort", run.of("handler")
    # the picking tool ran in its container; the reading one never got one
    assert len(run.of("attempt_intent", action="pick")) == 1
    assert not run.of("attempt_intent", action="read")
    assert len(containers_created(run.pid, run.started, run.ended)) == 1
    assert "outside the mount" not in run.stdout and "sibling's secret" not in run.stdout
    assert "root:x:0:0" not in run.stdout


@pytest.mark.parametrize("good", ["2026/inv-7.json", "./2026//inv-7.json", "latest"])
def test_good_nested_path_reaches_the_tool_as_the_container_path(layout: Path, good: str) -> None:
    spec = _input_spec(layout)
    run = run_spec(spec, layout / "runs.db", {"file": good})
    assert run.code == 0, run.describe()
    result = run.finished()["result"]
    assert result == {"path": "/mnt/inbox/2026/inv-7.json", "content": '{"id": "INV-000007"}'}
    assert run.of("attempt_intent")[0]["arguments"] == {"file": "/mnt/inbox/2026/inv-7.json"}
    assert not containers(f"specc.run_id={run.run_id}")


METACHARACTERS = "a; touch /mnt/out/semi $(touch /mnt/out/subst) `touch /mnt/out/tick` | tee /mnt/out/pipe && '\"*?~\n"


def test_shell_metacharacters_arrive_verbatim(tmp_path: Path) -> None:
    text = agent_text(
        mounts=['mount "./out" read_write', 'mount "./inbox" read_only'],
        types="type Echo {\n note: string\n file: string\n argv: list<string>\n}",
        input_block='note: string\nfile: path under "./inbox"',
        output="Echo",
        actions="""action echo(note: string, file: path under "./inbox") -> Echo {
            run "python3" "/tools/echo.py" "$(touch /mnt/out/argv)" ";" "touch /mnt/out/argv2" "|" "*"
            mount "./out"
            mount "./inbox"
            mount "./tools"
            effect write
            risk low
            }""",
        workflow="e = echo(note: input.note, file: input.file)\nreturn e",
    )
    tool = """
content = open(args["file"]).read()
print(json.dumps({"note": args["note"], "file": args["file"], "argv": sys.argv[1:]}))
"""
    spec = write_agent(tmp_path, text, {"echo.py": tool}, folders={"out": 0o777, "inbox": 0o755})
    odd_name = "$(touch pwned);`id`|x&.json"
    (tmp_path / "inbox" / odd_name).write_text("{}")
    run = run_spec(spec, tmp_path / "runs.db", {"note": METACHARACTERS, "file": odd_name})

    assert run.code == 0, run.describe()
    result = run.finished()["result"]
    assert result["note"] == METACHARACTERS
    assert result["file"] == "/mnt/inbox/" + odd_name
    assert result["argv"] == ["$(touch /mnt/out/argv)", ";", "touch /mnt/out/argv2", "|", "*"]
    assert os.listdir(tmp_path / "out") == [], "a shell ran somewhere"
    assert not (tmp_path / "inbox" / "pwned").exists()


ENV_TOOL = 'print(json.dumps({"names": sorted(os.environ), "greeting": os.environ.get("GREETING", "")}))'


def test_undeclared_host_env_vars_are_invisible(tmp_path: Path) -> None:
    text = agent_text(
        env=["env GREETING"],
        types="type Env {\n names: list<string>\n greeting: string\n}",
        output="Env",
        actions="""action look() -> Env {
            run "python3" "/tools/env.py"
            mount "./tools"
            env GREETING
            effect read
            }""",
        workflow="e = look()\nreturn e",
    )
    spec = write_agent(tmp_path, text, {"env.py": ENV_TOOL})
    env = specc_env({"GREETING": "hello", "HOST_ONLY_VAR": "host-only-value-1234", "AWS_SECRET_ACCESS_KEY": "nope"})
    run = run_spec(spec, tmp_path / "runs.db", env=env)

    assert run.code == 0, run.describe()
    result = run.finished()["result"]
    assert result["greeting"] == "hello"
    assert "HOST_ONLY_VAR" not in result["names"] and "AWS_SECRET_ACCESS_KEY" not in result["names"]
    assert "host-only-value-1234" not in run.stdout
    # nothing of the host's environment beyond what the image itself sets
    assert set(result["names"]) <= {"GREETING", "PATH", "HOME", "HOSTNAME", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE",
                                    "PYTHONUNBUFFERED", "TERM"}, result["names"]


SECRET = "s3cr3t-Tok-9f8e7d6c5b"


def _secret_spec(folder: Path, tool: str, returns: str = "string") -> Path:
    text = agent_text(
        env=["env API_TOKEN secret"],
        types=f"type Echo {{\n echo: {returns}\n}}",
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


def _store_bytes(store: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(str(store) + suffix)
        if path.exists():
            data += path.read_bytes()
    return data


def _assert_secret_kept(store: Path, *texts: str) -> None:
    data = _store_bytes(store)
    assert data, "the store is empty"
    assert SECRET.encode() not in data, "the secret is in the run store"
    for text in texts:
        assert SECRET not in text, f"the secret was printed:\n{text[-2000:]}"
    statuses = run_statuses(store)
    for run_id in statuses:
        for args in (("show", run_id), ("show", run_id, "--json")):
            shown = specc(*args, "--store", str(store))
            assert SECRET not in shown.stdout + shown.stderr, f"`specc {' '.join(args)}` prints the secret"


ECHO_SECRET = """
token = os.environ["API_TOKEN"]
print("using token " + token, file=sys.stderr)
print(json.dumps({"echo": "token=" + token}))
"""


def test_secret_echoed_by_the_tool_never_reaches_the_store(tmp_path: Path) -> None:
    spec = _secret_spec(tmp_path, ECHO_SECRET)
    store = tmp_path / "runs.db"
    env = specc_env({"API_TOKEN": SECRET})
    run = run_spec(spec, store, env=env)
    assert run.code == 0, run.describe()
    assert run.finished()["result"]["echo"].startswith("token=")
    _assert_secret_kept(store, run.stdout, run.stderr)


def test_secret_echoed_in_the_result_is_not_printed_on_a_terminal_run(tmp_path: Path) -> None:
    """Without `--json` the run prints its result; a secret in it is redacted there too."""
    spec = _secret_spec(tmp_path, ECHO_SECRET)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, as_json=False, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 0, run.describe()
    _assert_secret_kept(store, run.stdout, run.stderr)


def test_secret_in_a_failing_tools_stderr_never_reaches_the_store(tmp_path: Path) -> None:
    tool = 'print("auth refused for token " + os.environ["API_TOKEN"], file=sys.stderr)\nsys.exit(1)'
    spec = _secret_spec(tmp_path, tool)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 1, run.describe()
    _assert_secret_kept(store, run.stdout, run.stderr)


def test_secret_in_output_breaking_the_contract_never_reaches_the_store(tmp_path: Path) -> None:
    """The contract error quotes the bad value; when that value is the secret it must be redacted."""
    tool = 'print(json.dumps({"echo": os.environ["API_TOKEN"]}))'
    spec = _secret_spec(tmp_path, tool, returns="int")
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 1, run.describe()
    assert [o["kind"] for o in run.of("attempt_outcome")] == ["invalid_output"]
    _assert_secret_kept(store, run.stdout, run.stderr)


def test_secret_in_the_input_is_redacted(tmp_path: Path) -> None:
    """A caller pasting the secret into the input does not get it stored either."""
    text = agent_text(
        env=["env API_TOKEN secret"],
        input_block="note: string",
        actions="""action use(note: string) {
            run "python3" "/tools/use.py"
            mount "./tools"
            env API_TOKEN
            effect read
            }""",
        workflow="use(note: input.note)",
    )
    spec = write_agent(tmp_path, text, {"use.py": 'print("{}")'})
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, {"note": f"my token is {SECRET}"}, env=specc_env({"API_TOKEN": SECRET}))
    assert run.code == 0, run.describe()
    _assert_secret_kept(store, run.stdout, run.stderr)
    assert json.dumps(SECRET) not in run.stdout
