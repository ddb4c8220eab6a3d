"""forbidden-mount: no scope mount may expose the host's system folders, a home folder or the
Docker socket, however it is written (relative paths that climb out, symlinked roots), and no two
mounts may land on the same place in the container."""

from __future__ import annotations

import os

from specc import ast, codes
from specc.context import Context, mount_key
from specc.diagnostics import Label
from specc.safety import covers_system, forbidden_host_path, home_folders


def container_target(mount: ast.ScopeMount) -> str:
    """Where a scope mount appears in the container: `at`, else /mnt/ plus its last component."""
    if mount.target is not None:
        return os.path.normpath(mount.target.value)
    last = os.path.basename(os.path.normpath(mount.path.value)) or "root"
    return f"/mnt/{last}"


def host_path(base_dir: str, written: str) -> str:
    """A mount's path on the host, made absolute against the spec's folder (not resolved)."""
    expanded = os.path.expanduser(written)
    return os.path.normpath(os.path.join(base_dir, expanded))


def check(ctx: Context) -> None:
    if ctx.agent.scope is None:
        return
    homes = home_folders()
    targets: dict[str, ast.ScopeMount] = {}
    for mount in ctx.agent.scope.mounts:
        if ctx.symbols.mounts.get(mount_key(mount.path.value)) is not mount:
            continue  # a duplicate, reported by `names`
        written = mount.path.value
        absolute = host_path(ctx.base_dir, written)
        real = os.path.realpath(absolute)
        problem = forbidden_host_path(absolute, homes) or forbidden_host_path(real, homes)
        if problem is not None:
            forbidden, why = problem
            ctx.reporter.report(codes.FORBIDDEN_PATH, mount.path.span, path=written, forbidden=forbidden, why=why)
        elif os.path.islink(absolute.rstrip("/")):
            ctx.reporter.report(codes.SYMLINK_MOUNT, mount.path.span, path=written, target=os.readlink(absolute))
        target = container_target(mount)
        if mount.target is not None and (not mount.target.value.startswith("/") or covers_system(target)):
            ctx.reporter.report(codes.BAD_TARGET, mount.target.span, target=mount.target.value)
            continue
        first = targets.get(target)
        if first is not None:
            ctx.reporter.report(codes.DUPLICATE_TARGET, mount.path.span, first=first.path.value, second=written,
                                target=target, labels=(Label(first.path.span, "first mount"),))
            continue
        targets[target] = mount

