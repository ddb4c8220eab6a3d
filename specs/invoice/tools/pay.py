"""pay: pay one invoice through the payments service and file the receipt.

stdin:  {"invoice": Invoice, "account": "DE89370400440532013000"}
stdout: a Receipt record {"invoice_id": ..., "status": "paid" | "queued"}
env:    PAYMENTS_TOKEN (bearer token of the payments service)
exit 0 ok, 1 error (retried by the spec), 3 the service answered something a human must look at.

The payment is posted with the invoice id as its Idempotency-Key, so running this
tool twice for the same invoice pays it once (the spec declares `idempotent by invoice.id`).
The receipt is written to /mnt/outbox/<invoice id>.json once the service has answered.
The service's certificate must verify against the image's CAs or, for a service with a private CA,
against tools/payments-ca.pem when that file exists (/tools/payments-ca.pem in the container).
Python 3 standard library only.
"""

import json
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.request

TOOL = "pay"
ENDPOINT = "https://payments.internal:443/v1/payments"
OUTBOX = "/mnt/outbox"
TIMEOUT_SECONDS = 8  # below the action's 10s timeout, so we report the failure ourselves
PRIVATE_CA = "/tools/payments-ca.pem"  # the payments service's own CA, when it has one


def fail(message, code=1):
    print(f"{TOOL}: {message}", file=sys.stderr)
    sys.exit(code)


def tls():
    """Verify the service against the image's CAs, and its private CA when one is given."""
    context = ssl.create_default_context()
    if os.path.exists(PRIVATE_CA):
        context.load_verify_locations(cafile=PRIVATE_CA)
    return context


def post_payment(token, invoice, account):
    body = json.dumps(
        {
            "reference": invoice["id"],
            "amount": invoice["amount"],
            "currency": invoice["currency"],
            "payee": invoice["vendor"],
            "debtor_account": account,
        }
    ).encode("utf-8")
    request = urllib.request.Request(
        ENDPOINT,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": invoice["id"],
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=tls()) as response:
            status_code = response.status
            payload = response.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        if exc.code == 409:
            # The idempotency key was seen before: this invoice is already paid.
            return {"status": "paid"}
        if exc.code in (401, 403):
            fail(f"the payments service rejected the token (HTTP {exc.code})")
        detail = exc.read(2000).decode("utf-8", "replace").strip()
        fail(f"the payments service answered HTTP {exc.code}: {detail or exc.reason}")
    except urllib.error.URLError as exc:
        fail(f"cannot reach {ENDPOINT}: {exc.reason}")
    except TimeoutError:
        fail(f"no answer from {ENDPOINT} within {TIMEOUT_SECONDS}s")
    try:
        answer = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        fail(f"the payments service answered HTTP {status_code} with a body that is not JSON", code=3)
    if not isinstance(answer, dict):
        fail("the payments service answered with something other than a JSON object", code=3)
    if status_code == 202 and "status" not in answer:
        answer["status"] = "queued"
    return answer


def write_receipt(receipt):
    target = os.path.join(OUTBOX, receipt["invoice_id"] + ".json")
    try:
        fd, tmp = tempfile.mkstemp(dir=OUTBOX, prefix=".receipt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(receipt, handle, indent=2, sort_keys=True)
                handle.write("\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        fail(f"the payment went through but the receipt could not be written to {target}: {exc}")


def main():
    try:
        args = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    invoice = args.get("invoice") if isinstance(args, dict) else None
    account = args.get("account") if isinstance(args, dict) else None
    if not isinstance(invoice, dict) or not isinstance(account, str):
        fail('expected arguments {"invoice": {...}, "account": "..."}')
    for key in ("id", "amount", "currency", "vendor"):
        if key not in invoice:
            fail(f"the invoice has no {key}")
    token = os.environ.get("PAYMENTS_TOKEN", "").strip()
    if not token:
        fail("PAYMENTS_TOKEN is not set")

    answer = post_payment(token, invoice, account)
    status = answer.get("status")
    if status not in ("paid", "queued"):
        fail(f"{invoice['id']}: the payments service reported status {json.dumps(status)}", code=3)

    write_receipt(
        {
            "invoice_id": invoice["id"],
            "status": status,
            "amount": invoice["amount"],
            "currency": invoice["currency"],
            "vendor": invoice["vendor"],
            "payment_id": answer.get("id"),
            "account_last4": account[-4:],
        }
    )
    json.dump({"invoice_id": invoice["id"], "status": status}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
