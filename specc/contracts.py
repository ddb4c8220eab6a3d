"""Contracts: semantic types compiled to JSON Schema 2020-12 documents.

Records are closed (`additionalProperties: false`), ranges become minimum/maximum or
minLength/maxLength or minItems/maxItems, regexes become `pattern`, literal unions `enum`, and an
optional field may be absent or null. Path and url constraints the schema cannot express travel as
annotations (`x-specc-under`, `x-specc-host`) for the runtime to enforce.
"""

from __future__ import annotations

from typing import Any

from specc import types as t

DIALECT = "https://json-schema.org/draft/2020-12/schema"

JSON = dict[str, Any]


def schema_of(ty: t.Type, records: dict[str, dict[str, t.Type]]) -> JSON:
    """A standalone schema document for `ty`, with the records it reaches under `$defs`."""
    body = _schema(ty, records)
    defs = {name: _record(name, records) for name in sorted(_reachable(ty, records))}
    document: JSON = {"$schema": DIALECT}
    if defs:
        document["$defs"] = defs
    document.update(body)
    return document


def object_schema(fields: dict[str, t.Type], records: dict[str, dict[str, t.Type]]) -> JSON:
    """A closed object of named fields (an action's parameters, the agent's input)."""
    return schema_of(t.RecordShape(tuple(fields.items())), records)


def _schema(ty: t.Type, records: dict[str, dict[str, t.Type]]) -> JSON:
    if isinstance(ty, t.Optional):
        return {"anyOf": [_schema(ty.inner, records), {"type": "null"}]}
    if isinstance(ty, t.Ref):
        return {"$ref": f"#/$defs/{ty.name}"}
    if isinstance(ty, t.RecordShape):
        return _object(dict(ty.fields), records)
    if isinstance(ty, t.Union):
        return {"type": "string", "enum": list(ty.literals)}
    if isinstance(ty, t.ListOf):
        out: JSON = {"type": "array", "items": _schema(ty.item, records)}
        if ty.low is not None:
            out["minItems"] = int(ty.low)
        if ty.high is not None:
            out["maxItems"] = int(ty.high)
        return out
    if isinstance(ty, t.Prim):
        return _prim(ty)
    return {}


def _prim(ty: t.Prim) -> JSON:
    if ty.name in ("string", "path", "url"):
        out: JSON = {"type": "string"}
        if ty.name == "string":
            if ty.low is not None:
                out["minLength"] = int(ty.low)
            if ty.high is not None:
                out["maxLength"] = int(ty.high)
            if ty.pattern is not None:
                out["pattern"] = ty.pattern.replace("\\/", "/")
        elif ty.name == "path":
            out["minLength"] = 1
            out["x-specc-path"] = True
            if ty.under is not None:
                out["x-specc-under"] = ty.under
        else:
            out["pattern"] = "^https?://[^\\s/?#]+([/?#][^\\s]*)?$"
            out["x-specc-url"] = True
            if ty.host is not None:
                out["x-specc-host"] = ty.host
        return out
    if ty.name == "bool":
        return {"type": "boolean"}
    out = {"type": "integer" if ty.name == "int" else "number"}
    if ty.low is not None:
        out["minimum"] = int(ty.low) if ty.name == "int" else ty.low
    if ty.high is not None:
        out["maximum"] = int(ty.high) if ty.name == "int" else ty.high
    return out


def _object(fields: dict[str, t.Type], records: dict[str, dict[str, t.Type]]) -> JSON:
    return {
        "type": "object",
        "properties": {name: _schema(ty, records) for name, ty in fields.items()},
        "required": [name for name, ty in fields.items() if not isinstance(ty, t.Optional)],
        "additionalProperties": False,
    }


def _record(name: str, records: dict[str, dict[str, t.Type]]) -> JSON:
    return {"title": name, **_object(records.get(name, {}), records)}


def _reachable(ty: t.Type, records: dict[str, dict[str, t.Type]]) -> set[str]:
    found: set[str] = set()
    stack = [ty]
    while stack:
        current = stack.pop()
        if isinstance(current, t.Optional):
            stack.append(current.inner)
        elif isinstance(current, t.ListOf):
            stack.append(current.item)
        elif isinstance(current, t.RecordShape):
            stack.extend(v for _, v in current.fields)
        elif isinstance(current, t.Ref) and current.name not in found:
            found.add(current.name)
            stack.extend(records.get(current.name, {}).values())
    return found
