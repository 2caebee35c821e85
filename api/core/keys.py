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
PREFIX_PATTERN = re.compile(r"^[0-9A-Za-z]{1,16}$")
"""A key's prefix: what `new_key` makes (12 hex digits) fits it, as does the column (16)."""
KEY_PATTERN = re.compile(r"^osk_[0-9A-Za-z]{1,16}_[0-9A-Za-z_-]{1,180}$")
"""What `new_key` makes; anything else is refused before the database is asked (a pasted NUL
or other control character must not reach PostgreSQL as a prefix) and before the key cache
is touched (a megabyte of "prefix" must not be remembered)."""
AUTHORIZATION_CHARS_MAX = len("Bearer ") + KEY_CHARS_MAX
"""The longest `Authorization` header that can hold a key; a longer one is refused unread."""


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


def well_formed_prefix(prefix: str) -> bool:
    """A prefix as `new_key` writes it (or as the `api_key.prefix` column can hold one)."""
    return len(prefix) <= 16 and PREFIX_PATTERN.fullmatch(prefix) is not None
