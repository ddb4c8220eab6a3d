"""The Ray backend: each attempt on a node of a Ray cluster, where the Docker backend runs it.

A node takes specc's attempts when it advertises the custom resource `specc-docker` (started with
`ray start ... --resources '{"specc-docker": N}'`, N the attempts it runs at once); each attempt
holds one unit. The run, its store and its handlers stay with the driver (one writer); a node only
runs the container and answers with the attempt's result, the node's name and the connections the
tool attempted.

Mount sources must be the same folders on every node (a shared filesystem at the same path): the
driver sends each source's identity (its inode and size class), and a node where a source is
missing or is another folder refuses the attempt as `sandbox`, naming the node. A node lost during
an attempt is a `sandbox` failure too, which the action's handlers answer (a retry lands on
another node); nothing waits forever: the driver gives up on an attempt its timeout past its limit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from .backend import AttemptRequest, AttemptResult, BackendUnavailable, ConnectionEvent, Report

#: The custom resource a node advertises to take specc's attempts.
RESOURCE = "specc-docker"
#: What an attempt may take beyond its own timeout: scheduling, the image check, the container's start.
MARGIN_S = 120.0

_init_lock = threading.Lock()
_remote: dict[str, Any] = {}


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendUnavailable("the Ray backend needs Ray on this machine: pip install 'specc[ray]'") from None
    return ray


def connect(address: str) -> Any:
    """The Ray module, connected once per process to the cluster at `address`."""
    ray = _ray()
    with _init_lock:
        if not ray.is_initialized():
            try:
                ray.init(address=address, namespace="specc", log_to_driver=False, logging_level="ERROR",
                         include_dashboard=False)
            except Exception as exc:  # noqa: BLE001 - Ray raises many kinds for an unreachable cluster
                raise BackendUnavailable(f"cannot reach the Ray cluster at `{address}`: {exc}") from None
        if "attempt" not in _remote:
            _remote["attempt"] = ray.remote(num_cpus=0, max_retries=0)(_attempt_on_node)
            _remote["probe"] = ray.remote(num_cpus=0, max_retries=0)(_probe_node)
    return ray


def fingerprint(path: str) -> tuple[str, int]:
    """What identifies a mount source across nodes of a shared filesystem: its path and inode."""
    return path, os.stat(path).st_ino


def _node_name() -> str:
    import ray

    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:12]}"  # type: ignore[no-untyped-call]


def _attempt_on_node(request: AttemptRequest, sources: Sequence[tuple[str, int]], upstream: str | None,
                     trusted: Sequence[str]) -> tuple[AttemptResult, str, list[ConnectionEvent]]:
    """On a node: check the mount sources are the driver's, then run the attempt on its engine."""
    from .docker_backend import DockerBackend

    node = _node_name()
    for source, inode in sources:
        try:
            same = os.stat(source).st_ino == inode
        except OSError:
            return _refused(f"node {node} has no mount source `{source}`; mounts must be on a filesystem every "
                            "node shares, at the same path"), node, []
        if not same:
            return _refused(f"node {node} has another folder at mount source `{source}`; mounts must be on a "
                            "filesystem every node shares, at the same path"), node, []
    connections: list[ConnectionEvent] = []
    try:
        with DockerBackend(egress_upstream=upstream, trusted_networks=trusted) as backend:
            result = backend.run(request, connections.append)
    except BackendUnavailable as exc:
        result = _refused(f"node {node}: {exc}")
    result.settings["node"] = node
    return result, node, connections


def _probe_node(images: Sequence[str]) -> tuple[str, str | None]:
    """On a node: its name, and what is wrong with its engine or images (None when nothing)."""
    from .docker_backend import DockerBackend

    node = _node_name()
    try:
        with DockerBackend() as backend:
            backend.check(images)
            backend.reap()
    except BackendUnavailable as exc:
        return node, str(exc)
    return node, None


def _refused(detail: str) -> AttemptResult:
    return AttemptResult("sandbox", None, b"", b"", 0.0, detail)


class RayBackend:
    """Implements `Backend` on the nodes of a Ray cluster that advertise `specc-docker`."""

    def __init__(self, address: str = "auto", *, egress_upstream: str | None = None,
                 trusted_networks: Sequence[str] = ()) -> None:
        self.address = address
        self._upstream = egress_upstream
        self._trusted = tuple(trusted_networks)
        self._ray: Any = None
        self._under_way: dict[str, Any] = {}  # run id -> the attempt's object ref
        self._lock = threading.Lock()

    @property
    def ray(self) -> Any:
        if self._ray is None:
            self._ray = connect(self.address)
        return self._ray

    def nodes(self) -> list[dict[str, Any]]:
        """The alive nodes that take specc's attempts."""
        return [n for n in self.ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(RESOURCE, 0) > 0]

    def check(self, images: Iterable[str]) -> None:
        """Every node that takes attempts has a Docker engine and every image (and is reaped)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self.ray
        nodes = self.nodes()
        if not nodes:
            raise BackendUnavailable(f"no node of the Ray cluster at `{self.address}` advertises `{RESOURCE}`; start "
                                     f"one with `ray start --address ... --resources '{{\"{RESOURCE}\": 4}}'`")
        wanted = sorted(set(images))
        probes = [_remote["probe"].options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                  .remote(wanted) for n in nodes]
        try:
            answers = ray.get(probes, timeout=MARGIN_S)
        except Exception as exc:  # noqa: BLE001
            raise BackendUnavailable(f"the nodes of the Ray cluster did not answer: {exc}") from None
        for node, problem in answers:
            if problem is not None:
                raise BackendUnavailable(f"node {node}: {problem}")

    def reap(self) -> int:
        return 0  # each node reaps its own engine when it is checked (`check`)

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        ray = self.ray
        try:
            sources = [fingerprint(mount.source) for mount in request.mounts]
        except OSError as exc:
            return _refused(f"a mount source is missing on this machine: {exc}")
        ref = _remote["attempt"].options(resources={RESOURCE: 1}).remote(request, sources, self._upstream,
                                                                         self._trusted)
        with self._lock:
            self._under_way[request.run_id] = ref
        try:
            result, _, connections = ray.get(ref, timeout=request.limits.timeout_s + MARGIN_S)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            return _refused(f"no node finished the attempt within {request.limits.timeout_s + MARGIN_S:g}s")
        except ray.exceptions.TaskCancelledError:
            return _refused("the attempt was stopped")  # by `interrupt`: the run's thread sees why
        except ray.exceptions.RayTaskError as exc:
            return _refused(f"the attempt failed on its node: {_first_line(exc)}")
        except ray.exceptions.RayError as exc:
            return _refused(f"the node running the attempt was lost: {type(exc).__name__}: {_first_line(exc)}")
        finally:
            with self._lock:
                self._under_way.pop(request.run_id, None)
        for connection in connections:
            report(connection)
        return result  # type: ignore[no-any-return]

    def interrupt(self, run_id: str) -> None:
        """Stop the run's attempt: its task gets a KeyboardInterrupt, whose cleanup removes the
        container, as on Ctrl-C."""
        with self._lock:
            ref = self._under_way.get(run_id)
        if ref is not None:
            self.ray.cancel(ref, force=False)

    def close(self) -> None:
        pass  # the connection to the cluster is the process's, shared by its runs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
