"""Loads a compiled IR for the runtime, refusing anything it cannot trust: bytes that are not the
canonical form, a document that breaks the IR's JSON Schema, another `ir_version`, or a hash that
does not match the content."""

from __future__ import annotations

import json
from typing import Any

from specc.ir import IR, IR_VERSION, canonical, content_hash, ir_json_schema


class IRRejected(Exception):
    """The IR cannot be run; the message says why and what to do."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise IRRejected("the IR has a duplicated key; rebuild it with `specc build`")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise IRRejected(f"the IR contains `{name}`, which is not JSON; rebuild it with `specc build`")


def load_ir(data: bytes, origin: str = "<ir>") -> IR:
    """Parse and verify an IR document; raise `IRRejected` with a clear reason."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                              parse_constant=_no_constant)
    except IRRejected:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise IRRejected(f"`{origin}` is not an IR: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise IRRejected(f"`{origin}` is not an IR: expected a JSON object")
    version = document.get("ir_version")
    if version != IR_VERSION:
        raise IRRejected(
            f"`{origin}` was written for ir_version {version!r}, but this specc runs ir_version {IR_VERSION}; "
            "rebuild it from its spec with `specc build`"
        )
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(ir_json_schema())
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise IRRejected(f"`{origin}` does not match the IR schema at `{where}`: {error.message}")
    if document.get("hash") != content_hash(document):
        raise IRRejected(f"`{origin}` was modified after it was built: its hash does not match its content; "
                         "rebuild it with `specc build`")
    if canonical(document) != data:
        raise IRRejected(f"`{origin}` was modified after it was built: its bytes are not the canonical form "
                         "`specc build` writes; rebuild it")
    return IR.model_validate(document)
