"""The typed syntax tree of an `.agent` file.

Every node carries the `Span` of the text it came from, so any pass can point at it. Nodes are
pydantic models; the lowering, whose input is trusted, builds them with `build` and `span`, which
skip validation and cost a quarter of `model_construct`. Built by hand, they validate normally.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A region of source text: 1-based lines and columns, end exclusive, plus byte offsets."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0


class Node(BaseModel):
    """Base of every syntax node."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span


class Name(Node):
    """An identifier with its own span (a name is often pointed at on its own)."""

    value: str


class Str(Node):
    """A string literal, its escapes already decoded."""

    value: str


# --- types -------------------------------------------------------------------------------------


class Range(Node):
    """An inclusive range `a..b`, `a..` or `..b`."""

    low: float | None
    high: float | None
    text: str


class Constraint(Node):
    """One constraint on a primitive type."""

    kind: Literal["range", "regex", "under", "host"]
    range: Range | None = None
    text: str = ""  # the regex source, the mount of `under`, the host of `host`


class TypeExpr(Node):
    """A written type: a primitive with constraints, a named record, a list or a literal union."""

    kind: Literal["prim", "named", "list", "union"]
    name: str = ""  # the primitive or the record type's name
    constraints: list[Constraint] = []
    item: TypeExpr | None = None  # list item type
    count: Range | None = None  # list item-count range
    literals: list[Str] = []  # union members
    optional: bool = False


class Field(Node):
    """`name: type` in a record, the input block or a parameter list."""

    name: Name
    type: TypeExpr


class TypeDecl(Node):
    """`type Name { fields }`."""

    name: Name
    fields: list[Field]


# --- expressions -------------------------------------------------------------------------------


class Expr(Node):
    """An expression of the workflow or of a `require` guard."""

    kind: Literal["string", "number", "bool", "ref", "record", "list", "len", "compare", "in",
                  "and", "or", "not"]
    value: str | float | bool | None = None  # literal value; operator for `compare`
    path: list[Name] = []  # `ref`: the first name, then the fields
    items: list[Expr] = []  # operands, list items, record values
    keys: list[Name] = []  # `record`: the field names, parallel to `items`
    is_int: bool = False  # a number literal written without a decimal point


# --- strategies and handlers --------------------------------------------------------------------


class Strategy(Node):
    """What to do on a failure: retry, fallback, escalate or abort."""

    kind: Literal["retry", "fallback", "escalate", "abort"]
    count: int = 0
    count_span: Span | None = None
    backoff_min_ms: int | None = None
    backoff_max_ms: int | None = None
    backoff_span: Span | None = None
    then: Strategy | None = None
    target: Name | None = None  # fallback action
    reason: str | None = None


class Handler(Node):
    """`on KIND[, KIND...] STRATEGY`."""

    kinds: list[Name]
    strategy: Strategy


class Require(Node):
    """`require EXPR else STRATEGY`."""

    condition: Expr
    strategy: Strategy


# --- actions -----------------------------------------------------------------------------------


class Setting(Node):
    """One sandbox setting (`memory 256MiB`), keyed by its keyword; values are normalised:
    bytes for sizes, milliseconds for durations."""

    key: str
    value: str | int | float
    value_span: Span | None = None  # the value alone, where a bad value is pointed at


class ActionMount(Node):
    """`mount PATH [MODE]` inside an action."""

    path: Str
    mode: Literal["read_only", "read_write"] | None = None


class Action(Node):
    """An action the agent may take."""

    name: Name
    params: list[Field]
    returns: TypeExpr | None
    run: list[Str] = []
    mounts: list[ActionMount] = []
    network: list[Str] = []
    env: list[Name] = []
    effect: Name | None = None
    risk: Name | None = None
    approval: Literal["required", "none"] | None = None
    approval_reason: str | None = None
    approval_span: Span | None = None
    approval_when: Expr | None = None  # `approval required when EXPR`: only when EXPR holds
    idempotent: bool = False
    idempotency_key: list[Name] | None = None
    idempotent_span: Span | None = None
    reliability: float | None = None
    reliability_span: Span | None = None
    description: Str | None = None  # what a planner's model is told the action does
    untrusted: bool = False  # its result carries text from outside the team
    untrusted_span: Span | None = None
    settings: list[Setting] = []
    requires: list[Require] = []
    handlers: list[Handler] = []


# --- agent -------------------------------------------------------------------------------------


class ScopeMount(Node):
    """`mount PATH [at TARGET] [MODE]` in the scope."""

    path: Str
    target: Str | None = None
    mode: Literal["read_only", "read_write"] = "read_only"


class ScopeEnv(Node):
    """`env NAME [secret]` in the scope."""

    name: Name
    secret: bool = False


