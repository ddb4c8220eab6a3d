"""The invoice example end to end (issue 13, item 11): `specc run specs/invoice` against a local
HTTPS payments service, through specc's egress proxy, on the real engine.

The test creates a CA and a certificate for `payments.internal` signed by it, serves the payments
API over TLS with that certificate in a container on a network of its own (alias
`payments.internal`, port 443), and gives the example its CA as `tools/payments-ca.pem`, which
`pay.py` trusts beside the image's CAs. The run reads the invoice, pauses for the approval `pay`
requires, and once approved and resumed pays it once, through the proxy, with the token, and files
the receipt. The only test-only lever is `--trust-network` for the service's private address.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import SPECC, specc_env, store_bytes

from specc.runtime.sandbox import BASE_IMAGE, MANAGED_LABEL, OWNER_LABEL, RUN_ID_LABEL

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "specs" / "invoice"
TOKEN = "pay-token-Zr81-e2e"

#: The payments service: POST /v1/payments with a bearer token and an Idempotency-Key; 201 paid the
#: first time, 409 for a key seen before, 401 for a bad token. It logs each request as one JSON
#: line (whether the token matched, never the token).
PAYMENTS = r"""
import http.server, json, ssl, sys
token, seen = sys.argv[1], set()
class Payments(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        key = self.headers.get("Idempotency-Key")
        authorised = self.headers.get("Authorization") == "Bearer " + token
        print(json.dumps({"path": self.path, "authorised": authorised, "key": key, "body": body}), flush=True)
        if not authorised:
            code, answer = 401, {"error": "bad token"}
        elif key in seen:
            code, answer = 409, {"status": "paid"}
        else:
            seen.add(key)
            code, answer = 201, {"status": "paid", "id": "pay-" + str(key)}
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("0.0.0.0", 443), Payments)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/certs/server.pem", "/certs/server.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"""


@dataclass
class Service:
    container: Any
    network: str
    address: str
    ca: bytes
    lab_id: str

    def requests(self) -> list[dict[str, Any]]:
        lines = self.container.logs(stdout=True, stderr=False).decode().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _certificates(folder: Path) -> bytes:
    """A CA, and a certificate for `payments.internal` it signed, written to `folder`; the CA's PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "specc test payments CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "payments.internal")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("payments.internal")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(mode=0o755)
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    for name in ("server.pem", "server.key"):  # the service runs as 65534; a test key, thrown away after
        (folder / name).chmod(0o644)
    return ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def payments(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    lab_id = f"test-payments-{uuid.uuid4().hex[:12]}"
    labels = {MANAGED_LABEL: "1", RUN_ID_LABEL: lab_id, OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}"}
    certs = tmp_path_factory.mktemp("payments") / "certs"
    ca = _certificates(certs)
    network = docker_client.networks.create(f"specc-payments-{lab_id[-12:]}", driver="bridge", labels=labels)
    container = None
    try:
        container = docker_client.containers.create(
            BASE_IMAGE, ["python3", "-c", PAYMENTS, TOKEN], user="65534:65534", labels=labels,
            name=f"specc-payments-{lab_id[-12:]}", network=network.name, read_only=True, cap_drop=["ALL"],
            pids_limit=64, mem_limit="128m", volumes={str(certs): {"bind": "/certs", "mode": "ro"}},
            sysctls={"net.ipv4.ip_unprivileged_port_start": "0"})
        network.disconnect(container)
        network.connect(container, aliases=["payments.internal"])
        container.start()
        deadline = time.monotonic() + 30
        while b"ready" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        container.reload()
        assert b"ready" in container.logs(), container.logs().decode(errors="replace")
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        yield Service(container, network.name, address, ca, lab_id)
    finally:
        if container is not None:
            container.remove(force=True)
        network.remove()


def _example(folder: Path, ca: bytes) -> Path:
    """The invoice example copied into `folder`, its outbox empty and writable by the sandbox user,
    the service's CA beside its tools."""
    target = folder / "invoice"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".specc"))
    outbox = target / "outbox"
    for entry in outbox.iterdir():
        entry.unlink()
    outbox.chmod(0o777)
    (target / "tools" / "payments-ca.pem").write_bytes(ca)
    (target / "tools" / "payments-ca.pem").chmod(0o644)
    return target / "invoice.agent"


