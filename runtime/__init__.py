"""The sandboxed runtime: `Run`, the one guarded door every action call goes through, and the
`Backend` interface attempts execute behind (docs/architecture.md).

The names below load on first use, so importing one runtime module does not import them all.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import AttemptRequest, AttemptResult, Backend, BackendUnavailable
    from .run import ArgumentsRejected, Done, Failed, Outcome, Paused, Position, Run, RunOptions, claim, preflight

_EXPORTS = {
    "Run": "run", "RunOptions": "run", "Position": "run", "Done": "run", "Failed": "run", "Paused": "run",
    "Outcome": "run", "ArgumentsRejected": "run", "claim": "run", "preflight": "run",
    "Backend": "backend", "AttemptRequest": "backend", "AttemptResult": "backend", "BackendUnavailable": "backend",
}
__all__ = [
    "ArgumentsRejected", "AttemptRequest", "AttemptResult", "Backend", "BackendUnavailable", "Done", "Failed",
    "Outcome", "Paused", "Position", "Run", "RunOptions", "claim", "preflight",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module `specc.runtime` has no attribute `{name}`")
    return getattr(import_module(f"{__name__}.{module}"), name)
