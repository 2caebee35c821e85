"""`settlement_body` writes a settlement made now as the very bytes of its document
(`orjson.dumps(settlement_json(...))`) without building a dict a line (issue 20, item 3).

The answer to `POST /v1/settlements` is these bytes, so a difference of one byte is a different
answer: every field, every line at the template's chunk edges, texts JSON must escape, and
amounts and decimals of every shape are compared with the document's own serialization.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.core import contract
from api.core.contract import settlement_body, settlement_json
from settlement.engine import settle
from settlement.money import money
from settlement.rejection import Rejection
from settlement.result import LineSettlement, Settlement
from tests.strategies import BOOK, SettleInput, settle_inputs
from tests.worked_examples import e4_accumulators, example_claim, person

SETTLED_AT = "2026-12-07T14:00:00+08:00"


def settled(case: SettleInput) -> Settlement:
    result = settle(case.claim, case.person, case.hospital_level, case.accumulators, BOOK)
    assert not isinstance(result, Rejection), result.problems
    return result


def document_bytes(settlement: Settlement, settlement_id: str = "ST20261207ABC") -> bytes:
    return orjson.dumps(
        settlement_json(
            settlement,
            settlement_id=settlement_id,
            status="settled",
            settled_at=SETTLED_AT,
            reversed_at=None,
        )
    )


def body(settlement: Settlement, settlement_id: str = "ST20261207ABC") -> bytes:
    return settlement_body(settlement, settlement_id=settlement_id, settled_at=SETTLED_AT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=settle_inputs())
def test_a_settlements_body_is_the_bytes_of_its_document(case: SettleInput) -> None:
    """Generated claims of every kind (groups, deductibles hit exactly, charity, all funds)."""
    settlement = settled(case)
    assert body(settlement) == document_bytes(settlement)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=settle_inputs(max_lines=3),
    code=st.text(min_size=1, max_size=12),
    name=st.text(max_size=30),
)
def test_texts_are_escaped_as_orjson_escapes_them(case: SettleInput, code: str, name: str) -> None:
    """Quotes, backslashes, control characters, astral characters: the body writes a code and
    a name as JSON strings exactly as the document does (the engine's names never hold most of
    them; the body must not depend on that)."""
    settlement = settled(case)
    lines = tuple(line._replace(item_code=code, item_name=name) for line in settlement.lines)
    changed = replace(settlement, lines=lines)
    assert body(changed) == document_bytes(changed)


@pytest.mark.parametrize("count", [0, 1, 31, 32, 33, 64, 65, 100])
def test_every_line_is_written_whatever_the_bills_length(count: int) -> None:
    """The lines are formatted `_CHUNK` (32) at a time: the edges of a chunk lose no line and
    join with one comma."""
    assert contract._CHUNK == 32
    settlement = example_settlement()
    first = settlement.lines[0]
    lines = tuple(first._replace(line_no=number + 1) for number in range(count))
    many = replace(settlement, lines=lines)
    written = body(many)
    assert written == document_bytes(many)
    assert [item["line_no"] for item in orjson.loads(written)["items"]] == list(range(1, count + 1))


def test_equal_decimals_written_differently_stay_as_written() -> None:
    """25 and 25.00 are equal Decimals (and hash alike) but different texts: a cache keyed by
    the Decimal would write the second as the first. Neither quantity nor price is cached."""
    settlement = example_settlement()
    first = settlement.lines[0]
    lines = (
        first._replace(line_no=1, quantity=Decimal("2"), unit_price=money(Decimal("25"))),
        first._replace(line_no=2, quantity=Decimal("2.0"), unit_price=money(Decimal("25.00"))),
        first._replace(line_no=3, quantity=Decimal("1E+1"), unit_price=money(Decimal("2.5E+1"))),
    )
    items = orjson.loads(body(replace(settlement, lines=lines)))["items"]
    assert [(item["quantity"], item["unit_price"]) for item in items] == [
        ("2", str(money(Decimal("25")).amount)),
        ("2.0", str(money(Decimal("25.00")).amount)),
        ("1E+1", str(money(Decimal("2.5E+1")).amount)),
    ]
    assert body(replace(settlement, lines=lines)) == document_bytes(
        replace(settlement, lines=lines)
    )


@pytest.mark.parametrize("fen", [0, 1, 9, 10, 99, 100, 101, 12_184_32, 10**15 + 7])
def test_every_amount_is_written_in_yuan_with_two_decimals(fen: int) -> None:
    """Each of a line's twelve amounts in its own place (a swapped place, a lost fen digit or a
    yuan written without its fen would differ)."""
    settlement = example_settlement()
    first = settlement.lines[0]
    for place, field in enumerate(LineSettlement._fields[6:], start=6):
        figures: dict[str, Any] = {field: fen}
        changed = replace(settlement, lines=(first._replace(**figures),))
        written = body(changed)
        assert written == document_bytes(changed)
        key = contract._ITEM_KEYS[place]
        assert orjson.loads(written)["items"][0][key] == f"{fen // 100}.{fen % 100:02d}"


@pytest.mark.parametrize("fen", [-1, -5, -100, -12_05])
def test_a_line_with_a_negative_amount_is_refused_never_written_wrong(fen: int) -> None:
    """`divmod` would write -5 fen as "-1.95". No settlement has a negative figure (the
    conservation check refuses it); a line that had is refused, whichever amount it is."""
    settlement = example_settlement()
    first = settlement.lines[0]
    for field in LineSettlement._fields[6:]:
        figures: dict[str, Any] = {field: fen}
        changed = replace(settlement, lines=(*settlement.lines, first._replace(**figures)))
        with pytest.raises(ValueError, match="negative amount"):
            body(changed)


def test_the_settlement_id_and_time_are_the_ones_given() -> None:
    settlement = example_settlement()
    document = orjson.loads(
        settlement_body(settlement, settlement_id="ST1", settled_at="2026-01-02T03:04:05+08:00")
    )
    assert (document["settlement_id"], document["status"]) == ("ST1", "settled")
    assert (document["settled_at"], document["reversed_at"]) == ("2026-01-02T03:04:05+08:00", None)


def example_settlement() -> Settlement:
    result = settle(example_claim(), person(), 3, e4_accumulators(), BOOK)
    assert isinstance(result, Settlement)
    assert len(result.lines) >= 1
    return result
