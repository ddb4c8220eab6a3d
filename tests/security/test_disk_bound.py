"""The disk bound, against the real engine: a tool that writes gigabytes into a read_write mount
is stopped by the kernel at the bound, the attempt is a crash, and nothing it wrote reaches the
host; within the bound, every change reaches the host when the attempt ends, without setuid bits
or FIFOs; no mount or loop device of an attempt outlives it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dockerfixtures import assert_no_container, host_dir, python_request

from specc.compiler import compile_source
from specc.runtime import disk
from specc.runtime.owner import current_owner
from specc.runtime.sandbox import Mount, Sandbox

MIB = 1024 * 1024

FLOOD = r"""
import json, os, sys
written, chunk = 0, b"x" * (1 << 20)
try:
    with open("/out/flood.bin", "wb", buffering=0) as out:
        while written < 4 * 1024**3:  # 4 GiB, as the attack did
            written += out.write(chunk)
except OSError as err:
    print(json.dumps({"written": written, "error": err.strerror}))
    sys.exit(1)
print(json.dumps({"written": written}))
"""


def staging_mounts() -> list[str]:
    """This process's attempts' mounts (other test processes may be staging attempts of their own)."""
    mine = os.path.join(disk.STAGING_ROOT, current_owner().replace(":", "+") + ".")
    with open("/proc/self/mounts", encoding="utf-8") as table:
        return [line.split()[1] for line in table if line.split()[1].startswith(mine)]


@pytest.fixture(autouse=True)
def nothing_left_mounted() -> Any:
    before = set(staging_mounts())
    yield
    assert set(staging_mounts()) <= before, f"left mounted: {set(staging_mounts()) - before}"


def test_a_tool_writing_gigabytes_is_stopped_at_the_bound_and_leaves_nothing(
    sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path
) -> None:
    source = host_dir(tmp_path, 0o777)
    (tmp_path / "kept.txt").write_text("from before")
    bound = 32 * MIB
    started = time.monotonic()
    result = sandbox.run(python_request(run_id, FLOOD, mounts=[Mount(source, "/out", read_only=False)],
                                        disk_bytes=bound))
    elapsed = time.monotonic() - started
    assert result.kind == "crash", (result.kind, result.detail, result.stderr)
    assert "wrote more than the 32 MiB disk bound into its read_write mounts" in result.detail
    assert "nothing it wrote was kept" in result.detail
    report = json.loads(result.stdout)
    assert report["error"] == "No space left on device"
    # the kernel stopped it a little past the bound, never near the 4 GiB it asked for
    assert bound < report["written"] <= bound + disk.headroom(bound)
    assert bound < int(str(result.settings["disk_written"])) <= bound + disk.headroom(bound)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
    assert (tmp_path / "kept.txt").read_text() == "from before"
    assert result.settings["Disk"] == bound
    assert result.settings["Mounts"] == [[source, "/out", True]]  # the host folder, not its overlay
    print(f"\nflood: {report['written']} bytes written before ENOSPC at a {bound} byte bound, "
          f"{elapsed:.2f} s, 0 bytes left behind", file=sys.stderr)
    assert_no_container(docker_client, run_id)


CHANGES = r"""
import os, shutil
os.remove("/out/gone.txt")
open("/out/changed.txt", "w").write("after")
open("/out/new.txt", "w").write("new")
shutil.rmtree("/out/replaced")
os.mkdir("/out/replaced")
open("/out/replaced/only.txt", "w").write("only")
os.makedirs("/out/deep/er")
open("/out/deep/er/file", "w").write("deep")
os.symlink("new.txt", "/out/link")
shutil.move("/out/olddir", "/out/newdir")  # a folder from the host's side: copied, never a reference
os.chmod("/out/mode.txt", 0o600)  # a change of metadata only: the whole file still comes back
shutil.copy("/bin/true", "/out/trap")
os.chmod("/out/trap", 0o6755)
os.mkfifo("/out/fifo")
print("{}")
"""


def test_every_change_within_the_bound_reaches_the_host_without_traps(
    sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path
) -> None:
    source = host_dir(tmp_path, 0o777)
    (tmp_path / "gone.txt").write_text("before")
    (tmp_path / "changed.txt").write_text("before")
    os.chmod(tmp_path / "changed.txt", 0o666)
    (tmp_path / "replaced").mkdir(mode=0o777)
    (tmp_path / "replaced" / "old.txt").write_text("old")
    os.chmod(tmp_path / "replaced", 0o777)
    (tmp_path / "olddir" / "inner").mkdir(parents=True)
    (tmp_path / "olddir" / "inner" / "kept").write_text("moved along")
    os.chmod(tmp_path / "olddir", 0o777)
    os.chmod(tmp_path / "olddir" / "inner", 0o777)
    (tmp_path / "mode.txt").write_text("x" * 5000)
    os.chown(tmp_path / "mode.txt", 65534, 65534)
    result = sandbox.run(python_request(run_id, CHANGES, mounts=[Mount(source, "/out", read_only=False)]))
    assert result.kind == "ok", (result.detail, result.stderr)
    assert "1 FIFO, socket or device file(s) it made were not copied back" in result.detail
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["changed.txt", "deep", "link", "mode.txt", "new.txt", "newdir", "replaced", "trap"]
    assert (tmp_path / "newdir" / "inner" / "kept").read_text() == "moved along"
    assert (tmp_path / "mode.txt").read_text() == "x" * 5000
    assert stat.S_IMODE((tmp_path / "mode.txt").stat().st_mode) == 0o600
    assert (tmp_path / "changed.txt").read_text() == "after"
    assert (tmp_path / "new.txt").read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "replaced").iterdir()) == ["only.txt"]
    assert (tmp_path / "deep" / "er" / "file").read_text() == "deep"
    assert os.readlink(tmp_path / "link") == "new.txt"
    trap = (tmp_path / "trap").stat()
    assert trap.st_uid == 65534 and not trap.st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o777  # the host folder keeps its own mode
    assert_no_container(docker_client, run_id)


def test_a_failed_attempt_within_the_bound_keeps_what_it_wrote(
    sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path
) -> None:
    # as without the bound: a retry may pick up where the last attempt stopped
    source = host_dir(tmp_path, 0o777)
    code = "open('/out/progress', 'w').write('half'); raise SystemExit(1)"
    result = sandbox.run(python_request(run_id, code, mounts=[Mount(source, "/out", read_only=False)]))
    assert result.kind == "error" and result.exit_code == 1
    assert (tmp_path / "progress").read_text() == "half"
    assert_no_container(docker_client, run_id)


def test_read_only_mounts_need_no_disk(sandbox: Sandbox, docker_client: Any, run_id: str, tmp_path: Path) -> None:
    source = host_dir(tmp_path, 0o755)
    (tmp_path / "in.txt").write_text("data")
    result = sandbox.run(python_request(run_id, "print(open('/in/in.txt').read() and '{}')",
                                        mounts=[Mount(source, "/in")]))
    assert result.kind == "ok", result
    assert "disk_written" not in result.settings
    assert_no_container(docker_client, run_id)


def test_a_dead_process_s_attempt_is_settled_by_the_next_reap(tmp_path: Path) -> None:
    source = host_dir(tmp_path, 0o777)
    (Path(source) / "before.txt").write_text("before")
    # a child process stages an attempt, writes through the overlay as a tool would, and dies
    child = f"""
