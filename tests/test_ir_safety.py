"""The runtime trusts no IR for safety: an IR edited by hand and sealed again with a fresh hash is
still refused when it mounts a forbidden host folder, covers the container's system folders, nests
two mounts or runs a tool as root. Also the shared rules of `specc.safety` themselves. No Docker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from specc.compiler import compile_file
from specc.ir import canonical, content_hash, to_bytes
from specc.runtime.ir_loader import IRRejected, load_ir
from specc.safety import forbidden_host_path, nested, privileged_user

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "file_pipeline" / "file_pipeline.agent"


def _document() -> dict[str, Any]:
    compilation = compile_file(str(SPEC))
    assert compilation.ir is not None
    document: dict[str, Any] = json.loads(to_bytes(compilation.ir))
    return document


def _sealed(document: dict[str, Any]) -> bytes:
    """The document with its hash recomputed, as someone who edited it by hand would."""
    document["hash"] = content_hash(document)
    return canonical(document)


def _mounting(document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name, action = next((n, a) for n, a in document["actions"].items() if a["mounts"])
    return name, action


def test_the_untouched_ir_loads() -> None:
    load_ir(_sealed(_document()))


@pytest.mark.parametrize("source", ["/run", "/etc", "/var/run/docker.sock", "/", "/proc/1", "/root/.ssh"])
def test_a_resealed_ir_mounting_a_forbidden_folder_is_refused(source: str) -> None:
    document = _document()
    name, action = _mounting(document)
    action["mounts"][0]["source"] = source
    with pytest.raises(IRRejected, match=rf"action `{name}` mounts `{source}`, which exposes .*rule `forbidden-mount`"):
        load_ir(_sealed(document))


def test_a_relative_or_climbing_source_is_refused() -> None:
    for source in ("data", "/srv/data/../../etc"):
        document = _document()
        _mounting(document)[1]["mounts"][0]["source"] = source
        with pytest.raises(IRRejected, match="not an absolute normalised path"):
            load_ir(_sealed(document))


@pytest.mark.parametrize("target", ["/", "/proc", "/usr/local/bin", "relative"])
def test_a_target_over_the_containers_system_folders_is_refused(target: str) -> None:
    document = _document()
    _mounting(document)[1]["mounts"][0]["target"] = target
    with pytest.raises(IRRejected, match=rf"at `{target}`, which is not an absolute path outside"):
        load_ir(_sealed(document))


@pytest.mark.parametrize("user", ["0:0", "0", "root", "1000:0", "0:1000", "1000:root", "", "1000"])
def test_a_resealed_ir_running_as_root_is_refused(user: str) -> None:
    document = _document()
    name = next(iter(document["actions"]))
    document["actions"][name]["user"] = user
    with pytest.raises(IRRejected, match=rf"action `{name}` runs as user `{user}`.*rule `privileged-user`"):
        load_ir(_sealed(document))


def test_a_read_only_mount_inside_a_read_write_one_is_refused() -> None:
    document = _document()
    name, action = _mounting(document)
    outer = dict(action["mounts"][0], mode="read_write")
    inner = dict(outer, name="inner", source=outer["source"] + "/inner", target="/inner", mode="read_only")
    action["mounts"] = [outer, inner]
    refused = rf"action `{name}` mounts .* one lies inside the other .*rule `overlapping-mount`"
    with pytest.raises(IRRejected, match=refused):
        load_ir(_sealed(document))


def test_nested_container_targets_are_refused() -> None:
    document = _document()
    name, action = _mounting(document)
    first = action["mounts"][0]
    second = dict(first, name="other", source="/srv/other", target=first["target"] + "/deeper")
    action["mounts"] = [first, second]
    with pytest.raises(IRRejected, match="rule `overlapping-mount`"):
        load_ir(_sealed(document))


def test_the_message_names_the_origin_action_and_rule() -> None:
    document = _document()
    name, action = _mounting(document)
    action["mounts"][0]["source"] = "/run"
    with pytest.raises(IRRejected) as caught:
        load_ir(_sealed(document), "tampered.ir.json")
    assert str(caught.value) == (
        f"`tampered.ir.json` is unsafe to run: action `{name}` mounts `/run`, which exposes `/run/docker.sock`: "
        "it is the Docker socket, which is root on the host (rule `forbidden-mount`); fix the spec and rebuild it "
        "with `specc build`"
    )


@pytest.mark.parametrize("user", ["65534:65534", "1000:1000", "nobody", "nobody:nogroup", "10:100"])
def test_unprivileged_users_pass(user: str) -> None:
    assert privileged_user(user) is None


@pytest.mark.parametrize("user", ["0:0", "00", " 0 : 5", "root:1000", "5:0", "5:root", "", ":5", "1000"])
def test_privileged_users_are_named(user: str) -> None:
    assert privileged_user(user) is not None


def test_nesting_is_by_whole_components() -> None:
    assert nested("/srv/data", "/srv/data/inner")
    assert nested("/srv/data/inner", "/srv/data")
    assert nested("/srv/data", "/srv/data")
    assert not nested("/srv/data", "/srv/database")
    assert not nested("/srv/a", "/srv/b")


def test_forbidden_host_paths() -> None:
    assert forbidden_host_path("/run/user/1000", set()) is not None
    assert forbidden_host_path("/var", set()) is not None  # above /var/run
    assert forbidden_host_path("/srv/project/data", set()) is None
    assert forbidden_host_path("/home/ann/.aws", {"/home/ann"}) is not None
    assert forbidden_host_path("/home/ann/project", {"/home/ann"}) is None
