"""The sandbox: one fresh, hardened Docker container per action attempt.

It owns creating the container from an `AttemptRequest`, verifying its hardening before it starts,
feeding stdin, capping stdout and stderr, enforcing the timeout, classifying how the attempt ended,
and destroying the container whatever happens. Contracts (is stdout JSON?) are the caller's.
"""

from __future__ import annotations

import errno
import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from specc.safety import SOCKETS

from .backend import EXIT_UNCERTAIN, AttemptKind, AttemptRequest, AttemptResult, BackendUnavailable, Limits, Mount
from .disk import DiskUnavailable, Staging, reap_staging, stage
from .dockerio import (
    MANAGED_LABEL,
    OWNER_LABEL,
    RUN_ID_LABEL,
    STDERR,
    STDOUT,
    DockerClient,
    FrameSplitter,
    SignalGuard,
    connect_engine,
    engine_errors,
    explain,
    labels,
    leftovers,
    no_engine_message,
    remove_container,
    resource_name,
)
from .seccomp import SECCOMP_OPT
from .seccomp import recorded as recorded_option

__all__ = [
    "BASE_IMAGE", "MANAGED_LABEL", "OWNER_LABEL", "RUN_ID_LABEL", "AttemptRequest", "AttemptResult", "Limits",
    "Mount", "Sandbox", "SandboxUnavailable", "connect_engine", "no_engine_message",
]

#: The base image the examples and the tests use; built by `specc image build`.
BASE_IMAGE: Final = "specc/base:bookworm"

#: The security options: no-new-privileges, and specc's own seccomp profile passed explicitly (see
#: `seccomp.py`), so the calls a tool may make do not depend on the engine's version. The engine's
#: default AppArmor profile stays on because no other is passed.
SECURITY_OPT: Final = ("no-new-privileges", SECCOMP_OPT)

#: Every capability is dropped; tools never need one.
CAP_DROP: Final = ("ALL",)

#: Mount options of the scratch tmpfs at /tmp: writable by the tool's user, nothing executable.
TMPFS_TARGET: Final = "/tmp"
TMPFS_OPTIONS: Final = "rw,noexec,nosuid,nodev,mode=1777"

#: The size of /dev/shm, the container's own (IPC mode private; the engine mounts it noexec,
#: nosuid, nodev). Enough for the POSIX semaphores and queues of a multiprocessing tool, not a
#: second scratch disk beside /tmp (the engine's default is 64 MiB).
SHM_BYTES: Final = 1024 * 1024

#: Host paths that are never mounted into a tool, whatever the request says: the engine's socket
#: is root on the host.
FORBIDDEN_MOUNT_SOURCES: Final = frozenset(SOCKETS)

#: The launcher (`launch.sh`, run by the image's /bin/sh) that takes the attempt's env from the
#: envelope opening its stdin and execs the tool: env values never stand in the container's
#: configuration (`docker inspect`, the engine's files), and reach the tool only when it starts.
LAUNCHER_SOURCE: Final = os.path.realpath(os.path.join(os.path.dirname(__file__), "launch.sh"))
LAUNCHER_TARGET: Final = "/.specc/launch"

#: What the launcher accepts as a variable's name (a shell's `export` refuses anything else).
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: How often, while a tool runs, its cgroup's pids counter is read.
PIDS_POLL_S: Final = 0.05

#: Grace given to the engine, after a tool closed its output, to report the exit status.
EXIT_GRACE_S: Final = 2.0

_PIDS_REJECTED_LOG = "fork rejected by pids controller in "

#: The sandbox's failures are the backend's: no engine, or the image is missing.
SandboxUnavailable = BackendUnavailable


class _Refused(Exception):
    """The attempt cannot run; the message becomes the result's detail."""


