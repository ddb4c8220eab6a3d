"""Egress limited to the declared hosts, on the real engine.

A lab network stands in for the world: HTTP servers with network aliases (`api.test.internal`, a
second server that is never declared, one at an untrusted private address) and a DNS server that
logs every query and answers invented names with metadata, loopback and private addresses. The
proxies reach the world through the lab (`upstream`) and use the lab's DNS server as their
resolver's upstream (`proxy_dns`), so every name they look up beyond Docker's own aliases shows in
its log.

Honest about one test-only lever: the lab's servers live on Docker's private addresses, which the
proxy refuses. Each test trusts exactly the addresses of the servers it means to reach
(`trusted_networks` with /32 networks); every other private address stays refused, and one test
shows a declared name resolving to an untrusted private address being refused.

Each tool runs through the real sandbox with the network and env vars `Egress.network_for` gives.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerfixtures import python_request

from specc.runtime.egress import (
    OUTER_ROLE,
    PROXY_PORT,
    ROLE_LABEL,
    ConnectionEvent,
    Egress,
    Endpoint,
    reap_egress,
)
from specc.runtime.sandbox import BASE_IMAGE, MANAGED_LABEL, OWNER_LABEL, RUN_ID_LABEL, SECURITY_OPT, Sandbox

REPO = Path(__file__).resolve().parents[2]

#: The lab's HTTP servers: `/` says who answered, `/redirect?to=URL` answers 302, `/headers` echoes.
HTTP_SERVER = r"""
import http.server, json, sys, threading, urllib.parse
name, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", urllib.parse.parse_qs(url.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"server": name, "port": self.server.server_port, "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = json.dumps({"server": name, "received": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
servers = [http.server.ThreadingHTTPServer(("0.0.0.0", p), Handler) for p in ports]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
servers[0].serve_forever()
"""

#: The lab's DNS server: A records from argv[1] (TTL 0), NXDOMAIN for the rest, every query logged.
DNS_SERVER = r"""
import json, socket, struct, sys
answers = json.loads(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 53))
print(json.dumps({"ready": True}), flush=True)
while True:
    data, peer = sock.recvfrom(4096)
    try:
        labels, i = [], 12
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
            i += 1 + data[i]
        qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
    except (IndexError, struct.error):
        continue
    name = ".".join(labels).lower()
    print(json.dumps({"query": name, "type": qtype, "from": peer[0]}), flush=True)
    question = data[12:i + 5]
    address = answers.get(name)
    if address and qtype == 1:
        rcode, records = 0, [b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + socket.inet_aton(address)]
    elif address:
        rcode, records = 0, []
    else:
        rcode, records = 3, []
    header = struct.pack(">HHHHHH", data[0] << 8 | data[1], 0x8180 | rcode, 1, len(records), 0, 0)
    sock.sendto(header + question + b"".join(records), peer)
"""

#: The tool: runs the operations given on stdin at once (each in a thread), prints their results.
TOOL = r"""
import json, os, random, socket, struct, sys, threading, urllib.error, urllib.request

def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return {"status": answer.status, "body": answer.read().decode(), "url": answer.geturl()}
    except urllib.error.HTTPError as err:
        return {"status": err.code, "body": err.read().decode("utf-8", "replace"), "url": err.geturl()}
    except Exception as err:
        return {"error": f"{type(err).__name__}: {err}"}

def post(url, text, chunked):
    data = iter([text[:3].encode(), text[3:].encode()]) if chunked else text.encode()
    request = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(request, timeout=15) as answer:
        return {"status": answer.status, "body": answer.read().decode()}

def raw(data):
    host, port = os.environ["HTTP_PROXY"].split("//")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(data.encode())
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return {"status": int(answer.split()[1]) if answer else None}

def connect(target):
    host, port = os.environ["HTTPS_PROXY"].split("//")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            return {"error": "closed"}
        head += chunk
    status = int(head.split()[1])
    result = {"status": status}
    if status == 200:
        sock.sendall(f"GET /tunnel HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        result["inner"] = data.split(b"\r\n", 1)[0].decode()
        result["body"] = data.split(b"\r\n\r\n", 1)[1].decode()
    return result

def direct(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return {"connected": True}
    except OSError as err:
        return {"connected": False, "error": str(err)}

def dns(name, server):
    query = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(4)
    try:
        sock.sendto(query, (server, 53))
        data = sock.recv(4096)
    except OSError as err:
        return {"answered": False, "error": str(err)}
    flags, _, answers = struct.unpack(">HHH", data[2:8])
    return {"answered": True, "rcode": flags & 15, "answers": answers}

def resolve(name):
    try:
        return {"addresses": sorted({i[4][0] for i in socket.getaddrinfo(name, 80)})}
    except OSError as err:
        return {"error": str(err)}

operations = json.loads(sys.stdin.read())
results = [None] * len(operations)
def run(i, op):
    try:
        results[i] = globals()[op[0]](*op[1:])
    except Exception as err:
        results[i] = {"error": f"{type(err).__name__}: {err}"}
threads = [threading.Thread(target=run, args=(i, op)) for i, op in enumerate(operations)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


@dataclasses.dataclass
class Lab:
    """The stand-in world: one network, its servers and their addresses."""

    client: Any
    run_id: str
    network: str
    gateway: str
    api: str  # api.test.internal, ports 8000 and 8001
    other: str  # other.test.internal, port 8000: never declared
    private: str  # private.test.internal, port 8000: never trusted
    dns: str  # the DNS server the proxies forward to
    dns_container: Any
    dns_seen: int = 0

    def queries(self) -> list[str]:
        """Names the DNS server was asked for since the last call."""
        lines = self.dns_container.logs(stdout=True, stderr=False).decode().splitlines()
        fresh, self.dns_seen = lines[self.dns_seen :], len(lines)
        return [json.loads(line)["query"] for line in fresh if '"query"' in line]


def _labels(run_id: str, role: str | None = None) -> dict[str, str]:
    # With an owner, the reapers remove the lab of a test process that was killed.
    labels = {MANAGED_LABEL: "1", RUN_ID_LABEL: run_id, OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}"}
    if role is not None:
        labels[ROLE_LABEL] = role
    return labels


def _remove_labelled(client: Any, run_id: str) -> None:
    label = [f"{MANAGED_LABEL}=1", f"{RUN_ID_LABEL}={run_id}"]
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        network.reload()
        for container in network.containers:
            network.disconnect(container, force=True)
        network.remove()


def _left_behind(client: Any, run_id: str) -> list[str]:
    label = [f"{MANAGED_LABEL}=1", f"{RUN_ID_LABEL}={run_id}"]
    containers = client.containers.list(all=True, filters={"label": label})
    networks = client.networks.list(filters={"label": label})
    return [c.name for c in containers] + [n.name for n in networks]


def _server(client: Any, lab_id: str, network: Any, alias: str, argv: list[str], **options: Any) -> tuple[Any, str]:
    container = client.containers.create(
        BASE_IMAGE,
        argv,
        user="65534:65534",
        labels=_labels(lab_id),
        name=f"specc-lab-{alias.split('.')[0]}-{lab_id[-8:]}",
        network=network.name,
        read_only=True,
        cap_drop=["ALL"],
        pids_limit=64,
        mem_limit="128m",
        **options,
    )
    network.disconnect(container)
    network.connect(container, aliases=[alias])
    container.start()
    deadline = time.monotonic() + 20
    while b"ready" not in container.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    container.reload()
    return container, container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]


@pytest.fixture(scope="module")
def lab(docker_client: Any) -> Iterator[Lab]:
    lab_id = f"test-lab-{uuid.uuid4().hex[:12]}"
    network = docker_client.networks.create(
        f"specc-lab-{lab_id[-12:]}", driver="bridge", labels=_labels(lab_id, OUTER_ROLE)
    )
    try:
        _, api = _server(
            docker_client, lab_id, network, "api.test.internal", ["python3", "-c", HTTP_SERVER, "api", "8000", "8001"]
        )
        _, other = _server(
            docker_client, lab_id, network, "other.test.internal", ["python3", "-c", HTTP_SERVER, "other", "8000"]
        )
        _, private = _server(
            docker_client, lab_id, network, "private.test.internal", ["python3", "-c", HTTP_SERVER, "private", "8000"]
        )
        answers = {
            "meta.test.example": "169.254.169.254",
            "loop.test.example": "127.0.0.1",
            "ten.test.example": "10.1.2.3",
            "cgnat.test.example": "100.100.100.200",
            "public.test.example": api,  # a name only this DNS server knows, pointing at a trusted server
        }
        dns_container, dns = _server(
            docker_client,
            lab_id,
            network,
            "dns.test.internal",
            ["python3", "-c", DNS_SERVER, json.dumps(answers)],
            sysctls={"net.ipv4.ip_unprivileged_port_start": "0"},
        )
        network.reload()
        gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
        yield Lab(docker_client, lab_id, network.name, gateway, api, other, private, dns, dns_container)
    finally:
        _remove_labelled(docker_client, lab_id)


@pytest.fixture
def egress_run(docker_client: Any) -> Iterator[str]:
    """A run id for one test; the test fails if the run leaves any network or container behind."""
    run_id = f"test-egress-{uuid.uuid4().hex[:12]}"
    yield run_id
    left = _left_behind(docker_client, run_id)
    _remove_labelled(docker_client, run_id)
    assert not left, f"left behind: {left}"


def egress(lab: Lab, run_id: str, events: list[ConnectionEvent], *trusted: str) -> Egress:
    return Egress(
        run_id,
        lab.client,
        on_event=events.append,
        upstream=lab.network,
        trusted_networks=[f"{a}/32" for a in trusted],
        proxy_dns=[lab.dns],
    )


def run_tool(
    sandbox: Sandbox, run_id: str, network: str, env: dict[str, str], *operations: list[Any]
) -> list[dict[str, Any]]:
    request = python_request(run_id, TOOL, stdin=json.dumps(operations).encode(), timeout_s=40.0)
    result = sandbox.run(request, network=network, extra_env=env)
    assert result.kind == "ok", (result.kind, result.detail, result.stderr.decode()[-2000:])
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


def decisions(events: list[ConnectionEvent]) -> set[tuple[str, str, int, bool]]:
    return {(e.method, e.host, e.port, e.allowed) for e in events}


# -- the declared host, and nothing else ---------------------------------------------------------


def test_declared_host_answers_through_the_proxy(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    events: list[ConnectionEvent] = []
    with egress(lab, egress_run, events, lab.api) as route:
        network, env = route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
        assert set(env) == {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
        assert env["HTTP_PROXY"].endswith(f":{PROXY_PORT}")
        plain, tunnel, spoofed, posted, chunked = run_tool(
            sandbox,
            egress_run,
            network,
            env,
            ["get", "http://api.test.internal:8000/hello"],
            ["connect", "api.test.internal:8000"],
            ["get", "http://api.test.internal:8000/headers", {"Host": "other.test.internal"}],
            ["post", "http://api.test.internal:8000/pay", "amount=12", False],
            ["post", "http://api.test.internal:8000/pay", "amount=34", True],
        )
        assert route.flush("fetch") == 5
    assert plain["status"] == 200 and json.loads(plain["body"])["server"] == "api"
    assert tunnel["status"] == 200 and tunnel["inner"].endswith("200 OK")
    assert json.loads(tunnel["body"])["path"] == "/tunnel"
    # A Host header naming another site is replaced with the host the URL named.
    assert json.loads(spoofed["body"])["headers"]["host"] == "api.test.internal:8000"
    assert json.loads(posted["body"])["received"] == "amount=12"
    assert json.loads(chunked["body"])["received"] == "amount=34"
    assert decisions(events) == {
        ("GET", "api.test.internal", 8000, True),
        ("CONNECT", "api.test.internal", 8000, True),
        ("POST", "api.test.internal", 8000, True),
    }
    assert len(events) == 5
    assert {e.address for e in events} == {lab.api}
    assert {e.action for e in events} == {"fetch"}


def test_undeclared_server_and_undeclared_port_are_refused(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    events: list[ConnectionEvent] = []
    with egress(lab, egress_run, events, lab.api, lab.other) as route:
        network, env = route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
        answers = run_tool(
            sandbox,
            egress_run,
            network,
            env,
            ["get", "http://other.test.internal:8000/"],
            ["connect", "other.test.internal:8000"],
            ["get", "http://api.test.internal:8001/"],  # the server listens there too
            ["connect", "api.test.internal:8001"],
            ["get", f"http://{lab.api}:8000/"],  # its address is trusted, but not declared
            ["get", "http://evil.api.test.internal:8000/"],
            ["raw", "hello\r\n\r\n"],
            ["raw", "GET /relative HTTP/1.1\r\nHost: api.test.internal:8000\r\n\r\n"],
        )
    assert [a["status"] for a in answers] == [403] * 6 + [400, 400]
    assert "is not declared for action `fetch`" in answers[0]["body"]
    assert not any(e.allowed for e in events)
    assert decisions(events) == {
        ("GET", "other.test.internal", 8000, False),
        ("CONNECT", "other.test.internal", 8000, False),
        ("GET", "api.test.internal", 8001, False),
        ("CONNECT", "api.test.internal", 8001, False),
        ("GET", lab.api, 8000, False),
        ("GET", "evil.api.test.internal", 8000, False),
        ("", "", 0, False),  # the two malformed requests
    }
    assert all(e.address is None for e in events)
    assert sorted(e.reason for e in events if not e.host) == [
        "malformed request line",
        "malformed request target: a proxy request needs an absolute `http://` URL",
    ]


def test_each_action_reaches_only_its_own_hosts(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    events: list[ConnectionEvent] = []
    with egress(lab, egress_run, events, lab.api, lab.other) as route:
        net_a, env_a = route.network_for("read", [Endpoint.parse("api.test.internal:8000")])
        net_b, env_b = route.network_for("write", [Endpoint.parse("other.test.internal:8000")])
        assert net_a != net_b and env_a["HTTP_PROXY"] != env_b["HTTP_PROXY"]
        assert route.network_for("read", [Endpoint.parse("api.test.internal:8000")]) == (net_a, env_a)
        proxy_b = env_b["HTTP_PROXY"].split("//")[1].split(":")[0]
        a_other, a_api, a_to_b = run_tool(
            sandbox,
            egress_run,
            net_a,
            env_a,
            ["get", "http://other.test.internal:8000/"],
            ["get", "http://api.test.internal:8000/"],
            ["direct", proxy_b, PROXY_PORT],
        )
        (b_other,) = run_tool(sandbox, egress_run, net_b, env_b, ["get", "http://other.test.internal:8000/"])
    assert a_other["status"] == 403 and a_api["status"] == 200
    assert a_to_b["connected"] is False
    assert b_other["status"] == 200 and json.loads(b_other["body"])["server"] == "other"
    assert {(e.action, e.host, e.allowed) for e in events} == {
        ("read", "other.test.internal", False),
        ("read", "api.test.internal", True),
        ("write", "other.test.internal", True),
    }


def test_a_direct_connection_bypassing_the_proxy_fails(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("0.0.0.0", 0))  # a service on the host, on every interface
    listener.listen(8)
    host_port = listener.getsockname()[1]
    try:
        events: list[ConnectionEvent] = []
        with egress(lab, egress_run, events, lab.api) as route:
            network, env = route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
            internal = lab.client.api.inspect_network(network)["IPAM"]["Config"][0]
            targets = [
                [lab.api, 8000],  # the declared server, by its address
                [lab.gateway, host_port],  # the host, through the lab's bridge
                [internal["Gateway"], host_port],  # the host, through the internal network's bridge
                ["172.17.0.1", host_port],  # the host, through docker0
            ]
            tool = run_tool(sandbox, egress_run, network, env, *(["direct", *t] for t in targets))
            # The same probes from a container on the lab network reach what the tool cannot.
            control = run_tool(sandbox, egress_run, lab.network, {}, *(["direct", *t] for t in targets[:2]))
    finally:
        listener.close()
    assert [r["connected"] for r in tool] == [False] * len(targets), tool
    assert [r["connected"] for r in control] == [True] * 2, control
    assert events == []  # nothing went through the proxy


# -- DNS -----------------------------------------------------------------------------------------


def test_the_tool_gets_no_dns_answer_and_the_proxy_looks_up_only_declared_names(
    lab: Lab, sandbox: Sandbox, egress_run: str
) -> None:
    secret = f"exfil-{uuid.uuid4().hex[:12]}"
    try:  # a name the host's resolvers answer makes "no answer" meaningful
        socket.getaddrinfo("deb.debian.org", 80)
        known = "deb.debian.org"
    except OSError:
        known = None
    host_resolvers = [
        line.split()[1]
        for line in Path("/etc/resolv.conf").read_text().splitlines()
        if line.startswith("nameserver") and ":" not in line.split()[1]
    ]
    lab.queries()
    events: list[ConnectionEvent] = []
    with egress(lab, egress_run, events, lab.api) as route:
        network, env = route.network_for(
            "fetch", [Endpoint.parse("api.test.internal:8000"), Endpoint.parse("public.test.example:8000")]
        )
        names = [f"{secret}.test.example"] + ([known] if known else [])
        operations: list[list[Any]] = [["resolve", name] for name in names]
        operations += [["dns", name, server] for name in names for server in ["127.0.0.11", lab.dns, *host_resolvers]]
        operations += [
            ["get", f"http://{secret}-get.test.example:8000/"],  # undeclared: never looked up
            ["connect", f"{secret}-connect.test.example:443"],
            ["get", "http://public.test.example:8000/"],  # declared, and only the lab's DNS knows it
        ]
        answers = run_tool(sandbox, egress_run, network, env, *operations)
        route.flush()
    resolved = answers[: len(names)]
    queried = answers[len(names) : -3]
    got, connected, public = answers[-3:]
    assert all("error" in r for r in resolved), resolved
    # No answer from outside: an NXDOMAIN or an address would both mean a resolver out there saw it.
    for result in queried:
        assert not result["answered"] or result["rcode"] not in (0, 3), (queried, operations)
    assert got["status"] == 403 and connected["status"] == 403
    assert public["status"] == 200, public
    seen = lab.queries()
    assert "public.test.example" in seen  # the log does see the proxy's lookups
    assert set(seen) <= {"public.test.example", "api.test.internal"}, seen
    assert not any(secret in name for name in seen)
    assert [e.host for e in events if e.allowed] == ["public.test.example"]


# -- addresses -----------------------------------------------------------------------------------


def test_redirects_to_loopback_or_metadata_are_refused_at_the_second_hop(
    lab: Lab, sandbox: Sandbox, egress_run: str
) -> None:
    events: list[ConnectionEvent] = []
    targets = [
        "http://127.0.0.1:8000/",
        "http://169.254.169.254/latest/meta-data/",
        "http://meta.test.example/latest/meta-data/",  # declared, resolves to 169.254.169.254
        "http://loop.test.example:8000/",  # declared, resolves to 127.0.0.1
    ]
    endpoints = ["api.test.internal:8000", "meta.test.example:80", "loop.test.example:8000"]
    with egress(lab, egress_run, events, lab.api) as route:
        network, env = route.network_for("fetch", [Endpoint.parse(e) for e in endpoints])
        answers = run_tool(
            sandbox,
            egress_run,
            network,
            env,
            *(["get", f"http://api.test.internal:8000/redirect?to={target}"] for target in targets),
        )
    assert [a["status"] for a in answers] == [403] * 4, answers
    assert [a["url"] for a in answers] == targets  # the client followed; the proxy refused the second hop
    second = {e.host: e for e in events if e.host != "api.test.internal"}
    assert not any(e.allowed for e in second.values())
    assert "not declared" in second["127.0.0.1"].reason
    assert "not declared" in second["169.254.169.254"].reason
    assert second["meta.test.example"].reason == (
        "`meta.test.example` resolves to 169.254.169.254, which is a cloud metadata address"
    )
    assert (
        second["loop.test.example"].reason == "`loop.test.example` resolves to 127.0.0.1, which is a loopback address"
    )
    assert sum(e.allowed for e in events if e.host == "api.test.internal") == 4


def test_a_name_resolving_to_a_private_address_is_refused(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    events: list[ConnectionEvent] = []
    endpoints = [
        "private.test.internal:8000",  # a real server at a Docker address nobody trusted
        "ten.test.example:8000",  # 10.1.2.3
        "cgnat.test.example:8000",  # 100.100.100.200
        f"{lab.private}:8000",  # the same private server, declared by its literal address
    ]
    with egress(lab, egress_run, events, lab.api) as route:
        network, env = route.network_for("fetch", [Endpoint.parse(e) for e in endpoints])
        private, ten, cgnat, literal = run_tool(
            sandbox,
            egress_run,
            network,
            env,
            ["get", "http://private.test.internal:8000/"],
            ["connect", "ten.test.example:8000"],
            ["get", "http://cgnat.test.example:8000/"],
            ["get", f"http://{lab.private}:8000/"],
        )
    assert (private["status"], ten["status"], cgnat["status"]) == (403, 403, 403)
    assert f"resolves to {lab.private}, which is a private address" in private["body"]
    reasons = {e.host: e.reason for e in events}
    assert reasons["ten.test.example"] == "`ten.test.example` resolves to 10.1.2.3, which is a private address"
    assert "100.100.100.200, which is a cloud metadata address" in cgnat["body"]
    # The spec named this very address: the private refusal is lifted for it alone.
    assert literal["status"] == 200 and json.loads(literal["body"])["server"] == "private"
    assert {(e.host, e.allowed) for e in events} == {
        ("private.test.internal", False),
        ("ten.test.example", False),
        ("cgnat.test.example", False),
        (lab.private, True),
    }


def test_events_beyond_the_cap_are_counted_in_one_event(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    events: list[ConnectionEvent] = []
    with Egress(egress_run, lab.client, on_event=events.append, upstream=lab.network, max_events=2) as route:
        network, env = route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
        run_tool(sandbox, egress_run, network, env, *(["get", f"http://other.test.internal:{p}/"] for p in range(1, 6)))
    assert len(events) == 3
    assert events[-1].reason == "3 more connection attempts were not recorded (at most 2 per action)"


def test_a_dead_proxy_is_replaced_for_the_next_attempt(lab: Lab, sandbox: Sandbox, egress_run: str) -> None:
    events: list[ConnectionEvent] = []
    with egress(lab, egress_run, events, lab.api) as route:
        endpoints = [Endpoint.parse("api.test.internal:8000")]
        network, env = route.network_for("fetch", endpoints)
        (first,) = run_tool(sandbox, egress_run, network, env, ["get", "http://api.test.internal:8000/"])
        (proxy,) = lab.client.containers.list(filters={"label": [f"{RUN_ID_LABEL}={egress_run}"]})
        proxy.kill()
        started = time.monotonic()
        route.flush()  # the dead proxy's stream has ended: nothing to wait for
        assert time.monotonic() - started < 2
        (refused,) = run_tool(sandbox, egress_run, network, env, ["get", "http://api.test.internal:8000/"])
        again, again_env = route.network_for("fetch", endpoints)
        (second,) = run_tool(sandbox, egress_run, again, again_env, ["get", "http://api.test.internal:8000/"])
    assert first["status"] == 200 and second["status"] == 200
    assert "error" in refused  # with its proxy gone, the action has no way out at all
    assert again != network
    assert [e.allowed for e in events] == [True, True]


def test_the_run_reaches_the_world_through_its_own_outer_network(sandbox: Sandbox, egress_run: str) -> None:
    import urllib.request

    try:
        urllib.request.urlopen("http://deb.debian.org/debian/", timeout=10).close()
        addresses = {i[4][0] for i in socket.getaddrinfo("deb.debian.org", 80, socket.AF_INET)}
    except OSError as err:
        pytest.skip(f"this machine cannot reach deb.debian.org: {err}")
    # Some build machines stand in for the internet with documentation addresses (TEST-NET); trust
    # exactly those, so that the test shows the path, not the address rule.
    trusted = [f"{a}/32" for a in addresses if not ipaddress.ip_address(a).is_global]
    events: list[ConnectionEvent] = []
    with Egress(egress_run, on_event=events.append, trusted_networks=trusted) as route:
        network, env = route.network_for("mirror", [Endpoint.parse("deb.debian.org:80")])
        mirror, other = run_tool(
            sandbox,
            egress_run,
            network,
            env,
            ["get", "http://deb.debian.org/debian/"],
            ["get", "http://security.debian.org/"],
        )
    assert mirror["status"] == 200, mirror
    assert other["status"] == 403
    assert [(e.host, e.allowed, e.address in addresses) for e in events if e.allowed] == [
        ("deb.debian.org", True, True)
    ]


# -- nothing left behind -------------------------------------------------------------------------


def test_nothing_is_left_after_a_run_or_a_failed_run(lab: Lab, docker_client: Any, egress_run: str) -> None:
    with egress(lab, egress_run, [], lab.api) as route:
        route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
        assert len(_left_behind(docker_client, egress_run)) == 2  # the internal network and the proxy
    assert _left_behind(docker_client, egress_run) == []

    with pytest.raises(RuntimeError), Egress(egress_run, docker_client, on_event=lambda e: None) as route:
        route.network_for("fetch", [Endpoint.parse("deb.debian.org:80")])
        # Without `upstream`, the run's own outer network too.
        assert len(_left_behind(docker_client, egress_run)) == 3
        raise RuntimeError("the run failed")
    assert _left_behind(docker_client, egress_run) == []


HOLDER = r"""
import sys, time
from specc.runtime.egress import Egress, Endpoint
with Egress(sys.argv[1], on_event=lambda event: None) as route:
    network, env = route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
    print(network, flush=True)
    time.sleep(600)
"""


def test_a_killed_run_is_reaped(docker_client: Any, egress_run: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, egress_run],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None
        network = holder.stdout.readline().strip()
        assert network, "the holder did not start its egress"
        assert len(_left_behind(docker_client, egress_run)) == 3
        reap_egress(docker_client)
        assert len(_left_behind(docker_client, egress_run)) == 3  # its owner is alive: not reaped
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert len(_left_behind(docker_client, egress_run)) == 3  # kill -9 ran no cleanup
    assert reap_egress(docker_client) >= 3
    assert _left_behind(docker_client, egress_run) == []


def test_the_proxy_itself_is_hardened(lab: Lab, docker_client: Any, egress_run: str) -> None:
    with egress(lab, egress_run, [], lab.api) as route:
        route.network_for("fetch", [Endpoint.parse("api.test.internal:8000")])
        (proxy,) = docker_client.containers.list(filters={"label": f"{RUN_ID_LABEL}={egress_run}"})
        host = proxy.attrs["HostConfig"]
        internal = [
            n
            for n in docker_client.networks.list(filters={"label": f"{RUN_ID_LABEL}={egress_run}"})
            if n.name != lab.network
        ]
        (internal_network,) = internal
        internal_network.reload()
        assert proxy.attrs["Config"]["User"] == "65534:65534"
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert sorted(host["SecurityOpt"]) == sorted(SECURITY_OPT)
        assert host["PidsLimit"] > 0 and host["Memory"] > 0 and host["NanoCpus"] > 0
        assert host["Sysctls"] == {"net.ipv4.ip_forward": "0"}
        assert internal_network.attrs["Internal"] is True
        assert internal_network.attrs["Options"]["com.docker.network.bridge.inhibit_ipv4"] == "true"
