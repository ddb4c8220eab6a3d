"""The typed syntax tree of an `.agent` file.

Every node carries the `Span` of the text it came from, so any pass can point at it. Nodes are
plain frozen records (`Record`): keyword construction that checks the field names, equality by
value, no validation of the values, and no library behind them, since `specc check` pays for every
import on every keystroke. The lowering, whose input is trusted, builds them faster with `build`
and `span`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar, dataclass_transform


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Record:
    """A frozen record whose fields are its class annotations (base classes' first) and whose
    defaults are the class attributes; a list default is copied for each record."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _lists: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if not name.startswith("_") and name not in names:
                    names.append(name)
        cls._fields = tuple(names)
        cls._defaults = {name: getattr(cls, name) for name in names if hasattr(cls, name)}
        cls._lists = tuple(k for k, v in cls._defaults.items() if isinstance(v, list))

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        unknown = values.keys() - set(cls._fields)
        missing = [name for name in cls._fields if name not in values and name not in cls._defaults]
        if unknown or missing:
            raise TypeError(f"{cls.__name__}: unknown fields {sorted(unknown)}, missing fields {missing}")
        _set(self, "__dict__", _filled(cls, values))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set `{name}`")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete `{name}`")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *(self.__dict__[name] for name in self._fields)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


class Span(Record):
    """A region of source text: 1-based lines and columns, end exclusive, plus byte offsets."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0


class Node(Record):
    """Base of every syntax node."""

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


# --- building from trusted values ---------------------------------------------------------------

N = TypeVar("N", bound=Record)

_new = object.__new__
_set = object.__setattr__


def _filled(cls: type[Record], values: dict[str, Any]) -> dict[str, Any]:
    filled = {**cls._defaults, **values}
    for key in cls._lists:
        if key not in values:
            filled[key] = []
    return filled


def build(cls: type[N], **fields: Any) -> N:
    """A node of `cls` from trusted values (the field names unchecked): defaults filled in, list
    defaults fresh."""
    node = _new(cls)
    _set(node, "__dict__", _filled(cls, fields))
    return node


def span(line: int, column: int, end_line: int, end_column: int, start: int = 0, end: int = 0) -> Span:
    """A `Span` from trusted values: `build` for the node the lowering makes most often."""
    node = _new(Span)
    _set(node, "__dict__", {"line": line, "column": column, "end_line": end_line, "end_column": end_column,
                            "start": start, "end": end})
    return node
