"""scope-violation, write-in-read-action and path-outside-mount: an action touches only what the
agent's scope declares, never with a wider mode, and a read action writes nothing."""

from __future__ import annotations

import re

from specc import ast, codes
from specc.context import Context, mount_key
from specc.diagnostics import did_you_mean

_ENDPOINT = re.compile(r"^(\*\.)?[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$")


def host_allowed(endpoint: str, allowed: set[str]) -> bool:
    """Whether `host:port` is admitted by the scope's endpoints; hosts match exactly, and a
    wildcard `*.example.com:443` admits the subdomains of example.com on that port only."""
    if endpoint in allowed:
        return True
    host, _, port = endpoint.rpartition(":")
    for pattern in allowed:
        if pattern.startswith("*."):
            suffix, _, wanted = pattern[1:].rpartition(":")
            if port == wanted and host.endswith(suffix) and len(host) > len(suffix):
                return True
    return False


def action_mode(ctx: Context, mount: ast.ActionMount) -> str:
    """The mode an action's mount gets: its own, else the scope's."""
    scope_mount = ctx.symbols.mounts.get(mount_key(mount.path.value))
    return mount.mode or (scope_mount.mode if scope_mount is not None else "read_only")


def check(ctx: Context) -> None:
    sym, rep = ctx.symbols, ctx.reporter
    for endpoint in sym.hosts.values():
        if not _ENDPOINT.match(endpoint.value):
            rep.report(codes.BAD_ENDPOINT, endpoint.span, text=endpoint.value)
    for action in ctx.agent.actions:
        name = action.name.value
        mounted: set[str] = set()
        for mount in action.mounts:
            key = mount_key(mount.path.value)
            scope_mount = sym.mounts.get(key)
            if scope_mount is None:
                rep.report(codes.MOUNT_NOT_IN_SCOPE, mount.path.span, action=name, path=mount.path.value,
                           help=did_you_mean(mount.path.value, {m.path.value for m in sym.mounts.values()}))
                continue
            mounted.add(key)
            if mount.mode == "read_write" and scope_mount.mode == "read_only":
                rep.report(codes.MOUNT_WIDENED, mount.span, action=name, path=mount.path.value)
            elif action.effect is not None and action.effect.value == "read" \
                    and action_mode(ctx, mount) == "read_write":
                rep.report(codes.READ_WITH_WRITE_MOUNT, mount.span, action=name, path=mount.path.value)
        for env in action.env:
            if env.value not in sym.envs:
                rep.report(codes.ENV_NOT_IN_SCOPE, env.span, action=name, name=env.value,
                           help=did_you_mean(env.value, set(sym.envs)))
        for host in action.network:
            if not _ENDPOINT.match(host.value):
                rep.report(codes.BAD_ENDPOINT, host.span, text=host.value)
            elif not host_allowed(host.value, set(sym.hosts)):
                rep.report(codes.HOST_NOT_IN_SCOPE, host.span, action=name, host=host.value)
        for param in action.params:
            for under in _unders(param.type):
                if mount_key(under.text) in sym.mounts and mount_key(under.text) not in mounted:
                    rep.report(codes.PATH_NOT_MOUNTED, under.span, param=param.name.value, mount=under.text,
                               action=name)


def _unders(written: ast.TypeExpr) -> list[ast.Constraint]:
    found = [c for c in written.constraints if c.kind == "under"]
    if written.item is not None:
        found.extend(_unders(written.item))
    return found
