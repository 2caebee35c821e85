"""API keys: their form, how they are made and how their secret is hashed.

A key reads `osk_<prefix>_<secret>`. The prefix (public, unique) finds the row; only the
SHA-256 of the secret is stored. The secret is 256 random bits, so a fast hash is the right
one (there is nothing to brute-force). Keys are never logged: only prefixes appear in logs
and audit records. The key rows and their cache are `api.db.keys`.
"""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_PREFIX_BYTES = 6
KEY_CHARS_MAX = 200
KEY_PATTERN = re.compile(r"^osk_[0-9A-Za-z]{1,16}_[0-9A-Za-z_-]{1,180}$")
"""What `new_key` makes; anything else is refused before the database is asked (a pasted NUL
or other control character must not reach PostgreSQL as a prefix)."""


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


def well_formed(key: str) -> bool:
    """A key as `new_key` writes it, within KEY_CHARS_MAX characters."""
    return len(key) <= KEY_CHARS_MAX and KEY_PATTERN.fullmatch(key) is not None