import os, sys
sys.path[:0] = {sys.path!r}
from specc.runtime import disk
from specc.runtime.backend import Mount
staging = disk.stage([Mount({source!r}, "/out", False)], 8 * 1024 * 1024, "dead-run")
merged = staging.layers[0].merged
open(os.path.join(merged, "written.txt"), "w").write("by the dead run")
os.remove(os.path.join(merged, "before.txt"))
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)
    assert (Path(source) / "before.txt").exists() and not (Path(source) / "written.txt").exists()
    assert disk.reap_staging() >= 1
    assert sorted(p.name for p in Path(source).iterdir()) == ["written.txt"]
    assert not [name for name in os.listdir(disk.STAGING_ROOT) if ".dead-run." in name]


def test_disk_in_the_language(tmp_path: Path) -> None:
    def compiled(sandbox: str, action: str) -> Any:
        text = f"""agent t {{
  version "1.0.0"
  limits {{
    steps 5
    wall 1m
  }}
  scope {{
    mount "./out" read_write
  }}
  sandbox {{
{sandbox}
  }}
  action write() -> string {{
    run "python3" "-c" "print(1)"
    mount "./out"
    effect write
    idempotent
{action}
  }}
  on any abort
}}
"""
        return compile_source(text, str(tmp_path / "t.agent"))

    default = compiled('    image "specc/base:bookworm"', "")
    assert default.ir is not None and default.ir.actions["write"].limits.disk_bytes == 256 * MIB
    both = compiled("    disk 1GiB", "    disk 64MiB")
    assert both.ir is not None and both.ir.actions["write"].limits.disk_bytes == 64 * MIB
    tiny = compiled("    disk 512KiB", "")
    assert [d.code.name for d in tiny.diagnostics] == ["invalid-limit"]
    assert "`disk`" in tiny.diagnostics[0].message
