"""The one `host:port` rule: the checker admits what the egress proxy admits, and the proxy still
runs as one program where specc cannot be imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from specc.endpoints import EndpointError, admits, authority, parse_authority
from specc.runtime import egress_proxy


@pytest.mark.parametrize(
    ("scope", "action", "admitted"),
    [
        ("api.example.com:443", "API.example.com.:443", True),
        ("api.example.com:443", "api.example.com:80", False),
        ("*.example.com:443", "a.b.example.com:443", True),
        ("*.example.com:443", "*.b.example.com:443", True),
        ("*.example.com:443", "*.example.com:443", True),
        ("*.example.com:443", "example.com:443", False),
        ("*.b.example.com:443", "*.example.com:443", False),
        ("[FD00::1]:443", "[fd00:0::1]:443", True),
    ],
)
def test_a_scope_endpoint_admits_an_action_endpoint(scope: str, action: str, admitted: bool) -> None:
    assert admits(parse_authority(scope), parse_authority(action)) is admitted


def test_an_error_says_why_apart_from_the_text() -> None:
    with pytest.raises(EndpointError) as caught:
        parse_authority("api.example.com")
    assert caught.value.reason == "it has no port"
    assert str(caught.value) == "`api.example.com` is not a host and port: it has no port"


@pytest.mark.parametrize("text", ["api.example.com:443", "[::1]:8080", "*.example.com:443"])
def test_authority_writes_back_what_it_parsed(text: str) -> None:
    assert authority(*parse_authority(text)) == text


def test_the_proxy_shares_the_checker_rule() -> None:
    assert egress_proxy.parse_authority is parse_authority


def test_the_proxy_program_runs_without_specc() -> None:
    # -S: no site-packages, so specc cannot be imported, as in the proxy's container
    result = subprocess.run([sys.executable, "-I", "-S", "-c", egress_proxy.program()],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == "usage: egress_proxy CONFIG_JSON"
