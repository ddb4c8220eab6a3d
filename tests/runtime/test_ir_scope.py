"""An IR edited by hand and sealed again with a fresh hash cannot take an action beyond the agent's
scope (issue 13, item 2): the loader holds every action to the scope the IR carries, as the checker
did, and to the checker's bounds on limits (a pids or memory limit of 0 is no limit to Docker), and
`specc run` refuses the IR naming the action and the rule before any container exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import agent_text, assert_nothing_ran, run_spec, specc, specc_env, write_agent

from specc.ir import canonical, content_hash
from specc.runtime.ir_loader import IRRejected, load_ir

Document = dict[str, Any]

ACTIONS = """action look() -> Seen {
    run "python3" "/tools/look.py"
    mount "./tools"
    mount "./data"
    mount "./out" read_only
    effect read
    }
    action send(seen: Seen) -> Seen {
    run "python3" "/tools/look.py"
    mount "./tools"
    network "api.example.com:443"
    env TOKEN
    effect write
    approval none "the test's own endpoint"
    }"""


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Document]:
    """An agent within its scope, built to an IR, and the folder it lives in."""
    text = agent_text(
        mounts=['mount "./data" read_only', 'mount "./out" read_write', 'network "api.example.com:443"'],
        env=["env TOKEN secret"],
        types="type Seen {\n ok: bool\n}",
        output="Seen",
        actions=ACTIONS,
        workflow="s = look()\nreturn s",
    )
    spec = write_agent(tmp_path, text, {"look.py": 'print(json.dumps({"ok": True}))'},
                       folders={"data": 0o755, "out": 0o777, "elsewhere": 0o777})
    out = tmp_path / "agent.ir.json"
    done = specc("build", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return tmp_path, json.loads(out.read_text())


def _mount(document: Document, action: str, name: str) -> dict[str, Any]:
    mount: dict[str, Any] = next(m for m in document["actions"][action]["mounts"] if m["name"] == name)
    return mount


def _another_folder(folder: Path, document: Document) -> None:
    document["actions"]["look"]["mounts"].append(
        {"name": "elsewhere", "source": str(folder / "elsewhere"), "target": "/mnt/elsewhere", "mode": "read_write"})


def _moved(folder: Path, document: Document) -> None:
    _mount(document, "look", "data")["source"] = str(folder / "elsewhere")


def _widened(folder: Path, document: Document) -> None:
    _mount(document, "look", "data")["mode"] = "read_write"


def _read_that_writes(folder: Path, document: Document) -> None:
    _mount(document, "look", "out")["mode"] = "read_write"


def _new_host(folder: Path, document: Document) -> None:
    document["actions"]["send"]["hosts"].append("attacker.example.net:443")


def _new_env(folder: Path, document: Document) -> None:
    document["actions"]["look"]["env"].append({"name": "AWS_SECRET_ACCESS_KEY", "secret": False})


def _secret_dropped(folder: Path, document: Document) -> None:
    document["actions"]["send"]["env"][0]["secret"] = False


def _scope_on_the_socket(folder: Path, document: Document) -> None:
    next(m for m in document["scope"]["mounts"] if m["name"] == "data")["source"] = "/run"


def _no_pids_limit(folder: Path, document: Document) -> None:
    document["actions"]["look"]["limits"]["pids"] = 0


def _no_memory_limit(folder: Path, document: Document) -> None:
    document["actions"]["send"]["limits"]["memory_bytes"] = 0


EDITS: dict[str, tuple[Callable[[Path, Document], None], str]] = {
    "no-pids-limit": (_no_pids_limit, r"action `look` has a `pids` limit of 0, outside the 1\.\.32768 the checker "
                                      r"allows \(0 means no limit at all to Docker\) \(rule `invalid-limit`\)"),
    "no-memory-limit": (_no_memory_limit, r"action `send` has a `memory` limit of 0 bytes, outside .*"
                                          r"\(rule `invalid-limit`\)"),
    "undeclared-mount": (_another_folder, r"action `look` mounts `elsewhere` .*which the scope does not declare "
                                          r"\(rule `scope-violation`\)"),
    "moved-source": (_moved, r"action `look` mounts `data` as `.*/elsewhere` at `/mnt/data`, but the scope declares "
                             r"it as `.*/data` at `/mnt/data` \(rule `scope-violation`\)"),
    "widened-mode": (_widened, r"action `look` mounts `data` read_write, which the scope declares read_only "
                               r"\(rule `scope-violation`\)"),
    "read-action-writes": (_read_that_writes, r"action `look` has effect `read` but mounts `out` read_write "
                                              r"\(rule `write-in-read-action`\)"),
    "new-host": (_new_host, r"action `send` reaches `attacker.example.net:443`, which the agent's scope does not "
                            r"admit \(rule `scope-violation`\)"),
    "new-env": (_new_env, r"action `look` is given env var `AWS_SECRET_ACCESS_KEY`, which the agent's scope does "
                          r"not declare \(rule `scope-violation`\)"),
    "secret-dropped": (_secret_dropped, r"action `send` is given env var `TOKEN` as not secret, which the scope "
                                        r"declares secret \(rule `scope-violation`\)"),
    "scope-on-the-socket": (_scope_on_the_socket, r"its scope mounts `/run`, which exposes `/run.*"
                                                  r"\(rule `forbidden-mount`\)"),
}


def _sealed(document: Document) -> bytes:
    """The document with its hash recomputed, as someone who edited it by hand would."""
    document["hash"] = content_hash(document)
    return canonical(document)


def test_the_untouched_ir_loads_and_carries_the_scope(built: tuple[Path, Document]) -> None:
    folder, document = built
    ir = load_ir(_sealed(document))
    assert [(m.name, m.mode) for m in ir.scope.mounts] == [("data", "read_only"), ("out", "read_write"),
                                                          ("tools", "read_only")]
    assert ir.scope.hosts == ["api.example.com:443"]
    assert [(e.name, e.secret) for e in ir.scope.env] == [("TOKEN", True)]


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_resealed_ir_beyond_its_scope_is_refused_before_anything_runs(built: tuple[Path, Document],
                                                                        edit: str, docker_client: Any) -> None:
    folder, document = built
    change, reason = EDITS[edit]
    change(folder, document)
    with pytest.raises(IRRejected, match=reason):
        load_ir(_sealed(document))
    edited = folder / "edited.ir.json"
    edited.write_bytes(_sealed(document))
    run = run_spec(edited, folder / "runs.db", env=specc_env({"TOKEN": "a-real-token"}))
    assert run.code == 4, run.describe()
    assert "is unsafe to run" in run.last_line and "rebuild it with `specc build`" in run.last_line, run.last_line
    assert_nothing_ran(run)
    assert not (folder / "runs.db").exists()


def test_an_ir_without_a_scope_is_refused_as_built_by_an_older_specc(built: tuple[Path, Document]) -> None:
    folder, document = built
    del document["scope"]
    with pytest.raises(IRRejected, match="has no `scope` section.*built by an older specc; rebuild it"):
        load_ir(_sealed(document))

