"""privileged-user: no tool runs as root or in root's group, whether the agent's `sandbox` or an
action sets the `user`."""

from __future__ import annotations

from specc import codes
from specc.context import Context
from specc.safety import privileged_user


def check(ctx: Context) -> None:
    settings = list(ctx.agent.sandbox)
    for action in ctx.agent.actions:
        settings.extend(action.settings)
    for setting in settings:
        if setting.key != "user":
            continue
        why = privileged_user(str(setting.value))
        if why is not None:
            ctx.reporter.report(codes.ROOT_USER, setting.value_span or setting.span, user=setting.value, why=why)
