"""Attacks a hostile tool could try, each run against the real sandbox.

Every test asserts how the attempt was classified, that the host is unchanged where the attack
aimed at it, and that no container of the run is left on the engine.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from pathlib import Path
from typing import Any

from dockerfixtures import assert_no_container, host_dir, python_request

from specc.runtime.sandbox import Mount, Sandbox

NETWORK_PROBE = r"""
import json, socket, sys
host_ip = sys.argv[1]
reached = {}
try:
    socket.getaddrinfo("deb.debian.org", 80)
    reached["dns"] = True
except OSError as err:
    reached["dns"] = str(err)
for name, addr in (("cloudflare", ("1.1.1.1", 53)), ("mirror", (host_ip, 80))):
    try:
        socket.create_connection(addr, timeout=3).close()
        reached[name] = True
    except OSError as err:
        reached[name] = str(err)
reached["interfaces"] = [l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]]
print(json.dumps(reached))
sys.exit(0 if any(v is True for v in reached.values()) else 1)
"""


def test_network_is_unreachable(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    try:  # an address the host itself can reach makes the probe meaningful
        mirror_ip = socket.gethostbyname("deb.debian.org")
    except OSError:
        mirror_ip = "192.0.2.1"
    result = sandbox.run(python_request(run_id, NETWORK_PROBE, mirror_ip))
    assert result.kind == "error", result
    assert result.exit_code == 1
    reached = json.loads(result.stdout)
    assert reached["dns"] is not True and reached["cloudflare"] is not True
    assert reached["mirror"] is not True
    assert reached["interfaces"] == ["lo"]
    assert result.settings["NetworkMode"] == "none"
    assert_no_container(docker_client, run_id)


WRITE_ATTEMPTS = r"""
import errno, json, sys
outcomes = {}
for path in sys.argv[1:]:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        outcomes[path] = "written"
    except OSError as err:
        outcomes[path] = errno.errorcode[err.errno]
print(json.dumps(outcomes))
sys.exit(0 if "written" in outcomes.values() else 1)
"""


def test_read_only_mount_cannot_be_written(sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    victim = data / "invoice.json"
    victim.write_text('{"total": 10}')
    victim.chmod(0o666)  # only the read-only mount may stop the write, not permissions
    source = host_dir(data, 0o777)
    result = sandbox.run(
        python_request(
            run_id,
            WRITE_ATTEMPTS,
            "/data/invoice.json",
            "/data/new.json",
            mounts=[Mount(source, "/data", read_only=True)],
        )
    )
    assert result.kind == "error", result
    assert json.loads(result.stdout) == {"/data/invoice.json": "EROFS", "/data/new.json": "EROFS"}
    assert victim.read_text() == '{"total": 10}'
    assert sorted(p.name for p in data.iterdir()) == ["invoice.json"]
    assert_no_container(docker_client, run_id)


def test_root_filesystem_is_read_only(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    # /var/tmp is world-writable in Debian, and root may write /etc: only the read-only root
    # filesystem stops these, so the error must be EROFS and not a permission error.
    for user in ("65534:65534", "0:0"):
        result = sandbox.run(python_request(run_id, WRITE_ATTEMPTS, "/var/tmp/pwned", "/etc/pwned", user=user))
        assert result.kind == "error", result
        assert json.loads(result.stdout) == {"/var/tmp/pwned": "EROFS", "/etc/pwned": "EROFS"}
    assert_no_container(docker_client, run_id)


FIND_MARKER = r"""
import os, sys
name, host_path = sys.argv[1], sys.argv[2]
found = []
for top in ("/",):
    for root, dirs, files in os.walk(top):
        if root in ("/proc", "/sys"):
            dirs[:] = []
            continue
        if name in files or name in dirs:
            found.append(os.path.join(root, name))
for path in (host_path,):
    try:
        open(path).read()
        found.append(path)
    except OSError:
        pass
print(found)
sys.exit(0 if found else 1)
"""


def test_unmounted_host_file_is_invisible(sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path) -> None:
    marker = tmp_path / f"secret-{run_id}.txt"
    marker.write_text("the host's secret")
    marker.chmod(0o644)
    result = sandbox.run(python_request(run_id, FIND_MARKER, marker.name, str(marker)))
    assert result.kind == "error", result
    assert result.stdout.strip() == b"[]"
    assert_no_container(docker_client, run_id)


FORK_BOMB = r"""
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""

# Hits the limit, then exits 0 at once: the exit status alone would call it a success.
FORK_UNTIL_REFUSED_THEN_EXIT_0 = r"""
import os, sys
children = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        import time; time.sleep(30); os._exit(0)
    children += 1
print(children)
sys.exit(0)
"""


