"""Values crossing the runtime's borders: strict JSON, contract validation, `path` arguments, and
the evaluation of workflow expressions.

Nothing here trusts its input: JSON with NaN, duplicate keys, absurd integers or lone surrogates is
refused; a path argument is resolved on the host against its mount's real path, by components,
symlinks followed, and handed to the tool as the path inside the container.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

#: The largest run input or tool output accepted as JSON text, before parsing.
MAX_JSON_BYTES = 16 * 1024 * 1024
#: The most digits an integer in JSON may have (int64 needs 19).
MAX_INT_DIGITS = 20
#: How deep JSON may nest.
MAX_JSON_DEPTH = 64


class ValueRejected(Exception):
    """A value breaks a rule; the message names the field and the rule."""


class HostNotReady(ValueRejected):
    """This machine cannot give the spec what it declares (a mount folder, write access to it, an env
    var): not a fault of the input; the message says what to set up."""


class _Refused:
    """Stands in for a value `parse_json` refuses, so that the refusal can name the field it is in."""

    __slots__ = ("rule",)

    def __init__(self, rule: str) -> None:
        self.rule = rule


def parse_json(text: str | bytes, what: str, limit: int = MAX_JSON_BYTES) -> Any:
    """Parse one JSON value strictly; the refusal names the field (`the input at `a.b[2]``)."""
    size = len(text)
    if size > limit:
        raise ValueRejected(f"{what} is {size:,} bytes, more than the {limit:,} bytes allowed")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueRejected(f"{what} is not UTF-8 (byte {exc.start})") from None

    def pairs(items: list[tuple[str, Any]]) -> Any:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                return _Refused(f"has the key `{key}` twice")
            result[key] = value
        return result

    def constant(name: str) -> Any:
        return _Refused(f"is `{name}`, which is not a JSON number")

    def integer(digits: str) -> Any:
        count = len(digits.lstrip("-"))
        if count > MAX_INT_DIGITS:
            return _Refused(f"is an integer of {count:,} digits, more than the {MAX_INT_DIGITS} allowed")
        return int(digits)

    def number(digits: str) -> Any:
        value = float(digits)
        if value in (float("inf"), float("-inf")):
            return _Refused(f"is the number `{digits[:30]}`, too large to represent")
        return value

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=integer,
                           parse_float=number)
    except RecursionError:
        raise ValueRejected(f"{what} nests too deeply") from None
    except ValueError as exc:
        raise ValueRejected(f"{what} is not valid JSON: {exc}") from None
    _check_text(value, what, "", 0)
    return value


def _check_text(value: Any, what: str, path: str, depth: int) -> None:
    where = f"{what} at `{path.lstrip('.')}`" if path else what
    if depth > MAX_JSON_DEPTH:
        raise ValueRejected(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, _Refused):
        raise ValueRejected(f"{where} {value.rule}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueRejected(f"{where} has a string with a lone surrogate (`\\u{ord(value[exc.start]):04x}`), "
                                "which is not valid Unicode") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, what, path, depth + 1)
            _check_text(item, what, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, what, f"{path}[{index}]", depth + 1)


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    from jsonschema import Draft202012Validator, validators

    # An `int` is a JSON integer written without a fraction: JSON Schema would accept `1.0`, which
    # reaches the tool as a float.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    # types-jsonschema leaves `extend` unannotated
    strict = validators.extend(Draft202012Validator, type_checker=checker)  # type: ignore[no-untyped-call]
    return strict(json.loads(schema_text))


def validate(value: Any, schema: Mapping[str, Any], what: str) -> None:
    """Check `value` against a contract; the error names the field and the broken rule."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    with warnings.catch_warnings():  # a spec's `[[` regex: Python's FutureWarning is no news for a run
        warnings.simplefilter("ignore", FutureWarning)
        found = list(validator.iter_errors(value))
    errors = sorted(found, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = _deepest(errors[0])
        where = what + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise ValueRejected(f"`{where}` {_rule(error)}")


def _deepest(error: Any) -> Any:
    # anyOf (optional fields) wraps the useful error; descend to the most specific one
    while error.context:
        error = sorted(error.context, key=lambda e: -len(e.absolute_path))[0]
    return error


#: JSON Schema's type names in the language's words.
LANGUAGE_TYPES = {"integer": "int", "number": "number", "string": "string", "boolean": "bool", "array": "list",
                  "object": "record", "null": "null"}


def _rule(error: Any) -> str:
    kind, schema, instance = error.validator, error.schema, error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        return _unknown_fields(instance, schema)
    if kind == "required" and isinstance(instance, dict):
        missing = [name for name in schema.get("required", []) if name not in instance]
        return "is missing the field" + ("s " if len(missing) > 1 else " ") + ", ".join(f"`{m}`" for m in missing)
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        named = " or ".join(f"`{LANGUAGE_TYPES.get(w, w)}`" for w in wanted)
        return f"must be {'an' if named[1] in 'aeiou' else 'a'} {named}, found {_show(instance)}"
    if kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"must be one of {allowed}, found {_show(instance)}"
    bound = error.validator_value
    words = {
        "minimum": f"must be at least {bound}", "maximum": f"must be at most {bound}",
        "minLength": f"must have at least {bound} character{'s' if bound != 1 else ''}",
        "maxLength": f"must have at most {bound} character{'s' if bound != 1 else ''}",
        "minItems": f"must have at least {bound} item{'s' if bound != 1 else ''}",
        "maxItems": f"must have at most {bound} item{'s' if bound != 1 else ''}",
        "pattern": f"must match /{bound}/",
    }
    if kind == "pattern" and schema.get("x-specc-url"):
        return f"must be an http(s) URL such as `https://example.com/a`, found {_show(instance)}"
    if kind == "minLength" and schema.get("x-specc-path"):
        return "must be a non-empty path, relative to its mount's root"
    if kind in words:
        return f"{words[kind]}, found {_show(instance)}"
    return f"breaks the rule `{kind}`: {error.message}"


def _unknown_fields(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    from specc.diagnostics import did_you_mean

    known = list(schema.get("properties", {}))
    unknown = [k for k in instance if k not in known]
    text = "has the unknown field" + ("s " if len(unknown) > 1 else " ") + ", ".join(f"`{u}`" for u in unknown[:5])
    if not known:
        return text + "; it has no fields"
    hint = did_you_mean(unknown[0], set(known)) if unknown else None
    return text + (f" ({hint})" if hint else "") + "; its fields are " + ", ".join(f"`{k}`" for k in known)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    kind = {str: "string", int: "int", float: "number", bool: "bool", list: "list", dict: "record"}.get(
        type(value), "null")
    return f"`{text if len(text) <= 40 else text[:37] + '...'}` ({kind})"


# --- paths ---------------------------------------------------------------------------------------


def resolve_path(value: Any, source: str, target: str, where: str) -> str:
    """A path argument, relative to its mount's root, as the absolute path inside the container.
    Refuses NUL bytes, absolute paths, `..` escapes and symlinks that lead out of the mount."""
    if not isinstance(value, str) or not value:
        raise ValueRejected(f"`{where}` must be a non-empty path")
    if "\x00" in value:
        raise ValueRejected(f"`{where}` contains a NUL byte")
    if value.startswith("/") or os.path.isabs(value):
        raise ValueRejected(f"`{where}` is the absolute path `{value}`; give it relative to its mount's root")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueRejected(f"`{where}` climbs out of its mount with `..`")
    root = os.path.realpath(source)
    host = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, host]) != root:
        raise ValueRejected(f"`{where}` leads out of its mount through a symlink")
    relative = os.path.relpath(host, root)
    return target if relative == "." else posixpath.join(target, *relative.split(os.sep))


