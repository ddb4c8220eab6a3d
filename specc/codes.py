"""The registry of diagnostic codes and their message templates.

Every diagnostic specc can emit is declared here: a stable `SPC` code, the binding slug of
docs/diagnostics.md, its default severity and a one-line summary. Passes never write message text of
their own; they fill in one of the templates below.
"""

from __future__ import annotations

import enum
from typing import Final

from specc.record import Frozen, init


class Severity(enum.Enum):
    """How bad a diagnostic is; errors stop `specc build` and `specc run`."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Code(Frozen):
    """A stable diagnostic code with its slug, default severity and summary."""

    code: str
    name: str
    severity: Severity
    summary: str

    def __init__(self, code: str, name: str, severity: Severity, summary: str) -> None:
        init(self, {"code": code, "name": name, "severity": severity, "summary": summary})


class Message(Frozen):
    """A message template bound to a code; fields are filled with `str.format`."""

    code: Code
    template: str
    help: str | None = None

    def __init__(self, code: Code, template: str, help: str | None = None) -> None:
        init(self, {"code": code, "template": template, "help": help})


ERROR, WARNING = Severity.ERROR, Severity.WARNING

# --- front end ---------------------------------------------------------------------------------
SYNTAX: Final = Code("SPC001", "syntax", ERROR, "the text does not parse")
ENCODING: Final = Code("SPC002", "encoding", ERROR, "the file is not UTF-8")
UNDEFINED_NAME: Final = Code(
    "SPC003", "undefined-name", ERROR, "a type, action, step, field, mount or env that is not declared"
)
DUPLICATE_DEFINITION: Final = Code("SPC004", "duplicate-definition", ERROR, "a name declared twice")
TYPE_MISMATCH: Final = Code(
    "SPC005", "type-mismatch", ERROR, "an argument, comparison, return or field access of the wrong type"
)
MISSING_ARGUMENT: Final = Code("SPC006", "missing-argument", ERROR, "a call leaves out a parameter")
UNKNOWN_ARGUMENT: Final = Code(
    "SPC007", "unknown-argument", ERROR, "a call passes a parameter that does not exist"
)
INVALID_CONSTRAINT: Final = Code(
    "SPC008", "invalid-constraint", ERROR, "a bad regex, a range whose min is above its max, an empty union"
)
INVALID_LIMIT: Final = Code("SPC009", "invalid-limit", ERROR, "a limit of zero, negative or absurd")
MISSING_LIMITS: Final = Code(
    "SPC010", "missing-limits", ERROR, "no `limits` block, or one without `steps` and `wall`"
)
UNUSED_DEFINITION: Final = Code("SPC011", "unused-definition", WARNING, "a type or action nothing uses")

# --- safety ------------------------------------------------------------------------------------
FORBIDDEN_MOUNT: Final = Code(
    "SPC101", "forbidden-mount", ERROR, "a mount of a system folder, a home folder or the Docker socket"
)
SCOPE_VIOLATION: Final = Code(
    "SPC102", "scope-violation", ERROR, "an action reaches beyond the agent's scope or widens a mount's mode"
)
WRITE_IN_READ_ACTION: Final = Code(
    "SPC103", "write-in-read-action", ERROR, "an action with `effect read` has a read-write mount"
)
PATH_OUTSIDE_MOUNT: Final = Code(
    "SPC104", "path-outside-mount", ERROR, "a `path under` parameter whose action does not mount it"
)
UNHANDLED_FAILURE: Final = Code(
    "SPC105", "unhandled-failure", ERROR, "an action or the planner has no handler for some failure kind"
)
UNSAFE_RETRY: Final = Code(
    "SPC106", "unsafe-retry", ERROR, "`retry` on a write or destructive action that is not idempotent"
)
NON_RETRYABLE: Final = Code(
    "SPC107", "non-retryable", ERROR, "`retry` for a failure kind that retrying cannot fix"
)
FALLBACK_CYCLE: Final = Code("SPC108", "fallback-cycle", ERROR, "a chain of fallbacks loops")
FALLBACK_INCOMPATIBLE: Final = Code(
    "SPC109", "fallback-incompatible", ERROR, "a fallback cannot take the arguments or give the result"
)
FALLBACK_RISKIER: Final = Code(
    "SPC110", "fallback-riskier", ERROR, "a fallback is riskier than the action it stands in for"
)
APPROVAL_REQUIRED: Final = Code(
    "SPC111", "approval-required", ERROR, "a destructive or high-risk action without `approval required`"
)
LIMIT_TOO_SMALL: Final = Code(
    "SPC112", "limit-too-small", ERROR, "`limits.steps` is below the number of workflow steps or `max_turns`"
)
RELIABILITY_BELOW_TARGET: Final = Code(
    "SPC113", "reliability-below-target", WARNING, "the workflow's compounded success is below its target"
)
RELIABILITY_UNKNOWN: Final = Code(
    "SPC114", "reliability-unknown", WARNING, "a reliability target is set but a step has no estimate"
)
UNPINNED_IMAGE: Final = Code("SPC115", "unpinned-image", WARNING, "an image without a tag, or `latest`")
GUARD_STRATEGY: Final = Code(
    "SPC116", "guard-strategy", ERROR, "a `require` guard answered with `retry` or `fallback`"
)
UNTRUSTED_FLOW: Final = Code(
    "SPC117", "untrusted-flow", ERROR,
    "a planner can read `untrusted` content and call a write, destructive or networked action that needs no "
    "approval",
)
PRIVILEGED_USER: Final = Code("SPC118", "privileged-user", ERROR, "a `user` of uid 0 or gid 0")
OVERLAPPING_MOUNT: Final = Code(
    "SPC119", "overlapping-mount", ERROR, "two mounts of one action where one lies inside the other"
)
UNBOUNDED_LOOP: Final = Code(
    "SPC120", "unbounded-loop", ERROR, "a `for` over a list whose type has no maximum count"
)
EFFECT_MISMATCH: Final = Code(
    "SPC121", "effect-mismatch", WARNING,
    "an action with `effect read` that declares network hosts or a secret env var",
)

ALL_CODES: Final[tuple[Code, ...]] = tuple(
    value for value in list(globals().values()) if isinstance(value, Code)
)
BY_CODE: Final[dict[str, Code]] = {c.code: c for c in ALL_CODES}
BY_NAME: Final[dict[str, Code]] = {c.name: c for c in ALL_CODES}


def lookup(key: str) -> Code | None:
    """Find a code by its `SPCnnn` number (any case) or its slug."""
    return BY_CODE.get(key.upper()) or BY_NAME.get(key.lower())


# --- messages ------------------------------------------------------------------------------------
# syntax
UNEXPECTED_TOKEN: Final = Message(SYNTAX, "unexpected {found}, expected {expected}")
UNEXPECTED_CHARACTER: Final = Message(SYNTAX, "unexpected character `{char}`, expected {expected}")
UNEXPECTED_EOF: Final = Message(SYNTAX, "unexpected end of file, expected {expected}")
EMPTY_FILE: Final = Message(SYNTAX, "the file is empty", "an agent starts with `agent NAME {{`")
BAD_ESCAPE: Final = Message(
    SYNTAX, "unknown escape `{escape}` in a string", "the escapes are `\\\"`, `\\\\`, `\\n`, `\\t` and `\\uXXXX`"
)
BAD_CODE_POINT: Final = Message(SYNTAX, "escape `{escape}` stands for {what}, which a string may not hold", "{why}")
TOO_DEEP: Final = Message(
    SYNTAX, "expression nested deeper than {limit} levels", "split the expression into simpler ones"
)
TOO_LARGE: Final = Message(SYNTAX, "the file is {size} bytes, more than the {limit} bytes a spec may have")
NUMBER_TOO_LARGE: Final = Message(SYNTAX, "the number `{text}` is too large")
TWO_ORCHESTRATORS: Final = Message(
    SYNTAX, "an agent has a `workflow` or a `planner`, not both", "remove one of them"
)
REPEATED_ITEM: Final = Message(DUPLICATE_DEFINITION, "`{item}` is given twice in {where}")
PLANNER_SETTING_MISSING: Final = Message(SYNTAX, "the planner has no `{item}`", "add `{example}` inside `planner`")
# encoding
NOT_UTF8: Final = Message(
    ENCODING, "the file is not valid UTF-8 (byte 0x{byte:02x} at offset {offset})", "save the file as UTF-8"
)
NUL_BYTE: Final = Message(ENCODING, "the file contains a NUL byte", "a spec is plain UTF-8 text")
NOT_UTF8_TEXT: Final = Message(
    ENCODING, "the text holds the lone surrogate U+{point:04X}, which is not UTF-8", "a spec is plain UTF-8 text"
)
# names
UNDEFINED_TYPE: Final = Message(UNDEFINED_NAME, "type `{name}` is not declared")
UNDEFINED_ACTION: Final = Message(UNDEFINED_NAME, "action `{name}` is not declared")
UNDEFINED_VALUE: Final = Message(UNDEFINED_NAME, "`{name}` is not a step or `input`")
UNDEFINED_STEP_LATER: Final = Message(
    UNDEFINED_NAME, "step `{name}` is used before it runs", "a step can only use steps above it"
)
UNDEFINED_STEP_INSIDE: Final = Message(
    UNDEFINED_NAME, "step `{name}` runs inside a block that has ended, so it is not seen here",
    "a step inside `if` or `for` is seen only inside it; bind the loop (`name = for ...`) to use its results",
)
UNDEFINED_FIELD: Final = Message(UNDEFINED_NAME, "`{owner}` has no field `{name}`")
UNDEFINED_MOUNT: Final = Message(UNDEFINED_NAME, "mount `{name}` is not declared in the scope")
UNDEFINED_ENV: Final = Message(UNDEFINED_NAME, "env var `{name}` is not declared in the scope")
UNDEFINED_KIND: Final = Message(UNDEFINED_NAME, "`{name}` is not a failure kind")
UNDEFINED_PARAM: Final = Message(UNDEFINED_NAME, "action `{action}` has no parameter `{name}`")
UNKNOWN_PLANNER: Final = Message(UNDEFINED_NAME, "`{name}` is not a kind of planner", "the one kind is `llm`")
PLANNER_KIND: Final = Message(
    UNDEFINED_NAME, "`{name}` is not a failure of the planner's model request",
    "the planner's own handlers take `timeout`, `error`, `invalid_output` and `any`; "
    "handle `{name}` on the actions or at the agent level",
)
NO_INPUT: Final = Message(UNDEFINED_NAME, "the agent declares no `input`")
# duplicates
DUPLICATE_TYPE: Final = Message(DUPLICATE_DEFINITION, "type `{name}` is declared twice")
DUPLICATE_ACTION: Final = Message(DUPLICATE_DEFINITION, "action `{name}` is declared twice")
DUPLICATE_FIELD: Final = Message(DUPLICATE_DEFINITION, "field `{name}` is declared twice")
DUPLICATE_PARAM: Final = Message(DUPLICATE_DEFINITION, "parameter `{name}` is declared twice")
DUPLICATE_STEP: Final = Message(DUPLICATE_DEFINITION, "step `{name}` is defined twice")
RESERVED_STEP: Final = Message(
    DUPLICATE_DEFINITION, "`input` is reserved for the agent's input and cannot name a step", "rename the step"
)
RESERVED_ACTION: Final = Message(
    DUPLICATE_DEFINITION, "`finish` is reserved for the planner's last call and cannot name an action",
    "rename the action",
)
DUPLICATE_TOOL: Final = Message(DUPLICATE_DEFINITION, "action `{name}` is listed twice in `tools`")
DUPLICATE_ARG: Final = Message(DUPLICATE_DEFINITION, "argument `{name}` is passed twice")
DUPLICATE_MOUNT: Final = Message(DUPLICATE_DEFINITION, "mount `{name}` is declared twice")
DUPLICATE_TARGET: Final = Message(
    DUPLICATE_DEFINITION, "mounts `{first}` and `{second}` both land at `{target}` in the container"
)
DUPLICATE_ENV: Final = Message(DUPLICATE_DEFINITION, "env var `{name}` is declared twice")
DUPLICATE_HANDLER: Final = Message(DUPLICATE_DEFINITION, "failure kind `{name}` is handled twice")
DUPLICATE_LITERAL: Final = Message(DUPLICATE_DEFINITION, "`{name}` appears twice in the union")
# types
ARG_TYPE: Final = Message(
    TYPE_MISMATCH, "argument `{name}` of `{action}` expects {expected}, found {found}"
)
COMPARE_TYPE: Final = Message(TYPE_MISMATCH, "cannot compare {left} with {right} using `{op}`")
DISJOINT_LITERALS: Final = Message(
    TYPE_MISMATCH, "{left} and {right} share no value, so `{op}` is always {always}",
    "compare with a value the other side can hold",
)
ORDER_TYPE: Final = Message(TYPE_MISMATCH, "`{op}` needs numbers, found {found}")
BOOL_TYPE: Final = Message(TYPE_MISMATCH, "`{op}` needs a bool, found {found}")
RETURN_TYPE: Final = Message(TYPE_MISMATCH, "the workflow returns {found}, but `output` is {expected}")
FIELD_OF_NON_RECORD: Final = Message(TYPE_MISMATCH, "`{owner}` is {found}, which has no fields")
LEN_TYPE: Final = Message(TYPE_MISMATCH, "`len` needs a string or a list, found {found}")
IN_TYPE: Final = Message(TYPE_MISMATCH, "`in` needs a list on its right, found {found}")
LIST_MIXED: Final = Message(TYPE_MISMATCH, "list items must share a type, found {first} and {other}")
REQUIRE_TYPE: Final = Message(TYPE_MISMATCH, "a `require` condition must be a bool, found {found}")
IF_TYPE: Final = Message(TYPE_MISMATCH, "an `if` condition must be a bool, found {found}")
APPROVAL_WHEN_TYPE: Final = Message(
    TYPE_MISMATCH, "an `approval required when` condition must be a bool, found {found}"
)
LOOP_TYPE: Final = Message(TYPE_MISMATCH, "`for` goes over a list, found {found}")
LOOP_NO_VALUE: Final = Message(
    TYPE_MISMATCH, "loop `{name}` has no value: its body does not end with a call of an action that returns one",
    "end the loop's body with a call whose result the loop collects, or drop `{name} =`",
)
LOOP_UNBOUNDED: Final = Message(
    UNBOUNDED_LOOP, "`for` goes over {found}, which has no maximum count, so its steps cannot be counted",
    "give the list's type a maximum item count, such as `{example}`",
)
LOOP_VAR_TAKEN: Final = Message(
    DUPLICATE_DEFINITION, "`{name}` already names a value here; a loop's item needs a name of its own",
    "choose another name for the loop's item",
)
VOID_RESULT: Final = Message(TYPE_MISMATCH, "a workflow that has no `output` cannot `return` a value")
MISSING_RETURN: Final = Message(
    TYPE_MISMATCH, "the workflow never returns, but `output` is {expected}", "end the workflow with `return`"
)
IDEMPOTENCY_KEY: Final = Message(
    TYPE_MISMATCH, "idempotency key `{path}` must be a string or an int, found {found}",
    "name a field of type `string`, `int` or a literal union; a `number` prints differently from how it was "
    "written, so it is a poor identity for an effect",
)
CONSTRAINT_ON: Final = Message(INVALID_CONSTRAINT, "{constraint} does not apply to {found}")
# calls
MISSING_ARG: Final = Message(MISSING_ARGUMENT, "call to `{action}` is missing argument `{name}`")
UNKNOWN_ARG: Final = Message(UNKNOWN_ARGUMENT, "action `{action}` has no parameter `{name}`")
UNKNOWN_RECORD_FIELD: Final = Message(UNKNOWN_ARGUMENT, "record {owner} has no field `{name}`")
MISSING_RECORD_FIELD: Final = Message(MISSING_ARGUMENT, "record {owner} is missing field `{name}`")
# constraints
BAD_REGEX: Final = Message(INVALID_CONSTRAINT, "invalid regex: {reason}")
BACKTRACKING_REGEX: Final = Message(
    INVALID_CONSTRAINT,
    "regex `{pattern}` can backtrack catastrophically",
    "a repeated group that itself repeats, such as `(a+)+`, takes exponential time on some inputs; "
    "repeat the inner part only once",
)
EMPTY_RANGE: Final = Message(INVALID_CONSTRAINT, "range `{text}` is empty: its min is above its max")
NEGATIVE_LENGTH: Final = Message(INVALID_CONSTRAINT, "a length or count cannot be negative, found `{text}`")
FRACTIONAL_BOUND: Final = Message(INVALID_CONSTRAINT, "{what} bounds must be whole numbers, found `{text}`")
BAD_HOST: Final = Message(INVALID_CONSTRAINT, "`{text}` is not a host name")
# limits
LIMIT_NOT_POSITIVE: Final = Message(INVALID_LIMIT, "`{name}` must be above zero", "{why}")
LIMIT_ABSURD: Final = Message(INVALID_LIMIT, "`{name}` of {value} is above the most specc allows ({limit})")
LIMIT_BELOW_MIN: Final = Message(INVALID_LIMIT, "`{name}` of {value} is below the least specc allows ({limit})")
BAD_PROBABILITY: Final = Message(INVALID_LIMIT, "`{name}` must be a probability between 0 and 1, found `{value}`")
BAD_RETRY_COUNT: Final = Message(INVALID_LIMIT, "`retry {value}` must retry between 1 and {limit} times")
BAD_BACKOFF: Final = Message(INVALID_LIMIT, "backoff `{text}` starts above where it ends")
NO_LIMITS: Final = Message(
    MISSING_LIMITS,
    "agent `{name}` has no `limits` block",
    "add `limits {{ steps N  wall DURATION }}` so that every run is bounded",
)
LIMIT_MISSING: Final = Message(
    MISSING_LIMITS, "`limits` has no `{name}`", "add `{name} {example}` inside `limits`"
)
# unused
UNUSED_TYPE: Final = Message(UNUSED_DEFINITION, "type `{name}` is never used")
UNUSED_ACTION: Final = Message(UNUSED_DEFINITION, "action `{name}` is never called")
RETURN_NOT_LAST: Final = Message(SYNTAX, "`return` must be the last statement of the workflow")
RETURN_NOT_LAST_IN_BLOCK: Final = Message(
    SYNTAX, "`return` must be the last statement of its block", "what follows a `return` could never run"
)
#: a statement other languages have and this one does not; `what` names it, the help says what to use
NOT_IN_LANGUAGE: Final = Message(SYNTAX, "the language has no {what}", "{instead}")
UNDEFINED_FALLBACK: Final = Message(UNDEFINED_NAME, "fallback action `{name}` is not declared")
NO_RESULT: Final = Message(TYPE_MISMATCH, "action `{action}` returns nothing, so step `{name}` has no value")
FIELD_TYPE: Final = Message(TYPE_MISMATCH, "field `{name}` of `{record}` expects {expected}, found {found}")
# safety
FORBIDDEN_PATH: Final = Message(
    FORBIDDEN_MOUNT, "mount `{path}` exposes `{forbidden}` to the agent",
    "mount a folder of the project instead; {why}",
)
SYMLINK_MOUNT: Final = Message(
    FORBIDDEN_MOUNT, "mount `{path}` is a symlink to `{target}`",
    "mount the real folder; a symlinked root can be swapped to point anywhere",
)
BAD_TARGET: Final = Message(
    FORBIDDEN_MOUNT, "mount target `{target}` must be an absolute path outside the container's system folders"
)
MOUNT_NOT_IN_SCOPE: Final = Message(
    SCOPE_VIOLATION, "action `{action}` mounts `{path}`, which the scope does not declare"
)
MOUNT_WIDENED: Final = Message(
    SCOPE_VIOLATION, "action `{action}` mounts `{path}` read_write, but the scope allows only read_only",
    "an action may narrow a mount's mode, never widen it",
)
ENV_NOT_IN_SCOPE: Final = Message(
    SCOPE_VIOLATION, "action `{action}` uses env var `{name}`, which the scope does not declare"
)
PLANNER_ENV_NOT_IN_SCOPE: Final = Message(
    SCOPE_VIOLATION, "the planner's `{item}` names env var `{name}`, which the scope does not declare",
    "declare it in the scope: `env {name}{secret}`",
)
HOST_NOT_IN_SCOPE: Final = Message(
    SCOPE_VIOLATION, "action `{action}` reaches `{host}`, which the scope does not declare"
)
BAD_ENDPOINT: Final = Message(
    SCOPE_VIOLATION, "`{text}` is not a `host:port` endpoint: {why}",
    "write it as `api.example.com:443`, `[2001:db8::1]:443` or `*.example.com:443`",
)
GUARD_CANNOT: Final = Message(
    GUARD_STRATEGY, "a failed `require` cannot `{kind}`",
    "a guard checked again on the same values fails again, and no other action changes them; "
    "end it with `abort`, or `escalate` for a person to decide",
)
READ_WITH_WRITE_MOUNT: Final = Message(
    WRITE_IN_READ_ACTION, "action `{action}` has `effect read` but mounts `{path}` read_write",
    "mount it `read_only`, or declare `effect write`",
)
PATH_NOT_MOUNTED: Final = Message(
    PATH_OUTSIDE_MOUNT, "parameter `{param}` is a path under `{mount}`, but action `{action}` does not mount it",
    "add `mount \"{mount}\"` to the action",
)
NO_HANDLER: Final = Message(
    UNHANDLED_FAILURE, "action `{action}` has no handler for {kinds}",
    "add `on {first} STRATEGY` to the action, or `on any abort` to the agent",
)
PLANNER_NO_HANDLER: Final = Message(
    UNHANDLED_FAILURE, "the planner has no handler for {kinds}",
    "add `on {first} STRATEGY` to the planner, or `on any abort` to the agent",
)
RETRY_NOT_IDEMPOTENT: Final = Message(
    UNSAFE_RETRY, "action `{action}` has `effect {effect}` and is retried, but is not `idempotent`",
    "a retry after a timeout may repeat a write that happened; declare `idempotent by KEY` or do not retry",
)
RETRY_NO_EFFECT: Final = Message(
    UNSAFE_RETRY, "action `{action}` is retried but not `idempotent`, and without an `effect` it counts as a write",
    "declare `effect read` if it only reads; otherwise a retry after a timeout may repeat a write that happened: "
    "declare `idempotent by KEY` or do not retry",
)
RETRY_NOT_RETRYABLE: Final = Message(
    NON_RETRYABLE, "`{kind}` cannot be retried", "{why}",
)
CYCLE: Final = Message(
    FALLBACK_CYCLE, "fallbacks loop: {cycle}", "end the chain with an action that aborts or escalates"
)
FALLBACK_PARAM: Final = Message(
    FALLBACK_INCOMPATIBLE,
    "fallback `{target}` needs argument `{param}` of {expected}, which `{action}` does not provide",
)
FALLBACK_RESULT: Final = Message(
    FALLBACK_INCOMPATIBLE, "fallback `{target}` returns {found}, but `{action}` returns {expected}"
)
PLANNER_FALLBACK: Final = Message(
    FALLBACK_INCOMPATIBLE, "fallback `{target}` cannot stand in for the planner's model request",
    "an action cannot give a model's reply; answer a failed request with `retry`, `escalate` or `abort` in the "
    "planner's own `on` handlers",
)
FALLBACK_MORE_RISK: Final = Message(
    FALLBACK_RISKIER, "fallback `{target}` has {what} `{theirs}`, riskier than `{ours}` of `{action}`",
    "a fallback should be the safer way to the same result",
)
FALLBACK_MORE_RISK_UNSAID: Final = Message(
    FALLBACK_RISKIER, FALLBACK_MORE_RISK.template,
    "an action without `{what}` counts as `{what} {default}`; a fallback should be the safer way to the same result",
)
NEEDS_APPROVAL: Final = Message(
    APPROVAL_REQUIRED, "action `{action}` is {why} but has no `approval required`",
    "add `approval required`, or waive it with `approval none \"reason\"`",
)
CONSTANT_APPROVAL: Final = Message(
    APPROVAL_REQUIRED, "action `{action}` is {why}, but its `approval required when` reads none of its parameters",
    "make the condition say which calls need a person (`approval required when amount > 50`), write "
    "`approval required`, or waive it with `approval none \"reason\"`",
)
#: reported as a warning: the author waived the approval on purpose
APPROVAL_WAIVED: Final = Message(APPROVAL_REQUIRED, "action `{action}` is {why} and runs without approval: {reason}")
STEPS_TOO_FEW: Final = Message(
    LIMIT_TOO_SMALL, "`limits.steps` is {steps}, but the workflow has {count} steps",
    "allow at least {count} steps, more for retries ({with_retries} with every retry)",
)
STEPS_TOO_FEW_LONGEST: Final = Message(
    LIMIT_TOO_SMALL, "`limits.steps` is {steps}, but the workflow's longest path takes {count} steps, every "
    "loop at its maximum",
    STEPS_TOO_FEW.help,
)
TURNS_ABOVE_STEPS: Final = Message(
    LIMIT_TOO_SMALL, "`limits.steps` is {steps}, below the planner's `max_turns` of {turns}",
    "allow at least {turns} steps: every call the model proposes counts as one",
)
BELOW_TARGET: Final = Message(
    RELIABILITY_BELOW_TARGET, "the workflow succeeds with probability {estimate}, below the target {target}",
    "{explanation}",
)
NO_ESTIMATE: Final = Message(
    RELIABILITY_UNKNOWN, "step `{step}` calls `{action}`, which has no `reliability` estimate",
    "add `reliability P` to action `{action}` so the target {target} can be checked",
)
IMAGE_UNPINNED: Final = Message(
    UNPINNED_IMAGE, "image `{image}` is not pinned", "name a tag other than `latest`, such as `specc/base:bookworm`",
)
UNTRUSTED_UNAPPROVED: Final = Message(
    UNTRUSTED_FLOW, "action `{action}` {why} and runs without approval, but the planner that calls it also reads the "
    "untrusted results of {sources}",
    "add `approval required` to `{action}`, leave it out of the planner's `tools`, or waive the approval with "
    "`approval none \"reason\"`",
)
#: reported as a warning: the author waived the approval on purpose
UNTRUSTED_WAIVED: Final = Message(
    UNTRUSTED_FLOW, "action `{action}` {why} and runs without approval while the planner also reads the untrusted "
    "results of {sources}: {reason}",
)
READ_WITH_NETWORK: Final = Message(
    EFFECT_MISMATCH, "action `{action}` has `effect read` but reaches the network host `{host}`",
    "a read action is retried and resumed freely and never needs approval; if it can send data out or act on "
    "an account, declare `effect write` (and `idempotent` when repeating it is safe)",
)
READ_WITH_SECRET: Final = Message(
    EFFECT_MISMATCH, "action `{action}` has `effect read` but is given the secret `{env}`",
    READ_WITH_NETWORK.help,
)
ROOT_USER: Final = Message(
    PRIVILEGED_USER, "user `{user}` lets the tool run as root or in root's group",
    "{why}; give an unprivileged `UID:GID` such as `\"65534:65534\"` (nobody), the default",
)
NESTED_MOUNTS: Final = Message(
    OVERLAPPING_MOUNT, "action `{action}` mounts `{inner}` inside `{outer}` {where}",
    "a read_only mount inside a read_write one is writable through its parent; mount folders that lie side "
    "by side, or only the outer one",
)
