"""API key rows: created (the key shown once), and looked up through short-lived, bounded caches.

The key's form and hashing are `api.core.keys`; who a key is, `api.core.access.Principal`.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cachetools import TTLCache
from sqlalchemy import Engine
from sqlmodel import Session, select

from api.core.access import Principal
from api.core.keys import hash_secret, new_key, split_key, well_formed, well_formed_prefix
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
    """Looks keys up, caching answers for `cache_seconds` (revocation takes effect within that).

    Two caches, both bounded and both forgetting an answer after `cache_seconds`. `_known`
    holds valid keys (prefix → secret hash and principal), `cache_size` of them, the least
    recently used evicted first. `_refused` remembers, in `refused_cache_size` entries,
    prefixes that name no valid key (unknown or revoked), so that a client repeating a wrong
    key does not cost a database read each time; a flood of made-up prefixes can only evict
    other made-up prefixes, never a valid key. A malformed key (`well_formed`) touches
    neither: it is refused before any lookup, so no request can make the caches hold more
    than a prefix's 16 characters per entry.
    """

    def __init__(
        self,
        engine: Engine,
        cache_seconds: float,
        cache_size: int = 4_096,
        refused_cache_size: int = 1_024,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        assert cache_size >= 1
        assert refused_cache_size >= 1
        self._engine = engine
        self._caching = cache_seconds > 0
        # With caching off the caches stay empty; a TTLCache still needs a positive ttl.
        ttl = cache_seconds if self._caching else 1.0
        self._known: TTLCache[str, tuple[str, Principal]] = TTLCache(cache_size, ttl, timer)
        self._refused: TTLCache[str, bool] = TTLCache(refused_cache_size, ttl, timer)
        self._lock = threading.Lock()
        """The caches are not thread-safe; lookups run on the thread pool."""

    def authenticate(self, key: str) -> Principal | None:
        if not well_formed(key):
            return None
        parts = split_key(key)
        assert parts is not None
        prefix, secret = parts
        return _verified(self._entry(prefix), secret)

    def remembered(self, key: str) -> tuple[bool, Principal | None]:
        """(True, what `authenticate(key)` answers) when that needs no database read — a
        malformed key, or a prefix whose answer is cached and fresh — else (False, None).
        The event loop asks this, in one step, and reads the database only off the loop."""
        if not well_formed(key):
            return True, None
        parts = split_key(key)
        assert parts is not None
        prefix, secret = parts
        cached = self._cached(prefix)
        if isinstance(cached, _Missing):
            return False, None
        return True, _verified(cached, secret)

    def principal_for_prefix(self, prefix: str) -> Principal | None:
        """The principal of the key with this prefix while it is valid (None once revoked).

        For sessions started with a key (the finance view): the session keeps only the
        prefix, and each request asks again, so revoking the key ends its sessions too.
        """
        if not well_formed_prefix(prefix):
            return None
        found = self._entry(prefix)
        return None if found is None else found[1]

    def cached(self) -> tuple[int, int]:
        """How many answers are cached: (valid keys, refused prefixes)."""
        with self._lock:
            return len(self._known), len(self._refused)

    def forget(self) -> None:
        with self._lock:
            self._known.clear()
            self._refused.clear()

    def _cached(self, prefix: str) -> tuple[str, Principal] | _Missing | None:
        """The fresh cached answer for the prefix (None: refused), or _MISSING."""
        with self._lock:
            known = self._known.get(prefix)
            if known is not None:
                return known
            if self._refused.get(prefix, False):
                return None
            return _MISSING

    def _entry(self, prefix: str) -> tuple[str, Principal] | None:
        cached = self._cached(prefix)
        if not isinstance(cached, _Missing):
            return cached
        loaded = self._load(prefix)
        if self._caching:
            with self._lock:
                if loaded is None:
                    self._refused[prefix] = True
                else:
                    self._known[prefix] = loaded
        return loaded

    def _load(self, prefix: str) -> tuple[str, Principal] | None:
        with Session(self._engine) as session:
            row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if row is None or row.revoked_at is not None:
            return None
        return row.secret_hash, Principal(row.role, row.hospital_id, row.prefix)


class _Missing:
    """No cached answer (a distinct type, so that None can mean a cached refusal)."""


_MISSING = _Missing()
_NO_SECRET_HASH = hash_secret("")


def _verified(found: tuple[str, Principal] | None, secret: str) -> Principal | None:
    """The principal when the secret matches the found key's hash; compared against a hash
    even for no key, so that timing does not tell a known prefix."""
    secret_hash, principal = found if found is not None else (_NO_SECRET_HASH, None)
    if not hmac.compare_digest(secret_hash, hash_secret(secret)):
        return None
    return principal
