"""Contracts: the JSON Schema compiled from a type admits exactly the values the type admits.

Hypothesis draws a type (primitives with ranges and patterns, literal unions, lists with counts,
optionals, records that refer to other records), then values the type admits, which must validate,
and values it rejects (wrong type, out of range, unknown field, missing field, not in the union,
too many items), which must not.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from specc import types as t
from specc.contracts import schema_of

EXAMPLES = 600 if os.environ.get("CI") == "true" else 150
NAMES = st.sampled_from(["id", "amount", "vendor", "status", "lines", "notes", "qty"])


@st.composite
def prims(draw: st.DrawFn) -> t.Prim:
    name = draw(st.sampled_from(["string", "int", "number", "bool"]))
    if name == "bool":
        return t.Prim("bool")
    low = draw(st.none() | st.integers(0, 5))
    high = draw(st.none() | st.integers(5, 12))
    pattern = "^[A-Z]+$" if name == "string" and draw(st.booleans()) else None
    return t.Prim(name, None if low is None else float(low), None if high is None else float(high), pattern)


def types(records: dict[str, dict[str, t.Type]]) -> st.SearchStrategy[t.Type]:
    leaves = prims() | st.lists(st.sampled_from(["EUR", "USD", "GBP"]), min_size=1, max_size=3, unique=True).map(
        lambda xs: t.Union(tuple(xs)))
    refs = st.sampled_from(sorted(records)).map(t.Ref) if records else leaves

    def extend(inner: st.SearchStrategy[t.Type]) -> st.SearchStrategy[t.Type]:
        return (st.tuples(inner, st.none() | st.integers(0, 2), st.none() | st.integers(2, 4)).map(
            lambda x: t.ListOf(x[0], None if x[1] is None else float(x[1]), None if x[2] is None else float(x[2])))
            | inner.map(t.Optional))

    return st.recursive(leaves | refs, extend, max_leaves=4)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, dict[str, t.Type]], t.Type]:
    records: dict[str, dict[str, t.Type]] = {}
    for name in ("Inner", "Outer"):  # Outer may refer to Inner, never the other way round
        fields = draw(st.dictionaries(NAMES, types(records), min_size=1, max_size=3))
        records[name] = fields
    top = draw(types(records))
    return records, top


def value_of(draw: st.DrawFn, ty: t.Type, records: dict[str, dict[str, t.Type]]) -> Any:
    if isinstance(ty, t.Optional):
        return None if draw(st.booleans()) else value_of(draw, ty.inner, records)
    if isinstance(ty, t.Union):
        return draw(st.sampled_from(ty.literals))
    if isinstance(ty, t.ListOf):
        low = int(ty.low or 0)
        high = int(ty.high) if ty.high is not None else low + 3
        return [value_of(draw, ty.item, records) for _ in range(draw(st.integers(low, high)))]
    if isinstance(ty, t.Ref):
        out = {}
        for name, field in records[ty.name].items():
            if isinstance(field, t.Optional) and draw(st.booleans()):
                continue  # an optional field may be absent
            out[name] = value_of(draw, field, records)
        return out
    assert isinstance(ty, t.Prim)
    if ty.name == "bool":
        return draw(st.booleans())
    low = int(ty.low) if ty.low is not None else 0
    high = int(ty.high) if ty.high is not None else low + 10
    if ty.name == "string":
        size = draw(st.integers(max(low, 1) if ty.pattern else low, high))
        alphabet = "ABCXYZ" if ty.pattern else "abc XYZ-é"
        return draw(st.text(alphabet, min_size=size, max_size=size))
    if ty.name == "int":
        return draw(st.integers(low, high))
    return draw(st.floats(low, high, allow_nan=False))


def broken(draw: st.DrawFn, ty: t.Type, records: dict[str, dict[str, t.Type]]) -> Any | None:
    """A value the type rejects, or None when this type has no simple rejected value."""
    if isinstance(ty, t.Optional):
        return broken(draw, ty.inner, records)
    if isinstance(ty, t.Union):
        return "JPY"
    if isinstance(ty, t.ListOf):
        if ty.high is not None:
            return [value_of(draw, ty.item, records) for _ in range(int(ty.high) + 1)]
        return {"not": "a list"}
    if isinstance(ty, t.Ref):
        good = value_of(draw, ty, records)
        if draw(st.booleans()):
            return {**good, "unexpected_field": 1}
        required = [n for n, f in records[ty.name].items() if not isinstance(f, t.Optional)]
        if not required:
            return {**good, "unexpected_field": 1}
        return {k: v for k, v in good.items() if k != required[0]}
    assert isinstance(ty, t.Prim)
    if ty.name == "bool":
        return "true"
    if ty.name == "string":
        if ty.high is not None:
            return "A" * (int(ty.high) + 1)
        return 5
    if ty.high is not None:
        return int(ty.high) + 1
    return "5"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=os.environ.get("CI") == "true")
@given(world=worlds(), data=st.data())
def test_admitted_values_validate_and_rejected_values_do_not(world: Any, data: st.DataObject) -> None:
    records, top = world
    validator = Draft202012Validator(schema_of(top, records))
    good = data.draw(st.composite(lambda d: value_of(d, top, records))())
    assert not list(validator.iter_errors(good)), (top, good)
    bad = data.draw(st.composite(lambda d: broken(d, top, records))())
    assert list(validator.iter_errors(bad)), (top, bad)


def test_records_are_closed_and_optionals_may_be_absent_or_null() -> None:
    records = {"Receipt": {"id": t.Prim("string"), "note": t.Optional(t.Prim("string"))}}
    validator = Draft202012Validator(schema_of(t.Ref("Receipt"), records))
    assert validator.is_valid({"id": "x"})
    assert validator.is_valid({"id": "x", "note": None})
    assert not validator.is_valid({"id": "x", "extra": 1})
    assert not validator.is_valid({"note": "x"})


def test_int_rejects_strings_and_ranges_hold() -> None:
    validator = Draft202012Validator(schema_of(t.Prim("int", 1, 10), {}))
    assert validator.is_valid(5)
    assert not validator.is_valid("5")
    assert not validator.is_valid(0)
    assert not validator.is_valid(11)
