"""What `specc run` says when it refuses before anything runs, through the real CLI: a problem of
this machine is named as one (not as "input rejected"), a program the image lacks is a spec problem
found before any attempt, and an input error speaks the language's words, names the fields that
exist, says how to pass an input and points at the spec's `input` block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import (
    agent_text,
    containers,
    containers_created,
    docker,
    owner_of,
    run_spec,
    run_statuses,
    specc_env,
    write_agent,
)

from specc.runtime.dockerio import OWNER_LABEL

ACTION = """action record(name: string, count: int) {{
    run {program} "/tools/record.py"
    mount "./out"
    mount "./tools"
    env RECORD_TOKEN
    effect write
    risk low
}}"""


def make(folder: Path, *, program: str = '"python3"', out_mode: int | None = 0o777) -> Path:
    text = agent_text(
        mounts=['mount "./out" read_write'], env=["env RECORD_TOKEN"],
        input_block="name: string(1..100)\ncount: int(0..1000)",
        actions=ACTION.format(program=program),
        workflow="record(name: input.name, count: input.count)",
    )
    return write_agent(folder, text, {"record.py": 'print("{}")'},
                       folders={"out": out_mode} if out_mode is not None else {})


GOOD = {"name": "a", "count": 1}
ENV = {"RECORD_TOKEN": "t0ken-value"}


def input_line(spec: Path) -> int:
    return next(n for n, line in enumerate(spec.read_text().splitlines(), 1) if re.match(r"\s*input \{", line))


# --- the input, in the language's words -------------------------------------------------------


@pytest.mark.parametrize("value, words", [
    ({"name": "a", "count": "5"}, ["`input.count` must be an `int`, found `\"5\"` (string)"]),
    ({"name": "a", "count": 1.5}, ["`input.count` must be an `int`"]),
    ({"name": "a", "cuont": 1}, ["unknown field `cuont` (did you mean `count`?); its fields are `count`, `name`"]),
    ({"name": "a", "count": 5000}, ["`input.count` must be at most 1000"]),
    ({"name": "", "count": 1}, ["`input.name` must have at least 1 character"]),
])
def test_an_input_error_names_the_rule_in_the_language_and_points_at_the_input_block(
        tmp_path: Path, value: object, words: list[str]) -> None:
    spec = make(tmp_path)
    run = run_spec(spec, tmp_path / "runs.db", value, env=specc_env(ENV))
    assert run.code == 2, run.describe()
    assert run.last_line.startswith("error: input rejected:"), run.last_line
    for word in words:
        assert word in run.last_line, run.last_line
    assert f"{spec}:{input_line(spec)}" in run.last_line
    assert "integer" not in run.last_line
    assert run_statuses(tmp_path / "runs.db") == {}


def test_a_missing_input_says_how_to_pass_one(tmp_path: Path) -> None:
    spec = make(tmp_path)
    run = run_spec(spec, tmp_path / "runs.db", None, env=specc_env(ENV))
    assert run.code == 2, run.describe()
    assert "`input` is missing the fields `name`, `count`" in run.last_line, run.last_line
    assert "no --input was given" in run.last_line and "--input @input.json" in run.last_line


# --- the machine --------------------------------------------------------------------------------


def test_a_missing_env_var_is_the_machine_not_the_input(tmp_path: Path) -> None:
    spec = make(tmp_path)
    run = run_spec(spec, tmp_path / "runs.db", GOOD, env=specc_env(drop=["RECORD_TOKEN"]))
    assert run.code == 2, run.describe()
    assert "input rejected" not in run.last_line
    assert "this machine is not ready to run `t`" in run.last_line, run.last_line
    assert "`RECORD_TOKEN`" in run.last_line and "export RECORD_TOKEN=" in run.last_line


def test_a_missing_mount_folder_is_the_machine_not_the_input(tmp_path: Path) -> None:
    spec = make(tmp_path, out_mode=None)
    run = run_spec(spec, tmp_path / "runs.db", GOOD, env=specc_env(ENV))
    assert run.code == 2, run.describe()
    assert "input rejected" not in run.last_line
    assert "this machine is not ready" in run.last_line and "does not exist" in run.last_line, run.last_line
    assert f"mkdir -p {tmp_path / 'out'}" in run.last_line


def test_a_read_write_mount_the_sandbox_user_cannot_write_is_the_machine(tmp_path: Path) -> None:
    spec = make(tmp_path, out_mode=0o755)
    run = run_spec(spec, tmp_path / "runs.db", GOOD, env=specc_env(ENV))
    assert run.code == 2, run.describe()
    assert "input rejected" not in run.last_line
    assert "this machine is not ready" in run.last_line and "cannot write" in run.last_line, run.last_line


# --- the image ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("docker_client")
def test_a_program_the_image_lacks_is_a_spec_problem_found_before_any_attempt(tmp_path: Path) -> None:
    spec = make(tmp_path, program='"python"')
    run = run_spec(spec, tmp_path / "runs.db", GOOD, env=specc_env(ENV))
    assert run.code == 4, run.describe()
    assert "the spec cannot run here: action `record` runs `python`, which is not in image " \
           "`specc/base:bookworm` (its PATH: " in run.last_line, run.last_line
    assert "(did you mean `python3`?)" in run.last_line
    assert "sandbox" not in run.last_line and "exec" not in run.last_line
    assert run_statuses(tmp_path / "runs.db") == {}  # no run, so no attempt, and no retry
    # the lookup created at most one container (none when the image's files are cached), never
    # started it, and removed it
    assert len(containers_created(run.pid, run.started, run.ended, lookups=True)) <= 1
    assert containers_created(run.pid, run.started, run.ended) == []
    started = docker("events", "--since", f"{run.started - 1:.3f}", "--until", f"{run.ended + 1:.3f}",
                     "--filter", "type=container", "--filter", "event=start", "--filter",
                     f"label={OWNER_LABEL}={owner_of(run.pid)}", "--format", "{{.ID}}")
    assert started.split() == []
    assert containers(f"{OWNER_LABEL}={owner_of(run.pid)}") == []


@pytest.mark.usefixtures("docker_client")
def test_a_program_in_a_mount_that_is_not_there_is_named_with_its_host_path(tmp_path: Path) -> None:
    spec = make(tmp_path, program='"/tools/nope.py"')
    run = run_spec(spec, tmp_path / "runs.db", GOOD, env=specc_env(ENV))
    assert run.code == 4, run.describe()
    assert f"`{tmp_path / 'tools' / 'nope.py'}` does not exist" in run.last_line, run.last_line


@pytest.mark.usefixtures("docker_client")
def test_programs_that_are_there_run_and_a_second_run_looks_them_up_in_the_cache(tmp_path: Path) -> None:
    spec = make(tmp_path)
    env = specc_env({**ENV, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    first = run_spec(spec, tmp_path / "runs.db", GOOD, env=env)
    assert first.code == 0, first.describe()
    assert len(containers_created(first.pid, first.started, first.ended, lookups=True)) == 2  # lookup, attempt
    second = run_spec(spec, tmp_path / "runs.db", GOOD, env=env)
    assert second.code == 0, second.describe()
    assert len(containers_created(second.pid, second.started, second.ended, lookups=True)) == 1  # the attempt


@pytest.mark.parametrize("schema, value, words", [
    ({"type": "string", "pattern": "^https?://[^\\s/?#]+([/?#][^\\s]*)?$", "x-specc-url": True}, "ftp://x",
     "`input.u` must be an http(s) URL such as `https://example.com/a`, found `\"ftp://x\"` (string)"),
    ({"type": "string", "minLength": 1, "x-specc-path": True}, "",
     "`input.u` must be a non-empty path, relative to its mount's root"),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 2}, ["a", "b", "c"],
     "`input.u` must have at most 2 items, found `[\"a\", \"b\", \"c\"]` (list)"),
    ({"type": ["integer", "null"]}, "x", "`input.u` must be an `int` or `null`, found `\"x\"` (string)"),
])
def test_contract_rules_in_the_language_words(schema: dict[str, object], value: object, words: str) -> None:
    from specc.runtime.values import ValueRejected, validate

    with pytest.raises(ValueRejected) as refused:
        validate(value, schema, "input.u")
    assert str(refused.value) == words
