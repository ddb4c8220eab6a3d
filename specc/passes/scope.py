"""scope-violation, write-in-read-action and path-outside-mount: an action touches only what the
agent's scope declares, never with a wider mode, and a read action writes nothing."""

from __future__ import annotations

from specc import ast, codes
from specc.context import Context, mount_key
from specc.diagnostics import did_you_mean
from specc.endpoints import EndpointError, admits, parse_authority


def action_mode(ctx: Context, mount: ast.ActionMount) -> str:
    """The mode an action's mount gets: its own, else the scope's."""
    scope_mount = ctx.symbols.mounts.get(mount_key(mount.path.value))
    return mount.mode or (scope_mount.mode if scope_mount is not None else "read_only")


def check(ctx: Context) -> None:
    sym, rep = ctx.symbols, ctx.reporter
    declared = {text: _endpoint(ctx, endpoint) for text, endpoint in sym.hosts.items()}
    allowed = [endpoint for endpoint in declared.values() if endpoint is not None]
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
            if host.value in declared:
                continue  # the scope's own text: admitted, or reported where the scope declares it
            wanted = _endpoint(ctx, host)
            if wanted is not None and not any(admits(scope_endpoint, wanted) for scope_endpoint in allowed):
                rep.report(codes.HOST_NOT_IN_SCOPE, host.span, action=name, host=host.value)
        for param in action.params:
            for under in _unders(param.type):
                if mount_key(under.text) in sym.mounts and mount_key(under.text) not in mounted:
                    rep.report(codes.PATH_NOT_MOUNTED, under.span, param=param.name.value, mount=under.text,
                               action=name)


def _endpoint(ctx: Context, written: ast.Str) -> tuple[str, int] | None:
    """A declared `host:port` in its canonical form, or None after reporting why it is not one."""
    try:
        return parse_authority(written.value)
    except EndpointError as error:
        ctx.reporter.report(codes.BAD_ENDPOINT, written.span, text=written.value, why=error.reason)
        return None


def _unders(written: ast.TypeExpr) -> list[ast.Constraint]:
    found = [c for c in written.constraints if c.kind == "under"]
    if written.item is not None:
        found.extend(_unders(written.item))
    return found
