"""Who owns a container, a network or a run: `<hostname>:<pid>` of the specc process that made it,
so that a later process can tell leftovers of a dead one from the work of a live one."""

from __future__ import annotations

import os
import socket


def current_owner() -> str:
    """This process, as an owner label."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(owner: str) -> bool:
    """True only when the owner is a process of this host that no longer exists; another host's,
    a live or an unreadable owner is left alone."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) <= 0:
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
