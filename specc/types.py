"""Semantic types: what a written type means once names are resolved.

The checker compares these, the contract compiler turns them into JSON Schema, and messages name
them in the words of the language (`describe`). `Unknown` stands for a type that could not be
resolved; it is compatible with everything so that one mistake is reported once.
"""

from __future__ import annotations

from specc.record import Frozen, init


class Prim(Frozen):
    """`string`, `int`, `number`, `bool`, `path` or `url`, with its constraints."""

    name: str
    low: float | None = None
    high: float | None = None
    pattern: str | None = None
    under: str | None = None
    host: str | None = None

    def __init__(self, name: str, low: float | None = None, high: float | None = None, pattern: str | None = None,
                 under: str | None = None, host: str | None = None) -> None:
        init(self, {"name": name, "low": low, "high": high, "pattern": pattern, "under": under, "host": host})


class Ref(Frozen):
    """A named record type; its fields live in the symbol table."""

    name: str

    def __init__(self, name: str) -> None:
        init(self, {"name": name})


class Union(Frozen):
    """A literal union such as `"EUR" | "USD"`."""

    literals: tuple[str, ...]

    def __init__(self, literals: tuple[str, ...]) -> None:
        init(self, {"literals": literals})


class ListOf(Frozen):
    """`list<T>` with an optional item-count range."""

    item: Type
    low: float | None = None
    high: float | None = None

    def __init__(self, item: Type, low: float | None = None, high: float | None = None) -> None:
        init(self, {"item": item, "low": low, "high": high})


class Optional(Frozen):
    """`T?`: the value may be absent (or null)."""

    inner: Type

    def __init__(self, inner: Type) -> None:
        init(self, {"inner": inner})


class RecordShape(Frozen):
    """The type of a record literal `{k: expr}` before it meets a declared record."""

    fields: tuple[tuple[str, Type], ...]

    def __init__(self, fields: tuple[tuple[str, Type], ...]) -> None:
        init(self, {"fields": fields})


class Unknown(Frozen):
    """A type that could not be resolved; already reported elsewhere."""

    def __init__(self) -> None:
        init(self, {})


Type = Prim | Ref | Union | ListOf | Optional | RecordShape | Unknown

STRING, INT, NUMBER, BOOL = Prim("string"), Prim("int"), Prim("number"), Prim("bool")
UNKNOWN = Unknown()


def describe(t: Type) -> str:
    """Name a type for a message, in backticks."""
    return f"`{_text(t)}`"


def _text(t: Type) -> str:
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, Ref):
        return t.name
    if isinstance(t, Union):
        return " | ".join(f'"{v}"' for v in t.literals)
    if isinstance(t, ListOf):
        return f"list<{_text(t.item)}>"
    if isinstance(t, Optional):
        return f"{_text(t.inner)}?"
    if isinstance(t, RecordShape):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in t.fields) + "}"
    return "unknown"


def strip_optional(t: Type) -> Type:
    return t.inner if isinstance(t, Optional) else t


def base(t: Type) -> str:
    """The family of a type for compatibility: string-like, number-like and so on."""
    t = strip_optional(t)
    if isinstance(t, Prim):
        return {"int": "number", "path": "string", "url": "string"}.get(t.name, t.name)
    if isinstance(t, Union):
        return "string"
    if isinstance(t, ListOf):
        return "list"
    if isinstance(t, (Ref, RecordShape)):
        return "record"
    return "unknown"


def is_unknown(t: Type) -> bool:
    return isinstance(strip_optional(t), Unknown)
