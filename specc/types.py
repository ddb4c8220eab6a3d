"""Semantic types: what a written type means once names are resolved.

The checker compares these, the contract compiler turns them into JSON Schema, and messages name
them in the words of the language (`describe`). `Unknown` stands for a type that could not be
resolved; it is compatible with everything so that one mistake is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prim:
    """`string`, `int`, `number`, `bool`, `path` or `url`, with its constraints."""

    name: str
    low: float | None = None
    high: float | None = None
    pattern: str | None = None
    under: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Ref:
    """A named record type; its fields live in the symbol table."""

    name: str


@dataclass(frozen=True)
class Union:
    """A literal union such as `"EUR" | "USD"`."""

    literals: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    """`list<T>` with an optional item-count range."""

    item: Type
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Optional:
    """`T?`: the value may be absent (or null)."""

    inner: Type


@dataclass(frozen=True)
class RecordShape:
    """The type of a record literal `{k: expr}` before it meets a declared record."""

    fields: tuple[tuple[str, Type], ...]


@dataclass(frozen=True)
class Unknown:
    """A type that could not be resolved; already reported elsewhere."""


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
