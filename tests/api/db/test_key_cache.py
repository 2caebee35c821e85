"""The key cache (api/db/keys.py KeyStore): bounded whatever keys are sent, malformed keys refused
before any lookup, unknown prefixes kept apart from valid keys, and revocation taking effect
within key_cache_seconds; on both databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from api.core.config import Settings
from api.core.keys import KEY_CHARS_MAX
from api.db.engine import make_engine, write_session
from api.db.keys import KeyStore, create_key
from api.db.tables import ApiKey

CACHE_SECONDS = 5.0


class FakeTimer:
    """The caches' clock, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings)
    yield made
    made.dispose()


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer()


def new_keys(engine: Engine, count: int, role: str = "finance") -> list[str]:
    with write_session(engine) as session:
        keys = [create_key(session, role, None, "key cache test")[0] for _ in range(count)]
        session.commit()
    return keys


def unknown_key() -> str:
    return f"osk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def revoke(engine: Engine, key: str) -> None:
    prefix = key.split("_")[1]
    with Session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).one()
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        session.commit()


class Checkouts:
    """Counts the engine's connection checkouts (each lookup that reaches the database)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def __enter__(self) -> Checkouts:
        event.listen(self.engine, "checkout", self._checkout)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "checkout", self._checkout)

    def _checkout(self, *_: object) -> None:
        self.count += 1


def test_a_flood_of_unknown_prefixes_leaves_the_caches_within_their_sizes(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, cache_size=4, refused_cache_size=8, timer=timer)
    for _ in range(200):
        assert store.authenticate(unknown_key()) is None
    assert store.cached() == (0, 8)
    valid = new_keys(engine, 6)
    for key in valid:
        assert store.authenticate(key) is not None
    assert store.cached() == (4, 8)
    # The least recently used valid key went first; the newest are answered from memory.
    assert not store.remembered(valid[0])[0]
    assert all(store.remembered(key)[0] for key in valid[2:])


def test_made_up_prefixes_never_push_a_valid_key_out_of_the_cache(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, cache_size=4, refused_cache_size=8, timer=timer)
    (valid,) = new_keys(engine, 1)
    assert store.authenticate(valid) is not None
    for _ in range(100):
        store.authenticate(unknown_key())
    with Checkouts(engine) as checkouts:
        assert store.remembered(valid)[0]
        assert store.authenticate(valid) is not None
    assert checkouts.count == 0


@pytest.mark.parametrize(
    "key",
    [
        "osk_" + "a" * (1024 * 1024) + "_x",  # a megabyte of prefix
        "osk_" + "a" * 17 + "_secret",  # a prefix longer than the column
        "osk_abcdef123456_" + "s" * KEY_CHARS_MAX,  # over KEY_CHARS_MAX
        "osk_abc\x00def_secret",
        "osk_abc'--_secret",
        "osk__secret",
        "not-a-key",
        "",
    ],
    ids=[
        "1 MB prefix",
        "17-char prefix",
        "over 200 chars",
        "nul",
        "sql",
        "empty prefix",
        "no osk",
        "empty",
    ],
)
def test_a_malformed_key_is_refused_without_a_lookup_and_never_cached(
    engine: Engine, timer: FakeTimer, key: str
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, timer=timer)
    with Checkouts(engine) as checkouts:
        assert store.remembered(key)[0]
        assert store.authenticate(key) is None
    assert checkouts.count == 0
    assert store.cached() == (0, 0)


def test_a_refused_prefix_is_remembered_so_a_repeated_wrong_key_costs_one_read(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, timer=timer)
    wrong = unknown_key()
    assert not store.remembered(wrong)[0]
    with Checkouts(engine) as checkouts:
        for _ in range(5):
            assert store.authenticate(wrong) is None
    assert checkouts.count == 1
    assert store.remembered(wrong)[0]
    timer.now += CACHE_SECONDS + 0.1
    assert not store.remembered(wrong)[0]


def test_a_known_prefix_with_a_wrong_secret_is_refused_from_the_cache(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, timer=timer)
    (valid,) = new_keys(engine, 1)
    prefix = valid.split("_")[1]
    assert store.authenticate(valid) is not None
    with Checkouts(engine) as checkouts:
        assert store.authenticate(f"osk_{prefix}_wrongsecret") is None
    assert checkouts.count == 0


def test_revoking_a_key_takes_effect_within_key_cache_seconds(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, timer=timer)
    (key,) = new_keys(engine, 1)
    prefix = key.split("_")[1]
    principal = store.authenticate(key)
    assert principal is not None
    assert principal.role == "finance"
    assert store.principal_for_prefix(prefix) == principal
    revoke(engine, key)
    timer.now += CACHE_SECONDS - 0.1  # still trusted from the cache: within the window
    assert store.authenticate(key) == principal
    timer.now += 0.2  # the window is over: read again, and refused
    assert not store.remembered(key)[0]
    assert store.authenticate(key) is None
    assert store.principal_for_prefix(prefix) is None
    assert store.cached() == (0, 1)


@pytest.mark.parametrize("seconds", [0.5, CACHE_SECONDS])
def test_a_revoked_key_is_refused_once_its_window_is_over_however_short(
    engine: Engine, timer: FakeTimer, seconds: float
) -> None:
    store = KeyStore(engine, seconds, timer=timer)
    (key,) = new_keys(engine, 1)
    assert store.remembered(key) == (False, None)
    principal = store.authenticate(key)
    assert principal is not None
    assert store.remembered(key) == (True, principal)
    revoke(engine, key)
    timer.now += seconds + 0.01
    assert store.remembered(key) == (False, None)  # read again, off the event loop
    assert store.authenticate(key) is None
    assert store.remembered(key) == (True, None)


def test_with_the_cache_off_every_lookup_reads_the_database(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, 0, timer=timer)
    (key,) = new_keys(engine, 1)
    with Checkouts(engine) as checkouts:
        for _ in range(3):
            assert not store.remembered(key)[0]
            assert store.authenticate(key) is not None
        store.authenticate(unknown_key())
    assert checkouts.count == 4
    assert store.cached() == (0, 0)
    revoke(engine, key)
    assert store.authenticate(key) is None


def test_a_session_prefix_not_of_the_keys_form_is_refused_without_a_lookup(
    engine: Engine, timer: FakeTimer
) -> None:
    store = KeyStore(engine, CACHE_SECONDS, timer=timer)
    with Checkouts(engine) as checkouts:
        for prefix in ("a" * 17, "ab'--", "a\x00b", ""):
            assert store.principal_for_prefix(prefix) is None
    assert checkouts.count == 0
    assert store.cached() == (0, 0)
