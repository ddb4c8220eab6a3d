"""The egress proxy: the only way out of an action's internal network.

It runs inside a container (python3 of the base image, standard library only, started as
`python3 -I -c <this file> <config JSON>`), lets HTTP `CONNECT` and plain HTTP through only to the
action's declared host and port pairs, resolves names itself, refuses non-public addresses and
connects to the exact address it checked. Every decision is one JSON line on stdout.

The rules for `host:port` are the checker's, in `specc/endpoints.py`; `program()` puts that file's
text before this one for the container, where specc cannot be imported. So this file has no
`from __future__` import: such an import may only open a program, and the endpoints' text opens it.
"""

import asyncio
import ipaddress
import json
import re
import signal
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

try:  # `X as X` re-exports: the proxy's rules are read from here too
    from specc.endpoints import authority, is_address
    from specc.endpoints import host_matches as host_matches
    from specc.endpoints import normalize_host as normalize_host
    from specc.endpoints import parse_authority as parse_authority
except ImportError:  # in the container: `program()` defined them above, from specc/endpoints.py
    pass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Largest request head (request line and headers) read from a tool; beyond it the request is refused.
MAX_HEAD_BYTES: Final = 64 * 1024

#: Seconds a tool has to send its request head after connecting.
HEAD_TIMEOUT_S: Final = 15.0

#: Seconds allowed for resolving a declared name, and for connecting to one checked address.
RESOLVE_TIMEOUT_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 10.0

#: A tunnel or a response with no byte in either direction for this long is closed.
IDLE_TIMEOUT_S: Final = 300.0

#: Connections handled at once; more are refused with 503 (the container's pids and memory limits
#: bound the rest).
MAX_CONNECTIONS: Final = 64

#: Threads resolving names at once; they count against the container's pids limit.
RESOLVER_THREADS: Final = 4

#: Addresses that clouds answer instance credentials on. They are link-local or private already;
#: naming them gives the refusal a clearer reason.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.169.253",  # AWS VPC DNS
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)

#: Shared address space (RFC 6598, carrier-grade NAT); Python's `is_private` does not cover it.
CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")

#: Prefix translating IPv4 into IPv6 (RFC 6052); the embedded IPv4 address is checked too.
NAT64: Final = ipaddress.ip_network("64:ff9b::/96")

#: Hop-by-hop headers: they concern the hop to the proxy and are never forwarded.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
    }
)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(r"[\x21-\x7e]+")


