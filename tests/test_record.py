"""The check path's value classes (`specc.record`) behave as the dataclasses they replaced: the same
fields in the same order, construction, equality, hash, repr, immutability, `match` and `replace`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from specc import ast, types
from specc.codes import SYNTAX, Code, Message, Severity
from specc.compiler import Compilation, compile_source
from specc.context import Context, Symbols
from specc.diagnostics import Diagnostic, Label, Reporter
from specc.handling import Resolved
from specc.passes.workflow import _Scope
from specc.record import Frozen, replace
from specc.reliability import StepEstimate

FIXTURE = Path(__file__).parent / "fixtures" / "clean.agent"
SPAN = ast.Span(line=1, column=2, end_line=1, end_column=5)

#: Each class, the fields its dataclass had (in order), and the arguments of two distinct values.
FROZEN: list[tuple[type[Frozen], tuple[str, ...], tuple[Any, ...], tuple[Any, ...]]] = [
    (types.Prim, ("name", "low", "high", "pattern", "under", "host"), ("int", 1.0, 5.0), ("int", 1.0, 6.0)),
    (types.Ref, ("name",), ("Invoice",), ("Refund",)),
    (types.Union, ("literals",), (("EUR", "USD"),), (("EUR",),)),
    (types.ListOf, ("item", "low", "high"), (types.STRING, 1.0), (types.STRING, 2.0)),
    (types.Optional, ("inner",), (types.INT,), (types.STRING,)),
    (types.RecordShape, ("fields",), ((("a", types.INT),),), ((("b", types.INT),),)),
    (Code, ("code", "name", "severity", "summary"), ("SPC9", "x", Severity.ERROR, "s"),
     ("SPC9", "x", Severity.WARNING, "s")),
    (Message, ("code", "template", "help"), (SYNTAX, "t"), (SYNTAX, "t", "h")),
    (Label, ("span", "message"), (SPAN, "here"), (SPAN, "there")),
    (Diagnostic, ("code", "severity", "message", "file", "span", "help", "labels"),
     (SYNTAX, Severity.ERROR, "m", "f.agent", SPAN), (SYNTAX, Severity.ERROR, "m", "f.agent", SPAN, "h")),
    (StepEstimate, ("step", "action", "estimate", "retries", "success", "depth", "kind", "turns"),
     ("s", "a", 0.9, 1, 0.99), ("s", "a", 0.9, 1, 0.99, 1, "for", 3)),
]


def _twin(cls: type, names: tuple[str, ...], frozen: bool = True) -> Any:
    """A dataclass with the same name, fields and defaults, to compare against."""
    defaults = {name: getattr(cls, name) for name in names if hasattr(cls, name)}
    specs = [(n, Any, dataclasses.field(default=defaults[n])) if n in defaults else (n, Any) for n in names]
    return dataclasses.make_dataclass(cls.__qualname__, specs, frozen=frozen)


@pytest.mark.parametrize(("cls", "names", "one", "other"), FROZEN, ids=[c[0].__name__ for c in FROZEN])
def test_a_frozen_record_is_its_dataclass(cls: type[Frozen], names: tuple[str, ...], one: tuple[Any, ...],
                                          other: tuple[Any, ...]) -> None:
    assert cls._fields == names and cls.__match_args__ == names  # type: ignore[attr-defined]
    twin = _twin(cls, names)
    a, b = cls(*one), cls(*other)
    assert repr(a) == repr(twin(*one)) and repr(b) == repr(twin(*other))
    assert hash(a) == hash(twin(*one))
    assert a == cls(*one) and hash(a) == hash(cls(*one)) and a != b and a != twin(*one)
    assert cls(**{n: getattr(a, n) for n in names}) == a  # by keyword too
    assert replace(a, **{n: getattr(b, n) for n in names}) == b and replace(a) == a
    with pytest.raises(AttributeError, match="cannot assign to field"):
        a.x = 1
    with pytest.raises(AttributeError, match="cannot delete field"):
        del a.x  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        cls(*one, **{names[0]: one[0]})


def test_frozen_records_without_fields_and_in_match() -> None:
    assert types.Unknown() == types.UNKNOWN and hash(types.Unknown()) == hash(()) and repr(types.UNKNOWN) == "Unknown()"
    assert types.Unknown() != types.Ref("x")
    match types.ListOf(types.INT, 1.0):
        case types.ListOf(types.Prim(name), low):  # type: ignore[misc]  # mypy reads __match_args__ statically
            assert (name, low) == ("int", 1.0)
        case _:
            pytest.fail("a record's fields match positionally")
    assert {types.Prim("int"), types.Prim("int"), types.INT} == {types.INT}


def test_mutable_records_are_dataclasses_that_are_not_frozen() -> None:
    one, two = Symbols(), Symbols()
    assert one == two and one.types is not two.types and one.input is None and one.tools is None
    one.steps["a"] = "b"
    assert one != two
    with pytest.raises(TypeError):
        hash(one)
    assert Symbols._fields == ("types", "records", "actions", "params", "returns", "input", "output", "mounts", "envs",
                               "hosts", "steps", "loop_bounds", "tools")
    assert repr(Reporter("f")) == "Reporter(file='f', diagnostics=[])"
    assert Reporter("f").diagnostics is not Reporter("f").diagnostics
    assert _Scope({}) == _Scope({}, set(), set(), None) and _Scope({}).later is not _Scope({}).later
    agent = compile_source(FIXTURE.read_bytes(), str(FIXTURE)).agent
    assert agent is not None
    ctx = Context(agent=agent, file="a.agent", reporter=Reporter("a.agent"))
    assert Context._fields == ("agent", "file", "reporter", "symbols", "base_dir", "externally_callable")
    assert ctx.symbols == Symbols() and ctx.base_dir == "." and ctx.externally_callable is False


def test_a_compilation_hides_its_ir_from_repr() -> None:
    result = Compilation("a.agent", None, [])
    assert Compilation._fields == ("path", "source", "diagnostics", "agent", "symbols", "base_dir", "_ir")
    assert repr(result) == ("Compilation(path='a.agent', source=None, diagnostics=[], agent=None, symbols=None, "
                            "base_dir='.')")
    assert result == Compilation("a.agent", None, [], None, None, ".", None)
    assert Resolved._fields == ("strategy", "handler", "level")
