"""Real-Docker fixtures, shared with the other sandbox test folder through tests/dockerfixtures.py."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from dockerfixtures import docker_client, run_id, sandbox  # noqa: E402, F401
