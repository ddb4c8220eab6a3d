"""Whether each action's program is there, found once per run before any attempt: a program given
by name is searched along its image's PATH, an absolute one in the image or in the mount it lies in.

`run "python"` on an image that only has `python3` is then a spec problem named as such, never a
`sandbox` failure retried with the container runtime's text. The image is looked into through a
container that is created and never started, so nothing of the image runs.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from specc.ir import ActionIR

from .dockerio import DockerClient, engine_errors, labels, remove_container, resource_name

#: Docker's PATH for an image whose configuration sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class MissingProgram:
    """An action's program that is not where its `run` says."""

    action: str
    program: str
    #: where it was looked for, in words: "image `X` (its PATH: /usr/bin:/bin)"
    where: str
    #: a program of a near name the image has (`python3` for `python`), if any
    instead: str | None = None

    def message(self) -> str:
        hint = f" (did you mean `{self.instead}`?)" if self.instead else ""
        return (f"action `{self.action}` runs `{self.program}`, which is not in {self.where}{hint}; change its "
                "`run`, or give it an `image` that has the program")


@runtime_checkable
class ProgramFinder(Protocol):
    """A backend that can tell, before any attempt, which actions' programs are missing."""

    def missing_programs(self, actions: Iterable[ActionIR]) -> list[MissingProgram]: ...


def missing_programs(client: DockerClient, actions: Iterable[ActionIR],
                     run_id: str = "preflight") -> list[MissingProgram]:
    """The programs of `actions` that are not there. Each image is looked into once; an engine that
    fails here is left for the attempt to report."""
    missing: list[MissingProgram] = []
    by_image: dict[str, list[ActionIR]] = {}
    for action in actions:
        if not action.argv:
            continue
        program = action.argv[0]
        mounted = _mount_of(action)
        if mounted is not None:
            source, relative = mounted
            host = os.path.join(source, *relative.split("/"))
            if not os.path.lexists(host):
                missing.append(MissingProgram(action.name, program, f"its mount: `{host}` does not exist"))
        elif program.startswith("/") or "/" not in program:  # one relative to the working folder: left to the attempt
            by_image.setdefault(action.image, []).append(action)
    for image, users in by_image.items():
        missing += _missing_in_image(client.api, image, users, run_id)
    return missing


def _missing_in_image(api: DockerClient, image: str, actions: list[ActionIR], run_id: str) -> list[MissingProgram]:
    try:
        config = api.inspect_image(image).get("Config") or {}
        path = next((e[5:] for e in config.get("Env") or [] if e.startswith("PATH=")), DEFAULT_PATH)
        container = api.create_container(image, command=["true"], network_disabled=True,
                                         labels=labels(run_id, **{"specc.purpose": "program-lookup"}),
                                         name=resource_name("specc-lookup", run_id))["Id"]
    except engine_errors():
        return []

    def exists(target: str) -> bool:
        # the archive endpoint's HEAD gives the file's stat without copying it out
        response = api.head(api._url("/containers/{0}/archive", container), params={"path": target})
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True

    missing: list[MissingProgram] = []
    folders = [f for f in path.split(":") if f.startswith("/")]
    try:
        for action in actions:
            program = action.argv[0]
            if program.startswith("/"):
                if not exists(program):
                    missing.append(MissingProgram(action.name, program, f"image `{image}`"))
                continue
            if any(exists(posixpath.join(f, program)) for f in folders):
                continue
            near = f"{program}3" if any(exists(posixpath.join(f, f"{program}3")) for f in folders) else None
            missing.append(MissingProgram(action.name, program, f"image `{image}` (its PATH: {':'.join(folders)})",
                                          near))
    except engine_errors():  # includes NotFound (the container went): the attempt reports the engine
        return missing
    finally:
        remove_container(api, container)
    return missing


def _mount_of(action: ActionIR) -> tuple[str, str] | None:
    """The host folder and the path within it of an absolute program that lies in a mount."""
    program = action.argv[0]
    for mount in action.mounts:
        if program.startswith(mount.target.rstrip("/") + "/"):
            return mount.source, posixpath.relpath(program, mount.target)
    return None
