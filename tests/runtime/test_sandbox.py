"""The sandbox's contract on a real engine: exit statuses, streams, limits, refusals, reaping."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from dockerfixtures import assert_no_container, host_dir, labelled, python_request

import specc.runtime.sandbox as sandbox_module
from specc.runtime.sandbox import (
    BASE_IMAGE,
    MANAGED_LABEL,
    OWNER_LABEL,
    RUN_ID_LABEL,
    AttemptRequest,
    Mount,
    Sandbox,
    SandboxUnavailable,
)
from specc.runtime.seccomp import PROFILE_ID


@pytest.mark.parametrize(("status", "kind"), [(0, "ok"), (1, "error"), (3, "uncertain"), (42, "error")])
def test_exit_status_decides_the_kind(
    sandbox: Sandbox, docker_client: Any, run_id: str, status: int, kind: str
) -> None:
    result = sandbox.run(python_request(run_id, f"import sys; sys.exit({status})"))
    assert (result.kind, result.exit_code) == (kind, status)
    assert result.detail.startswith(f"exited with status {status}")
    assert_no_container(docker_client, run_id)


def test_stdin_round_trip_with_output_before_input(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    # The tool fills its stdout pipe before reading a stdin larger than any pipe buffer: stdin is
    # written concurrently with reading the output, or this deadlocks until the timeout.
    code = textwrap.dedent(
        """
        import hashlib, sys
        sys.stdout.buffer.write(b"." * 512 * 1024)
        sys.stdout.flush()
        data = sys.stdin.buffer.read()
        sys.stdout.buffer.write(hashlib.sha256(data).hexdigest().encode())
        """
    )
    payload = json.dumps({"blob": "é" * (1024 * 1024)}, ensure_ascii=False).encode()
    result = sandbox.run(python_request(run_id, code, stdin=payload, output_bytes=2 * 1024 * 1024, timeout_s=20))
    assert result.kind == "ok", result
    assert result.stdout[512 * 1024 :] == hashlib.sha256(payload).hexdigest().encode()
    assert_no_container(docker_client, run_id)


def test_stdin_is_closed_when_empty(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    code = "import sys; print(len(sys.stdin.buffer.read()))"
    result = sandbox.run(python_request(run_id, code, stdin=b"", timeout_s=10))
    assert (result.kind, result.stdout) == ("ok", b"0\n")
    assert_no_container(docker_client, run_id)


def test_stderr_keeps_its_head_under_the_cap(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    code = 'import sys; sys.stderr.write("A" * 1000 + "B" * 100000); print("{}")'
    result = sandbox.run(python_request(run_id, code, stderr_bytes=1000))
    assert result.kind == "ok", result
    assert result.stderr == b"A" * 1000
    assert result.stdout == b"{}\n"
    assert_no_container(docker_client, run_id)


def test_killed_by_a_signal_is_a_crash(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    result = sandbox.run(python_request(run_id, "import ctypes; ctypes.string_at(0)"))
    assert result.kind == "crash", result
    assert result.exit_code == 128 + signal.SIGSEGV
    assert "SIGSEGV" in result.detail
    assert_no_container(docker_client, run_id)


def test_limits_inside_the_container(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    code = textwrap.dedent(
        """
        import errno, json, os, resource, stat
        seen = {"nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}
        try:
            with open("/tmp/big", "wb") as f:
                f.write(b"x" * (2 * 1024 * 1024))
            seen["tmpfs"] = "wrote 2 MiB"
        except OSError as err:
            seen["tmpfs"] = errno.errorcode[err.errno]
        os.remove("/tmp/big")
        with open("/tmp/tool", "w") as f:
            f.write("#!/bin/sh\\necho ran\\n")
        os.chmod("/tmp/tool", 0o755)
        try:
            os.execv("/tmp/tool", ["/tmp/tool"])
        except OSError as err:
            seen["exec"] = errno.errorcode[err.errno]
        print(json.dumps(seen))
        """
    )
    result = sandbox.run(python_request(run_id, code, tmpfs_bytes=1024 * 1024, nofile=64))
    assert result.kind == "ok", result
    assert json.loads(result.stdout) == {"nofile": [64, 64], "tmpfs": "ENOSPC", "exec": "EACCES"}
    assert_no_container(docker_client, run_id)


def test_read_write_mount_reaches_the_host(sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path) -> None:
    source = host_dir(tmp_path, 0o777)
    code = "open('/out/result.json', 'w').write('{\"done\": true}')"
    result = sandbox.run(python_request(run_id, code, mounts=[Mount(source, "/out", read_only=False)]))
    assert result.kind == "ok", result
    assert (tmp_path / "result.json").read_text() == '{"done": true}'
    assert result.settings["Mounts"] == [[source, "/out", True]]
    assert_no_container(docker_client, run_id)


def test_settings_record_the_hardening(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    result = sandbox.run(python_request(run_id, "print('{}')", pids=16, cpus=0.5))
    assert result.kind == "ok", result
    settings = result.settings
    assert settings["ReadonlyRootfs"] is True
    assert settings["CapDrop"] == ["ALL"]
    assert settings["SecurityOpt"] == ["no-new-privileges", f"seccomp={PROFILE_ID}"]
    assert settings["PidsLimit"] == 16
    assert settings["NanoCpus"] == 500_000_000
    assert settings["NetworkMode"] == "none"
    assert settings["Privileged"] is False
    assert settings["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,mode=1777,size=67108864"}
    assert settings["pids_limit_detection"] != "unavailable"
    assert_no_container(docker_client, run_id)


class LaxSandbox(Sandbox):
    """Asks the engine for one pids limit and then expects another, as if the engine had changed
    a setting between create and start: the check before start must catch it."""

    def _expected_settings(self, container: Any) -> dict[str, object]:
        expected = super()._expected_settings(container)
        expected["PidsLimit"] = container.request.limits.pids + 1
        return expected


def test_mismatched_setting_refuses_to_start(docker_client: Any, run_id: str, tmp_path: Path) -> None:
    source = host_dir(tmp_path, 0o777)
    code = "open('/out/started', 'w').write('the tool ran')"
    mounts = [Mount(source, "/out", read_only=False)]
    result = LaxSandbox(docker_client).run(python_request(run_id, code, mounts=mounts, pids=32))
    assert result.kind == "sandbox", result
    assert "`PidsLimit` is 32, expected 33" in result.detail
    assert result.detail.startswith("refused to start the container")
    assert list(tmp_path.iterdir()) == []  # never started
    assert_no_container(docker_client, run_id)


def test_engine_error_is_a_sandbox_result(sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path) -> None:
    missing = str(tmp_path.resolve() / "does-not-exist")
    result = sandbox.run(python_request(run_id, "print(1)", mounts=[Mount(missing, "/in")]))
    assert result.kind == "sandbox", result
    assert "does-not-exist" in result.detail
    assert_no_container(docker_client, run_id)


@pytest.mark.parametrize("source", ["/var/run/docker.sock", "relative/path"])
def test_forbidden_mounts_are_refused(sandbox: Sandbox, docker_client: Any, run_id: str, source: str) -> None:
    result = sandbox.run(python_request(run_id, "print(1)", mounts=[Mount(source, "/x")]))
    assert result.kind == "sandbox", result
    assert result.detail.startswith(f"refused to mount `{source}`")
    assert_no_container(docker_client, run_id)


def test_symlinked_mount_source_is_refused(sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    result = sandbox.run(python_request(run_id, "print(1)", mounts=[Mount(str(link), "/x")]))
    assert result.kind == "sandbox", result
    assert "not a resolved real path" in result.detail
    assert_no_container(docker_client, run_id)


def test_missing_image_is_unavailable(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    with pytest.raises(SandboxUnavailable, match="specc image build"):
        sandbox.check("specc/no-such-image:never")
    request = python_request(run_id, "print(1)")
    request = AttemptRequest(**{**request.__dict__, "image": "specc/no-such-image:never"})
    with pytest.raises(SandboxUnavailable, match="not on the docker engine"):
        sandbox.run(request)
    assert_no_container(docker_client, run_id)


def test_no_engine_is_unavailable(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxUnavailable, match="no docker engine answers"):
        Sandbox().check(BASE_IMAGE)


def test_importing_the_sandbox_does_not_import_docker() -> None:
    code = "import sys, specc.runtime.sandbox; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_reap_removes_containers_of_dead_owners(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    host = socket.gethostname()

    def leftover(owner: str) -> Any:
        return docker_client.containers.create(
            BASE_IMAGE,
            ["python3", "-c", "pass"],
            labels={MANAGED_LABEL: "1", RUN_ID_LABEL: run_id, OWNER_LABEL: owner},
            network_mode="none",
        )

    orphan = leftover(f"{host}:{_dead_pid()}")
    alive = leftover(f"{host}:{os.getpid()}")
    elsewhere = leftover("another-host:1")
    assert sandbox.reap() >= 1
    left = {c.id for c in labelled(docker_client, run_id)}
    assert orphan.id not in left
    assert {alive.id, elsewhere.id} <= left
    for container in (alive, elsewhere):
        container.remove(force=True)
    assert_no_container(docker_client, run_id)


RUNNER = """
import sys
from specc.runtime.sandbox import AttemptRequest, Limits, Sandbox
limits = Limits(memory_bytes=64 * 2**20, cpus=0.5, pids=16, timeout_s=60, output_bytes=2**20)
request = AttemptRequest(
    image="specc/base:bookworm",
    argv=("python3", "-c", "import time; time.sleep(60)"),
    stdin=b"{}", mounts=(), env={}, limits=limits, run_id=sys.argv[1],
)
Sandbox().run(request)
"""


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGTERM], [signal.SIGINT], [signal.SIGINT, signal.SIGINT], [signal.SIGINT, signal.SIGTERM]],
    ids=["sigterm", "sigint", "sigint-twice", "sigint-then-sigterm"],
)
def test_interrupted_run_removes_its_container(docker_client: Any, run_id: str, signals: list[int]) -> None:
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, run_id])
    try:
        deadline = time.monotonic() + 20
        while not any(c.status == "running" for c in labelled(docker_client, run_id)):
            assert time.monotonic() < deadline, "the attempt never started"
            assert runner.poll() is None, "the runner exited early"
            time.sleep(0.1)
        for signum in signals:  # a second one lands while the first is cleaning up
            runner.send_signal(signum)
            time.sleep(0.02)
        runner.wait(timeout=20)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode != 0
    assert_no_container(docker_client, run_id)


def test_pids_limit_is_seen_from_the_cgroup_without_the_kernel_log(
    sandbox: Sandbox, docker_client: Any, run_id: str, monkeypatch: Any
) -> None:
    # Where /dev/kmsg is not readable (not root), the cgroup's counter alone must catch a tool
    # that keeps spinning at the limit.
    monkeypatch.setattr(sandbox_module._KernelLog, "open", classmethod(lambda cls: cls(None)))
    code = textwrap.dedent(
        """
        import os, sys, time
        sys.stdin.read()
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
        """
    )
    result = sandbox.run(python_request(run_id, code, pids=16, timeout_s=3))
    assert result.kind == "crash", result
    assert result.detail == "stopped by the limit of 16 processes, then killed after the 3 s timeout"
    assert result.settings["pids_limit_detection"] == "cgroup pids.events"
    assert_no_container(docker_client, run_id)


def test_signal_handlers_are_restored_after_a_run(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    assert sandbox.run(python_request(run_id, "print(1)")).kind == "ok"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert_no_container(docker_client, run_id)