def resolve_paths(value: Any, schema: Mapping[str, Any], mounts: Mapping[str, tuple[str, str]], where: str,
                  root: Mapping[str, Any] | None = None) -> Any:
    """Replace every `path` in `value` (as its schema marks them) with its in-container path.
    `mounts` maps a mount's name to (host source, container target)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return resolve_paths(value, root.get("$defs", {}).get(name, {}), mounts, where, root)
    if schema.get("x-specc-path") and isinstance(value, str):
        under = schema.get("x-specc-under")
        if under is None:
            if len(mounts) != 1:
                raise ValueRejected(f"`{where}` is a path without `under`, and its action mounts {len(mounts)} "
                                    "folders; write `path under \"MOUNT\"`")
            under = next(iter(mounts))
        if under not in mounts:
            raise ValueRejected(f"`{where}` is a path under `{under}`, which its action does not mount")
        source, target = mounts[under]
        return resolve_path(value, source, target, where)
    if "anyOf" in schema and value is not None:
        return resolve_paths(value, schema["anyOf"][0], mounts, where, root)
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: resolve_paths(v, props.get(k, {}), mounts, f"{where}.{k}", root) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [resolve_paths(v, schema["items"], mounts, f"{where}[{i}]", root) for i, v in enumerate(value)]
    return value


# --- expressions ---------------------------------------------------------------------------------


class EvalError(Exception):
    """An expression could not be evaluated (a missing optional field, say)."""


def evaluate(expr: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
    """Evaluate an IR expression against named values (`input`, steps, parameters)."""
    op = expr["op"]
    if op == "literal":
        return expr["value"]
    if op == "ref":
        path: Sequence[str] = expr["path"]
        if path[0] not in env:
            raise EvalError(f"`{path[0]}` has no value")
        value = env[path[0]]
        for index, name in enumerate(path[1:], 1):
            if not isinstance(value, dict) or name not in value:
                raise EvalError(f"`{'.'.join(path[:index + 1])}` has no value")
            value = value[name]
        return value
    if op == "record":
        return {k: evaluate(v, env) for k, v in expr["fields"].items()}
    if op == "list":
        return [evaluate(i, env) for i in expr["items"]]
    if op == "len":
        value = evaluate(expr["items"][0], env)
        if not isinstance(value, (str, list)):
            raise EvalError("`len` of a value that is not a string or a list")
        return len(value)
    if op == "not":
        return not _bool(evaluate(expr["items"][0], env))
    if op == "and":
        return all(_bool(evaluate(i, env)) for i in expr["items"])
    if op == "or":
        return any(_bool(evaluate(i, env)) for i in expr["items"])
    if op == "in":
        left, right = (evaluate(i, env) for i in expr["items"])
        if not isinstance(right, list):
            raise EvalError("`in` needs a list on its right")
        return left in right
    if op == "compare":
        left, right = evaluate(expr["left"], env), evaluate(expr["right"], env)
        cmp = expr["cmp"]
        if cmp == "==":
            return left == right
        if cmp == "!=":
            return left != right
        if not (_number(left) and _number(right)):
            raise EvalError(f"`{cmp}` between values that are not both numbers")
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[cmp]
    raise EvalError(f"unknown operation `{op}`")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise EvalError("a condition that is not a bool")
    return value
