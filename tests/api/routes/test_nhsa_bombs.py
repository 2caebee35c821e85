"""POST /v1/nhsa against memory and CPU bombs (issue 19, section 1), on a real server.

`1e999999` is nine bytes and a million digits once formatted: the msgid hash wrote every
number of the input out in full (a 9 KB body took a worker from 335 MB to 1.3 GB), and
`0E-999999` passed the decimals check of `cnt` and `pric` (its value is 0) to be formatted
into a million-character string per line (1,000 lines: +1 GB, 12 s of CPU and a 500). Now a
numeral with an exponent or over 40 characters is never converted: ignored, it costs a
reference; read, it is refused by name. Each body below, up to the size limit, must leave the
server's peak RSS (VmHWM) within 50 MB of where it was and be answered infcode 0 or -1 within
seconds, never a 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.core import nhsa as platform
from api.core.config import Settings
from loadtests.nhsa import dumps as json_body
from tests.api.routes.test_reconciliation_hostile import peak_rss_bytes
from tests.support.db import row_counts
from tests.support.nhsa import His, envelope
from tests.support.server import Server, start_server, stop_server
from tests.support.world import World

MIB = 1024 * 1024
PEAK_GROWTH_BYTES_MAX = 50 * MIB
"""How much the server's peak RSS may grow over all the bombs together (issue 19's bound)."""
ANSWERED_WITHIN_SECONDS = 10.0
"""Generous for two shared cores: each bomb is answered in well under a second alone."""
BODY_BYTES = 4 * MIB + MIB // 2
"""The numeral floods' size: under the 5 MiB body limit (ONESTOP_BODY_BYTES_MAX)."""
RAW = "\x00raw\x00"


@dataclass(frozen=True)
class Served:
    server: Server
    log_path: Path


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    log_path = tmp_path / "server.log"
    server = start_server(database_url, log_path=log_path)
    try:
        yield Served(server, log_path)
    finally:
        stop_server(server)


VALUES = platform.MESSAGE_VALUES_MAX - 1_000
"""As many values as a message may hold, with room for the stay's own lines."""


