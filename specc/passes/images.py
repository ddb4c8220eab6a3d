"""unpinned-image: an image without a tag, or `latest`, changes under the agent without notice."""

from __future__ import annotations

from specc import ast, codes
from specc.context import Context


def is_pinned(image: str) -> bool:
    """A tag other than `latest`, or a digest."""
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return False
    return name.rsplit(":", 1)[1] not in ("", "latest")


def check(ctx: Context) -> None:
    settings: list[ast.Setting] = list(ctx.agent.sandbox)
    for action in ctx.agent.actions:
        settings.extend(action.settings)
    for setting in settings:
        if setting.key == "image" and isinstance(setting.value, str) and not is_pinned(setting.value):
            ctx.reporter.report(codes.IMAGE_UNPINNED, setting.span, image=setting.value)
