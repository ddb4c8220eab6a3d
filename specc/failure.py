"""The closed set of failure kinds (docs/language.md), which of them a retry can fix, and what an
action that declares no `effect` or `risk` is taken to be."""

from __future__ import annotations

import enum
from typing import Final


class FailureKind(enum.Enum):
    """Every way an action attempt or a run can fail."""

    INVALID_INPUT = "invalid_input"
    DENIED = "denied"
    TIMEOUT = "timeout"
    ERROR = "error"
    CRASH = "crash"
    INVALID_OUTPUT = "invalid_output"
    UNCERTAIN = "uncertain"
    SANDBOX = "sandbox"
    BUDGET = "budget"


#: Every kind by its name in the language.
KIND_NAMES: Final = tuple(k.value for k in FailureKind)
#: The kinds a handler may retry: a second attempt can succeed where the first failed.
RETRYABLE: Final = frozenset({"timeout", "error", "crash", "invalid_output", "sandbox"})
#: The kinds an action can raise; `budget` belongs to the run as a whole.
ACTION_KINDS: Final = tuple(k for k in KIND_NAMES if k != "budget")
#: The kinds a planner's model request can fail with: connection refused or an HTTP error status,
#: a time-out, a body that is not a chat completion. Its own `on` handlers take these alone.
PLANNER_KINDS: Final = ("timeout", "error", "invalid_output")
#: The word that handles every kind not handled otherwise.
ANY: Final = "any"
#: The effect of an action that declares none: the conservative guess, so that an action is never
#: retried, resumed or fallen back to as a harmless read unless it says it is one.
DEFAULT_EFFECT: Final = "write"
#: The risk of an action that declares none.
DEFAULT_RISK: Final = "low"
