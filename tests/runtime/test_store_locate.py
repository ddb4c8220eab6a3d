"""Where the run store is: `--store`, else `$SPECC_STORE`, else the nearest `.specc/` found upward
from the working folder (as git finds `.git`), else a new `.specc/runs.db` in the working folder.
Every command that reads or writes runs goes through `specc.runtime.store.locate`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from specc.cli import main
from specc.runtime.store import RunStore, locate


@pytest.fixture(autouse=True)
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPECC_STORE", raising=False)


def project(tmp_path: Path) -> tuple[Path, Path]:
    """A project with a store at its root holding run `r-1`, and a folder two levels below it."""
    (tmp_path / ".specc").mkdir()
    with RunStore(str(tmp_path / ".specc" / "runs.db")) as store:
        store.create_run("r-1", "demo", "sha256:spec", "sha256:ir", {}, "{}")
        store.set_status("r-1", "succeeded", result={"ok": True})
    below = tmp_path / "src" / "deep"
    below.mkdir(parents=True)
    return tmp_path, below


def invoke(*args: str, **env: str) -> Result:
    result = CliRunner().invoke(main, list(args), prog_name="specc", env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_the_option_wins_over_the_env_var_and_the_env_var_over_the_folders(tmp_path: Path) -> None:
    root, below = project(tmp_path)
    assert locate("given.db", environ={"SPECC_STORE": "env.db"}, cwd=str(below)).path == "given.db"
    assert locate(None, environ={"SPECC_STORE": "env.db"}, cwd=str(below)).path == "env.db"
    found = locate(None, environ={"SPECC_STORE": ""}, cwd=str(below))
    assert (found.path, found.source) == (str(root / ".specc" / "runs.db"), "found")


def test_the_nearest_store_folder_wins(tmp_path: Path) -> None:
    root, below = project(tmp_path)
    (below.parent / ".specc").mkdir()
    assert locate(None, environ={}, cwd=str(below)).path == str(below.parent / ".specc" / "runs.db")


def test_a_file_named_like_the_store_folder_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / ".specc").write_text("not a folder")
    where = locate(None, environ={}, cwd=str(tmp_path))
    assert (where.source, where.exists) == ("new", False)


def test_without_any_store_a_new_one_goes_in_the_working_folder(tmp_path: Path) -> None:
    where = locate(None, environ={}, cwd=str(tmp_path))
    assert (where.path, where.source) == (str(tmp_path / ".specc" / "runs.db"), "new")
    assert not os.path.exists(tmp_path / ".specc")  # locating creates nothing


def test_show_from_another_folder_of_the_project_finds_the_run(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, below = project(tmp_path)
    monkeypatch.chdir(below)
    shown = invoke("show", "r-1")
    assert shown.exit_code == 0, shown.output
    assert "run r-1  agent demo  status succeeded" in shown.output
    listed = invoke("runs")
    assert "r-1" in listed.output and "succeeded" in listed.output
    assert not (below / ".specc").exists()


def test_the_env_var_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = project(tmp_path)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert invoke("show", "r-1", SPECC_STORE=str(root / ".specc" / "runs.db")).exit_code == 0


@pytest.mark.parametrize("command", [["show", "r-1"], ["approve", "r-1"], ["resolve", "r-1", "--abort"],
                                     ["resume", "r-1"]])
def test_a_reader_with_no_store_says_where_it_looked_and_creates_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(*command)
    assert result.exit_code == 2
    assert "no run store at `.specc/runs.db` (in the working folder); give `--store PATH` or set $SPECC_STORE" \
        in result.output
    assert not (tmp_path / ".specc").exists()


def test_every_store_option_explains_the_search() -> None:
    for command in ("run", "resume", "show", "runs", "approve", "resolve", "stats"):
        text = " ".join(invoke(command, "--help").output.split())
        assert "$SPECC_STORE, else runs.db in the nearest .specc/ folder found upward" in text, command
