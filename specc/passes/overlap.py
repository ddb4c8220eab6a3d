"""overlapping-mount: no two mounts of one action nest, on the host (after resolving them against
the spec's folder) or in the container, since an inner read_only mount is writable through a
read_write parent."""

from __future__ import annotations

import os

from specc import ast, codes
from specc.context import Context, mount_key
from specc.diagnostics import Label
from specc.passes.mounts import container_target, host_path
from specc.safety import nested


def check(ctx: Context) -> None:
    for action in ctx.agent.actions:
        seen: list[tuple[ast.ActionMount, str, str]] = []
        for mount in action.mounts:
            scope_mount = ctx.symbols.mounts.get(mount_key(mount.path.value))
            if scope_mount is None or any(mount_key(m.path.value) == mount_key(mount.path.value) for m, _, _ in seen):
                continue  # undeclared or repeated, reported by `scope` and `names`
            source = os.path.realpath(host_path(ctx.base_dir, scope_mount.path.value))
            target = container_target(scope_mount)
            for earlier, earlier_source, earlier_target in seen:
                if nested(source, earlier_source):
                    inner_first = len(earlier_source) > len(source)
                    where = "on the host"
                elif nested(target, earlier_target):
                    inner_first = len(earlier_target) > len(target)
                    outer_at, inner_at = (target, earlier_target) if inner_first else (earlier_target, target)
                    where = f"in the container (`{inner_at}` inside `{outer_at}`)"
                else:
                    continue
                outer, inner = (mount, earlier) if inner_first else (earlier, mount)
                ctx.reporter.report(codes.NESTED_MOUNTS, mount.path.span, action=action.name.value,
                                    inner=inner.path.value, outer=outer.path.value, where=where,
                                    labels=(Label(earlier.path.span, "the other mount"),))
                break
            seen.append((mount, source, target))
