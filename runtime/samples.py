"""Sample values that keep a contract: the smallest value a compiled JSON Schema admits, strings
that match their regex included. `specc test` hands them out as the canned results of the actions
a case does not inject into, so every run reaches the action under test on the happy path."""

from __future__ import annotations

import re
from typing import Any

from .values import validate


class NoSample(Exception):
    """No value could be made for this schema; the message says where."""


def sample(schema: dict[str, Any], root: dict[str, Any] | None = None, where: str = "result") -> Any:
    """A value `schema` admits (checked against it); raises `NoSample`."""
    value = _sample(schema, root if root is not None else schema, where, 0)
    try:
        validate(value, root if root is not None else schema, where)
    except Exception as exc:  # noqa: BLE001 - any refusal means this sample is no good
        raise NoSample(f"no sample value for `{where}`: {exc}") from None
    return value


def _sample(schema: dict[str, Any], root: dict[str, Any], where: str, depth: int) -> Any:
    if depth > 32:
        raise NoSample(f"`{where}` nests too deeply for a sample")
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _sample(root.get("$defs", {}).get(name, {}), root, where, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        options = schema["anyOf"]
        if {"type": "null"} in options:
            return None
        return _sample(options[0], root, where, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else kind[0]
    if kind == "object":
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        return {name: _sample(properties.get(name, {}), root, f"{where}.{name}", depth + 1) for name in required}
    if kind == "array":
        count = int(schema.get("minItems", 0))
        return [_sample(schema.get("items", {}), root, f"{where}[{i}]", depth + 1) for i in range(count)]
    if kind == "string":
        if schema.get("x-specc-path"):
            return "sample.txt"
        if "pattern" in schema:
            text = from_regex(str(schema["pattern"]))
        else:
            text = ""
        shortest = int(schema.get("minLength", 0))
        if len(text) < shortest:
            text += "x" * (shortest - len(text))
        return text
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        if low is None and "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + 1
        high = schema.get("maximum")
        value = low if low is not None else (min(0, high) if high is not None else 0)
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return None


def from_regex(pattern: str) -> str:
    """The shortest string of a simple regex (literals, classes, repeats, groups, alternation);
    raises `NoSample` for what it cannot follow."""
    import re._parser as sre  # type: ignore[import-not-found, unused-ignore]  # re's own parser, 3.11+

    try:
        parsed = sre.parse(pattern)
    except re.error as exc:
        raise NoSample(f"the pattern `{pattern}` does not compile: {exc}") from None
    return "".join(_emit(list(parsed), pattern))


def _emit(items: list[Any], pattern: str) -> list[str]:
    import re._constants as c  # type: ignore[import-not-found, unused-ignore]

    out: list[str] = []
    for op, arg in items:
        if op is c.LITERAL:
            out.append(chr(arg))
        elif op is c.AT:
            continue
        elif op is c.ANY:
            out.append("a")
        elif op is c.IN:
            out.append(_member(arg, pattern))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, _, body = arg
            out.extend(_emit(list(body), pattern) * int(low))
        elif op is c.SUBPATTERN:
            out.extend(_emit(list(arg[-1]), pattern))
        elif op is c.BRANCH:
            out.extend(min((_emit(list(b), pattern) for b in arg[1]), key=lambda s: len("".join(s))))
        elif op in (c.ASSERT, c.ASSERT_NOT):
            continue
        else:
            raise NoSample(f"the pattern `{pattern}` is beyond what samples follow ({op})")
    return out


def _member(items: list[Any], pattern: str) -> str:
    import re._constants as c  # type: ignore[import-not-found, unused-ignore]

    negate = any(op is c.NEGATE for op, _ in items)
    if negate:
        excluded = {chr(arg) for op, arg in items if op is c.LITERAL}
        return next(ch for ch in "axA0_-" if ch not in excluded)
    for op, arg in items:
        if op is c.LITERAL:
            return chr(arg)
        if op is c.RANGE:
            return chr(arg[0])
        if op is c.CATEGORY:
            return {c.CATEGORY_DIGIT: "0", c.CATEGORY_SPACE: " ", c.CATEGORY_WORD: "a"}.get(arg, "a")
    raise NoSample(f"the pattern `{pattern}` has a class samples cannot follow")