def _mib(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


class Sandbox:
    """Runs attempts in hardened, single-use containers on the local Docker engine."""

    def __init__(self, client: object | None = None) -> None:
        """Use `client` (a `docker.DockerClient`), or `docker.from_env()` on first use."""
        self._client: DockerClient = client

    # -- engine ------------------------------------------------------------------------------

    @property
    def client(self) -> DockerClient:
        """The docker SDK client, connected on first use; raises `SandboxUnavailable`."""
        if self._client is None:
            self._client = connect_engine(SandboxUnavailable)
        return self._client

    def check(self, image: str = BASE_IMAGE) -> None:
        """Raise `SandboxUnavailable` unless the engine answers and has `image`."""
        from docker.errors import DockerException, ImageNotFound

        client = self.client
        try:
            client.api.ping()
        except DockerException as err:
            raise SandboxUnavailable(no_engine_message(err)) from err
        try:
            client.api.inspect_image(image)
        except ImageNotFound as err:
            raise SandboxUnavailable(_no_image(image)) from err
        except DockerException as err:
            raise SandboxUnavailable(no_engine_message(err)) from err

    # -- one attempt -------------------------------------------------------------------------

    def run(self, request: AttemptRequest, *, network: str | None = None,
            extra_env: Mapping[str, str] | None = None) -> AttemptResult:
        """Run one attempt in a fresh container and remove the container whatever happens.

        `network` is the engine network to join (None: network "none"); `extra_env` are variables
        the backend adds (the egress proxy's address). Raises `SandboxUnavailable` when no engine
        answers or the image is missing; every other engine failure is a result of kind "sandbox".
        """
        env = dict(extra_env or {})
        started = time.monotonic()
        asked = _Container(request, network, env)
        staging: Staging | None = None
        with SignalGuard() as guard:
            try:
                _validate(asked)
                # read_write mounts become overlays on a filesystem of the disk bound (disk.py)
                staging = stage(request.mounts, request.limits.disk_bytes, request.run_id)
                container = _Container(request, network, env, staging)
                result = self._contained(container, started)
                return result if staging is None else _settled(result, staging)
            except (_Refused, DiskUnavailable) as refusal:
                return _sandbox_result(str(refusal), asked.record(self._expected_settings(asked)), started)
            finally:
                guard.hold()
                if staging is not None:
                    staging.close()  # after the container is gone: what was not committed goes

    def _contained(self, container: _Container, started: float) -> AttemptResult:
        """Create, verify, run and remove the attempt's container."""
        from docker.errors import APIError, ImageNotFound

        request = container.request
        expected = self._expected_settings(container)
        record = container.record(expected)
        container_id: str | None = None
        try:
            container_id = self._create(container)
            _verify(expected, self._applied_settings(container_id, container))
            return self._attempt(container_id, container, record)
        except _Refused as refusal:
            return _sandbox_result(str(refusal), record, started)
        except ImageNotFound as err:
            raise SandboxUnavailable(_no_image(request.image)) from err
        except APIError as err:
            return _sandbox_result(_engine_error(err), record, started)
        except engine_errors() as err:
            raise SandboxUnavailable(no_engine_message(err)) from err
        finally:
            if container_id is not None:
                remove_container(self.client.api, container_id)

    def _create(self, container: _Container) -> str:
        from docker.types import LogConfig, Ulimit
        from docker.types import Mount as DockerMount

        request = container.request
        limits = request.limits
        api = self.client.api
        host_config = api.create_host_config(
            read_only=True,
            cap_drop=list(CAP_DROP),
            security_opt=list(SECURITY_OPT),
            privileged=False,
            pids_limit=limits.pids,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,
            nano_cpus=_nano_cpus(limits.cpus),
            ulimits=[Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile)],
            network_mode=container.network or "none",
            ipc_mode="private",
            shm_size=SHM_BYTES,
            mounts=[DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in container.mounts],
            tmpfs={TMPFS_TARGET: _tmpfs_options(limits.tmpfs_bytes)},
            # Output reaches the runtime through the attach stream only; a log driver would copy
            # everything a tool prints (up to gigabytes) onto the host's disk.
            log_config=LogConfig(type="none"),
        )
        created = api.create_container(
            image=request.image,
            command=list(container.argv),
            user=request.user,
            environment=dict(container.env),
            labels=labels(request.run_id),
            name=resource_name("specc", request.run_id, run_size=40),
            # With stdin open and not detached the SDK also sets StdinOnce: our half-close of the
            # attach stream is the tool's end of file.
            stdin_open=True,
            # The SDK would otherwise add proxy variables from ~/.docker/config.json.
            use_config_proxy=False,
            tty=False,
            host_config=host_config,
        )
        return str(created["Id"])

    def _expected_settings(self, container: _Container) -> dict[str, object]:
        """The hardening settings the container must show before it may start."""
        request = container.request
        limits = request.limits
        return {
            **expected_hardening(user=request.user, pids=limits.pids, memory=limits.memory_bytes,
                                 cpus=limits.cpus, nofile=limits.nofile),
            "NetworkMode": container.network or "none",
            "Mounts": sorted([m.source, m.target, not m.read_only] for m in container.mounts),
            "Tmpfs": {TMPFS_TARGET: _tmpfs_options(limits.tmpfs_bytes)},
            "Env": sorted(f"{k}={v}" for k, v in container.env.items()),
        }

    def _applied_settings(self, container_id: str, container: _Container) -> dict[str, object]:
        """The hardening settings the engine reports for the created container."""
        api = self.client.api
        info = api.inspect_container(container_id)
        config = info.get("Config") or {}
        image_env = set((api.inspect_image(container.request.image).get("Config") or {}).get("Env") or [])
        asked_env = {f"{k}={v}" for k, v in container.env.items()}
        return {
            **applied_hardening(info),
            # Variables baked into the image are not the host's; anything else must be asked for.
            "Env": sorted(e for e in config.get("Env") or [] if e in asked_env or e not in image_env),
        }

    def _attempt(self, container_id: str, container: _Container, settings: dict[str, object]) -> AttemptResult:
        request = container.request
        api = self.client.api
        limits = request.limits
        kernel_log = _KernelLog.open()
        stream = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        sock: socket.socket = getattr(stream, "_sock", stream)
        try:
            started = time.monotonic()
            api.start(container_id)
            deadline = started + limits.timeout_s
            pids = _PidsCounter.find(api, container_id)
            _feed_stdin(sock, container.stdin)

            stdout = _Capped(limits.output_bytes)
            stderr = _Capped(limits.stderr_bytes)
            outcome = _pump(sock, stdout, stderr, deadline, pids.poll)

            def result(kind: AttemptKind, exit_code: int | None, detail: str) -> AttemptResult:
                return AttemptResult(
                    kind=kind,
                    exit_code=exit_code,
                    stdout=stdout.data(),
                    stderr=stderr.data(),
                    duration_s=time.monotonic() - started,
                    detail=detail,
                    settings=dict(settings, pids_limit_detection=pids.method(kernel_log)),
                )

            if outcome != "eof":
                # Hang up first: an engine blocked writing output nobody reads would not kill.
                sock.close()
                stream.close()
            if outcome == "overflow":
                self._kill(container_id)
                return result(
                    "invalid_output",
                    None,
                    f"stdout exceeded the {_mib(limits.output_bytes)} output cap",
                )
            exit_code = self._wait(container_id, deadline) if outcome == "eof" else None
            if exit_code is None:
                self._kill(container_id)
            pids.poll()
            state = api.inspect_container(container_id).get("State") or {}
            crash = _crash_detail(
                bool(state.get("OOMKilled")),
                pids.hit or kernel_log.pids_rejected(container_id),
                limits,
            )
            if exit_code is None:
                timeout = f"killed after the {limits.timeout_s:g} s timeout"
                if crash is not None:
                    # A fork bomb spinning at the pids limit until the timeout is still a crash.
                    return result("crash", None, f"{crash}, then {timeout}")
                return result("timeout", None, timeout)
            kind, detail = _classify(exit_code)
            if crash is not None:
                kind, detail = "crash", crash
            return result(kind, exit_code, detail)
        finally:
            kernel_log.close()
            try:
                sock.close()
            finally:
                stream.close()

    def _wait(self, container_id: str, deadline: float) -> int | None:
        """Wait for the exit status until the deadline (plus a grace for the engine)."""
        from requests.exceptions import ConnectionError, ReadTimeout

        remaining = max(deadline - time.monotonic(), 0.0) + EXIT_GRACE_S
        try:
            answer = self.client.api.wait(container_id, timeout=remaining)
        except (ReadTimeout, ConnectionError):
            return None
        return int(answer["StatusCode"])

    def _kill(self, container_id: str) -> None:
        from docker.errors import APIError

        try:
            self.client.api.kill(container_id, signal="SIGKILL")
        except APIError:
            pass  # it exited on its own meanwhile; the removal that follows is what matters

    def interrupt(self, run_id: str) -> None:
        """Kill this process's containers of `run_id` now, from any thread: the attempt waiting on one
        sees it end and removes it, as after any kill."""
        from .owner import current_owner

        api = self.client.api
        wanted = [f"{MANAGED_LABEL}=1", f"{RUN_ID_LABEL}={run_id}", f"{OWNER_LABEL}={current_owner()}"]
        try:
            found = api.containers(filters={"label": wanted})
        except engine_errors():
            return  # no engine: the attempt's own wait fails the same way
        for container in found:
            self._kill(container["Id"])

    # -- leftovers ---------------------------------------------------------------------------

    def reap(self) -> int:
        """Remove specc containers whose owner process on this host is gone; return how many."""
        api = self.client.api
        # a container still going away, or an engine that is busy, is left for a later reap
        removed = sum(remove_container(api, found["Id"]) for found in leftovers(api, api.containers))
        # then the disks of their attempts, which nothing writes to any more
        return removed + reap_staging()


