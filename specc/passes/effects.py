"""effect-mismatch: an action declared `effect read` is retried and resumed freely and never needs
an approval, so one that can send data out (a network host) or act on an account (a secret) is
probably not a read; a warning, since reading through an API is legitimate."""

from __future__ import annotations

from specc import codes
from specc.context import Context


def check(ctx: Context) -> None:
    envs = ctx.symbols.envs
    for action in ctx.agent.actions:
        if action.effect is None or action.effect.value != "read":
            continue
        for host in action.network:
            ctx.reporter.report(codes.READ_WITH_NETWORK, host.span, action=action.name.value, host=host.value)
        for env in action.env:
            declared = envs.get(env.value)
            if declared is not None and declared.secret:
                ctx.reporter.report(codes.READ_WITH_SECRET, env.span, action=action.name.value, env=env.value)
