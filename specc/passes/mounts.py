"""forbidden-mount: no scope mount may expose the host's system folders, a home folder or the
Docker socket, however it is written (relative paths that climb out, symlinked roots), and no two
mounts may land on the same place in the container."""

from __future__ import annotations

import os

from specc import ast, codes
from specc.context import Context, mount_key
from specc.diagnostics import Label

#: Host folders no agent may see, with why. A mount inside one of them, or above one, is refused.
FORBIDDEN: dict[str, str] = {
    "/": "the root holds the whole host",
    "/proc": "it exposes the host's processes and kernel",
    "/sys": "it exposes the host's kernel and devices",
    "/dev": "it exposes the host's devices",
    "/etc": "it holds the host's configuration and secrets",
    "/usr": "it holds the host's programs",
    "/boot": "it holds the host's kernel",
    "/var/run": "it holds the Docker socket, which is root on the host",
    "/run": "it holds the Docker socket, which is root on the host",
    "/var/lib/docker": "it holds every container's files",
}
#: Sockets that grant control of the Docker engine.
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
#: Folders of the container a mount must not cover.
CONTAINER_SYSTEM = ("/", "/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64",
                    "/boot", "/root", "/var", "/run")


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
    homes = _home_folders()
    targets: dict[str, ast.ScopeMount] = {}
    for mount in ctx.agent.scope.mounts:
        if ctx.symbols.mounts.get(mount_key(mount.path.value)) is not mount:
            continue  # a duplicate, reported by `names`
        written = mount.path.value
        absolute = host_path(ctx.base_dir, written)
        real = os.path.realpath(absolute)
        problem = _forbidden(absolute, homes) or _forbidden(real, homes)
        if problem is not None:
            forbidden, why = problem
            ctx.reporter.report(codes.FORBIDDEN_PATH, mount.path.span, path=written, forbidden=forbidden, why=why)
        elif os.path.islink(absolute.rstrip("/")):
            ctx.reporter.report(codes.SYMLINK_MOUNT, mount.path.span, path=written, target=os.readlink(absolute))
        target = container_target(mount)
        if mount.target is not None and (not mount.target.value.startswith("/") or _covers_system(target)):
            ctx.reporter.report(codes.BAD_TARGET, mount.target.span, target=mount.target.value)
            continue
        first = targets.get(target)
        if first is not None:
            ctx.reporter.report(codes.DUPLICATE_TARGET, mount.path.span, first=first.path.value, second=written,
                                target=target, labels=(Label(first.path.span, "first mount"),))
            continue
        targets[target] = mount


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _forbidden(path: str, homes: set[str]) -> tuple[str, str] | None:
    """The forbidden place a host path exposes, with why; None when it is fine. A system folder
    is forbidden with everything inside it; a home folder itself, its parents and its hidden
    folders (`~/.ssh`) are forbidden, while a project inside a home folder is fine."""
    if path == "/":
        return "/", FORBIDDEN["/"]
    for socket in SOCKETS:
        if _inside(socket, path):
            return socket, "it is the Docker socket, which is root on the host"
    for folder, why in FORBIDDEN.items():
        if folder in ("/", "/root", "/home"):
            continue
        if _inside(path, folder) or _inside(folder, path):
            return folder, why
    for home in homes:
        relative = path[len(home) + 1:] if path.startswith(home + "/") else None
        if _inside(home, path) or (relative is not None and relative.startswith(".")):
            return home, "it is a home folder, full of credentials"
    return None


def _covers_system(target: str) -> bool:
    return any(target == folder or (folder != "/" and target.startswith(folder + "/")) for folder in CONTAINER_SYSTEM)


def _home_folders() -> set[str]:
    homes = {os.path.realpath(os.path.expanduser("~")), "/root", "/home"}
    if os.path.isdir("/home"):
        try:
            homes.update(os.path.join("/home", entry) for entry in os.listdir("/home"))
        except OSError:
            pass
    homes.discard("/")
    return homes