# -- settings ------------------------------------------------------------------------------------


class _Container:
    """An attempt as the engine sees it: the request, plus the network and the env the backend
    adds (`env`, in the container's configuration: nothing secret), its read_write mounts moved
    onto the attempt's disk, and the request's own env (`delivered`) travelling on stdin to the
    launcher, so that no value of it stands in the configuration."""

    def __init__(self, request: AttemptRequest, network: str | None, env: Mapping[str, str],
                 staging: Staging | None = None) -> None:
        self.request = request
        self.network = network
        self.env = dict(env)
        # what the backend sets wins, as it would in the configuration: the proxy's address stays
        self.delivered = {k: v for k, v in request.env.items() if k not in self.env}
        mounts = request.mounts if staging is None else staging.mounts(request.mounts)
        self.argv = request.argv
        self.stdin = request.stdin
        if self.delivered:
            self.argv = ("/bin/sh", LAUNCHER_TARGET, *request.argv)
            self.stdin = envelope(self.delivered) + request.stdin
            mounts = (*mounts, Mount(LAUNCHER_SOURCE, LAUNCHER_TARGET, True))
        self.mounts = mounts

    def record(self, expected: Mapping[str, object]) -> dict[str, object]:
        """The settings as the run store keeps them: the host's folders rather than the overlays
        they became, and the disk bound."""
        record = _recorded(expected)
        record["Mounts"] = sorted([m.source, m.target, not m.read_only] for m in self.request.mounts)
        record["Disk"] = self.request.limits.disk_bytes
        configured = record.get("Env")
        names = [str(name) for name in configured] if isinstance(configured, list) else []
        record["Env"] = sorted({*names, *self.delivered})
        return record


