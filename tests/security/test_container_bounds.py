"""The container's own bounds, against the real engine: specc's seccomp profile on every tool and
egress proxy (checked before either starts), and a small, non-executable /dev/shm."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dockerfixtures import assert_no_container, python_request

from specc.runtime import egress as egress_module
from specc.runtime.egress import Egress, EgressError, Endpoint
from specc.runtime.sandbox import SHM_BYTES, Sandbox
from specc.runtime.seccomp import PROFILE_ID, REMOVED, SECCOMP_OPT

SYSCALL_PROBE = r"""
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
NUMBERS = {"io_uring_setup": 425, "process_vm_readv": 310, "name_to_handle_at": 303}
outcome = {}
for name, number in NUMBERS.items():
    params = ctypes.create_string_buffer(256)
    ctypes.set_errno(0)
    answer = libc.syscall(number, 1, params, 0, 0, 0, 0)
    outcome[name] = "EPERM" if answer == -1 and ctypes.get_errno() == 1 else f"{answer}/{ctypes.get_errno()}"
print(json.dumps(outcome))
"""


def test_io_uring_and_other_removed_calls_are_refused(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    # x86-64 numbers; the engine's default profile lets io_uring_setup through on this Docker
    result = sandbox.run(python_request(run_id, SYSCALL_PROBE))
    assert result.kind == "ok", (result.detail, result.stderr)
    assert json.loads(result.stdout) == {"io_uring_setup": "EPERM", "process_vm_readv": "EPERM",
                                         "name_to_handle_at": "EPERM"}
    assert f"seccomp={PROFILE_ID}" in result.settings["SecurityOpt"]  # recorded by its id, not its bytes
    assert_no_container(docker_client, run_id)


def test_the_removed_list_names_what_the_profile_refuses() -> None:
    profile = json.loads(SECCOMP_OPT.removeprefix("seccomp="))
    allowed = {name for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for name in rule["names"]}
    assert {"io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace"} <= set(REMOVED)
    assert not allowed & set(REMOVED)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"


SHM_PROBE = r"""
import errno, json, os, shutil
outcome = {}
try:
    with open("/dev/shm/big", "wb") as f:
        f.write(b"x" * (2 * 1024 * 1024))
    outcome["write"] = "wrote"
except OSError as err:
    outcome["write"] = errno.errorcode[err.errno]
os.remove("/dev/shm/big")
shutil.copy("/bin/true", "/dev/shm/true")
os.chmod("/dev/shm/true", 0o755)
try:
    os.execv("/dev/shm/true", ["true"])
except OSError as err:
    outcome["exec"] = errno.errorcode[err.errno]
print(json.dumps(outcome))
"""


def test_dev_shm_is_small_and_not_executable(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    assert SHM_BYTES < 2 * 1024 * 1024
    result = sandbox.run(python_request(run_id, SHM_PROBE))
    assert result.kind == "ok", (result.detail, result.stderr)
    assert json.loads(result.stdout) == {"write": "ENOSPC", "exec": "EACCES"}
    assert result.settings["ShmSize"] == SHM_BYTES
    assert_no_container(docker_client, run_id)


@pytest.fixture
def proxy_run(docker_client: Any) -> Iterator[tuple[Egress, str]]:
    run_id = f"test-bounds-{uuid.uuid4().hex[:12]}"
    egress = Egress(run_id, docker_client, on_event=lambda event: None).__enter__()
    try:
        yield egress, run_id
    finally:
        egress.close()
    label = ["specc.managed=1", f"specc.run_id={run_id}"]
    left = docker_client.containers.list(all=True, filters={"label": label})
    left += docker_client.networks.list(filters={"label": label})
    assert not left, f"left behind: {left}"


def _proxies(client: Any, run_id: str) -> list[Any]:
    labels = [f"specc.run_id={run_id}", "specc.role=egress-proxy"]
    return list(client.containers.list(all=True, filters={"label": labels}))


def test_the_egress_proxy_runs_under_the_same_profile(docker_client: Any, proxy_run: tuple[Egress, str]) -> None:
    egress, run_id = proxy_run
    egress.network_for("fetch", [Endpoint.parse("example.com:443")])
    [proxy] = _proxies(docker_client, run_id)
    host = proxy.attrs["HostConfig"]
    assert SECCOMP_OPT in host["SecurityOpt"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["ShmSize"] == SHM_BYTES


def test_a_proxy_not_hardened_as_asked_never_starts(
    docker_client: Any, proxy_run: tuple[Egress, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    egress, run_id = proxy_run
    # as if the engine had dropped the profile between create and start
    expected = dict(egress_module._PROXY_HARDENING, SecurityOpt=["no-new-privileges"])
    monkeypatch.setattr(egress_module, "_PROXY_HARDENING", expected)
    with pytest.raises(EgressError) as caught:
        egress.network_for("fetch", [Endpoint.parse("example.com:443")])
    assert "was not hardened as asked: `SecurityOpt` is" in str(caught.value)
    assert f"seccomp={PROFILE_ID}" in str(caught.value)  # the profile by its id, not 4 KB of JSON
    assert _proxies(docker_client, run_id) == []