class Refused(Exception):
    """The request is not let through; `status` is the HTTP status the tool gets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- the policy ----------------------------------------------------------------------------------


def address_refusal(address: IPAddress, trusted: Sequence[IPNetwork] = ()) -> str | None:
    """Why a proxy must not connect to `address` (a short phrase), or None when it may.

    Only globally routable unicast addresses pass, and addresses inside a `trusted` network.
    Loopback and unspecified addresses never pass: in the proxy's container they are the proxy.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            inner = address_refusal(embedded, trusted)
            if inner is not None:
                return inner
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if any(address in network for network in trusted if network.version == address.version):
        return None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "a shared (carrier-grade NAT) address"
    if isinstance(address, ipaddress.IPv4Address) and address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class Policy:
    """What one action may reach."""

    action: str
    endpoints: tuple[tuple[str, int], ...]  # normalized host or `*.domain`, port
    trusted: tuple[IPNetwork, ...] = ()

    def declared(self, host: str, port: int) -> bool:
        """Whether the action declared `host:port` (exactly, or under a declared wildcard)."""
        return any(p == port and host_matches(h, host) for h, p in self.endpoints)

    def literal(self, host: str, port: int) -> bool:
        """Whether the action declared `host` itself, an address, with that port."""
        return is_address(host) and (host, port) in self.endpoints

    def permitted(self, host: str, port: int, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        """The addresses of a declared `host:port` that may be connected to; raises `Refused`
        naming the first refused address when none may."""
        candidates = list(dict.fromkeys(addresses))
        if not candidates:
            raise Refused(502, f"`{host}` has no address")
        allowed: list[IPAddress] = []
        first_refusal: str | None = None
        for address in candidates:
            refusal = address_refusal(address, self.trusted)
            if refusal is not None and self.literal(host, port) and not (address.is_loopback or address.is_unspecified):
                refusal = None  # the spec named this very address
            if refusal is None:
                allowed.append(address)
            elif first_refusal is None:
                what = f"`{host}` is" if is_address(host) else f"`{host}` resolves to {address}, which is"
                first_refusal = f"{what} {refusal}"
        if not allowed:
            raise Refused(403, first_refusal or f"`{host}` has no permitted address")
        return allowed


# -- requests ------------------------------------------------------------------------------------


@dataclass
class Request:
    """A parsed request head."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    host: str
    port: int
    path: str  # origin-form for plain HTTP; empty for CONNECT


def parse_head(head: bytes) -> Request:
    """Parse a request head (ending in an empty line); raises `Refused` (400) when malformed."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise Refused(400, "the request head is not ASCII") from None
    lines = text.split("\r\n")
    if lines[-2:] != ["", ""]:
        raise Refused(400, "the request head does not end with an empty line")
    lines = lines[:-2]
    request_line = lines[0] if lines else ""
    parts = request_line.split(" ")
    if (
        len(parts) != 3
        or not _TOKEN.fullmatch(parts[0])
        or not _TARGET.fullmatch(parts[1])
        or parts[2] not in ("HTTP/1.0", "HTTP/1.1")
    ):
        raise Refused(400, "malformed request line")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
            raise Refused(400, "malformed header line")
        value = value.strip(" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise Refused(400, "malformed header value")
        headers.append((name, value))
    try:
        if method == "CONNECT":
            host, port = parse_authority(target)
            path = ""
        else:
            host, port, path = _absolute_form(target)
    except ValueError as err:
        raise Refused(400, f"malformed request target: {err}") from None
    return Request(method, target, version, headers, host, port, path)


def _absolute_form(target: str) -> tuple[str, int, str]:
    scheme, sep, rest = target.partition("://")
    if not sep:
        raise ValueError("a proxy request needs an absolute `http://` URL")
    if scheme.lower() != "http":
        raise ValueError(f"scheme `{scheme}` is not proxied as plain HTTP; use CONNECT")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    if "#" in path:
        raise ValueError("a request target has no fragment")
    if path.startswith("?"):
        path = "/" + path
    host, port = parse_authority(authority, default_port=80)
    return host, port, path or "/"


def upstream_head(request: Request) -> bytes:
    """The head sent to the origin: origin-form target, the Host the URL named (a Host header
    naming another site is replaced), hop-by-hop headers removed, one request per connection."""
    listed = {
        token.strip().lower()
        for name, value in request.headers
        if name.lower() in ("connection", "proxy-connection")
        for token in value.split(",")
    }
    authority = f"[{request.host}]" if ":" in request.host else request.host
    if request.port != 80:
        authority += f":{request.port}"
    lines = [f"{request.method} {request.path} {request.version}", f"Host: {authority}"]
    for name, value in request.headers:
        lower = name.lower()
        if lower == "host" or lower in HOP_BY_HOP or lower in listed:
            continue
        lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def body_framing(request: Request) -> tuple[str, int]:
    """How the request body is delimited: ("none", 0), ("length", n) or ("chunked", 0).

    Ambiguous framing (both headers, several lengths, other codings) is refused: a second request
    smuggled inside the first must not reach the origin unchecked.
    """
    lengths = [v for n, v in request.headers if n.lower() == "content-length"]
    codings = [v for n, v in request.headers if n.lower() == "transfer-encoding"]
    if codings:
        if lengths or len(codings) != 1 or codings[0].strip().lower() != "chunked":
            raise Refused(400, "ambiguous or unsupported request body framing")
        return "chunked", 0
    if lengths:
        if len(set(lengths)) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 15:
            raise Refused(400, "invalid Content-Length")
        return "length", int(lengths[0])
    return "none", 0


# -- the server ----------------------------------------------------------------------------------


def emit(record: dict[str, object]) -> None:
    """Write one JSON line on stdout, where the runtime reads it."""
    sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    sys.stdout.flush()


class Proxy:
    """An asyncio forward proxy enforcing one `Policy`."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.syncs = 0

    def event(self, method: str, host: str, port: int, allowed: bool, reason: str, address: str | None) -> None:
        emit(
            {
                "event": "connection",
                "action": self.policy.action,
                "method": method,
                "host": host,
                "port": port,
                "allowed": allowed,
                "reason": reason,
                "address": address,
                "time": time.time(),
            }
        )

    def sync(self) -> None:
        """Answer the runtime's SIGUSR1: every decision printed before this line is complete."""
        self.syncs += 1
        emit({"event": "sync", "n": self.syncs})

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.slots.locked():
                self.event("", "", 0, False, "too many connections at once", None)
                await _answer(writer, 503, "too many connections at once")
                return
            async with self.slots:
                await self._handle(reader, writer)
        except Exception as err:  # a bug here must still leave a record, and the proxy serving
            self.event("", "", 0, False, f"internal error: {type(err).__name__}", None)
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except asyncio.LimitOverrunError:
            self.event("", "", 0, False, "request head too large", None)
            await _answer(writer, 431, "request head too large")
            return
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError) as err:
            partial = getattr(err, "partial", b"")
            reason = "no request received" if not partial else "incomplete request head"
            self.event("", "", 0, False, reason, None)
            return
        try:
            request = parse_head(head)
        except Refused as refusal:
            self.event("", "", 0, False, refusal.reason, None)
            await _answer(writer, refusal.status, refusal.reason)
            return
        method, host, port = request.method, request.host, request.port
        try:
            framing = body_framing(request) if method != "CONNECT" else ("none", 0)
            if not self.policy.declared(host, port):
                # Refused before any lookup: an undeclared name is never sent to a resolver.
                raise Refused(403, f"`{authority(host, port)}` is not declared for action `{self.policy.action}`")
            addresses = await self._resolve(host, port)
            allowed = self.policy.permitted(host, port, addresses)
            upstream, address = await _connect(allowed, port)
        except Refused as refusal:
            self.event(method, host, port, False, refusal.reason, None)
            await _answer(writer, refusal.status, refusal.reason)
            return
        up_reader, up_writer = upstream
        self.event(method, host, port, True, "connected", str(address))
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await _tunnel(reader, writer, up_reader, up_writer)
            else:
                up_writer.write(upstream_head(request))
                await up_writer.drain()
                await _exchange(reader, writer, up_reader, up_writer, framing)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, Refused):
            pass  # the decision is recorded; a broken transfer is the tool's to notice
        finally:
            up_writer.close()

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        if is_address(host):
            return [ipaddress.ip_address(host)]
        loop = asyncio.get_running_loop()
        try:
            # The trailing dot makes the name absolute: no search domain is ever appended, so the
            # resolver sees exactly the declared name.
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host + ".", port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
                RESOLVE_TIMEOUT_S,
            )
        except TimeoutError:
            raise Refused(504, f"resolving `{host}` timed out") from None
        except OSError as err:
            raise Refused(502, f"`{host}` could not be resolved: {err.strerror or err}") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def _connect(
    addresses: Sequence[IPAddress], port: int
) -> tuple[tuple[asyncio.StreamReader, asyncio.StreamWriter], IPAddress]:
    """Connect to the first checked address that answers; never to a name."""
    failures = []
    for address in addresses:
        try:
            streams = await asyncio.wait_for(asyncio.open_connection(str(address), port), CONNECT_TIMEOUT_S)
        except TimeoutError:
            failures.append(f"{address}: timed out")
            continue
        except OSError as err:
            failures.append(f"{address}: {err.strerror or err}")
            continue
        return streams, address
    raise Refused(502, "could not connect (" + "; ".join(failures) + ")")


