"""What every part of the Docker backend shares when it talks to the engine: the connection, the
labels and names of what specc creates, splitting an attach stream into stdout and stderr,
holding signals while resources are removed, and finding leftovers of dead processes.

The sandbox (tool containers), the egress (proxies and networks) and the image builder all go
through here, so each of these rules exists once.
"""

from __future__ import annotations

import re
import signal
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Final

from .backend import BackendUnavailable
from .owner import current_owner, owner_gone

#: Labels put on everything specc creates: the reapers only ever touch what carries `MANAGED_LABEL`.
MANAGED_LABEL: Final = "specc.managed"
RUN_ID_LABEL: Final = "specc.run_id"
OWNER_LABEL: Final = "specc.owner"

# The docker SDK ships no type hints; its objects are handled as `Any` behind this module's surface.
DockerClient = Any

STDOUT, STDERR = 1, 2
_FRAME_HEADER = struct.Struct(">BxxxL")


# -- the engine ----------------------------------------------------------------------------------


def connect_engine(unavailable: type[BackendUnavailable] = BackendUnavailable) -> DockerClient:
    """A docker SDK client for the engine of DOCKER_HOST (or the local socket); raises
    `unavailable` with what to do when no engine answers."""
    import docker
    from docker.errors import DockerException

    try:
        return docker.from_env()
    except DockerException as err:
        raise unavailable(no_engine_message(err)) from err


def no_engine_message(err: Exception) -> str:
    return f"no docker engine answers ({err}); start one with `scripts/ensure-docker` or point DOCKER_HOST at one"


def engine_errors() -> tuple[type[Exception], ...]:
    """The exceptions the SDK raises when the engine fails or goes away."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    return (DockerException, RequestException)


def explain(err: Exception) -> str:
    """The engine's own words for an error, on one line."""
    return str(getattr(err, "explanation", None) or err).strip().replace("\n", " ")


# -- labels and names ----------------------------------------------------------------------------


def labels(run_id: str, **more: str) -> dict[str, str]:
    """The labels of a resource of `run_id`, owned by this process."""
    return {MANAGED_LABEL: "1", RUN_ID_LABEL: run_id, OWNER_LABEL: current_owner(), **more}


def resource_name(prefix: str, run_id: str, part: str = "", *, run_size: int = 32) -> str:
    """A unique engine name that tells a person whose it is: `prefix-run-part-random`, with every
    character the engine refuses replaced."""

    def safe(text: str, size: int) -> str:
        return re.sub(r"[^a-zA-Z0-9_.-]", "-", text)[:size].strip("-.") or "x"

    middle = f"{safe(run_id, run_size)}-{safe(part, 24)}" if part else safe(run_id, run_size)
    return f"{prefix}-{middle}-{uuid.uuid4().hex[:12]}"


def leftovers(api: DockerClient, listing: Callable[..., list[dict[str, Any]]], *filters: str) -> list[dict[str, Any]]:
    """What `listing` (the SDK's `containers` or `networks`) finds with the managed label and
    `filters` whose owner process on this host is gone; raises `BackendUnavailable`."""
    try:
        found = listing(filters={"label": [f"{MANAGED_LABEL}=1", *filters]}, **_all(listing))
    except engine_errors() as err:
        raise BackendUnavailable(no_engine_message(err)) from err
    return [item for item in found if owner_gone((item.get("Labels") or {}).get(OWNER_LABEL, ""))]


def _all(listing: Callable[..., Any]) -> dict[str, bool]:
    return {"all": True} if getattr(listing, "__name__", "") == "containers" else {}


def remove_container(api: DockerClient, container_id: str) -> bool:
    """Remove a container and its anonymous volumes; False when the engine could not (a later reap
    removes it)."""
    from docker.errors import NotFound

    try:
        api.remove_container(container_id, force=True, v=True)
    except NotFound:
        return True
    except engine_errors():
        return False
    return True


# -- attach streams ------------------------------------------------------------------------------


class FrameSplitter:
    """Splits the engine's multiplexed attach stream (8-byte headers: stream, size) into
    `(stream, bytes)` pieces, whatever the chunk boundaries."""

    def __init__(self) -> None:
        self._header = b""
        self._stream = 0
        self._left = 0

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes]]:
        view = memoryview(chunk)
        while view:
            if self._left == 0:
                need = _FRAME_HEADER.size - len(self._header)
                self._header += bytes(view[:need])
                view = view[need:]
                if len(self._header) < _FRAME_HEADER.size:
                    return
                self._stream, self._left = _FRAME_HEADER.unpack(self._header)
                self._header = b""
                continue
            piece = bytes(view[: self._left])
            view = view[self._left :]
            self._left -= len(piece)
            yield self._stream, piece


# -- signals -------------------------------------------------------------------------------------


class SignalGuard:
    """Lets the first SIGINT or SIGTERM interrupt the work and, once `hold()` is called, records
    every later one until the guard is left, so that a second Ctrl-C cannot cut a cleanup short.

    The first signal goes to the handler that was installed before (SIGINT raises
    KeyboardInterrupt by default); a default SIGTERM becomes SystemExit instead of killing the
    process outright, so `finally` runs. Signals held during a cleanup after a normal end are
    delivered once the guard is left; after an interruption they are dropped, since the first one
    is already on its way. Handlers can only be installed from the main thread; elsewhere the guard
    does nothing and the reapers remove what an interruption leaves behind.
    """

    _SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, *, holding: bool = False) -> None:
        self._previous: dict[int, Any] = {}
        self._pending: list[int] = []
        self._holding = holding
        self._interrupted = False

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self._SIGNALS}
        return self

    def hold(self) -> None:
        """From now on, record signals instead of acting on them."""
        self._holding = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._holding or self._interrupted:
            self._pending.append(signum)
            return
        previous = self._previous.get(signum)
        if previous is signal.SIG_IGN:
            return
        if callable(previous):
            try:
                previous(signum, frame)
            except BaseException:
                self._interrupted = True
                raise
            return
        self._interrupted = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if not self._interrupted:
            for held in dict.fromkeys(self._pending):
                signal.raise_signal(held)


def signals_deferred() -> SignalGuard:
    """Hold SIGINT and SIGTERM while resources are removed, then deliver them: an interrupt must not
    leave a container, a proxy or a network half removed."""
    return SignalGuard(holding=True)
