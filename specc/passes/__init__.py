"""The checks of `specc check`, one module each, run in the order of `PASSES`.

`names` declares and resolves; the others read what it resolved. A pass that meets something an
earlier pass reported (an `Unknown` type, a duplicate) leaves it alone, so a mistake is reported
once.
"""

from __future__ import annotations

from collections.abc import Callable

from specc.context import Context
from specc.passes import (
    approval,
    constraints,
    effects,
    failures,
    handlers,
    images,
    limits,
    mounts,
    names,
    overlap,
    planner,
    reliability,
    scope,
    untrusted,
    unused,
    users,
    workflow,
)

Pass = Callable[[Context], None]

#: Every pass, in order: the front end first, then the safety analysis.
PASSES: tuple[Pass, ...] = (
    names.check,
    constraints.check,
    limits.check,
    handlers.check,
    workflow.check,
    planner.check,
    unused.check,
    mounts.check,
    scope.check,
    overlap.check,
    users.check,
    failures.check,
    approval.check,
    effects.check,
    untrusted.check,
    reliability.check,
    images.check,
)
