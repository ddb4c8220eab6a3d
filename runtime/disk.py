"""The disk bound of one attempt: what a tool writes into its read_write mounts lands on a
filesystem of its own, and reaches the host's folders when the attempt ends, only if it stayed
within the bound.

Each read_write mount becomes an overlay: the host folder is its read-only lower layer, and every
write goes to an upper layer on an ext4 filesystem in a sparse file, loop-mounted for this attempt
alone. The kernel stops a tool that fills it (ENOSPC), so no write races past a count kept in user
space. An attempt that wrote more than the bound is a crash and its layer is thrown away whole;
otherwise, whatever its outcome, the layer is applied to the host's folders (new and changed
files, deletions), without setuid and setgid bits, and without FIFOs, sockets or device nodes,
which no tool result needs and which are traps for host programs. The layer of an attempt whose
specc process died is applied (or thrown away) the same way by the next reap.
The mounts need root on the engine's host; see docs/security.md.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from .backend import Mount
from .owner import current_owner, owner_gone

#: Where the attempts' filesystems live: disk-backed by convention (unlike /tmp on many hosts),
#: and only root may enter it.
STAGING_ROOT: Final = "/var/tmp/specc-disk"

def headroom(bound: int) -> int:
    """Room the filesystem has over the bound. ext4 refuses a write a little before it is full (by
    up to the size of that write), so a filesystem of exactly the bound could not tell a tool that
    wrote past the bound from one that wrote just under it. With this headroom, one that wrote
    more than the bound is seen to have (a crash) and is stopped by the kernel soon after."""
    return bound // 16 + 1024 * 1024


#: ext4 of 4 KiB blocks (mkfs would pick 1 KiB ones for a small filesystem), without a journal or
#: reserved blocks, with few inodes: little of the file is bookkeeping, and a reserve file takes
#: whatever room is left over the bound and its headroom, so every attempt gets exactly that.
_MKFS: Final = ("mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "^has_journal,^resize_inode", "-m", "0",
                "-E", "lazy_itable_init=1,nodiscard")

_OPAQUE: Final = "trusted.overlay.opaque"
_MANIFEST: Final = "attempt.json"
_RESERVE: Final = "reserve"


class DiskUnavailable(Exception):
    """The attempt's filesystem could not be set up; the message says why and what to do."""


@dataclass
class _Layer:
    mount: Mount  # the host folder, as the request gave it
    lower: str  # a bind of the host folder: overlay options never see the user's path
    upper: str
    work: str
    merged: str  # what the container mounts


@dataclass
class Staging:
    """One attempt's disk: its filesystem, and one overlay for each read_write mount."""

    root: str
    bound: int
    layers: list[_Layer] = field(default_factory=list)
    _mounted: list[str] = field(default_factory=list)

    @property
    def fs(self) -> str:
        return os.path.join(self.root, "fs")

    def mounts(self, mounts: Sequence[Mount]) -> tuple[Mount, ...]:
        """`mounts` with each read_write one replaced by its overlay."""
        merged = {layer.mount: layer.merged for layer in self.layers}
        return tuple(Mount(merged[m], m.target, False) if m in merged else m for m in mounts)

    def available(self) -> int:
        usage = os.statvfs(self.fs)
        return usage.f_bavail * usage.f_frsize

    def over(self) -> bool:
        """Whether the tool wrote more than the bound (checked after the container is gone; ext4
        counts data still in the page cache as used)."""
        return self.written() > self.bound

    def written(self) -> int:
        """Bytes the tool's writes took on the filesystem, in whole blocks (data, and the folders
        and copied-up files holding it)."""
        return max(self.bound + headroom(self.bound) - self.available(), 0)

    def settle(self) -> tuple[bool, int]:
        """After the attempt's container is gone: whether it wrote more than the bound (then
        nothing is applied), and how many special files applying its layers left out."""
        if self.over():
            return True, 0
        return False, self.commit()

    def commit(self) -> int:
        """Apply every layer to its host folder; return how many special files were left out."""
        skipped = 0
        for layer in self.layers:
            _unmount(layer.merged)  # nothing writes to the upper layer any more
            skipped += _apply(layer.upper, layer.mount.source)
        return skipped

    def close(self) -> None:
        """Unmount everything and remove the filesystem; what was not committed is gone."""
        _teardown(self.root)


