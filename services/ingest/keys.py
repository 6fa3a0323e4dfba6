"""API keys: who a client is and which users' records it may write.

A key reads `fpk_<id>_<secret>`. The store (a JSON file, written atomically, readable by its owner only) keeps each
key's id, its client's name, the user ids it may write, and the SHA-256 of the secret, never the secret itself: the
secret is 32 random bytes, so a fast hash is as good as a slow one against guessing, and a stolen store lets nobody
in. The service reads the store again when the file changes, so a revoked key stops working within a second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

PREFIX: Final = "fpk_"


class KeyStoreError(ValueError):
    """The store cannot be read or written, or a key named is not in it."""


class KeyEntry(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    client: str
    users: list[int]
    sha256: str
    created: str
    revoked: str | None = None


class _Document(msgspec.Struct, forbid_unknown_fields=True):
    keys: list[KeyEntry] = []


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated client: its key's id, its name and the user ids it may write."""

    key_id: str
    name: str
    users: frozenset[int]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _read(path: Path) -> _Document:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _Document()
    except OSError as exc:
        raise KeyStoreError(f"cannot read the key store {path}: {exc.strerror}") from None
    try:
        return msgspec.json.decode(data, type=_Document)
    except msgspec.DecodeError as exc:
        raise KeyStoreError(f"{path} is not a key store: {exc}") from None


def _write(path: Path, document: _Document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.format(msgspec.json.encode(document)))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, 0o600)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def create(path: Path, client: str, users: list[int]) -> tuple[str, KeyEntry]:
    """A new key for `client`, allowed to write `users`. Returns the key (shown once, never stored) and its entry."""
    if not client.strip():
        raise KeyStoreError("a key needs a client name")
    if not users or any(u < 1 for u in users):
        raise KeyStoreError("a key needs at least one user id, each a positive integer")
    document = _read(path)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    entry = KeyEntry(
        id=key_id,
        client=client.strip(),
        users=sorted(set(users)),
        sha256=_digest(secret),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    document.keys.append(entry)
    _write(path, document)
    return f"{PREFIX}{key_id}_{secret}", entry


def entries(path: Path) -> list[KeyEntry]:
    return _read(path).keys


def revoke(path: Path, key_id: str) -> KeyEntry:
    """Mark the key revoked (kept in the store, so `list` shows it). Raises KeyStoreError when there is no such key."""
    document = _read(path)
    for entry in document.keys:
        if entry.id == key_id:
            if entry.revoked is None:
                entry.revoked = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                _write(path, document)
            return entry
    raise KeyStoreError(f"no key {key_id!r} in {path}")


class KeyChecker:
    """Checks a presented key against the store, reading the file again when it has changed (at most once a
    second)."""

    def __init__(self, path: Path, recheck_s: float = 1.0):
        self.path = path
        self.recheck_s = recheck_s
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self._by_id: dict[str, KeyEntry] = {}
        self._reload()

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp or stamp is None:
            self._by_id = {e.id: e for e in _read(self.path).keys if e.revoked is None}
            self._stamp = stamp

    def client(self, presented: str) -> Client | None:
        """The client a key belongs to, or None when it is not a valid, unrevoked key."""
        now = time.monotonic()
        if now - self._checked >= self.recheck_s:
            self._checked = now
            # An unreadable store keeps the last good one (writes are atomic, so a half-written file is not seen).
            with contextlib.suppress(KeyStoreError):
                self._reload()
        if not presented.startswith(PREFIX):
            return None
        key_id, _, secret = presented[len(PREFIX) :].partition("_")
        entry = self._by_id.get(key_id)
        if entry is None or not secret or not hmac.compare_digest(entry.sha256, _digest(secret)):
            return None
        return Client(entry.id, entry.client, frozenset(entry.users))
