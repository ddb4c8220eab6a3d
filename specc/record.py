"""What the checker's value classes share with a dataclass, without building one.

`@dataclass` writes each class's methods as source text and compiles it when the module is
imported: about a millisecond a class, and `specc check` imports 18 of them on every keystroke. The
classes of the check path (`specc.types`, `codes`, `diagnostics`, `context`, `compiler`,
`handling`, `reliability`, the workflow pass) derive from `Frozen` or `Mutable` instead and write
their own `__init__`: a dataclass's equality, hash, `repr`, immutability and `__match_args__`, the
fields being the class's annotations in order (base classes' first, `ClassVar`s left out).
`replace` stands in for `dataclasses.replace`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

_set = object.__setattr__

R = TypeVar("R", bound="Frozen")


def _fields(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, annotation in klass.__dict__.get("__annotations__", {}).items():
            if name not in names and not str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                names.append(name)
    return tuple(names)


class _Fields:
    _fields: ClassVar[tuple[str, ...]] = ()
    #: fields left out of `repr` (a dataclass field's `repr=False`)
    _hidden: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = _fields(cls)
        setattr(cls, "__match_args__", cls._fields)  # noqa: B010 - what `match` binds positionally (mypy refuses the assignment)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields)


class Frozen(_Fields):
    """A frozen dataclass: equal and hashed by its fields' values, which cannot be set again. A
    subclass's `__init__` sets them all at once with `init(self, {...})`, in field order."""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__  # every field, in order; nothing else can be set

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")


class Mutable(_Fields):
    """A dataclass that is not frozen: equal by its fields' values, and so not hashable."""

    __hash__ = None  # type: ignore[assignment]


def init(record: Frozen, values: dict[str, Any]) -> None:
    """Set a frozen record's fields: `values` holds every field, in the class's order."""
    _set(record, "__dict__", values)


def replace(record: R, **changes: Any) -> R:
    """A copy of a frozen record with some fields changed, as `dataclasses.replace`."""
    return type(record)(**{**record.__dict__, **changes})