class _Activity:
    """When a connection last carried a byte, in either direction."""

    def __init__(self) -> None:
        self.last = time.monotonic()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, activity: _Activity | None = None) -> None:
    """Copy until end of stream, then half-close; give up when no byte moved for `IDLE_TIMEOUT_S`
    (in either direction when `activity` is shared: a long download is not idle)."""
    activity = activity or _Activity()
    try:
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S)
            except TimeoutError:
                if time.monotonic() - activity.last < IDLE_TIMEOUT_S:
                    continue
                raise
            if not data:
                break
            activity.last = time.monotonic()
            writer.write(data)
            await writer.drain()
    finally:
        if writer.can_write_eof() and not writer.is_closing():
            try:
                writer.write_eof()
            except OSError:
                pass


async def _tunnel(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    activity = _Activity()
    results = await asyncio.gather(
        _pipe(reader, up_writer, activity), _pipe(up_reader, writer, activity), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    framing: tuple[str, int],
) -> None:
    """Send exactly one request body, relay the response until the origin closes."""
    body = asyncio.ensure_future(_send_body(reader, up_writer, framing))
    try:
        await _pipe(up_reader, writer)
    finally:
        body.cancel()
        try:
            await body
        except (asyncio.CancelledError, Exception):
            pass


async def _send_body(reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter, framing: tuple[str, int]) -> None:
    kind, length = framing
    if kind == "length":
        while length > 0:
            data = await asyncio.wait_for(reader.read(min(length, 65536)), IDLE_TIMEOUT_S)
            if not data:
                return
            up_writer.write(data)
            await up_writer.drain()
            length -= len(data)
    elif kind == "chunked":
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), IDLE_TIMEOUT_S)
            size_text = line[:-2].split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 15 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                raise Refused(400, "malformed chunk size")
            size = int(size_text, 16)
            up_writer.write(line)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = await asyncio.wait_for(reader.readuntil(b"\r\n"), IDLE_TIMEOUT_S)
                    up_writer.write(trailer)
                    if trailer == b"\r\n":
                        break
                await up_writer.drain()
                return
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), IDLE_TIMEOUT_S)
            if not chunk.endswith(b"\r\n"):
                raise Refused(400, "malformed chunk")
            up_writer.write(chunk)
            await up_writer.drain()


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    phrase = {400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large", 502: "Bad Gateway"}
    phrase |= {503: "Service Unavailable", 504: "Gateway Timeout"}
    body = f"specc egress: {reason}\n".encode("ascii", "replace")
    head = (
        f"HTTP/1.1 {status} {phrase.get(status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "X-Specc-Egress: refused\r\n\r\n"
    ).encode("ascii")
    try:
        writer.write(head + body)
        await writer.drain()
    except ConnectionError:
        pass


def local_address(network: IPNetwork) -> str:
    """This container's address on `network` (the route the kernel would pick; nothing is sent)."""
    family = socket.AF_INET6 if network.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((str(network.network_address + 1), 9))
        address = str(probe.getsockname()[0])
    if ipaddress.ip_address(address) not in network:
        raise SystemExit(f"no address on the internal network {network} (the route goes through {address})")
    return address


async def serve(config: dict[str, Any]) -> None:
    """Listen on this container's address on the internal network until SIGTERM."""
    endpoints = tuple((str(h), int(p)) for h, p in config["endpoints"])
    trusted = tuple(ipaddress.ip_network(str(n)) for n in config.get("trusted", ()))
    proxy = Proxy(Policy(str(config["action"]), endpoints, trusted))
    listen = local_address(ipaddress.ip_network(str(config["network"])))
    port = int(config["port"])
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="resolve"))
    server = await asyncio.start_server(proxy.handle, listen, port, limit=MAX_HEAD_BYTES, backlog=MAX_CONNECTIONS)
    stop = asyncio.Event()
    # As PID 1 of its container the proxy has no default signal handlers: install every one it needs.
    loop.add_signal_handler(signal.SIGUSR1, proxy.sync)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    emit({"event": "ready", "listen": listen, "port": port})
    async with server:
        await stop.wait()


def program() -> str:
    """The proxy as one self-contained program for `python3 -I -c`: the text of specc/endpoints.py,
    then this file's."""
    from pathlib import Path

    from specc import endpoints

    return "\n\n".join(Path(f).read_text(encoding="utf-8") for f in (endpoints.__file__, __file__))


def main(argv: Sequence[str]) -> None:
    """Entry point inside the container: `argv[1]` is the JSON configuration."""
    if len(argv) != 2:
        raise SystemExit("usage: egress_proxy CONFIG_JSON")
    asyncio.run(serve(json.loads(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
