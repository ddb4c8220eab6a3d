"""The run store holds inputs, results and people's decisions: the database and its journal files
are 0600, in a `.specc/` folder only its owner can enter, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from specc.runtime.store import RunStore


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, under which files come out 0644
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_is_private(tmp_path: Path) -> None:
    path = tmp_path / "project" / ".specc" / "runs.db"
    with RunStore(str(path)) as store:
        store.create_run("r-1", "demo", "sha256:spec", "sha256:ir", {}, "{}")
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
        journals = [p for p in path.parent.iterdir() if p.name != "runs.db"]
        assert journals and all(mode(p) == 0o600 for p in journals), [(p.name, oct(mode(p))) for p in journals]


def test_an_older_world_readable_store_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / ".specc"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    (folder / "runs.db").touch(mode=0o644)
    os.chmod(folder / "runs.db", 0o644)
    with RunStore(str(folder / "runs.db")):
        pass
    assert mode(folder) == 0o700
    assert mode(folder / "runs.db") == 0o600


def test_a_folder_the_user_chose_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o750)
    with RunStore(str(folder / "runs.db")):
        pass
    assert mode(folder) == 0o750  # theirs to set; the file itself is still private
    assert mode(folder / "runs.db") == 0o600