def stage(mounts: Sequence[Mount], bound: int, run_id: str) -> Staging | None:
    """A filesystem of `bound` bytes with an overlay for each read_write mount of `mounts`, or None
    when there is none. Raises `DiskUnavailable`; nothing is left mounted then."""
    writable = [m for m in mounts if not m.read_only]
    if not writable:
        return None
    if os.geteuid() != 0:
        raise DiskUnavailable(
            "the disk bound of read_write mounts needs root: specc mounts a filesystem of the bound's size "
            "for each attempt (run specc as root, or give the action read_only mounts only)")
    os.makedirs(STAGING_ROOT, mode=0o700, exist_ok=True)
    os.chmod(STAGING_ROOT, 0o700)
    # overlay options split on `,` and `:`: the folder's name holds neither
    owner = current_owner().replace(":", "+")
    safe_run = "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id[:40])
    root = tempfile.mkdtemp(prefix=f"{owner}.{safe_run}.", dir=STAGING_ROOT)
    staging = Staging(root, bound)
    try:
        _make_fs(staging)
        for index, mount in enumerate(writable):
            staging.layers.append(_overlay(staging, index, mount))
        # what a reap needs to settle the attempt if this process dies before it does
        with open(os.path.join(root, _MANIFEST), "w", encoding="utf-8") as manifest:
            json.dump({"bound": bound, "layers": [[m.source, m.target] for m in writable]}, manifest)
    except BaseException:
        staging.close()
        raise
    return staging


