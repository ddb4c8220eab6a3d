"""The checks of `specc check`, one module each, run in the order of `PASSES`.

`names` declares and resolves; the others read what it resolved. A pass that meets something an
earlier pass reported (an `Unknown` type, a duplicate) leaves it alone, so a mistake is reported
once.
"""

from __future__ import annotations

from collections.abc import Callable

from specc.context import Context
from specc.passes import constraints, handlers, limits, names, unused, workflow

Pass = Callable[[Context], None]

#: The front end's passes, in order. Safety passes append after `workflow`.
PASSES: tuple[Pass, ...] = (
    names.check,
    constraints.check,
    limits.check,
    handlers.check,
    workflow.check,
    unused.check,
)
