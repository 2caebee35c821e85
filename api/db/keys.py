"""API key rows: created (the key shown once), and looked up through a short-lived cache.

The key's form and hashing are `api.core.keys`; who a key is, `api.core.access.Principal`.
"""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from api.core.access import Principal
from api.core.keys import hash_secret, new_key, split_key
from api.db.tables import ApiKey


def create_key(
    session: Session, role: str, hospital_id: str | None, label: str = ""
) -> tuple[str, ApiKey]:
    """(the key, to be shown once; its row, added to the session for the caller to commit)."""
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

    def answers_from_memory(self, key: str) -> bool:
        """Whether `authenticate(key)` needs no database read: a malformed key, or a prefix
        whose answer is cached and fresh. The event loop checks this before calling it."""
        parts = split_key(key)
        if parts is None:
            return True
        cached = self._cache.get(parts[0])
        return cached is not None and cached[0] >= time.monotonic()

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