def flood(value: bytes, count: int | None = None) -> bytes:
    """A JSON array of `value` repeated `count` times (default: to about BODY_BYTES, at most
    VALUES times)."""
    if count is None:
        count = min(BODY_BYTES // (len(value) + 1), VALUES)
    return b"[" + b",".join([value] * count) + b"]"


def with_raw(body: dict[str, Any], raw: bytes) -> bytes:
    data = json_body(body)
    marker = json_body(RAW)
    assert marker in data
    return data.replace(marker, raw)


Build = Callable[[His, dict[str, Any], str, list[dict[str, Any]]], bytes]
"""A bomb's body from an encounter just admitted: (HIS, claim, mdtrt_id, its 2301 lines)."""


def ignored_flood(value: bytes, count: int | None = None) -> Build:
    """A 2301 of the stay's lines with a flood of `value` in a field onestop ignores."""

    def build(his: His, _claim: dict[str, Any], _id: str, lines: list[dict[str, Any]]) -> bytes:
        return with_raw(
            envelope(his.hospital_id, "2301", {"feedetail": lines, "junk": RAW}),
            flood(value, count),
        )

    return build


def every_line(field: str, numeral: bytes, count: int = 1_000) -> Build:
    """A 2301 of `count` lines, each with `numeral` in `field`: refused by name."""

    def build(his: His, _claim: dict[str, Any], _id: str, lines: list[dict[str, Any]]) -> bytes:
        many = [{**lines[0], "feedetl_sn": f"B{n:05d}", field: RAW} for n in range(count)]
        return with_raw(envelope(his.hospital_id, "2301", {"feedetail": many}), numeral)

    return build


def admission_with(raw: bytes) -> Build:
    """A 2401 (another stay of the person) with `raw` in an ignored field: answered 0."""

    def build(his: His, _claim: dict[str, Any], _id: str, _lines: list[dict[str, Any]]) -> bytes:
        sent = his.sent[-1]
        data = {**sent["input"], "junk": RAW}
        data["mdtrtinfo"] = {**data["mdtrtinfo"], "ipt_no": f"{data['mdtrtinfo']['ipt_no']}B"}
        return with_raw(envelope(his.hospital_id, "2401", data), raw)

    return build


@dataclass(frozen=True)
class Bomb:
    name: str
    build: Build
    infcode: int


BOMBS = [
    Bomb(f"1e999999 × {VALUES:,} in an ignored field", ignored_flood(b"1e999999"), 0),
    Bomb(f"0E-999999 × {VALUES:,} in an ignored field", ignored_flood(b"0E-999999"), 0),
    Bomb("5,000-digit integers in an ignored field (4.5 MiB)", ignored_flood(b"9" * 5_000), 0),
    Bomb("30-digit integers × 145,000 in an ignored field", ignored_flood(b"9" * 30), 0),
    Bomb(f"1.5 × {VALUES:,} in an ignored field", ignored_flood(b"1.5"), 0),
    Bomb(f"0.123456789012345678 × {VALUES:,} in an ignored field",
         ignored_flood(b"0.123456789012345678"), 0),
    Bomb(f"[] × {VALUES:,} in an ignored field", ignored_flood(b"[]"), 0),
    Bomb(f"{{}} × {VALUES:,} in an ignored field", ignored_flood(b"{}"), 0),
    Bomb(f'"x" × {VALUES:,} in an ignored field', ignored_flood(b'"x"'), 0),
    Bomb("1.5 × 1,100,000 in an ignored field (4.5 MiB)",
         ignored_flood(b"1.5", BODY_BYTES // 4), -1),
    Bomb("[] × 1,500,000 in an ignored field (4.5 MiB)",
         ignored_flood(b"[]", BODY_BYTES // 3), -1),
    Bomb("1e1000000 in an ignored field of a 2401", admission_with(b"1e1000000"), 0),
    Bomb("an integer above 2^64 in an ignored field of a 2401",
         admission_with(str(2**64 + 1).encode()), 0),
    Bomb("cnt 0E-999999 on 1,000 lines", every_line("cnt", b"0E-999999"), -1),
    Bomb("pric 0E-999999 on 1,000 lines", every_line("pric", b"0E-999999"), -1),
    Bomb("pric 1e999999 on 1,000 lines", every_line("pric", b"1e999999"), -1),
    Bomb("cnt of 4,000 digits on 1,000 lines", every_line("cnt", b"1" * 4_000), -1),
    Bomb("det_item_fee_sumamt 1e30 on 1,000 lines",
         every_line("det_item_fee_sumamt", b"1e30"), -1),
]  # fmt: skip


def test_numeral_bombs_leave_the_servers_peak_memory_bounded_and_are_answered_at_once(
    served: Served, world: World, settings: Settings
) -> None:
    his = His(world, world.hospitals[3], world.hospital_headers(3))
    base_url, pid = served.server.base_url, served.server.process.pid
    headers = {**his.headers, "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        claim = world.claim("e2")
        mdtrt_id = his.admit(claim)
        warm = client.post("/v1/nhsa", content=json_body(
            envelope(his.hospital_id, "2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})))  # fmt: skip
        assert warm.json()["infcode"] == 0, warm.text  # every code path loaded first
        baseline = peak_rss_bytes(pid)
        for bomb in BOMBS:
            claim = world.claim("e2")
            mdtrt_id = his.admit(claim)
            body = bomb.build(his, claim, mdtrt_id, his.fee_lines(claim, mdtrt_id))
            assert len(body) < 5 * MIB, bomb.name
            before = row_counts(settings)
            started = time.monotonic()
            response = client.post("/v1/nhsa", content=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 200, (bomb.name, response.text[:2_000])
            answer = response.json()
            assert answer["infcode"] == bomb.infcode, (bomb.name, answer["err_msg"][:2_000])
            if bomb.infcode == -1:
                assert row_counts(settings) == before, bomb.name
            growth = peak_rss_bytes(pid) - baseline
            print(f"\n{bomb.name}: {len(body) / MIB:.2f} MiB body, answered infcode "
                  f"{answer['infcode']} in {elapsed:.2f} s, peak grew {growth / MIB:.1f} MiB")  # fmt: skip
            assert growth < PEAK_GROWTH_BYTES_MAX, f"{bomb.name}: peak grew {growth / MIB:.0f} MiB"
            assert elapsed < ANSWERED_WITHIN_SECONDS, f"{bomb.name}: {elapsed:.1f} s"
    log = served.log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-4_000:]