def _validate(container: _Container) -> None:
    request = container.request
    limits = request.limits
    if not request.argv:
        raise _Refused("refused to create the container: the argv is empty")
    for name, value in (
        ("memory", limits.memory_bytes),
        ("pids", limits.pids),
        ("output", limits.output_bytes),
        ("tmpfs", limits.tmpfs_bytes),
        ("disk", limits.disk_bytes),
        ("nofile", limits.nofile),
    ):
        if value <= 0:
            raise _Refused(f"refused to create the container: the {name} limit must be positive")
    if limits.cpus <= 0 or limits.timeout_s <= 0:
        raise _Refused("refused to create the container: cpus and timeout must be positive")
    for mount in request.mounts:
        if not os.path.isabs(mount.source) or not os.path.isabs(mount.target):
            raise _Refused(f"refused to mount `{mount.source}` at `{mount.target}`: paths must be absolute")
        if os.path.realpath(mount.source) != mount.source:
            raise _Refused(f"refused to mount `{mount.source}`: it is not a resolved real path")
        if mount.source in FORBIDDEN_MOUNT_SOURCES:
            raise _Refused(f"refused to mount `{mount.source}`: the engine's socket is never mounted")
    for key in container.env:
        if not key or "=" in key or "\0" in key:
            raise _Refused(f"refused to create the container: invalid env var name `{key}`")
    for key, text in container.delivered.items():
        if not ENV_NAME.fullmatch(key):
            raise _Refused(f"refused to create the container: invalid env var name `{key}`")
        if "\0" in text:
            raise _Refused(f"refused to create the container: the value of `{key}` holds a NUL byte")


