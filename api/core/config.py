"""Settings from the environment (prefix `ONESTOP_`), read once at start-up.

Every limit the service enforces is a named setting with a documented default
(docs/operations.md lists them).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "onestop.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONESTOP_", extra="ignore", env_ignore_empty=True)

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL: sqlite:///path (embedded default) or "
        "postgresql+psycopg://user@host/db (production).",
    )
    migrate_on_start: bool = Field(
        default=False, description="Run the alembic migrations when the service starts."
    )
    tariff_dir: Path | None = Field(
        default=None, description="Tariff directory; the shipped tariffs when unset."
    )
    body_bytes_max: int = Field(
        default=5 * 1024 * 1024, description="Largest request body accepted (413 above)."
    )
    lock_wait_ms: int = Field(
        default=5_000,
        description="Longest wait for a person's accumulators lock before 503 + Retry-After.",
    )
    page_size_max: int = Field(default=500, description="Largest page any list route returns.")
    pool_size: int = Field(default=10, description="Database connections per worker (PostgreSQL).")
    database_pre_ping: bool = Field(
        default=False,
        description="PostgreSQL: ping every connection taken from the pool (one round trip "
        "each). false (the default): a pooled connection whose socket the server has closed "
        "(a restart, a crash, an idle timeout) is found without a round trip and replaced; "
        "true for a network that drops idle connections silently (a NAT or firewall that "
        "sends nothing), which only a ping finds.",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite's synchronous pragma (WAL mode). FULL (the default): a settlement "
        "answered 201 is on disk, and survives a crash of the service and a power cut of the "
        "machine; with group commit one flush serves a whole batch. NORMAL, an explicit "
        "opt-in for tests and demos: a committed settlement survives a crash of the service, "
        "but the last commits may be lost if the machine itself loses power.",
    )
    sqlite_write_queue: bool = Field(
        default=True,
        description="On SQLite, the threads of one worker take the write lock in arrival order "
        "(api/db/write_queue.py), each refused after lock_wait_ms as before. false: SQLite's "
        "busy handler alone, where a newcomer can take the lock before writers already "
        "waiting (kept for side-by-side measurement; other processes always meet at the busy "
        "timeout).",
    )
    group_commit: bool = Field(
        default=True,
        description="Settle concurrent claims in batches, one transaction and one flush to disk "
        "each, by one writer thread per worker process (api/services/group_commit.py). "
        "false: one transaction per settlement, on the request's own path.",
    )
    batch_settlements_max: int = Field(
        default=64, ge=1, le=10_000, description="Most settlements one group commit writes."
    )
    batch_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=1_000,
        description="Longest wait for more claims once the first of a batch has arrived. 0: a "
        "batch is whatever queued while the previous one was being written (under load that "
        "is the batch; alone, a claim waits for nothing).",
    )
    gc_gen0_threshold: int = Field(
        default=20_000,
        description="Allocations between collections of the youngest generation (Python's default "
        "is 700); start-up objects are frozen out of collection. 0 keeps Python's defaults.",
    )
    business_timezone: str = Field(
        default="Asia/Shanghai",
        description="The time zone whose calendar days and months finance reports use.",
    )
    nhsa_region: str = Field(
        default="000000",
        pattern=r"^[0-9]{6}$",
        description="The 医保区划 code onestop answers the national platform's interface as: "
        "the first 6 digits of every answer's inf_refmsgid. Set it to the region onestop "
        "serves (e.g. 220000); 000000 says it is not set.",
    )
    reconciliation_records_max: int = Field(
        default=100_000, description="Most hospital records one detail reconciliation takes."
    )
    reconciliation_body_bytes_max: int = Field(
        default=64 * 1024 * 1024,
        description="Largest body of a detail reconciliation (its records are streamed).",
    )
    key_cache_seconds: float = Field(
        default=5.0, description="How long a looked-up API key is trusted before re-reading it."
    )
    key_cache_size: int = Field(
        default=4_096,
        ge=1,
        le=1_000_000,
        description="Most valid API keys a worker keeps cached; the least recently used is "
        "dropped first (a dropped key is read again from the database when next used).",
    )
    key_cache_refused_size: int = Field(
        default=1_024,
        ge=1,
        le=1_000_000,
        description="Most unknown or revoked key prefixes a worker remembers as refused (for "
        "key_cache_seconds), kept apart so that made-up keys never push out valid ones. "
        "Malformed keys are refused before any lookup and never cached.",
    )
    docs_enabled: bool = Field(
        default=True,
        description="Serve the API documentation pages /docs (Swagger UI) and /redoc (ReDoc), "
        "with their scripts from the service's own files (no CDN). false: both answer 404; "
        "/openapi.json is served either way.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
