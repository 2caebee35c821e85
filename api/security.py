"""API keys: created once and shown once, stored hashed, compared in constant time.

A key reads `osk_<prefix>_<secret>`. The prefix (public, unique) finds the row; only the
SHA-256 of the secret is stored. The secret is 256 random bits, so a fast hash is the right
one (there is nothing to brute-force). Keys are never logged: only prefixes appear in logs
and audit records.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from api.models import ApiKey

KEY_PREFIX_BYTES = 6


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's role, its hospital (for hospital keys) and its prefix."""

    role: str
    hospital_id: str | None
    key_prefix: str


def new_key() -> tuple[str, str, str]:
    """(the key to show once, its prefix, the hash of its secret)."""
    prefix = secrets.token_hex(KEY_PREFIX_BYTES)
    secret = secrets.token_urlsafe(32)
    return f"osk_{prefix}_{secret}", prefix, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "osk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create_key(
    session: Session, role: str, hospital_id: str | None, label: str = ""
) -> tuple[str, ApiKey]:
    key, prefix, secret_hash = new_key()
    row = ApiKey(
        prefix=prefix,
        secret_hash=secret_hash,
        role=role,
        hospital_id=hospital_id,
        label=label,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    return key, row


class KeyStore:
    """Looks keys up, caching answers for a few seconds (revocation takes effect within that)."""

    def __init__(self, engine: Engine, cache_seconds: float) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, str, Principal | None]] = {}

    def authenticate(self, key: str) -> Principal | None:
        parts = split_key(key)
        if parts is None:
            return None
        prefix, secret = parts
        _, secret_hash, principal = self._entry(prefix)
        if principal is None or not hmac.compare_digest(secret_hash, hash_secret(secret)):
            return None
        return principal

    def principal_for_prefix(self, prefix: str) -> Principal | None:
        """The principal of the key with this prefix while it is valid (None once revoked).

        For sessions started with a key (the finance view): the session keeps only the
        prefix, and each request asks again, so revoking the key ends its sessions too.
        """
        return self._entry(prefix)[2]

    def _entry(self, prefix: str) -> tuple[float, str, Principal | None]:
        now = time.monotonic()
        cached = self._cache.get(prefix)
        if cached is None or cached[0] < now:
            cached = (now + self._cache_seconds, *self._load(prefix))
            self._cache[prefix] = cached
        return cached

    def _load(self, prefix: str) -> tuple[str, Principal | None]:
        with Session(self._engine) as session:
            row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if row is None or row.revoked_at is not None:
            # Compare against a hash anyway so that timing does not tell a known prefix.
            return hash_secret(""), None
        return row.secret_hash, Principal(row.role, row.hospital_id, row.prefix)

    def forget(self) -> None:
        self._cache.clear()
