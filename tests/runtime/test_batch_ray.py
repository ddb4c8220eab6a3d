"""`specc batch --backend ray` on a real Ray cluster of two nodes (Ray's own cluster utilities start
real node processes on this machine), each advertising `specc-docker`: attempts land on both
nodes, a node killed mid-batch is a `sandbox` failure the handlers retry elsewhere, and a batch
killed and resumed runs nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerfixtures import assert_no_container
from helpers import SPECC, specc, specc_env

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "batch"


def _ray_or_fail() -> Any:
    try:
        import ray.cluster_utils
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the Ray backend tests need Ray (it is in the dev extra)")
        pytest.skip("Ray is not installed")
    return ray.cluster_utils


@pytest.fixture(scope="module")
def cluster(docker_client: Any) -> Iterator[Any]:
    utils = _ray_or_fail()
    made = utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"specc-docker": 2}, "include_dashboard": False})
    made.add_node(num_cpus=1, resources={"specc-docker": 2})
    made.wait_for_nodes()
    yield made
    made.shutdown()


@pytest.fixture
def twostep(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "twostep")
    return tmp_path / "twostep" / "twostep.agent"


def inputs(tmp_path: Path, count: int, wait: float) -> Path:
    path = tmp_path / "inputs.jsonl"
    path.write_text("".join(json.dumps({"n": n, "wait": wait}) + "\n" for n in range(1, count + 1)))
    return path


def attempts(store: Path) -> list[dict[str, Any]]:
    from specc.runtime.store import RunStore

    found = []
    with RunStore(str(store)) as opened:
        for run in opened.runs(limit=10_000):
            found += [dict(e.data, run_id=run.id) for e in opened.events(run.id) if e.kind == "attempt_outcome"]
    return found


def items(store: Path, batch_id: str) -> list[Any]:
    from specc.runtime.store import RunStore

    with RunStore(str(store)) as opened:
        return opened.batch_items(batch_id)


def ray_batch(cluster: Any, spec: Path, path: Path, store: Path, *more: str) -> list[str]:
    return [*SPECC, "batch", str(spec), "--inputs", str(path), "--store", str(store), "--backend", "ray",
            "--address", cluster.address, *more]


def test_attempts_land_on_both_nodes_and_each_records_its_node(cluster: Any, twostep: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    done = subprocess.run(ray_batch(cluster, twostep, inputs(tmp_path, 8, 1), store, "--concurrency", "4"),
                          capture_output=True, text=True, timeout=600, env=specc_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.startswith("batch b")
    nodes = {a["sandbox"]["node"] for a in attempts(store)}
    assert len(nodes) == 2, nodes
    assert len(attempts(store)) == 16


def test_a_node_killed_mid_batch_is_a_sandbox_failure_retried_elsewhere(cluster: Any, twostep: Path,
                                                                        tmp_path: Path, docker_client: Any) -> None:
    store = tmp_path / "runs.db"
    proc = subprocess.Popen(ray_batch(cluster, twostep, inputs(tmp_path, 6, 6), store, "--concurrency", "4"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=specc_env())
    assert proc.stderr is not None
    batch_id = proc.stderr.readline().split()[1]
    worker = [node for node in cluster.list_all_nodes() if not node.head][0]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # attempts are running on both nodes
        if store.exists() and [i.status for i in items(store, batch_id)].count("running") >= 4:
            break
        time.sleep(0.3)
    time.sleep(3)
    cluster.remove_node(worker, allow_graceful=False)
    out, err = proc.communicate(timeout=600)
    try:
        assert proc.returncode == 0, out + err  # every run ended as its handlers say: retried, then done
        lost = [a for a in attempts(store) if a["kind"] == "sandbox"]
        assert lost and all("lost" in a["detail"] or "failed on its node" in a["detail"] for a in lost), lost
        assert [i.status for i in items(store, batch_id)] == ["succeeded"] * 6
    finally:
        cluster.add_node(num_cpus=1, resources={"specc-docker": 2})
        cluster.wait_for_nodes()
    from specc.runtime.docker_backend import DockerBackend

    with DockerBackend() as backend:  # what the killed node's workers left is the next reap's
        backend.reap()
    for attempt in attempts(store):
        assert_no_container(docker_client, attempt["run_id"])


def test_a_killed_batch_on_ray_resumes_without_running_anything_twice(cluster: Any, twostep: Path,
                                                                     tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    path = inputs(tmp_path, 8, 2)
    proc = subprocess.Popen(ray_batch(cluster, twostep, path, store, "--concurrency", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=specc_env())
    assert proc.stderr is not None
    batch_id = proc.stderr.readline().decode().split()[1]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        statuses = [i.status for i in items(store, batch_id)] if store.exists() else []
        if statuses.count("succeeded") >= 2 and "running" in statuses:
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {i.line: i.run_id for i in items(store, batch_id) if i.status == "succeeded"}
    before = {a["run_id"]: 0 for a in attempts(store)}
    for a in attempts(store):
        before[a["run_id"]] += 1
    assert finished
    done = specc("batch", "--resume", batch_id, "--store", str(store), "--backend", "ray", "--address",
                 cluster.address, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    after = {i.line: i for i in items(store, batch_id)}
    assert [i.status for i in after.values()] == ["succeeded"] * 8
    counted = {a["run_id"]: 0 for a in attempts(store)}
    for a in attempts(store):
        counted[a["run_id"]] += 1
    for line, run_id in finished.items():
        assert after[line].run_id == run_id and counted[run_id] == before[run_id]


def test_a_cluster_without_specc_nodes_is_refused(tmp_path: Path) -> None:
    done = specc("batch", str(FIXTURE / "twostep.agent"), "--inputs", str(inputs(tmp_path, 1, 0)), "--store",
                 str(tmp_path / "runs.db"), "--backend", "ray")
    assert done.returncode == 2 and "--address" in done.stderr


@pytest.mark.parametrize("fingerprint, says", [
    (lambda path: (path, os.stat(path).st_ino + 1), "has another folder at mount source"),
    (lambda path: ("/specc-missing-on-every-node", 1), "has no mount source"),
])
def test_a_node_whose_mount_differs_refuses_the_attempt_naming_itself(cluster: Any, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     fingerprint: Any, says: str) -> None:
    from dockerfixtures import python_request

    from specc.runtime import ray_backend
    from specc.runtime.sandbox import Mount

    folder = tmp_path / "shared"
    folder.mkdir()
    monkeypatch.setattr(ray_backend, "fingerprint", fingerprint)
    backend = ray_backend.RayBackend(cluster.address)
    request = python_request("test-ray-mount", "print(1)", mounts=[Mount(str(folder), "/mnt/shared", False)])
    try:
        result = backend.run(request, lambda event: None)
    finally:  # this test's process was a driver of the cluster: leave it, so that the cluster can stop
        import ray

        ray.shutdown()
        ray_backend._remote.clear()
    assert result.kind == "sandbox" and says in result.detail and "node " in result.detail, result.detail