def _specc(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPECC, *args, "--store", str(store)], capture_output=True, text=True, timeout=240,
                          env=specc_env({"PAYMENTS_TOKEN": TOKEN}), cwd=str(store.parent))


def _run(spec: Path, store: Path, service: Service, invoice: str) -> subprocess.CompletedProcess[str]:
    value = json.dumps({"file": invoice, "account": "DE89370400440532013000"})
    return _specc(store, "run", str(spec), "--input", value, "--json", "--egress-network", service.network,
                  "--trust-network", f"{service.address}/32")


def _events(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _run_id(done: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"\brun (r[0-9]{14}-[0-9a-f]+)\b", done.stderr)
    assert found is not None, done.stderr
    return found.group(1)


def _left_behind(client: Any, run_id: str) -> list[str]:
    label = [f"{MANAGED_LABEL}=1", f"{RUN_ID_LABEL}={run_id}"]
    return ([c.name for c in client.containers.list(all=True, filters={"label": label})]
            + [n.name for n in client.networks.list(filters={"label": label})])


def _approved(service: Service, folder: Path, invoice: str) -> tuple[Path, Path, str, int]:
    """The example run on `invoice` until `pay` waits for its approval, nothing sent yet, then
    approved: the spec, the store, the run id, and how many requests the service had before."""
    spec = _example(folder, service.ca)
    store = folder / "runs.db"
    before = len(service.requests())
    started = _run(spec, store, service, invoice)
    assert started.returncode == 3, started.stderr
    run_id = _run_id(started)
    assert "needs a person's approval" in started.stderr.strip().splitlines()[-1], started.stderr
    assert len(service.requests()) == before, "pay ran before its approval"
    approved = _specc(store, "approve", run_id, "--yes")
    assert approved.returncode == 0, approved.stderr
    return spec, store, run_id, before


def test_the_invoice_is_paid_once_over_https_after_approval(payments: Service, tmp_path: Path,
                                                            docker_client: Any) -> None:
    spec, store, run_id, before = _approved(payments, tmp_path, "INV-000123.json")
    resumed = _specc(store, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout[-3000:]

    finished = [e for e in _events(resumed) if e["event"] == "run_finished"][-1]
    assert finished["result"] == {"invoice_id": "INV-000123", "status": "paid"}
    requests = payments.requests()[before:]
    assert len(requests) == 1, requests
    assert requests[0]["path"] == "/v1/payments" and requests[0]["authorised"] is True
    assert requests[0]["key"] == "INV-000123"
    assert requests[0]["body"]["reference"] == "INV-000123"
    assert requests[0]["body"]["debtor_account"] == "DE89370400440532013000"
    receipt = json.loads((spec.parent / "outbox" / "INV-000123.json").read_text())
    assert receipt["status"] == "paid" and receipt["payment_id"] == "pay-INV-000123", receipt

    shown = json.loads(_specc(store, "show", run_id, "--json").stdout)
    connections = [(e["host"], e["port"], e["allowed"]) for e in shown["events"] if e["event"] == "connection"]
    assert connections == [("payments.internal", 443, True)], connections
    assert TOKEN.encode() not in store_bytes(store)
    assert _left_behind(docker_client, run_id) == []


def test_an_invoice_above_the_limit_is_escalated_and_never_sent(payments: Service, tmp_path: Path) -> None:
    spec = _example(tmp_path, payments.ca)
    store = tmp_path / "runs.db"
    before = len(payments.requests())
    done = _run(spec, store, payments, "INV-000125.json")
    assert done.returncode == 3, done.stderr
    assert "amount above the auto-pay limit" in done.stderr.strip().splitlines()[-1], done.stderr
    assert "approval" not in done.stderr  # `pay`'s require refuses it before anyone is asked
    assert len(payments.requests()) == before
    assert list((spec.parent / "outbox").iterdir()) == []
