"""Network egress limited to the declared hosts.

It owns, for one run, the Docker networks and the egress proxy containers through which an action
reaches exactly its declared `host:port` endpoints, the connection events the proxies report, and
removing all of it (leftovers of a killed run are reaped like containers).

Per action that declares hosts: an internal network (no route out, and no address of the host on
it) that holds only the action's container and its proxy; the proxy also sits on the run's outer
network, the one way out. The proxy program is `egress_proxy.py`, run by the base image's python3.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from specc import endpoints

from . import egress_proxy
from .backend import BackendUnavailable, ConnectionEvent
from .dockerio import (
    STDERR,
    STDOUT,
    DockerClient,
    FrameSplitter,
    connect_engine,
    engine_errors,
    explain,
    labels,
    leftovers,
    no_engine_message,
    remove_container,
    resource_name,
    signals_deferred,
)
from .sandbox import BASE_IMAGE, SECURITY_OPT, SHM_BYTES, applied_hardening, expected_hardening, mismatch

__all__ = ["ConnectionEvent", "Egress", "EgressError", "EgressUnavailable", "Endpoint", "reap_egress"]

#: The proxy is a Python program from the standard library only: the base image runs it, so
#: `specc image build` has no second image to build.
PROXY_IMAGE: Final = BASE_IMAGE

#: The port the proxy listens on, on its address in the action's internal network only.
PROXY_PORT: Final = 3128

#: Labels besides sandbox.py's: what a resource is, and for which action.
ROLE_LABEL: Final = "specc.role"
ACTION_LABEL: Final = "specc.action"
PROXY_ROLE: Final = "egress-proxy"
INTERNAL_ROLE: Final = "egress-internal"
OUTER_ROLE: Final = "egress-outer"

#: Limits of a proxy container: small, and every one finite.
PROXY_MEMORY_BYTES: Final = 64 * 1024 * 1024
PROXY_CPUS: Final = 0.5
PROXY_PIDS: Final = 32
PROXY_NOFILE: Final = 512

#: The proxy never routes packets between its two networks, only relays connections it checked.
PROXY_SYSCTLS: Final = {"net.ipv4.ip_forward": "0"}

#: The internal network: no route out (`internal`), and no address for the host on its bridge, so a
#: tool cannot reach services listening on the host either.
INTERNAL_OPTIONS: Final = {"com.docker.network.bridge.inhibit_ipv4": "true"}

#: The run's outer network: proxies of different actions cannot reach one another on it.
OUTER_OPTIONS: Final = {"com.docker.network.bridge.enable_icc": "false"}

#: Nothing bypasses the proxy, not even loopback: every attempt is decided and recorded, and a
#: redirect to 127.0.0.1 is refused by the proxy instead of reaching the tool's own loopback.
NO_PROXY: Final = ""

#: Seconds to wait for a new proxy to listen, and for a proxy to confirm it reported everything.
READY_TIMEOUT_S: Final = 20.0
SYNC_TIMEOUT_S: Final = 5.0

#: Connection events kept per action; beyond it attempts are counted, and reported as one event.
MAX_EVENTS: Final = 1000


@dataclass(frozen=True)
class Endpoint:
    """A declared `host:port`: a host name, an IP address, or an explicit wildcard `*.domain`
    (every name with at least one more label under `domain`, never `domain` itself)."""

    host: str
    port: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", endpoints.normalize_host(self.host))
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} of `{self.host}` is outside 1..65535")

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Parse the IR's `host:port` (`[v6]:port`, `*.example.com:443`); raises `ValueError`."""
        host, port = endpoints.parse_authority(text.strip())
        return cls(host, port)

    def __str__(self) -> str:
        return endpoints.authority(self.host, self.port)


class EgressUnavailable(BackendUnavailable):
    """No Docker engine answers, or the proxy's image is missing; the message says what to do."""


class EgressError(Exception):
    """The engine refused a network or the proxy did not start: the action cannot run (kind "sandbox")."""


