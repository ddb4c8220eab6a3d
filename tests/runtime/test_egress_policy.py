"""The egress proxy's rules as plain functions: host matching, address classes, request parsing.

The same rules run inside the proxy container; tests/security/test_egress.py shows them on the
real engine.
"""

from __future__ import annotations

import ipaddress

import pytest

from specc.runtime.egress import Endpoint
from specc.runtime.egress_proxy import (
    Policy,
    Refused,
    address_refusal,
    body_framing,
    host_matches,
    normalize_host,
    parse_authority,
    parse_head,
    upstream_head,
)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("api.example.com:443", "api.example.com", 443),
        ("API.Example.COM.:443", "api.example.com", 443),
        ("*.example.com:443", "*.example.com", 443),
        ("[::1]:8080", "::1", 8080),
        ("[FD00:EC2::254]:80", "fd00:ec2::254", 80),
        ("169.254.169.254:80", "169.254.169.254", 80),
    ],
)
def test_endpoints_parse_to_one_canonical_form(text: str, host: str, port: int) -> None:
    assert Endpoint.parse(text) == Endpoint(host, port)


@pytest.mark.parametrize(
    "text",
    [
        "api.example.com",  # no port
        "api.example.com:0",
        "api.example.com:65536",
        "api.example.com:44x",
        "user@api.example.com:443",
        "::1:443",  # IPv6 without brackets
        "*.com:443",  # a wildcard over a whole top-level domain
        "a.*.example.com:443",
        "127.1:80",  # the resolver would read these as addresses
        "2130706433:80",
        "exa mple.com:80",
        "-bad.example.com:80",
    ],
)
def test_malformed_endpoints_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Endpoint.parse(text)


def test_hosts_match_exactly() -> None:
    assert host_matches("api.example.com", "api.example.com")
    assert not host_matches("api.example.com", "evil.api.example.com")
    assert not host_matches("api.example.com", "api.example.com.evil.net")
    assert not host_matches("api.example.com", "example.com")


def test_wildcards_admit_only_names_below_the_domain() -> None:
    assert host_matches("*.example.com", "a.example.com")
    assert host_matches("*.example.com", "a.b.example.com")
    assert not host_matches("*.example.com", "example.com")
    assert not host_matches("*.example.com", "badexample.com")
    assert not host_matches("*.example.com", "a.example.com.evil.net")


def test_ports_are_part_of_the_declaration() -> None:
    policy = Policy("pay", (("api.example.com", 443),))
    assert policy.declared("api.example.com", 443)
    assert not policy.declared("api.example.com", 80)
    assert not policy.declared("evil.api.example.com", 443)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.17.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    refusal = address_refusal(ip(address))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ip(address)) is None


def test_trusted_networks_lift_the_private_refusal_but_never_loopback() -> None:
    trusted = (ipaddress.ip_network("172.20.0.0/16"), ipaddress.ip_network("127.0.0.0/8"))
    assert address_refusal(ip("172.20.0.5"), trusted) is None
    assert address_refusal(ip("172.21.0.5"), trusted) is not None
    assert address_refusal(ip("127.0.0.1"), trusted) == "a loopback address"


def test_a_name_with_only_refused_addresses_is_refused_with_the_address() -> None:
    policy = Policy("pay", (("api.example.com", 443),))
    with pytest.raises(Refused) as refused:
        policy.permitted("api.example.com", 443, [ip("10.0.0.7"), ip("169.254.169.254")])
    assert refused.value.status == 403
    assert refused.value.reason == "`api.example.com` resolves to 10.0.0.7, which is a private address"


def test_refused_addresses_are_dropped_and_the_checked_ones_kept() -> None:
    policy = Policy("pay", (("api.example.com", 443),))
    allowed = policy.permitted("api.example.com", 443, [ip("127.0.0.1"), ip("93.184.215.14")])
    assert allowed == [ip("93.184.215.14")]