def _make_fs(staging: Staging) -> None:
    image = os.path.join(staging.root, "disk.img")
    room = staging.bound + headroom(staging.bound)
    # space for ext4's own tables; the reserve file takes back whatever is over `room`
    with open(image, "wb") as sparse:
        sparse.truncate(room + room // 32 + 8 * 1024 * 1024)
    _run([*_MKFS, "-N", str(_inodes(staging.bound)), image])
    os.mkdir(staging.fs, 0o700)
    _run(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noexec", image, staging.fs])
    os.chmod(staging.fs, 0o700)
    over = staging.available() - room
    if over > 0:
        reserve = os.open(os.path.join(staging.fs, _RESERVE), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fallocate(reserve, 0, over)
        finally:
            os.close(reserve)
    for name in ("upper", "work"):
        os.mkdir(os.path.join(staging.fs, name), 0o700)


def _inodes(bound: int) -> int:
    """One inode per 16 KiB, at least 1024: enough files for any tool, little space on tables."""
    return max(bound // (16 * 1024), 1024)


def _overlay(staging: Staging, index: int, mount: Mount) -> _Layer:
    layer = _Layer(
        mount,
        lower=os.path.join(staging.root, "lower", str(index)),
        upper=os.path.join(staging.fs, "upper", str(index)),
        work=os.path.join(staging.fs, "work", str(index)),
        merged=os.path.join(staging.root, "merged", str(index)),
    )
    for path in (layer.lower, layer.merged):
        os.makedirs(path, mode=0o700)
    _run(["mount", "--bind", mount.source, layer.lower])
    staging._mounted.append(layer.lower)
    # The merged root takes the upper root's owner and mode: make them the host folder's.
    info = os.stat(mount.source)
    os.mkdir(layer.upper)
    os.chown(layer.upper, info.st_uid, info.st_gid)
    os.chmod(layer.upper, stat.S_IMODE(info.st_mode))
    os.mkdir(layer.work, 0o700)
    options = f"lowerdir={layer.lower},upperdir={layer.upper},workdir={layer.work}"
    # Every upper file and folder must hold all of itself: a metadata-only copy (metacopy) or a
    # folder renamed by reference (redirect_dir) would point back into the host's folder, and
    # applying the layer would lose what it points to. Without them, renaming a folder from the
    # host's side fails with EXDEV and programs fall back to copying (as `mv` does).
    _run(["mount", "-t", "overlay", "overlay", "-o", f"{options},redirect_dir=off,metacopy=off,nosuid,nodev",
          layer.merged])
    staging._mounted.append(layer.merged)
    return layer


def _run(argv: Sequence[str]) -> None:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DiskUnavailable(f"could not set up the attempt's disk: `{argv[0]}` failed: {err}") from err
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise DiskUnavailable(f"could not set up the attempt's disk: `{' '.join(argv[:3])}` failed: "
                              f"{message[-1] if message else f'exit status {done.returncode}'}")


def _unmount(path: str) -> None:
    if path in set(_mount_points_under(path)):  # os.path.ismount misses a bind of the same filesystem
        # lazy as a last resort: a mount still busy goes as soon as nothing holds it
        if subprocess.run(["umount", path], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)


def _teardown(root: str) -> None:
    for sub in ("merged", "lower"):
        folder = os.path.join(root, sub)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            _unmount(os.path.join(folder, name))
    fs = os.path.join(root, "fs")
    _unmount(fs)  # the loop device goes with it (mount's loop option sets autoclear)
    if not any(_mount_points_under(root)):
        shutil.rmtree(root, ignore_errors=True)


def _mount_points_under(root: str) -> Iterator[str]:
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8") as table:
        for entry in table:
            point = entry.split()[1].encode().decode("unicode_escape")
            if point == root or point.startswith(root + "/"):
                yield point


def reap_staging() -> int:
    """Settle and remove the disks of attempts whose specc process is gone (call it once their
    containers are removed); return how many."""
    try:
        names = os.listdir(STAGING_ROOT)
    except OSError:
        return 0
    removed = 0
    for name in names:
        host, _, pid = name.split(".", 1)[0].rpartition("+")
        if owner_gone(f"{host}:{pid}"):
            root = os.path.join(STAGING_ROOT, name)
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                _orphan(root).settle()  # a layer that cannot be applied is thrown away
            _teardown(root)
            removed += 1
    return removed


def _orphan(root: str) -> Staging:
    """A dead process's staging, as its manifest describes it."""
    with open(os.path.join(root, _MANIFEST), encoding="utf-8") as manifest:
        saved = json.load(manifest)
    staging = Staging(root, int(saved["bound"]))
    for index, (source, target) in enumerate(saved["layers"]):
        staging.layers.append(_Layer(
            Mount(str(source), str(target), False),
            lower=os.path.join(root, "lower", str(index)),
            upper=os.path.join(staging.fs, "upper", str(index)),
            work=os.path.join(staging.fs, "work", str(index)),
            merged=os.path.join(root, "merged", str(index)),
        ))
    if not os.path.isdir(staging.fs) or staging.fs not in set(_mount_points_under(staging.fs)):
        raise ValueError("its filesystem is not mounted")
    return staging


# -- applying a layer ----------------------------------------------------------------------------


def _apply(upper: str, dest: str) -> int:
    """Make `dest` what the overlay showed: copy what `upper` holds, delete what it whited out.
    Never follows a symlink in `dest`; `dest` itself keeps its owner and mode (the host's folder).
    Returns how many special files were left out."""
    skipped = 0
    with os.scandir(upper) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            source = entry.path
            target = os.path.join(dest, entry.name)
            info = os.lstat(source)
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:  # a whiteout: deleted in the overlay
                _remove(target)
            elif stat.S_ISDIR(info.st_mode):
                if _opaque(source) or not _is_dir(target):
                    _remove(target)
                if not os.path.lexists(target):
                    os.mkdir(target, 0o700)
                skipped += _apply(source, target)
                _attributes(info, target)
            elif stat.S_ISREG(info.st_mode):
                _replace_file(source, target, info)
            elif stat.S_ISLNK(info.st_mode):
                _replace_link(os.readlink(source), target)
            else:
                skipped += 1  # a FIFO, socket or device node stays in the discarded layer
    return skipped


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _remove(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _attributes(info: os.stat_result, target: str) -> None:
    os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)
    os.chmod(target, stat.S_IMODE(info.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _replace_file(source: str, target: str, info: os.stat_result) -> None:
    folder, name = os.path.split(target)
    fd, temporary = tempfile.mkstemp(prefix=f".{name[:40]}.", suffix=".specc", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out, 1024 * 1024)
        _attributes(info, temporary)
        if _is_dir(target):
            shutil.rmtree(target)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _replace_link(text: str, target: str) -> None:
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name[:40]}.{os.getpid()}.specc")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    os.symlink(text, temporary)
    try:
        if _is_dir(target):
            shutil.rmtree(target)
        os.replace(temporary, target)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if err.errno != errno.ENOENT:
            raise
