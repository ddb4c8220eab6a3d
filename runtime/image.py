"""The base image `specc/base:bookworm`, built without any container registry.

The root filesystem comes from Debian's own packages (debootstrap) and is handed to the engine as a
tarball (`docker import`), so machines that cannot pull images can still run the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from .sandbox import BASE_IMAGE

#: The Debian release and mirror the root filesystem is built from.
SUITE: Final = "bookworm"
MIRROR: Final = "http://deb.debian.org/debian"

#: Packages on top of `minbase`; python3 is the full interpreter the example tools need.
INCLUDE: Final = ("python3",)

#: Paths inside the root filesystem that tools never need; removing them keeps the image small.
PRUNED: Final = (
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf",
    "var/log",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/common-licenses",
)

#: Image configuration set at import time. The sandbox passes its own user on every container; the
#: image default is the unprivileged `nobody` anyway, so a container started by hand is not root.
IMAGE_CHANGES: Final = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "USER 65534:65534",
    "WORKDIR /",
    'CMD ["python3"]',
)


class ImageBuildError(Exception):
    """The base image could not be built; the message says why and what to do."""


def image_exists(tag: str = BASE_IMAGE) -> bool:
    """Return whether the local engine has an image called `tag` (False if no engine answers)."""
    from docker.errors import DockerException, ImageNotFound

    from .backend import BackendUnavailable
    from .dockerio import connect_engine

    try:
        client = connect_engine()
    except BackendUnavailable:
        return False
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    except DockerException:
        return False
    finally:
        client.close()
    return True


def build_base_image(tag: str = BASE_IMAGE, *, echo: Callable[[str], None] = print) -> None:
    """Build `tag` from Debian packages with debootstrap and import it into the local engine.

    Needs root (debootstrap creates device nodes and chroots) and HTTP access to the Debian mirror.
    The working directory is removed in every case. Raises `ImageBuildError` on failure.
    """
    if os.geteuid() != 0:
        raise ImageBuildError("building the base image needs root (debootstrap chroots)")
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed; install it with `apt-get install debootstrap`")
    client = _engine_client()
    work = Path(tempfile.mkdtemp(prefix="specc-image-"))
    try:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        _debootstrap(rootfs, echo)
        _prune(rootfs)
        tarball = work / "rootfs.tar"
        echo(f"packing the root filesystem into {tarball}")
        _pack(rootfs, tarball)
        echo(f"importing {tarball.stat().st_size // (1024 * 1024)} MiB as {tag}")
        _import(client, tarball, tag)
        echo(f"built {tag}")
    finally:
        client.close()
        _remove_workdir(work, echo)


def _engine_client() -> Any:  # docker.DockerClient; the SDK ships no type hints
    from docker.errors import DockerException

    from .backend import BackendUnavailable
    from .dockerio import connect_engine, no_engine_message

    try:
        client = connect_engine()
        client.ping()
    except BackendUnavailable as err:
        raise ImageBuildError(str(err)) from err
    except DockerException as err:
        raise ImageBuildError(no_engine_message(err)) from err
    return client


def _debootstrap(rootfs: Path, echo: Callable[[str], None]) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(INCLUDE)}",
        SUITE,
        str(rootfs),
        MIRROR,
    ]
    echo("running " + " ".join(argv) + " (this takes a few minutes)")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail = (tail + [line])[-20:]
        if line.startswith(("I: Retrieving", "I: Validating", "I: Extracting", "I: Unpacking")):
            continue  # one line per package drowns the useful ones
        echo(line)
    if proc.wait() != 0:
        raise ImageBuildError(f"debootstrap failed with exit status {proc.returncode}: " + " | ".join(tail[-5:]))


def _prune(rootfs: Path) -> None:
    for relative in PRUNED:
        target = rootfs / relative
        if target.is_dir() and not target.is_symlink():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()


def _pack(rootfs: Path, tarball: Path) -> None:
    # Numeric owners: the names in the build host's /etc/passwd mean nothing inside the image.
    result = subprocess.run(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
        capture_output=True,
        text=True,
        errors="replace",
    )
    if result.returncode != 0:
        raise ImageBuildError(f"tar failed: {result.stderr.strip()}")


def _import(client: Any, tarball: Path, tag: str) -> None:
    from docker.errors import DockerException

    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:
        repository, version = tag, "latest"
    try:
        # A path makes the SDK stream the file with no read timeout; the import outlasts 60 s.
        answer = client.api.import_image(
            src=str(tarball), repository=repository, tag=version, changes=list(IMAGE_CHANGES)
        )
    except DockerException as err:
        raise ImageBuildError(f"the engine refused the import: {err}") from err
    for line in str(answer).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and "error" in message:
            raise ImageBuildError(f"the engine refused the import: {message['error']}")


def _mounts_under(directory: Path) -> list[str]:
    prefix = str(directory.resolve())
    mounts: list[str] = []
    with open("/proc/self/mounts", encoding="utf-8") as table:
        for entry in table:
            # The mount table escapes spaces and the like as octal.
            point = entry.split()[1].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
    return mounts


def _remove_workdir(work: Path, echo: Callable[[str], None]) -> None:
    # Inside a container debootstrap bind-mounts the host's /dev nodes into the target; an
    # interrupted build leaves them mounted, and deleting through them would delete host devices.
    for point in sorted(_mounts_under(work), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    leftover = _mounts_under(work)
    if leftover:
        echo(f"not removing {work}: still mounted there: {', '.join(leftover)}")
        return
    shutil.rmtree(work, ignore_errors=True)
