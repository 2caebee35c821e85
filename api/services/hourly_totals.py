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
    for this, other, missing in ((r, k, "kept"), (k, r, "recomputed")):
        source = recomputed if this is r else kept
        joined = source.outerjoin(kept if this is r else recomputed, same_key)
        query = select(this, *(other[name].label(f"other_{name}") for name in FIGURES))
        query = query.select_from(joined).where(
            or_(other.hospital_id.is_(None), *(this[name] != other[name] for name in FIGURES))
            if this is r
            else other.hospital_id.is_(None)
        )
        for row in connection.execute(query):
            where = f"hourly totals {row.hospital_id} {row.hour} {row.kind}"
            figures = {name: int(row._mapping[name]) for name in FIGURES}
            if row._mapping["other_count"] is None:
                yield (
                    where,
                    _shown(figures if missing == "kept" else None),
                    _shown(None if missing == "kept" else figures),
                    f"no {missing} row for {figures['count']} settlement(s)",
                )
                continue
            others = {name: int(row._mapping[f"other_{name}"]) for name in FIGURES}
            differing = [name for name in FIGURES if figures[name] != others[name]]
            yield where, _shown(figures), _shown(others), f"differs in {', '.join(differing)}"


def _shown(figures: dict[str, int] | None) -> str:
    if figures is None:
        return "none"
    return " ".join(f"{name}={value}" for name, value in figures.items())