def _verify(expected: Mapping[str, object], applied: Mapping[str, object]) -> None:
    wrong = mismatch(expected, applied)
    if wrong is not None:
        raise _Refused(f"refused to start the container: {wrong}")


def mismatch(expected: Mapping[str, object], applied: Mapping[str, object]) -> str | None:
    """The first hardening setting the engine applied otherwise than expected, said for a person
    (a seccomp profile by its id, not its bytes), or None when every one matches."""
    for name, want in expected.items():
        got = applied.get(name)
        if got != want:
            return f"`{name}` is {_recorded({name: got})[name]!r}, expected {_recorded({name: want})[name]!r}"
    return None


def expected_hardening(*, user: str, pids: int, memory: int, cpus: float, nofile: int) -> dict[str, object]:
    """What the engine must report, before it starts, for any container specc runs (a tool's or an
    egress proxy's), in the shape of `applied_hardening`; each adds its network, mounts and env."""
    return {
        "User": user,
        "Privileged": False,
        "ReadonlyRootfs": True,
        "CapAdd": [],
        "CapDrop": sorted(CAP_DROP),
        "SecurityOpt": sorted(SECURITY_OPT),
        "PidsLimit": pids,
        "Memory": memory,
        "MemorySwap": memory,
        "NanoCpus": _nano_cpus(cpus),
        "Ulimits": [{"Name": "nofile", "Soft": nofile, "Hard": nofile}],
        "PidMode": "",
        "IpcMode": "private",
        "ShmSize": SHM_BYTES,
        "UTSMode": "",
        "UsernsMode": "",
        "Devices": [],
        "Binds": [],
        "Tty": False,
    }


def applied_hardening(info: Mapping[str, Any]) -> dict[str, object]:
    """The hardening settings of a created container as the engine reports them (its inspect
    answer), in the shape `Sandbox` and the egress proxies state what they expect."""
    host = info.get("HostConfig") or {}
    config = info.get("Config") or {}
    return {
        "User": config.get("User", ""),
        "Privileged": bool(host.get("Privileged")),
        "ReadonlyRootfs": bool(host.get("ReadonlyRootfs")),
        "CapAdd": sorted(host.get("CapAdd") or []),
        "CapDrop": sorted(host.get("CapDrop") or []),
        "SecurityOpt": sorted(host.get("SecurityOpt") or []),
        # The engine reports "no limit" as 0, -1 or nothing at all.
        "PidsLimit": max(int(host.get("PidsLimit") or 0), 0),
        "Memory": int(host.get("Memory") or 0),
        "MemorySwap": int(host.get("MemorySwap") or 0),
        "NanoCpus": int(host.get("NanoCpus") or 0),
        "Ulimits": [
            {"Name": u.get("Name"), "Soft": u.get("Soft"), "Hard": u.get("Hard")} for u in host.get("Ulimits") or []
        ],
        "NetworkMode": host.get("NetworkMode", ""),
        "PidMode": host.get("PidMode", ""),
        "IpcMode": host.get("IpcMode", ""),
        "ShmSize": int(host.get("ShmSize") or 0),
        "UTSMode": host.get("UTSMode", ""),
        "UsernsMode": host.get("UsernsMode", ""),
        "Devices": list(host.get("Devices") or []),
        "Binds": list(host.get("Binds") or []),
        # What will really be mounted (image volumes included), not only what was asked.
        "Mounts": sorted(
            [m.get("Source"), m.get("Destination"), bool(m.get("RW"))] for m in info.get("Mounts") or []
        ),
        "Tmpfs": dict(host.get("Tmpfs") or {}),
        "Tty": bool(config.get("Tty")),
    }


