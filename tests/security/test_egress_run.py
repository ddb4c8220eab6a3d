"""Egress through `specc run` itself: an agent that calls an API reaches exactly its declared
endpoint, every connection is in the run store, and nothing is left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_egress import Lab, _left_behind, lab  # noqa: F401 - the module-scoped stand-in world

TOOL = r"""
import json, sys, urllib.request, urllib.error
args = json.load(sys.stdin)
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return json.loads(reply.read())["server"]
    except urllib.error.HTTPError as exc:
        return f"refused {exc.code}"
    except Exception as exc:
        return f"failed {type(exc).__name__}"
print(json.dumps({"allowed": get(args["url"]), "other": get("http://other.test.internal:8000/"),
                  "other_port": get("http://api.test.internal:8001/")}))
"""

SPEC = """agent caller {
  limits {
    steps 3
    wall 1m
  }
  scope {
    mount "./tools" at "/tools" read_only
    network "api.test.internal:8000"
  }
  type Reply {
    allowed: string
    other: string
    other_port: string
  }
  input {
    url: string
  }
  output Reply
  action fetch(url: string) -> Reply {
    run "python3" "/tools/fetch.py"
    mount "./tools"
    network "api.test.internal:8000"
    effect read
    timeout 20s
  }
  workflow {
    reply = fetch(url: input.url)
    return reply
  }
  on any abort
}
"""


def _specc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "specc.cli", *args], capture_output=True, text=True, timeout=180)


def test_an_agent_reaches_only_its_declared_endpoint(lab: Lab, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "fetch.py").write_text(TOOL)
    spec = tmp_path / "caller.agent"
    spec.write_text(SPEC)
    store = tmp_path / "runs.db"
    done = _specc("run", str(spec), "--input", json.dumps({"url": "http://api.test.internal:8000/hello"}),
                  "--store", str(store), "--egress-network", lab.network, "--trust-network", f"{lab.api}/32")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["allowed"] == "api"
    assert reply["other"].startswith("refused")
    assert reply["other_port"].startswith("refused")

    runs = _specc("runs", "--store", str(store)).stdout.split()
    run_id = runs[0]
    events: list[dict[str, Any]] = json.loads(_specc("show", run_id, "--store", str(store), "--json").stdout)["events"]
    connections = {(e["host"], e["port"], e["allowed"]) for e in events if e["event"] == "connection"}
    assert ("api.test.internal", 8000, True) in connections
    assert ("other.test.internal", 8000, False) in connections
    assert ("api.test.internal", 8001, False) in connections
    text = _specc("show", run_id, "--store", str(store)).stdout
    assert "api.test.internal:8000 allowed" in text
    assert "other.test.internal:8000 refused" in text
    assert _left_behind(lab.client, run_id) == []


def test_connections_of_an_interrupted_attempt_are_recorded(lab: Lab, tmp_path: Path) -> None:  # noqa: F811
    """SIGTERM while the tool sleeps after its connections: the run is interrupted, the proxy's
    decisions are still in the store, and nothing is left behind."""
    import signal
    import time

    (tmp_path / "tools").mkdir()
    slow = TOOL.replace("print(json.dumps(", "reply = (").replace("}))", "})\nimport time\ntime.sleep(60)")
    (tmp_path / "tools" / "fetch.py").write_text(slow)
    spec = tmp_path / "caller.agent"
    spec.write_text(SPEC.replace("timeout 20s", "timeout 90s").replace("wall 1m", "wall 3m"))
    store = tmp_path / "runs.db"
    proc = subprocess.Popen([sys.executable, "-m", "specc.cli", "run", str(spec), "--input",
                             json.dumps({"url": "http://api.test.internal:8000/hello"}), "--store", str(store),
                             "--egress-network", lab.network, "--trust-network", f"{lab.api}/32", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _tool_connected(lab, store):
        time.sleep(0.2)
    time.sleep(8)  # python starts and makes its three requests (two are refused at once)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    run_id = _specc("runs", "--store", str(store)).stdout.split()[0]
    events: list[dict[str, Any]] = json.loads(_specc("show", run_id, "--store", str(store), "--json").stdout)["events"]
    connections = {(e["host"], e["port"], e["allowed"]) for e in events if e["event"] == "connection"}
    assert ("api.test.internal", 8000, True) in connections, [e["event"] for e in events]
    assert ("other.test.internal", 8000, False) in connections
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "interrupted"
    assert _left_behind(lab.client, run_id) == []


def _tool_connected(lab: Lab, store: Path) -> bool:  # noqa: F811
    """The run's tool container is up and has been running for a moment."""
    found = lab.client.containers.list(filters={"label": "specc.managed=1"})
    return any("specc-proxy" not in c.name and "egress" not in c.name for c in found)
