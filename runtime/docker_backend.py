"""The Docker backend: one fresh, hardened container per attempt on a Docker engine, with egress
through a per-action proxy when the attempt declares endpoints.

It turns the spec's terms of an `AttemptRequest` into the engine's (networks, proxy variables) and
back: the sandbox runs the container, the egress owns the networks and proxies of the run, and the
connections a tool attempted are reported to the attempt's caller as the proxy delivers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from specc.ir import ActionIR

from .backend import AttemptRequest, AttemptResult, ConnectionEvent, Report
from .egress import Egress, EgressError, Endpoint, reap_egress
from .programs import MissingProgram, missing_programs
from .sandbox import Sandbox


class DockerBackend:
    """Implements `Backend` on the local Docker engine (or DOCKER_HOST's).

    `egress_upstream` names an existing network the proxies reach the world through;
    `trusted_networks` are CIDR networks the declared hosts may resolve to although private (see
    `Egress`). Use as a context manager, or call `close()`: the run's networks and proxies go.
    """

    def __init__(self, client: object | None = None, *, egress_upstream: str | None = None,
                 trusted_networks: Sequence[str] = ()) -> None:
        self.sandbox = Sandbox(client)
        self._upstream = egress_upstream
        self._trusted = tuple(trusted_networks)
        self._egress: dict[str, Egress] = {}  # per run id
        self._report: Report | None = None

    @property
    def client(self) -> Any:
        """The docker SDK client; raises `BackendUnavailable` when no engine answers."""
        return self.sandbox.client

    def check(self, images: Iterable[str]) -> None:
        for image in sorted(set(images)):
            self.sandbox.check(image)

    def missing_programs(self, actions: Iterable[ActionIR]) -> list[MissingProgram]:
        """The actions' programs that their images (or mounts) do not have; see `programs`."""
        return missing_programs(self.client, actions)

    def reap(self) -> int:
        # a killed run's proxies and networks go too, whether this run uses egress or not
        return self.sandbox.reap() + reap_egress(self.client)

    def run(self, request: AttemptRequest, report: Report) -> AttemptResult:
        if not request.endpoints:
            return self.sandbox.run(request)
        self._report = report
        try:
            endpoints = [Endpoint.parse(text) for text in request.endpoints]
            network, proxy_env = self._egress_for(request.run_id).network_for(request.action, endpoints)
        except (EgressError, ValueError) as exc:
            return AttemptResult("sandbox", None, b"", b"", 0.0, f"the egress proxy could not start: {exc}")
        try:
            result = self.sandbox.run(request, network=network, extra_env=proxy_env)
        finally:
            try:
                self._egress_for(request.run_id).flush(request.action)
            except Exception:  # noqa: BLE001 - a dead proxy loses its last events; the outcome still counts
                pass
            self._report = None
        return result

    def interrupt(self, run_id: str) -> None:
        self.sandbox.interrupt(run_id)

    def _reported(self, event: ConnectionEvent) -> None:
        if self._report is not None:  # a proxy's events after its attempt ended have no one to go to
            self._report(event)

    def close(self) -> None:
        while self._egress:
            _, egress = self._egress.popitem()
            egress.close()

    def __enter__(self) -> DockerBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _egress_for(self, run_id: str) -> Egress:
        egress = self._egress.get(run_id)
        if egress is None:
            egress = Egress(run_id, self.client, on_event=self._reported, upstream=self._upstream,
                            trusted_networks=self._trusted).__enter__()
            self._egress[run_id] = egress
        return egress
