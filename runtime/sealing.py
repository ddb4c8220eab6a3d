"""What resume needs, kept exactly without a secret standing in the run store: a value that holds a
secret (the run's input, a step's result) is stored redacted for every reader, and beside it sealed,
encrypted with AES-GCM under a key derived (scrypt) from the very secrets it holds. Whoever resumes
the run sets those env vars anyway for the tools; the store alone, or copied away, tells nothing
about them. A secret that changed since, or is unset, makes the resume refuse, naming the step and
the env var, instead of handing a tool `[redacted]`. Why this and not a key file: docs/events.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from .events import Sealed
from .redaction import Redactor

#: scrypt's cost: about a third of a second on a small machine, paid once per run and set of secrets.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_SALT, _NONCE = 16, 12


class SealBroken(Exception):
    """A sealed value cannot be opened with the secrets this process has; `names` are the env vars
    it was sealed with, `missing` those not set here."""

    def __init__(self, names: list[str], missing: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names
        self.missing = missing


def where(run_id: str, kind: str, index: int | None) -> bytes:
    """What a sealed value is bound to (the run, the event kind, the step), so that it cannot be
    moved to another step or run and opened there."""
    return json.dumps([run_id, kind, index]).encode()


class Sealer:
    """Seals values that hold some of `secrets` ({env var: value}); opens them again."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = dict(secrets)
        self._finders = {name: Redactor([value]) for name, value in self._secrets.items()}
        self._salt = os.urandom(_SALT)
        self._keys: dict[tuple[bytes, tuple[str, ...]], bytes] = {}

    def _key(self, salt: bytes, names: tuple[str, ...]) -> bytes:
        cached = self._keys.get((salt, names))
        if cached is None:
            password = json.dumps([[name, self._secrets[name]] for name in names], ensure_ascii=False).encode()
            cached = hashlib.scrypt(password, salt=salt, dklen=32, **_SCRYPT)
            self._keys[(salt, names)] = cached
        return cached

    def seal(self, value: Any, bound_to: bytes) -> Sealed | None:
        """`value` sealed, when some secret stands in it in any printed form; None otherwise."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        names = tuple(sorted(name for name, finder in self._finders.items() if finder.found(text)))
        if not names:
            return None
        nonce = os.urandom(_NONCE)
        box = AESGCM(self._key(self._salt, names)).encrypt(nonce, text.encode(), bound_to)
        return Sealed(env=list(names), box=base64.b64encode(self._salt + nonce + box).decode())

    def open(self, sealed: Sealed, bound_to: bytes) -> Any:
        """The value a `seal` kept; raises `SealBroken` when a secret it was sealed with is unset
        here or holds another value."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        names = tuple(sorted(sealed.env))
        missing = [name for name in names if name not in self._secrets]
        if missing:
            raise SealBroken(list(names), missing)
        try:
            raw = base64.b64decode(sealed.box.encode(), validate=True)
            salt, nonce, box = raw[:_SALT], raw[_SALT:_SALT + _NONCE], raw[_SALT + _NONCE:]
            text = AESGCM(self._key(salt, names)).decrypt(nonce, box, bound_to)
        except (InvalidTag, ValueError):
            raise SealBroken(list(names), []) from None
        return json.loads(text)
