"""Env values, secrets among them, reach the tool through the launcher and the attempt's stdin,
never through the container's configuration: `docker inspect` and the engine's files on disk hold
no value while the container exists, and the tool still gets every byte, and its arguments."""

from __future__ import annotations

import glob
import json
from typing import Any

from dockerfixtures import assert_no_container, python_request

from specc.runtime.sandbox import LAUNCHER_TARGET, Sandbox

SECRET = "s3cr3t-\"quote\" \\back $(date) `id` 'single'\nline two é ✓\n"

PRINT_ENV = r"""
import json, os, sys
print(json.dumps({"env": {k: os.environ.get(k) for k in ("API_TOKEN", "REGION", "HTTP_PROXY")},
                  "stdin": sys.stdin.read(), "argv": sys.argv[1:]}))
"""


class Watching(Sandbox):
    """Reads what the engine holds about the container just before it starts."""

    seen: list[str]

    def _attempt(self, container_id: str, container: Any, settings: dict[str, object]) -> Any:
        self.seen = [json.dumps(self.client.api.inspect_container(container_id))]
        for path in glob.glob(f"/var/lib/docker/containers/{container_id}/*"):
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    self.seen.append(handle.read())
            except OSError:
                pass
        return super()._attempt(container_id, container, settings)


def test_no_env_value_stands_in_the_container_configuration(docker_client: Any, run_id: str) -> None:
    sandbox = Watching(docker_client)
    request = python_request(run_id, PRINT_ENV, "--flag", stdin=b'{"invoice": 1}',
                             env={"API_TOKEN": SECRET, "REGION": "eu-west-1"})
    result = sandbox.run(request)
    assert result.kind == "ok", (result.detail, result.stderr)
    seen = json.loads(result.stdout)
    assert seen == {"env": {"API_TOKEN": SECRET, "REGION": "eu-west-1", "HTTP_PROXY": None},
                    "stdin": '{"invoice": 1}', "argv": ["--flag"]}
    assert len(sandbox.seen) >= 2, "the engine's files of the container were not found"
    for text in sandbox.seen:
        for fragment in ("s3cr3t", "eu-west-1", json.dumps(SECRET)[1:-1]):
            assert fragment not in text
    inspected = json.loads(sandbox.seen[0])
    assert inspected["Config"]["Cmd"][:2] == ["/bin/sh", LAUNCHER_TARGET]
    assert result.settings["Env"] == ["API_TOKEN", "REGION"]  # the names are recorded, never the values
    assert_no_container(docker_client, run_id)


def test_without_env_the_tool_starts_directly(docker_client: Any, run_id: str) -> None:
    sandbox = Watching(docker_client)
    result = sandbox.run(python_request(run_id, "print('{}')"))
    assert result.kind == "ok", result
    assert json.loads(sandbox.seen[0])["Config"]["Cmd"][0] == "python3"
    assert_no_container(docker_client, run_id)


def test_the_backend_s_own_variables_win(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    # the egress proxy's address is the backend's; a declared variable of that name cannot move it
    request = python_request(run_id, PRINT_ENV, env={"HTTP_PROXY": "http://elsewhere:1", "REGION": "r"})
    result = sandbox.run(request, extra_env={"HTTP_PROXY": "http://proxy:3128"})
    assert result.kind == "ok", (result.detail, result.stderr)
    assert json.loads(result.stdout)["env"] == {"API_TOKEN": None, "REGION": "r", "HTTP_PROXY": "http://proxy:3128"}
    assert_no_container(docker_client, run_id)


def test_a_name_the_launcher_cannot_set_is_refused(sandbox: Sandbox, docker_client: Any, run_id: str) -> None:
    result = sandbox.run(python_request(run_id, PRINT_ENV, env={"BAD NAME": "x"}))
    assert result.kind == "sandbox"
    assert "invalid env var name `BAD NAME`" in result.detail
    assert_no_container(docker_client, run_id)
