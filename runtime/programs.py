"""Whether each action's program is there, found once per run before any attempt: a program given
by name is searched along its image's PATH, an absolute one in the image or in the mount it lies in.

`run "python"` on an image that only has `python3` is then a spec problem named as such, never a
`sandbox` failure retried with the container runtime's text. The image is looked into through a
container that is created and never started, so nothing of the image runs; what is learned is
cached per image id, so a later run of the same image creates no container at all.
"""

from __future__ import annotations

import json
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
        inspected = api.inspect_image(image)
    except engine_errors():
        return []
    config = inspected.get("Config") or {}
    path = next((e[5:] for e in config.get("Env") or [] if e.startswith("PATH=")), DEFAULT_PATH)
    folders = [f for f in path.split(":") if f.startswith("/")]
    with _Lookup(api, str(inspected.get("Id", "")), image, run_id) as lookup:
        missing: list[MissingProgram] = []
        for action in actions:
            program = action.argv[0]
            if program.startswith("/"):
                if lookup.exists(program) is False:
                    missing.append(MissingProgram(action.name, program, f"image `{image}`"))
                continue
            found = [lookup.exists(posixpath.join(f, program)) for f in folders]
            if True in found or None in found:  # None: the engine could not say; the attempt will
                continue
            near = f"{program}3" if any(lookup.exists(posixpath.join(f, f"{program}3")) for f in folders) else None
            missing.append(MissingProgram(action.name, program, f"image `{image}` (its PATH: {':'.join(folders)})",
                                          near))
    return missing


class _Lookup:
    """Whether paths exist in one image: from a cache kept per image id (an image's files never
    change under its id), else through one container created on first need, never started, and
    removed on exit."""

    def __init__(self, api: DockerClient, image_id: str, image: str, run_id: str) -> None:
        self.api, self.image, self.run_id = api, image, run_id
        self.container: str | None = None
        self.broken = False
        self.file = _cache_file(image_id)
        self.known: dict[str, bool] = {}
        self.learned = False
        if self.file is not None:
            try:
                with open(self.file, encoding="utf-8") as handle:
                    loaded = json.load(handle)
                self.known = {str(k): bool(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self.known = {}

    def exists(self, target: str) -> bool | None:
        if target in self.known:
            return self.known[target]
        if self.broken:
            return None
        api = self.api
        try:
            if self.container is None:
                self.container = api.create_container(
                    self.image, command=["true"], network_disabled=True,
                    labels=labels(self.run_id, **{"specc.purpose": "program-lookup"}),
                    name=resource_name("specc-lookup", self.run_id))["Id"]
            # the archive endpoint's HEAD gives the file's stat without copying the file out
            response = api.head(api._url("/containers/{0}/archive", self.container), params={"path": target})
            if response.status_code != 404:
                response.raise_for_status()
        except engine_errors():
            self.broken = True
            return None
        self.known[target] = response.status_code != 404
        self.learned = True
        return self.known[target]

    def __enter__(self) -> _Lookup:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            remove_container(self.api, self.container)
        if self.learned and self.file is not None:
            try:
                tmp = f"{self.file}.{os.getpid()}.tmp"
                with open(tmp, "w", encoding="utf-8") as handle:
                    json.dump(self.known, handle)
                os.replace(tmp, self.file)
            except OSError:
                pass  # a cache that cannot be written only costs time


def _cache_file(image_id: str) -> str | None:
    """Where what is known of an image's files is kept: the user's own cache folder, by image id."""
    from specc.parser import cache_dir

    digest = image_id.removeprefix("sha256:")
    folder = cache_dir()
    if folder is None or not digest.isalnum():
        return None
    return os.path.join(folder, f"programs-{digest[:64]}.json")


def _mount_of(action: ActionIR) -> tuple[str, str] | None:
    """The host folder and the path within it of an absolute program that lies in a mount."""
    program = action.argv[0]
    for mount in action.mounts:
        if program.startswith(mount.target.rstrip("/") + "/"):
            return mount.source, posixpath.relpath(program, mount.target)
    return None