def test_fork_bomb_is_a_crash(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    started = time.monotonic()
    result = sandbox.run(python_request(run_id, FORK_BOMB, pids=32, timeout_s=10))
    assert result.kind == "crash", result
    assert "limit of 32 processes" in result.detail
    assert time.monotonic() - started < 10 + 5
    assert_no_container(docker_client, run_id)


def test_fork_bomb_exiting_0_is_still_a_crash(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    result = sandbox.run(python_request(run_id, FORK_UNTIL_REFUSED_THEN_EXIT_0, pids=32))
    assert result.kind == "crash", result
    assert result.exit_code == 0
    assert 0 < int(result.stdout) < 32
    assert "limit of 32 processes" in result.detail
    assert_no_container(docker_client, run_id)


MEMORY_BOMB = r"""
hog = []
while True:
    hog.append(bytearray(8 * 1024 * 1024))
"""


def test_memory_bomb_is_a_crash(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    result = sandbox.run(python_request(run_id, MEMORY_BOMB, memory_bytes=96 * 1024 * 1024))
    assert result.kind == "crash", result
    assert "out-of-memory" in result.detail
    assert result.settings["Memory"] == result.settings["MemorySwap"] == 96 * 1024 * 1024
    assert_no_container(docker_client, run_id)


IGNORES_SIGTERM = r"""
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    time.sleep(60)
"""


def test_tool_ignoring_sigterm_is_killed_at_the_timeout(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    started = time.monotonic()
    result = sandbox.run(python_request(run_id, IGNORES_SIGTERM, timeout_s=2))
    elapsed = time.monotonic() - started
    assert result.kind == "timeout", result
    assert result.exit_code is None
    assert 2 <= elapsed < 2 + 4
    assert_no_container(docker_client, run_id)


FLOOD = r"""
import sys
chunk = b"x" * (1024 * 1024)
for _ in range(100):
    sys.stdout.buffer.write(chunk)
sys.stdout.flush()
"""


def test_100_mb_of_output_is_cut_off(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = sandbox.run(python_request(run_id, FLOOD, output_bytes=1024 * 1024))
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.kind == "invalid_output", result
    assert result.detail == "stdout exceeded the 1 MiB output cap"
    assert len(result.stdout) == 1024 * 1024
    assert (peak_after - peak_before) * 1024 < 32 * 1024 * 1024
    assert_no_container(docker_client, run_id)


PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


def test_undeclared_host_env_is_invisible(sandbox: Sandbox, docker_client: Any, run_id: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("SPECC_TEST_HOST_SECRET", "hunter2")
    result = sandbox.run(python_request(run_id, PRINT_ENV, env={"DECLARED": "yes"}))
    assert result.kind == "ok", result
    env = json.loads(result.stdout)
    assert "SPECC_TEST_HOST_SECRET" not in env
    assert b"hunter2" not in result.stdout
    assert env["DECLARED"] == "yes"
    # The image's PATH and LANG, and HOSTNAME and HOME set by the engine; nothing else.
    assert set(env) <= {"DECLARED", "PATH", "LANG", "HOSTNAME", "HOME"}
    assert result.settings["Env"] == ["DECLARED"]  # names only: values may be secrets
    assert_no_container(docker_client, run_id)


PROC_STATUS = r"""
import json
fields = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    fields[key] = value.strip()
print(json.dumps(fields))
"""


def test_no_capabilities_and_no_new_privileges(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    for user in ("65534:65534", "0:0"):  # even a tool run as root holds nothing
        result = sandbox.run(python_request(run_id, PROC_STATUS, user=user))
        assert result.kind == "ok", result
        status = json.loads(result.stdout)
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[cap], 16) == 0, (user, cap, status[cap])
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"  # Docker's default seccomp filter is in force
    assert_no_container(docker_client, run_id)


ECHO_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


def test_shell_metacharacters_are_not_interpreted(
    sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    source = host_dir(out, 0o777)
    hostile = [
        "; touch /out/pwned1",
        "$(touch /out/pwned2)",
        "`touch /out/pwned3`",
        "| touch /out/pwned4",
        "&& touch /out/pwned5",
        "> /out/pwned6",
        "*",
    ]
    result = sandbox.run(python_request(run_id, ECHO_ARGV, *hostile, mounts=[Mount(source, "/out", read_only=False)]))
    assert result.kind == "ok", result
    assert json.loads(result.stdout) == hostile
    assert list(out.iterdir()) == []
    assert_no_container(docker_client, run_id)


WHOAMI = "import json, os; print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getegid()]))"


def test_tool_runs_as_nobody(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    result = sandbox.run(python_request(run_id, WHOAMI))
    assert result.kind == "ok", result
    assert json.loads(result.stdout) == [65534, 65534, 65534, 65534]
    assert result.settings["User"] == "65534:65534"
    assert_no_container(docker_client, run_id)


ECHO_STDIN = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"


def test_stdin_json_arrives_intact(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    arguments = {
        "name": "Zoë Ünïcødé 日本語 🚀",
        "quote": "\"'`$(id)`\\n",
        "nul": "a\u0000b",
        "path": "2026/inv-7.json",
    }
    payload = json.dumps(arguments, ensure_ascii=False).encode("utf-8")
    result = sandbox.run(python_request(run_id, ECHO_STDIN, stdin=payload))
    assert result.kind == "ok", result
    assert result.stdout == payload
    assert json.loads(result.stdout) == arguments
    assert_no_container(docker_client, run_id)
