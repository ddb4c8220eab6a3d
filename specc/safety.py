"""The rules that keep the host safe, in one place: the host folders no mount may expose, the
container folders no mount may cover, the users that are root, and mounts that nest. `specc check`
reports them as diagnostics; the runtime's IR loader refuses an IR that breaks them, whatever its
hash says. Standard library only, so both sides may import it."""

from __future__ import annotations

import os

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
#: Why a user is privileged, by what makes it so; without user namespaces root in the container
#: is root on the host's files, and group 0 owns much of them.
ROOT_USER = "uid 0 is root, and without user namespaces root in the container is root on the host's files"
ROOT_GROUP = "gid 0 is root's group, which owns many of the host's files"
NO_USER = "an empty user runs the image's default user, root in most images"
NO_GROUP = "without a group Docker gives a uid the image does not know gid 0, root's group"


def inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies inside it, by whole path components."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def nested(first: str, second: str) -> bool:
    """Whether one of two normalised absolute paths lies inside the other (or they are one)."""
    return inside(first, second) or inside(second, first)


def forbidden_host_path(path: str, homes: set[str] | None = None) -> tuple[str, str] | None:
    """The forbidden place a normalised absolute host path exposes, with why; None when it is fine.
    A system folder is forbidden with everything inside it and above it; a home folder itself, its
    parents and its hidden folders (`~/.ssh`) are forbidden, while a project inside one is fine."""
    if homes is None:
        homes = home_folders()
    if path == "/":
        return "/", FORBIDDEN["/"]
    for socket in SOCKETS:
        if inside(socket, path):
            return socket, "it is the Docker socket, which is root on the host"
    for folder, why in FORBIDDEN.items():
        if folder in ("/", "/root", "/home"):
            continue
        if nested(path, folder):
            return folder, why
    for home in homes:
        relative = path[len(home) + 1:] if path.startswith(home + "/") else None
        if inside(home, path) or (relative is not None and relative.startswith(".")):
            return home, "it is a home folder, full of credentials"
    return None


def covers_system(target: str) -> bool:
    """Whether a normalised container path is, or lies inside, one of the container's system folders."""
    return any(target == folder or (folder != "/" and target.startswith(folder + "/")) for folder in CONTAINER_SYSTEM)


def home_folders() -> set[str]:
    """The home folders of this machine: the current user's, /root, /home and every folder in it."""
    homes = {os.path.realpath(os.path.expanduser("~")), "/root", "/home"}
    if os.path.isdir("/home"):
        try:
            homes.update(os.path.join("/home", entry) for entry in os.listdir("/home"))
        except OSError:
            pass
    homes.discard("/")
    return homes


def privileged_user(user: str) -> str | None:
    """Why a Docker `user` value (`UID[:GID]`, names allowed) runs as root or in root's group;
    None when it does not."""
    name, colon, group = (part.strip() for part in user.partition(":"))
    if _is_root(name):
        return ROOT_USER
    if colon and _is_root(group):
        return ROOT_GROUP
    if not name:
        return NO_USER
    if not colon and name.isascii() and name.isdigit():
        return NO_GROUP
    return None


def _is_root(part: str) -> bool:
    return part == "root" or (part.isascii() and part.isdigit() and int(part) == 0)