def _recorded(settings: Mapping[str, object]) -> dict[str, object]:
    """The settings as the run store keeps them: env var names only, their values may be secrets."""
    recorded = dict(settings)
    options = recorded.get("SecurityOpt")
    if isinstance(options, list):
        recorded["SecurityOpt"] = [recorded_option(str(option)) for option in options]
    env = recorded.get("Env")
    if isinstance(env, list):
        recorded["Env"] = sorted({str(entry).partition("=")[0] for entry in env})
    return recorded


def envelope(env: Mapping[str, str]) -> bytes:
    """The lines the launcher reads before the tool's stdin: `NAME=` and every byte of the value
    as a `\\0NNN` octal escape (printf's `%b`), then an empty line."""
    lines = (name + "=" + "".join(f"\\0{byte:03o}" for byte in value.encode()) for name, value in sorted(env.items()))
    return ("".join(f"{line}\n" for line in lines) + "\n").encode("ascii")


def _nano_cpus(cpus: float) -> int:
    return int(round(cpus * 1e9))


def _tmpfs_options(size: int) -> str:
    return f"{TMPFS_OPTIONS},size={size}"


# -- results -------------------------------------------------------------------------------------


def _settled(result: AttemptResult, staging: Staging) -> AttemptResult:
    """Apply what the tool wrote into its read_write mounts to the host's folders, unless it wrote
    more than the disk bound; the container is gone, so nothing writes any more."""
    result.settings["disk_written"] = staging.written()
    try:
        over, skipped = staging.settle()
    except OSError as err:
        result.kind = "crash"
        result.detail = f"{result.detail}; what it wrote could not be copied back to the host: {err}"
        return result
    if over:
        result.kind = "crash"
        result.detail = (f"wrote more than the {_mib(staging.bound)} disk bound into its read_write mounts "
                         f"({result.detail}); nothing it wrote was kept")
    elif skipped:
        result.detail += f"; {skipped} FIFO, socket or device file(s) it made were not copied back"
    return result


def _crash_detail(oom_killed: bool, pids_hit: bool, limits: Limits) -> str | None:
    if oom_killed:
        return f"killed by the out-of-memory killer at the {_mib(limits.memory_bytes)} limit"
    if pids_hit:
        return f"stopped by the limit of {limits.pids} processes"
    return None


def _classify(exit_code: int) -> tuple[AttemptKind, str]:
    if 128 < exit_code <= 128 + 64:
        number = exit_code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return "crash", f"killed by {name} (exit status {exit_code})"
    if exit_code == 0:
        return "ok", "exited with status 0"
    if exit_code == EXIT_UNCERTAIN:
        return "uncertain", "exited with status 3 (effect uncertain)"
    return "error", f"exited with status {exit_code}"


def _sandbox_result(detail: str, settings: dict[str, object], started: float) -> AttemptResult:
    return AttemptResult(
        kind="sandbox",
        exit_code=None,
        stdout=b"",
        stderr=b"",
        duration_s=time.monotonic() - started,
        detail=detail,
        settings=settings,
    )


def _engine_error(err: Exception) -> str:
    return f"the docker engine refused the container: {explain(err)}"


def _no_image(image: str) -> str:
    return f"the image `{image}` is not on the docker engine; build it with `specc image build`"


# -- streams -------------------------------------------------------------------------------------


