"""The hourly totals checked against the settlements they add up (`onestop ledger verify`).

For each hospital, UTC hour and kind, the count and sums kept in `settlement_hour` (over all
its slots) must equal those recomputed from the settlements: settled ones by settlement time,
reversed ones by reversal time. Two joins, one each way, return only the rows that disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, and_, func, literal, or_, select, union_all

from api.db.tables import HOUR_AMOUNT_COLUMNS, SETTLEMENT, SETTLEMENT_HOUR

FIGURES = ("count", *HOUR_AMOUNT_COLUMNS)


def _hour(connection: Connection, column: Any) -> Any:
    """The UTC hour of a stored time, written as the hourly totals store it."""
    if connection.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00.000000", column)
    return func.date_trunc("hour", column, "UTC")


def _recomputed(connection: Connection) -> Any:
    s = SETTLEMENT.c
    parts = []
    for kind, when, condition in (
        ("settled", s.settled_at, literal(True)),
        ("reversed", s.reversed_at, s.status == "reversed"),
    ):
        hour = _hour(connection, when)
        parts.append(
            select(
                s.hospital_id.label("hospital_id"),
                hour.label("hour"),
                literal(kind).label("kind"),
                func.count().label("count"),
                *(func.sum(s[name]).label(name) for name in HOUR_AMOUNT_COLUMNS),
            )
            .where(condition)
            .group_by(s.hospital_id, hour)
        )
    return union_all(*parts).subquery("recomputed")


def _kept() -> Any:
    h = SETTLEMENT_HOUR.c
    return (
        select(h.hospital_id, h.hour, h.kind, *(func.sum(h[name]).label(name) for name in FIGURES))
        .group_by(h.hospital_id, h.hour, h.kind)
        .subquery("kept")
    )


def hourly_differences(connection: Connection) -> Iterator[tuple[str, str, str, str]]:
    """(where, expected, found, message) for each hospital, hour and kind that disagrees."""
    recomputed, kept = _recomputed(connection), _kept()
    r, k = recomputed.c, kept.c
    same_key = and_(r.hospital_id == k.hospital_id, r.hour == k.hour, r.kind == k.kind)
    kept_figures = [k[name].label(f"kept_{name}") for name in FIGURES]
    differing_or_missing = (
        select(r, *kept_figures)
        .select_from(recomputed.outerjoin(kept, same_key))
        .where(or_(k.hospital_id.is_(None), *(r[name] != k[name] for name in FIGURES)))
    )
    for row in connection.execute(differing_or_missing):
        expected = {name: int(row._mapping[name]) for name in FIGURES}
        if row.kept_count is None:
            yield _where(row), _shown(expected), "none", "no kept row for these settlements"
            continue
        found = {name: int(row._mapping[f"kept_{name}"]) for name in FIGURES}
        differing = ", ".join(name for name in FIGURES if expected[name] != found[name])
        yield _where(row), _shown(expected), _shown(found), f"differs in {differing}"
    without_settlements = (
        select(k).select_from(kept.outerjoin(recomputed, same_key)).where(r.hospital_id.is_(None))
    )
    for row in connection.execute(without_settlements):
        found = {name: int(row._mapping[name]) for name in FIGURES}
        yield _where(row), "none", _shown(found), "a kept row without settlements behind it"


def _where(row: Any) -> str:
    return f"hourly totals {row.hospital_id} {row.hour} {row.kind}"


def _shown(figures: dict[str, int]) -> str:
    return " ".join(f"{name}={value}" for name, value in figures.items())