@dataclass
class _Proxy:
    """One action's internal network, its proxy container and the proxy's report stream."""

    action: str
    endpoints: tuple[Endpoint, ...]
    network_id: str
    network_name: str
    container_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ready: dict[str, Any] | None = None
    ended: bool = False
    syncs_sent: int = 0
    syncs_seen: int = 0
    events: list[ConnectionEvent] = field(default_factory=list)
    recorded: int = 0
    dropped: int = 0
    dropped_reported: int = 0
    stderr: bytes = b""
    reader: threading.Thread | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    def take(self, line: bytes, max_events: int) -> None:
        """Record one JSON line the proxy printed."""
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        with self.changed:
            kind = record.get("event")
            if kind == "ready":
                self.ready = record
            elif kind == "sync":
                self.syncs_seen = max(self.syncs_seen, int(record.get("n") or 0))
            elif kind == "connection":
                if self.recorded >= max_events:
                    self.dropped += 1
                else:
                    self.recorded += 1
                    self.events.append(_event(self.action, record))
            self.changed.notify_all()

    def drain(self, max_events: int) -> list[ConnectionEvent]:
        with self.changed:
            events, self.events = self.events, []
            if self.dropped > self.dropped_reported:
                count = self.dropped - self.dropped_reported
                self.dropped_reported = self.dropped
                reason = f"{count} more connection attempts were not recorded (at most {max_events} per action)"
                events.append(ConnectionEvent(self.action, "", 0, False, reason, None))
            return events


def _event(action: str, record: dict[str, Any]) -> ConnectionEvent:
    address = record.get("address")
    return ConnectionEvent(
        action=action,
        host=str(record.get("host") or ""),
        port=int(record.get("port") or 0),
        allowed=record.get("allowed") is True,
        reason=str(record.get("reason") or ""),
        address=None if address is None else str(address),
        method=str(record.get("method") or ""),
    )