def test_a_declared_literal_address_is_allowed_even_if_private() -> None:
    policy = Policy("meta", (("169.254.169.254", 80), ("10.0.0.7", 8080), ("127.0.0.1", 80)))
    assert policy.permitted("169.254.169.254", 80, [ip("169.254.169.254")]) == [ip("169.254.169.254")]
    assert policy.permitted("10.0.0.7", 8080, [ip("10.0.0.7")]) == [ip("10.0.0.7")]
    with pytest.raises(Refused):  # the literal is declared for 8080 only
        policy.permitted("10.0.0.7", 80, [ip("10.0.0.7")])
    with pytest.raises(Refused):  # loopback in the proxy's container is the proxy itself
        policy.permitted("127.0.0.1", 80, [ip("127.0.0.1")])


def test_connect_requests_name_host_and_port() -> None:
    request = parse_head(b"CONNECT API.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (request.method, request.host, request.port, request.path) == ("CONNECT", "api.example.com", 443, "")


def test_plain_http_requests_use_the_absolute_form() -> None:
    request = parse_head(b"GET http://api.example.com/v1/x?y=1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
    assert (request.host, request.port, request.path) == ("api.example.com", 80, "/v1/x?y=1")
    request = parse_head(b"GET http://api.example.com:8080?q HTTP/1.0\r\n\r\n")
    assert (request.port, request.path) == (8080, "/?q")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /relative HTTP/1.1\r\nHost: api.example.com\r\n\r\n",  # not a proxy request
        b"GET https://api.example.com/ HTTP/1.1\r\n\r\n",  # TLS goes through CONNECT
        b"GET http://user@api.example.com/ HTTP/1.1\r\n\r\n",
        b"CONNECT api.example.com HTTP/1.1\r\n\r\n",
        b"GET http://api.example.com/ HTTP/2.0\r\n\r\n",
        b"GET  http://api.example.com/ HTTP/1.1\r\n\r\n",
        b"GET http://api.example.com/ HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET http://api.example.com/ HTTP/1.1\r\n folded: x\r\n\r\n",
        b"GET http://api.example.com/ HTTP/1.1\r\nX: a\nInjected: b\r\n\r\n",
        "GET http://bücher.example/ HTTP/1.1\r\n\r\n".encode(),
        b"GET http://api.example.com/a\tb HTTP/1.1\r\n\r\n",
        b"GET http://api.example.com/a\x00b HTTP/1.1\r\n\r\n",
    ],
)
def test_malformed_requests_are_refused(head: bytes) -> None:
    with pytest.raises(Refused) as refused:
        parse_head(head)
    assert refused.value.status == 400


def test_the_origin_sees_the_host_of_the_url_and_no_proxy_headers() -> None:
    request = parse_head(
        b"POST http://api.example.com:8080/pay HTTP/1.1\r\n"
        b"Host: other.example.com\r\n"
        b"Proxy-Authorization: Basic c2VjcmV0\r\n"
        b"Connection: keep-alive, X-Drop\r\n"
        b"X-Drop: 1\r\n"
        b"Content-Length: 2\r\n\r\n"
    )
    assert upstream_head(request) == (
        b"POST /pay HTTP/1.1\r\nHost: api.example.com:8080\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("headers", "framing"),
    [
        (b"", ("none", 0)),
        (b"Content-Length: 12\r\n", ("length", 12)),
        (b"Transfer-Encoding: chunked\r\n", ("chunked", 0)),
    ],
)
def test_body_framing(headers: bytes, framing: tuple[str, int]) -> None:
    assert body_framing(parse_head(b"POST http://a.example/ HTTP/1.1\r\n" + headers + b"\r\n")) == framing


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",  # request smuggling
        b"Content-Length: 3\r\nContent-Length: 4\r\n",
        b"Content-Length: -1\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
    ],
)
def test_ambiguous_bodies_are_refused(headers: bytes) -> None:
    with pytest.raises(Refused):
        body_framing(parse_head(b"POST http://a.example/ HTTP/1.1\r\n" + headers + b"\r\n"))


def test_normalize_host_is_idempotent() -> None:
    for text in ("API.example.com.", "[::FFFF:1.2.3.4]", "*.Example.com"):
        once = normalize_host(text)
        assert normalize_host(once if ":" not in once else f"[{once}]") == once


def test_authorities_need_a_port_unless_defaulted() -> None:
    assert parse_authority("api.example.com", default_port=80) == ("api.example.com", 80)
    with pytest.raises(ValueError):
        parse_authority("api.example.com")