class _Capped:
    """Keeps the head of a stream up to a cap and counts everything."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self._chunks: list[bytes] = []
        self._kept = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - self._kept
        if room > 0:
            kept = chunk[:room]
            self._chunks.append(kept)
            self._kept += len(kept)

    @property
    def over(self) -> bool:
        return self.total > self.cap

    def data(self) -> bytes:
        return b"".join(self._chunks)


def _feed_stdin(sock: socket.socket, data: bytes) -> None:
    """Write stdin from a thread, then half-close, so a tool that prints before reading cannot
    deadlock against us; closing our write side is what gives the tool its end of file."""

    def write() -> None:
        try:
            if data:
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the tool exited without reading everything; its exit status tells the rest

    threading.Thread(target=write, name="specc-stdin", daemon=True).start()


def _pump(
    sock: socket.socket,
    stdout: _Capped,
    stderr: _Capped,
    deadline: float,
    poll: Callable[[], None],
) -> str:
    """Demultiplex the attach stream until end of stream ("eof"), the deadline ("timeout") or
    stdout over its cap ("overflow"); nothing beyond the caps is kept in memory."""
    frames = FrameSplitter()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        readable, _, _ = select.select([sock], [], [], min(remaining, PIDS_POLL_S))
        poll()
        if not readable:
            continue
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            continue
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EINTR):
                continue
            return "eof"
        if not chunk:
            return "eof"
        for stream, piece in frames.feed(chunk):
            if stream == STDOUT:
                stdout.add(piece)
                if stdout.over:
                    return "overflow"
            elif stream == STDERR:
                stderr.add(piece)


# -- pids limit detection ------------------------------------------------------------------------


class _PidsCounter:
    """Reads the container's cgroup `pids.events` "max" counter while the tool runs.

    The cgroup disappears as soon as the tool exits, so the counter is read every `PIDS_POLL_S`
    and once more when the output ends; `_KernelLog` closes the gap left by a tool that exits
    right after hitting the limit.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.hit = False
        self.seen = False

    @classmethod
    def find(cls, api: DockerClient, container_id: str) -> _PidsCounter:
        try:
            pid = int((api.inspect_container(container_id).get("State") or {}).get("Pid") or 0)
        except Exception:
            pid = 0
        counter = cls(_pids_events_path(pid) if pid > 0 else None)
        counter.poll()
        return counter

    def poll(self) -> None:
        if self.path is None or self.hit:
            return
        try:
            with open(self.path, encoding="ascii") as events:
                text = events.read()
        except OSError:
            return
        self.seen = True
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "max" and value.strip().isdigit() and int(value) > 0:
                self.hit = True

    def method(self, kernel_log: _KernelLog) -> str:
        methods = []
        if self.seen:
            methods.append("cgroup pids.events")
        if kernel_log.available:
            methods.append("kernel log")
        return " + ".join(methods) or "unavailable"


def _pids_events_path(pid: int) -> str | None:
    """The `pids.events` file of the cgroup process `pid` is in, cgroup v1 or v2."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    v1 = v2 = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            v1 = path
        elif controllers == "":
            v2 = path
    for mount_root, point, kind, options in _cgroup_mounts():
        if v1 is not None and kind == "cgroup" and "pids" in options:
            relative = v1
        elif v1 is None and v2 is not None and kind == "cgroup2":
            relative = v2
        else:
            continue
        if mount_root != "/" and relative.startswith(mount_root):
            relative = relative[len(mount_root) :]
        candidate = os.path.join(point, relative.lstrip("/"), "pids.events")
        if os.path.exists(candidate):
            return candidate
    return None


def _cgroup_mounts() -> Iterator[tuple[str, str, str, set[str]]]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as table:
            lines = table.read().splitlines()
    except OSError:
        return
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] in ("cgroup", "cgroup2"):
            yield fields[3], fields[4], tail[0], set(tail[2].split(","))


class _KernelLog:
    """The kernel logs "fork rejected by pids controller in <cgroup>" the first time a cgroup's
    pids limit stops a fork. That line outlives the cgroup, so reading the log written during the
    attempt catches a tool that hits the limit and exits before its counter could be read. Needs
    read access to /dev/kmsg (root, or kernel.dmesg_restrict=0); without it the counter alone
    decides."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    @classmethod
    def open(cls) -> _KernelLog:
        try:
            fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return cls(None)
        try:
            os.lseek(fd, 0, os.SEEK_END)  # only records written from now on
        except OSError:
            os.close(fd)
            return cls(None)
        return cls(fd)

    @property
    def available(self) -> bool:
        return self.fd is not None

    def pids_rejected(self, container_id: str) -> bool:
        if self.fd is None:
            return False
        found = False
        while True:
            try:
                record = os.read(self.fd, 8192)
            except BlockingIOError:
                return found
            except BrokenPipeError:
                continue  # records were overwritten while we read; go on with the next ones
            except OSError:
                return found
            if not record:
                return found
            message = record.decode("utf-8", "replace")
            if _PIDS_REJECTED_LOG in message and container_id in message:
                found = True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