class Egress:
    """The egress of one run: per action with hosts, an internal network and a proxy.

    Use as a context manager; everything created is removed on exit, whatever happened. Events are
    delivered to `on_event` on the caller's thread, by `flush()` and on exit, never from a
    background thread.

    `upstream` names an existing network for the proxies to reach the world through instead of a
    network created for the run (tests put their stand-in servers on one). `trusted_networks` are
    CIDR networks whose addresses are not refused as private, reserved or link-local (for tests,
    whose servers live on Docker's private addresses, and for deployments whose declared hosts live
    on a private network); loopback and unspecified addresses stay refused. `proxy_dns` are the
    name servers the proxies' resolver forwards to (the engine's host resolvers by default).
    """

    def __init__(
        self,
        run_id: str,
        client: object | None = None,
        *,
        on_event: Callable[[ConnectionEvent], None],
        upstream: str | None = None,
        trusted_networks: Iterable[str] = (),
        proxy_dns: Sequence[str] = (),
        image: str = PROXY_IMAGE,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.run_id = run_id
        self._client: DockerClient = client
        self._on_event = on_event
        self._upstream = upstream
        self._trusted = tuple(str(ipaddress.ip_network(n, strict=False)) for n in trusted_networks)
        self._proxy_dns = tuple(str(ipaddress.ip_address(a)) for a in proxy_dns)
        self._image = image
        self._max_events = max_events
        self._outer: str | None = None  # the id of the outer network this run created
        self._proxies: dict[str, _Proxy] = {}
        self._lock = threading.Lock()

    # -- engine ------------------------------------------------------------------------------

    @property
    def client(self) -> DockerClient:
        """The docker SDK client, connected on first use; raises `EgressUnavailable`."""
        if self._client is None:
            self._client = connect_engine(EgressUnavailable)
        return self._client

    def __enter__(self) -> Egress:
        from docker.errors import ImageNotFound

        api = self.client.api
        try:
            api.ping()
            api.inspect_image(self._image)
        except ImageNotFound as err:
            raise EgressUnavailable(
                f"the image `{self._image}` the egress proxy runs on is missing; build it with `specc image build`"
            ) from err
        except engine_errors() as err:
            raise EgressUnavailable(no_engine_message(err)) from err
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- one action --------------------------------------------------------------------------

    def network_for(self, action: str, endpoints: Sequence[Endpoint]) -> tuple[str, dict[str, str]]:
        """The network the action's container must join, and the env vars to give it.

        The first call for an action creates its internal network and starts its proxy; later
        calls (retries) return the same, or a new pair if the proxy has died. Raises
        `EgressError` when the engine refuses, and `ValueError` for no endpoints or endpoints
        other than the action's first ones.
        """
        wanted = tuple(dict.fromkeys(endpoints))
        if not wanted:
            raise ValueError(f"action `{action}` declares no hosts: give its container network none")
        with self._lock:
            existing = self._proxies.get(action)
            if existing is not None:
                if set(existing.endpoints) != set(wanted):
                    raise ValueError(f"action `{action}` already has a proxy for other endpoints")
                if not existing.ended:
                    return existing.network_name, dict(existing.env)
                # The proxy died (out of memory, killed): report what it decided, start afresh.
                self._deliver([existing])
                self._discard(action)
            failures: tuple[type[Exception], ...] = (*engine_errors(), EgressError)
            try:
                proxy = self._start(action, wanted)
            except failures as err:
                self._discard(action)  # a retry starts from nothing
                raise EgressError(f"the egress proxy of action `{action}` could not start: {explain(err)}") from err
            return proxy.network_name, dict(proxy.env)

    def flush(self, action: str | None = None, timeout_s: float = SYNC_TIMEOUT_S) -> int:
        """Deliver to `on_event`, on this thread, every decision the proxies (or `action`'s) made
        so far; return how many events were delivered. Call it after each attempt, once the
        action's container is gone.

        Raises `EgressError` when a running proxy does not confirm its report in time (after
        delivering what it did report).
        """
        proxies = [p for name, p in self._proxies.items() if action is None or name == action]
        late: list[str] = []
        for proxy in proxies:
            with proxy.changed:
                if proxy.ended or proxy.container_id is None:
                    continue
                proxy.syncs_sent += 1
                target = proxy.syncs_sent
            try:
                self.client.api.kill(proxy.container_id, signal="SIGUSR1")
            except engine_errors():
                pass  # the proxy is gone: its stream has ended or is about to
            deadline = time.monotonic() + timeout_s
            with proxy.changed:
                while proxy.syncs_seen < target and not proxy.ended:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        late.append(proxy.action)
                        break
                    proxy.changed.wait(remaining)
        delivered = self._deliver(proxies)
        if late:
            raise EgressError(
                f"the egress proxy of {', '.join(f'`{a}`' for a in late)} did not confirm its report within "
                f"{timeout_s:g} s; connection events may be missing"
            )
        return delivered

    def close(self) -> None:
        """Stop every proxy, deliver the last events, remove the proxies and the networks."""
        proxies = list(self._proxies.values())
        if not proxies and self._outer is None:
            return
        api = self.client.api
        try:
            with signals_deferred():
                for proxy in proxies:
                    if proxy.container_id is not None:
                        remove_container(api, proxy.container_id)  # or reap_egress() does, later
                for proxy in proxies:
                    if proxy.reader is not None:
                        proxy.reader.join(SYNC_TIMEOUT_S)
            self._deliver(proxies)
        finally:
            with signals_deferred():
                for proxy in proxies:
                    _remove_network(api, proxy.network_id)
                if self._outer is not None:
                    _remove_network(api, self._outer)
            self._proxies.clear()
            self._outer = None

    # -- internals ---------------------------------------------------------------------------

    def _discard(self, action: str) -> None:
        proxy = self._proxies.pop(action, None)
        if proxy is None:
            return
        with signals_deferred():
            if proxy.container_id is not None:
                remove_container(self.client.api, proxy.container_id)  # or reap_egress() does, later
            _remove_network(self.client.api, proxy.network_id)

    def _deliver(self, proxies: Iterable[_Proxy]) -> int:
        count = 0
        for proxy in proxies:
            for event in proxy.drain(self._max_events):
                self._on_event(event)
                count += 1
        return count

    def _labels(self, role: str, action: str | None = None) -> dict[str, str]:
        return labels(self.run_id, **{ROLE_LABEL: role}, **({ACTION_LABEL: action} if action is not None else {}))

    def _outer_network(self) -> str:
        if self._upstream is not None:
            return self._upstream
        if self._outer is None:
            created = self.client.api.create_network(
                resource_name("specc-egress", self.run_id, "out"),
                driver="bridge",
                options=dict(OUTER_OPTIONS),
                labels=self._labels(OUTER_ROLE),
                check_duplicate=True,
            )
            self._outer = str(created["Id"])
        return self._outer

    def _start(self, action: str, endpoints: tuple[Endpoint, ...]) -> _Proxy:
        from docker.types import LogConfig, Ulimit

        api = self.client.api
        outer = self._outer_network()
        name = resource_name("specc-egress", self.run_id, action)
        created = api.create_network(
            name,
            driver="bridge",
            internal=True,
            options=dict(INTERNAL_OPTIONS),
            labels=self._labels(INTERNAL_ROLE, action),
            check_duplicate=True,
        )
        proxy = _Proxy(action, endpoints, str(created["Id"]), name)
        self._proxies[action] = proxy  # registered at once: close() removes whatever exists
        subnet = _subnet(api.inspect_network(proxy.network_id))
        config = {
            "action": action,
            "endpoints": [[e.host, e.port] for e in endpoints],
            "trusted": list(self._trusted),
            "network": subnet,
            "port": PROXY_PORT,
        }
        host_config = api.create_host_config(
            read_only=True,
            cap_drop=["ALL"],
            security_opt=list(SECURITY_OPT),
            privileged=False,
            pids_limit=PROXY_PIDS,
            mem_limit=PROXY_MEMORY_BYTES,
            memswap_limit=PROXY_MEMORY_BYTES,
            nano_cpus=int(PROXY_CPUS * 1e9),
            ulimits=[Ulimit(name="nofile", soft=PROXY_NOFILE, hard=PROXY_NOFILE)],
            network_mode=outer,
            ipc_mode="private",
            shm_size=SHM_BYTES,
            dns=list(self._proxy_dns) or None,
            sysctls=dict(PROXY_SYSCTLS),
            # Decisions reach the runtime through the attach stream; nothing is kept on disk.
            log_config=LogConfig(type="none"),
        )
        container = api.create_container(
            image=self._image,
            command=["python3", "-I", "-c", _proxy_source(), json.dumps(config, sort_keys=True)],
            user="65534:65534",
            labels=self._labels(PROXY_ROLE, action),
            name=resource_name("specc-proxy", self.run_id, action),
            use_config_proxy=False,
            tty=False,
            host_config=host_config,
        )
        proxy.container_id = str(container["Id"])
        api.connect_container_to_network(proxy.container_id, proxy.network_id)
        # The proxy holds the one way out; it is checked before it starts, as every tool is.
        wrong = mismatch(_PROXY_HARDENING, applied_hardening(api.inspect_container(proxy.container_id)))
        if wrong is not None:
            raise EgressError(f"the egress proxy of action `{action}` was not hardened as asked: {wrong}")
        stream = api.attach_socket(proxy.container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
        sock: socket.socket = getattr(stream, "_sock", stream)
        sock.settimeout(None)  # a proxy may stay silent for the whole run
        proxy.reader = threading.Thread(
            target=_read_reports,
            args=(proxy, sock, stream, self._max_events),
            name=f"specc-egress-{action}",
            daemon=True,
        )
        proxy.reader.start()
        api.start(proxy.container_id)
        listen = _await_ready(proxy, subnet)
        url = f"http://{listen}:{PROXY_PORT}"
        proxy.env = {
            "HTTP_PROXY": url,
            "HTTPS_PROXY": url,
            "NO_PROXY": NO_PROXY,
            "http_proxy": url,
            "https_proxy": url,
            "no_proxy": NO_PROXY,
        }
        return proxy


#: What the engine must report for a proxy container before it starts.
_PROXY_HARDENING: Final[dict[str, object]] = {
    **expected_hardening(user="65534:65534", pids=PROXY_PIDS, memory=PROXY_MEMORY_BYTES, cpus=PROXY_CPUS,
                         nofile=PROXY_NOFILE),
    "Mounts": [],
    "Tmpfs": {},
}


def _await_ready(proxy: _Proxy, subnet: str) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with proxy.changed:
        while proxy.ready is None and not proxy.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            proxy.changed.wait(remaining)
        ready, stderr = proxy.ready, proxy.stderr
    if ready is None:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise EgressError(f"the proxy did not start listening: {' | '.join(tail) or 'no output'}")
    listen = str(ready.get("listen"))
    if ipaddress.ip_address(listen) not in ipaddress.ip_network(subnet):
        raise EgressError(f"the proxy listens on {listen}, outside the internal network {subnet}")
    return listen


def _read_reports(proxy: _Proxy, sock: socket.socket, stream: Any, max_events: int) -> None:
    """Demultiplex the proxy's attach stream: JSON lines on stdout, a capped tail of stderr."""
    buffer = b""
    frames = FrameSplitter()
    try:
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            for stream, piece in frames.feed(chunk):
                if stream == STDOUT:
                    buffer += piece
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        proxy.take(line, max_events)
                elif stream == STDERR:
                    with proxy.changed:
                        proxy.stderr = (proxy.stderr + piece)[-4096:]
    finally:
        try:
            stream.close()
        except Exception:
            pass
        with proxy.changed:
            proxy.ended = True
            proxy.changed.notify_all()


def _remove_network(api: DockerClient, network_id: str) -> None:
    """Remove a network, first cutting off any container still attached (a tool container the
    sandbox could not remove would otherwise keep the network alive)."""
    from docker.errors import NotFound

    try:
        info = api.inspect_network(network_id)
        for container_id in info.get("Containers") or {}:
            try:
                api.disconnect_container_from_network(container_id, network_id, force=True)
            except engine_errors():
                pass
        api.remove_network(network_id)
    except NotFound:
        pass
    except engine_errors():
        pass  # reap_egress() removes it later


def _subnet(info: dict[str, Any]) -> str:
    for pool in (info.get("IPAM") or {}).get("Config") or []:
        subnet = pool.get("Subnet")
        if subnet and ipaddress.ip_network(subnet).version == 4:
            return str(subnet)
    raise EgressError(f"the network `{info.get('Name')}` has no IPv4 subnet")


_source_cache: list[str] = []


def _proxy_source() -> str:
    if not _source_cache:
        _source_cache.append(egress_proxy.program())
    return _source_cache[0]


# -- leftovers -----------------------------------------------------------------------------------


def reap_egress(client: object | None = None) -> int:
    """Remove egress proxies and networks whose owner process on this host is gone; return how many.

    Containers first: a network cannot go while a proxy is attached to it.
    """
    from docker.errors import NotFound

    engine: DockerClient = client if client is not None else connect_engine(EgressUnavailable)
    api = engine.api
    try:
        proxies = leftovers(api, api.containers, f"{ROLE_LABEL}={PROXY_ROLE}")
        networks = leftovers(api, api.networks)
    except BackendUnavailable as err:
        raise EgressUnavailable(str(err)) from err
    removed = sum(remove_container(api, found["Id"]) for found in proxies)
    for network in networks:
        if (network.get("Labels") or {}).get(ROLE_LABEL) not in (INTERNAL_ROLE, OUTER_ROLE):
            continue
        _remove_network(api, network["Id"])
        try:
            api.inspect_network(network["Id"])
        except NotFound:
            removed += 1
        except engine_errors():
            pass
    return removed
