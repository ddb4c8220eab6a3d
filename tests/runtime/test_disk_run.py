"""The `disk` bound through the real `specc run`: the spec's value reaches the sandbox, a tool that
writes past it is a crash that the action's handler answers, and nothing it wrote reaches the
host's folder; a retry within the bound then succeeds and its files arrive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import agent_text, run_spec, write_agent

pytestmark = pytest.mark.usefixtures("docker_client")

WRITE = """
mib = args["mib"]
with open("/mnt/out/data.bin", "wb") as out:
    for _ in range(mib):
        out.write(b"x" * (1 << 20))
print(json.dumps({"written": mib}))
"""

COUNT_TYPE = "type Written {\n written: int\n}"


def _spec(root: Path) -> Path:
    text = agent_text(
        mounts=['mount "./out" read_write'],
        types=COUNT_TYPE,
        input_block="mib: int(0..64)",
        output="Written",
        actions="""action write(mib: int) -> Written {
            run "python3" "/tools/write.py"
            mount "./out"
            mount "./tools"
            effect write
            idempotent
            disk 8MiB
            on crash abort "wrote past its disk"
            }""",
        workflow="w = write(mib: input.mib)\nreturn w",
    )
    return write_agent(root, text, {"write.py": WRITE}, folders={"out": 0o777})


def test_a_tool_past_the_spec_s_disk_bound_crashes_and_leaves_nothing(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    run = run_spec(spec, tmp_path / "runs.db", {"mib": 32})
    assert run.code == 1, run.describe()
    [outcome] = run.of("attempt_outcome", action="write")
    assert outcome["kind"] == "crash"
    assert "wrote more than the 8 MiB disk bound into its read_write mounts" in outcome["detail"]
    assert outcome["sandbox"]["Disk"] == 8 * 1024 * 1024
    assert "wrote past its disk" in run.last_line
    assert list((tmp_path / "out").iterdir()) == []


def test_within_the_bound_the_files_arrive(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    run = run_spec(spec, tmp_path / "runs.db", {"mib": 4})
    assert run.code == 0, run.describe()
    assert run.finished()["result"] == {"written": 4}
    assert (tmp_path / "out" / "data.bin").stat().st_size == 4 * 1024 * 1024
    [outcome] = run.of("attempt_outcome", action="write")
    assert 4 * 1024 * 1024 <= outcome["sandbox"]["disk_written"] <= 8 * 1024 * 1024
    assert json.dumps(outcome["sandbox"]).count("specc-disk") == 0  # the host's folder is recorded, not the overlay
