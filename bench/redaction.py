"""What redacting every form of a secret costs, against a plain `bytes.replace` of the raw values
(what redaction did before it knew the escaped forms), timed interleaved in one process.

Three outputs of 1 MiB each: text with no backslash (the fast path: only the raw form can stand in
it), a JSON document full of escapes (`\\n`, `\\"`, `\\u00e9` in every element: the pattern's
path), and the same JSON holding the secret in 64 forms. Three secrets, one with a quote, a
backslash and non-ASCII. Prints the median of `--rounds` rounds per output, in ms per MiB, and the
ratio to the baseline.

Usage: `python bench/redaction.py [--rounds 9]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from specc.runtime.redaction import Redactor

SECRETS = ['Zq7"k\\é€😀x-QJ7W', "tok-1234567890abcdef", "another-secret-value"]
MIB = 1024 * 1024


def outputs() -> dict[str, bytes]:
    plain = (os.urandom(16).hex() * (MIB // 32 + 1))[:MIB].encode()
    escaped = json.dumps([os.urandom(8).hex() + '\n"é' for _ in range(MIB // 24)], ensure_ascii=False).encode()[:MIB]
    forms = [SECRETS[0], json.dumps(SECRETS[0])[1:-1], json.dumps(json.dumps(SECRETS[0]))[1:-1], repr(SECRETS[0])]
    holding = escaped[: MIB - 64 * 80] + " ".join(forms * 16).encode()
    return {"no backslash": plain, "JSON, escapes": escaped, "JSON, 64 secrets": holding[:MIB]}


def baseline(data: bytes) -> bytes:
    for secret in sorted(SECRETS, key=len, reverse=True):
        data = data.replace(secret.encode(), b"[redacted]")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds
    redactor = Redactor(SECRETS)
    print(f"redaction of 1 MiB, 3 secrets, median of {rounds} rounds (interleaved)")
    print(f"{'output':<18} {'every form':>12} {'raw replace':>12} {'ratio':>7}")
    for name, data in outputs().items():
        ours, theirs = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            redactor.bytes(data)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            baseline(data)
            theirs.append(time.perf_counter() - started)
        a, b = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
        print(f"{name:<18} {a:>9.1f} ms {b:>9.2f} ms {a / b:>6.0f}x")


if __name__ == "__main__":
    main()
