"""The one rule for `HOST:PORT` endpoints: how one is written, its canonical form, and which
declared endpoints admit which hosts. The checker and the egress proxy both use it; the proxy runs
it inside a container without specc, so this module needs nothing but the standard library."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class EndpointError(ValueError):
    """A text that is not a host, or not a `host:port` endpoint; `reason` says why in a clause
    that does not repeat the text."""

    def __init__(self, text: str, what: str, reason: str) -> None:
        super().__init__(f"`{text}` is not {what}: {reason}")
        self.text = text
        self.reason = reason


def normalize_host(text: str) -> str:
    """The canonical form of a host: lower case, no trailing dot, IP literals in their short form
    and without brackets. Raises `EndpointError` for anything that is not a host name, an address
    or a wildcard `*.domain`."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise EndpointError(text, "a host", "the text in brackets is not an IPv6 address") from None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise EndpointError(text, "a host", "it is empty")
    if len(host) > 253:
        raise EndpointError(text, "a host", "a host name has at most 253 characters")
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise EndpointError(text, "a host", "a wildcard needs a domain of at least two labels under it")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise EndpointError(text, "a host", "a host name is dot-separated labels of letters, digits, `-` and `_`, "
                            "with a wildcard only as a leading `*.`")
    if labels[-1].isdigit():
        # `127.1` or `2130706433` would be taken as an address by the resolver.
        raise EndpointError(text, "a host", "it is neither a host name nor a dotted-quad address")
    return host


def parse_authority(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split `host:port` (`[v6]:port`) into a normalized host and a port; raises `EndpointError`."""
    what = "a host and port"
    if not text:
        raise EndpointError(text, what, "it is empty")
    if "@" in text or "/" in text:
        raise EndpointError(text, what, "it may not name a scheme, a user or a path")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise EndpointError(text, what, "its `[` is never closed")
        host_text, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise EndpointError(text, what, "only `:PORT` may follow the address in brackets")
        port_text = rest[1:] if rest else ""
    else:
        host_text, colon, port_text = text.rpartition(":")
        if not colon:
            host_text, port_text = text, ""
        elif ":" in host_text:
            raise EndpointError(text, what, "an IPv6 address must be in brackets")
    if not port_text:
        if default_port is None:
            raise EndpointError(text, what, "it has no port")
        port = default_port
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5:
        port = int(port_text)
    else:
        raise EndpointError(text, what, "its port is not a number")
    if not 0 < port < 65536:
        raise EndpointError(text, what, "its port is outside 1..65535")
    return normalize_host(host_text), port


def is_address(host: str) -> bool:
    """Whether a normalized host is an IP literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_matches(pattern: str, host: str) -> bool:
    """Whether a normalized `host` is admitted by a normalized `pattern`.

    Exact names only, except a leading `*.`, which admits every name with at least one more label
    (`*.example.com` admits `a.example.com` and `a.b.example.com`, never `example.com`).
    """
    if pattern.startswith("*."):
        return not is_address(host) and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def admits(declared: tuple[str, int], wanted: tuple[str, int]) -> bool:
    """Whether a declared endpoint (the scope's) admits another declared endpoint (an action's):
    the same port, and the same host, a name under a wildcard, or a narrower wildcard under it
    (`*.example.com:443` admits `*.api.example.com:443`)."""
    (pattern, port), (host, wanted_port) = declared, wanted
    return port == wanted_port and (pattern == host or host_matches(pattern, host))


def authority(host: str, port: int) -> str:
    """A normalized host and a port written back as `host:port` (`[v6]:port`)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
