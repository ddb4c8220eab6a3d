"""The backend interface: how one action attempt executes, in the spec's terms.

A `Run` hands every attempt to a `Backend` as an `AttemptRequest` (image, argv, the arguments on
stdin, host folders and where they land, the `host:port` endpoints it may reach, env, limits) and
gets an `AttemptResult` back. Nothing here names a Docker concept, so another backend (warm
containers, gVisor, a cluster, an in-process stand-in for tests) is another implementation of the
protocol, not a rewrite of the runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

#: How an attempt can end, as a backend reports it (the run adds contract checks on top).
AttemptKind = Literal["ok", "error", "uncertain", "crash", "timeout", "invalid_output", "sandbox"]

#: The tool's exit status that means "I may or may not have had the effect".
EXIT_UNCERTAIN: Final = 3


@dataclass(frozen=True)
class Mount:
    """A bind mount: `source` is an absolute, already-resolved real host path."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class Limits:
    """Resource limits of one attempt."""

    memory_bytes: int
    cpus: float
    pids: int
    timeout_s: float
    output_bytes: int
    tmpfs_bytes: int = 64 * 1024 * 1024
    #: the most one attempt may write into its read_write mounts (the spec's `disk`)
    disk_bytes: int = 256 * 1024 * 1024
    nofile: int = 256
    stderr_bytes: int = 64 * 1024


@dataclass(frozen=True)
class AttemptRequest:
    """Everything one attempt needs, in the spec's terms; the backend builds it from this alone.

    `endpoints` are the declared `host:port` the tool may reach (none: no network at all).
    """

    image: str
    argv: tuple[str, ...]
    stdin: bytes
    mounts: tuple[Mount, ...]
    env: Mapping[str, str]
    limits: Limits
    run_id: str
    user: str = "65534:65534"
    action: str = ""
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectionEvent:
    """One connection attempt the tool made through its egress, and the decision.

    `allowed` is true only when the connection was opened to `address` (the exact address that was
    checked); a refusal, a failed lookup and an unreachable origin are all `allowed=False`, with the
    reason. `host` is empty and `port` 0 when the tool sent no readable request.
    """

    action: str
    host: str
    port: int
    allowed: bool
    reason: str
    address: str | None
    method: str = ""


@dataclass
class AttemptResult:
    """How an attempt ended.

    `kind` is one of "ok" (exit 0), "error" (another exit status), "uncertain" (exit 3), "crash"
    (killed by the out-of-memory killer, by a signal, or stopped by the pids limit), "timeout",
    "invalid_output" (stdout over the cap) or "sandbox" (the attempt could not be set up or was not
    hardened as asked; the tool never ran). `settings` are what the backend applied, for the record.
    """

    kind: AttemptKind
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    duration_s: float
    detail: str
    settings: dict[str, object] = field(default_factory=dict)


#: Where a backend reports what a tool attempted (its connections) as it learns of it.
Report = Callable[[ConnectionEvent], None]


class BackendUnavailable(Exception):
    """The backend cannot run anything (no engine answers, the image is missing); the message says
    what to do."""


class Backend(Protocol):
    """Where attempts execute."""

    def check(self, images: Iterable[str]) -> None:
        """Raise `BackendUnavailable` unless every image can run."""

    def reap(self) -> int:
        """Remove what killed runs left behind; return how many things were removed."""

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        """Run one attempt and leave nothing of it behind; tell `report` every connection the tool
        attempted, also when the attempt is interrupted. Raises `BackendUnavailable` when the
        backend went away; every other failure is a result of kind "sandbox"."""

    def interrupt(self, run_id: str) -> None:
        """Stop the attempts of `run_id` under way now; called from another thread than the one in
        `run`, which then returns soon, with nothing of the attempt left behind."""

    def close(self) -> None:
        """Release what the run held (networks, proxies); nothing of the run may stay."""


class Delegating:
    """A backend that hands everything to `inner`; a wrapper overrides what it changes (the
    fault injection of `specc test`, a test's backend that misbehaves on purpose)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    def check(self, images: Iterable[str]) -> None:
        self.inner.check(images)

    def reap(self) -> int:
        return self.inner.reap()

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        return self.inner.run(request, report)

    def interrupt(self, run_id: str) -> None:
        self.inner.interrupt(run_id)

    def close(self) -> None:
        self.inner.close()


class Interrupted(KeyboardInterrupt):
    """The attempt under way was stopped from another thread (a client that went away, a batch
    told to stop): its container is removed; the run ends as interrupted, as after Ctrl-C."""


class Interruptible(Delegating):
    """A backend for a run driven from a thread other than the one that stops it: `interrupt()`
    stops the attempt under way now, and the run's thread sees `Interrupted` instead of the
    attempt's result (and at its next attempt)."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.cancelled = threading.Event()

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        if self.cancelled.is_set():
            raise Interrupted
        result = self.inner.run(request, report)
        if self.cancelled.is_set():  # cut off by `interrupt`: what it returned is not the tool's outcome
            raise Interrupted
        return result

    def interrupt(self, run_id: str) -> None:
        self.cancelled.set()
        self.inner.interrupt(run_id)

    def wait(self, seconds: float) -> None:
        """A retry's backoff (a run's `sleep`), cut short by `interrupt`."""
        if self.cancelled.wait(seconds):
            raise Interrupted
