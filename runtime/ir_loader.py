"""Loads a compiled IR for the runtime, refusing anything it cannot trust: bytes that are not the
canonical form, a document that breaks the IR's JSON Schema, another `ir_version`, or a hash that
does not match the content. Then, since a hash can be recomputed by anyone who edits the file, it
re-applies the rules that keep the host safe (`specc.safety`) and holds every action to the agent's
scope as the checker did, whatever the hash says."""

from __future__ import annotations

import json
import os
from typing import Any

from specc.endpoints import EndpointError, admits, parse_authority
from specc.ir import IR, IR_VERSION, ActionIR, MountIR, ScopeIR, canonical, content_hash, ir_json_schema
from specc.passes.limits import BOUNDS
from specc.safety import covers_system, forbidden_host_path, home_folders, nested, privileged_user


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
    if "scope" not in document:
        raise IRRejected(f"`{origin}` has no `scope` section, which the runtime checks every action against: it was "
                         "built by an older specc; rebuild it with `specc build`")
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
    ir = IR.model_validate(document)
    _refuse_unsafe(ir, origin)
    return ir


def _refuse_unsafe(ir: IR, origin: str) -> None:
    """Raise `IRRejected` naming the first scope mount or action that breaks a rule of
    `specc.safety`, or the first action that goes beyond the agent's scope."""
    homes = home_folders()
    for name, value in (("steps", ir.limits.get("steps")), ("wall", ir.limits.get("wall_ms"))):
        why = _out_of_bounds(name, value)
        if why is not None:
            raise IRRejected(f"`{origin}` is unsafe to run: its run {why} (rule `invalid-limit`); "
                             "fix the spec and rebuild it with `specc build`")
    for mount in ir.scope.mounts:
        why = _unsafe_mount(mount, homes)
        if why is not None:
            raise IRRejected(f"`{origin}` is unsafe to run: its scope {why} (rule `forbidden-mount`); "
                             "fix the spec and rebuild it with `specc build`")
    for action in ir.actions.values():
        problem = _unsafe(action, homes) or _outside(action, ir.scope)
        if problem is not None:
            rule, reason = problem
            raise IRRejected(f"`{origin}` is unsafe to run: action `{action.name}` {reason} (rule `{rule}`); "
                             "fix the spec and rebuild it with `specc build`")


def _unsafe(action: ActionIR, homes: set[str]) -> tuple[str, str] | None:
    """The rule an action breaks and how, or None."""
    why = privileged_user(action.user)
    if why is not None:
        return "privileged-user", f"runs as user `{action.user}`: {why}"
    limits = action.limits
    for name, value in (("memory", limits.memory_bytes), ("cpus", limits.cpus), ("pids", limits.pids),
                        ("timeout", limits.timeout_ms), ("output", limits.output_bytes), ("disk", limits.disk_bytes)):
        why = _out_of_bounds(name, value)
        if why is not None:
            return "invalid-limit", why
    for mount in action.mounts:
        why = _unsafe_mount(mount, homes)
        if why is not None:
            return "forbidden-mount", why
    for index, first in enumerate(action.mounts):
        for second in action.mounts[index + 1:]:
            if nested(first.source, second.source) or nested(first.target, second.target):
                return "overlapping-mount", f"mounts `{first.source}` at `{first.target}` and `{second.source}` " \
                                            f"at `{second.target}`, and one lies inside the other"
    return None


def _unsafe_mount(mount: MountIR, homes: set[str]) -> str | None:
    """How a mount breaks the forbidden-mount rule, or None."""
    source, target = mount.source, mount.target
    if not os.path.isabs(source) or os.path.normpath(source) != source:
        return f"mounts `{source}`, which is not an absolute normalised path"
    problem = forbidden_host_path(source, homes) or forbidden_host_path(os.path.realpath(source), homes)
    if problem is not None:
        return f"mounts `{source}`, which exposes `{problem[0]}`: {problem[1]}"
    if not os.path.isabs(target) or os.path.normpath(target) != target or covers_system(target):
        return f"mounts `{source}` at `{target}`, which is not an absolute path outside the container's system folders"
    return None


def _outside(action: ActionIR, scope: ScopeIR) -> tuple[str, str] | None:
    """How an action goes beyond the agent's scope (the checker's scope-violation and
    write-in-read-action), or None: a mount, host or env var the scope does not declare, a mount
    in another place or with a wider mode, a secret that lost its flag, a read action that writes."""
    mounts = {m.name: m for m in scope.mounts}
    for mount in action.mounts:
        declared = mounts.get(mount.name)
        if declared is None:
            return "scope-violation", f"mounts `{mount.name}` (`{mount.source}`), which the scope does not declare"
        if (mount.source, mount.target) != (declared.source, declared.target):
            return "scope-violation", (f"mounts `{mount.name}` as `{mount.source}` at `{mount.target}`, but the "
                                       f"scope declares it as `{declared.source}` at `{declared.target}`")
        if mount.mode == "read_write" and declared.mode == "read_only":
            return "scope-violation", f"mounts `{mount.name}` read_write, which the scope declares read_only"
        if mount.mode == "read_write" and action.effect == "read":
            return "write-in-read-action", f"has effect `read` but mounts `{mount.name}` read_write"
    allowed = [endpoint for endpoint in map(_endpoint, scope.hosts) if endpoint is not None]
    for host in action.hosts:
        wanted = _endpoint(host)
        if wanted is None or not any(admits(endpoint, wanted) for endpoint in allowed):
            return "scope-violation", f"reaches `{host}`, which the agent's scope does not admit"
    envs = {e.name: e for e in scope.env}
    for env in action.env:
        scoped = envs.get(env.name)
        if scoped is None:
            return "scope-violation", f"is given env var `{env.name}`, which the agent's scope does not declare"
        if scoped.secret and not env.secret:
            return "scope-violation", f"is given env var `{env.name}` as not secret, which the scope declares secret"
    return None


def _endpoint(text: str) -> tuple[str, int] | None:
    try:
        return parse_authority(text)
    except EndpointError:
        return None


def _out_of_bounds(name: str, value: float | None) -> str | None:
    """How a limit breaks the checker's bounds (a pids or memory limit of 0 is no limit to Docker),
    or None."""
    low, high, unit = BOUNDS[name]
    if value is None or not low <= value <= high:
        return f"has a `{name}` limit of {value}{' ' + unit if unit else ''}, outside the {low:g}..{high:g} the " \
               "checker allows (0 means no limit at all to Docker)"
    return None
