"""Fixtures shared by the tests that need a real Docker engine and the base image.

Without an engine or the image the tests skip, except under `CI=true` where they fail: CI must
never pass by skipping the sandbox.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from specc.runtime.sandbox import (
    BASE_IMAGE,
    MANAGED_LABEL,
    RUN_ID_LABEL,
    AttemptRequest,
    Limits,
    Mount,
    Sandbox,
)

#: Generous enough for python3 to start, small enough that bombs hit the limits quickly.
TEST_LIMITS = Limits(
    memory_bytes=128 * 1024 * 1024,
    cpus=1.0,
    pids=32,
    timeout_s=20.0,
    output_bytes=1024 * 1024,
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the sandbox tests need a docker engine and {BASE_IMAGE}: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for an engine that answers and has the base image."""
    import docker
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as err:
        _unavailable(f"no docker engine answers ({err}); run scripts/ensure-docker")
    try:
        client.images.get(BASE_IMAGE)
    except ImageNotFound:
        _unavailable(f"the image {BASE_IMAGE} is missing; run scripts/build-base-image")
    yield client
    client.close()


@pytest.fixture
def sandbox(docker_client: Any) -> Sandbox:
    """A sandbox on the real engine."""
    return Sandbox(docker_client)


@pytest.fixture
def run_id(docker_client: Any) -> Iterator[str]:
    """A run id unique to the test; anything the test leaves behind is removed afterwards."""
    value = f"test-{uuid.uuid4().hex[:12]}"
    yield value
    for container in labelled(docker_client, value):
        container.remove(force=True)


def labelled(client: Any, run_id: str) -> list[Any]:
    """Containers, running or not, carrying the run's label."""
    # ignore_removed: a container the engine is removing right now (listed, then gone before the
    # SDK's per-container inspect) is not a leftover; assert_no_container waits for it to go
    return list(client.containers.list(all=True, ignore_removed=True,
                                       filters={"label": [f"{MANAGED_LABEL}=1", f"{RUN_ID_LABEL}={run_id}"]}))


def assert_no_container(client: Any, run_id: str) -> None:
    """Fail if any container of the run is left on the engine."""
    import time

    deadline = time.monotonic() + 5  # a removal the engine already accepted may take a moment
    left = labelled(client, run_id)
    while left and any(c.status == "removing" for c in left) and time.monotonic() < deadline:
        time.sleep(0.1)
        left = labelled(client, run_id)
    assert not left, f"containers left behind: {[c.name for c in left]}"


def python_request(
    run_id: str,
    code: str,
    *args: str,
    stdin: bytes = b"{}",
    mounts: Sequence[Mount] = (),
    env: Mapping[str, str] | None = None,
    user: str = "65534:65534",
    **limits: Any,
) -> AttemptRequest:
    """An attempt running `python3 -c code args...` in the base image."""
    return AttemptRequest(
        image=BASE_IMAGE,
        argv=("python3", "-c", code, *args),
        stdin=stdin,
        mounts=tuple(mounts),
        env=dict(env or {}),
        limits=dataclasses.replace(TEST_LIMITS, **limits),
        run_id=run_id,
        user=user,
    )


def host_dir(path: os.PathLike[str] | str, mode: int = 0o755) -> str:
    """`path` as a real path, with `mode` so that only the mount decides what the tool can do."""
    real = os.path.realpath(path)
    os.chmod(real, mode)
    return real