class Scope(Node):
    """The most any action of the agent may touch."""

    mounts: list[ScopeMount] = []
    network: list[Str] = []
    env: list[ScopeEnv] = []


class Limits(Node):
    """The limits of one run."""

    steps: int | None = None
    steps_span: Span | None = None
    wall_ms: int | None = None
    wall_span: Span | None = None


class Call(Node):
    """`action(arg: expr, ...)`."""

    action: Name
    args: list[tuple[Name, Expr]]


class Statement(Node):
    """One workflow statement: a call (bound to a step name or not), a guard, the return, a bounded
    loop `for VAR in LIST { body }` (bound to a step name or not) or a branch
    `if COND { body } else { orelse }`."""

    kind: Literal["call", "require", "return", "for", "if"]
    name: Name | None = None
    call: Call | None = None
    require: Require | None = None
    value: Expr | None = None  # `return`: the value; `for`: the list; `if`: the condition
    var: Name | None = None  # `for`: the name each item is bound to
    body: list[Statement] = []
    orelse: list[Statement] | None = None  # `if` with an `else`: its statements (an `else if` is one `if`)


class Workflow(Node):
    """The steps, in order; loops and branches hold their own."""

    statements: list[Statement]


def walk(statements: list[Statement]) -> list[Statement]:
    """Every statement of a block and of the blocks inside it, in the order they are written."""
    found: list[Statement] = []
    for statement in statements:
        found.append(statement)
        found.extend(walk(statement.body))
        if statement.orelse is not None:
            found.extend(walk(statement.orelse))
    return found


class Planner(Node):
    """`planner NAME { ... }`: a model that chooses the actions (docs/planner.md). A required
    setting left out is None here, reported by the lowering."""

    kind: Name
    model: Str | None = None
    endpoint: Name | None = None  # the env var holding the API's base URL
    api_key: Name | None = None  # the env var holding the API key
    instructions: Str | None = None
    max_turns: int | None = None
    max_turns_span: Span | None = None
    tools: list[Name] | None = None  # None: every action
    timeout_ms: int | None = None  # one model request
    timeout_span: Span | None = None
    handlers: list[Handler] = []  # failures of the model request itself


class Agent(Node):
    """A whole `.agent` file."""

    name: Name
    version: Str | None = None
    description: Str | None = None
    limits: Limits | None = None
    reliability: float | None = None
    reliability_span: Span | None = None
    scope: Scope | None = None
    sandbox: list[Setting] = []
    types: list[TypeDecl] = []
    input: list[Field] | None = None
    input_span: Span | None = None
    output: TypeExpr | None = None
    actions: list[Action] = []
    workflow: Workflow | None = None
    planner: Planner | None = None
    handlers: list[Handler] = []


# --- building without validation -----------------------------------------------------------------

N = TypeVar("N", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__
#: Per node class: its defaults (lists are copied per node) and the names of all its fields.
_SHAPES: dict[type[BaseModel], tuple[dict[str, Any], tuple[str, ...], set[str]]] = {}


def _shape(cls: type[BaseModel]) -> tuple[dict[str, Any], tuple[str, ...], set[str]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        defaults = {k: f.default for k, f in cls.model_fields.items() if not f.is_required()}
        lists = tuple(k for k, v in defaults.items() if isinstance(v, list))
        shape = _SHAPES[cls] = (defaults, lists, set(cls.model_fields))
    return shape


def build(cls: type[N], **fields: Any) -> N:
    """A node of `cls` from trusted values, as `model_construct` would make it (every field set,
    defaults filled in, mutable defaults fresh), without validation and at a quarter of its cost.

    The node's `model_fields_set` is shared by every node of its class: it names every field, and
    pydantic copies it before changing it (`model_copy`), so nothing may mutate it in place.
    """
    defaults, lists, names = _shape(cls)
    values = {**defaults, **fields}
    for key in lists:
        if key not in fields:
            values[key] = []
    node = _new(cls)
    _set(node, "__dict__", values)
    _set(node, "__pydantic_fields_set__", names)
    _set(node, "__pydantic_extra__", None)
    _set(node, "__pydantic_private__", None)
    return node


_SPAN_FIELDS = set(Span.model_fields)


def span(line: int, column: int, end_line: int, end_column: int, start: int = 0, end: int = 0) -> Span:
    """A `Span` from trusted values: `build` for the node the lowering makes most often."""
    node = _new(Span)
    _set(node, "__dict__", {"line": line, "column": column, "end_line": end_line, "end_column": end_column,
                            "start": start, "end": end})
    _set(node, "__pydantic_fields_set__", _SPAN_FIELDS)
    _set(node, "__pydantic_extra__", None)
    _set(node, "__pydantic_private__", None)
    return node
