"""Finance: periods, totals (3201), the daily series of the chart, and search, on the ledger.

Dates are calendar days of the business time zone (default Asia/Shanghai): a period
[date_from, date_to] is the half-open UTC interval from date_from 00:00 local to the day
after date_to 00:00 local. A settlement counts as *settled* on its settlement time and as
*reversed* on its reversal time, so the net of a period is exactly the sum of the ledger's
postings in it, and clearing (`api.services.clearing`: postings of a month, per hospital and
fund) ties out to the totals of that month to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from api.core.problems import invalid_request, item
from api.db.tables import FUND_POSTING, SETTLEMENT, SETTLEMENT_HOUR
from settlement.model import Fund
from settlement.money import format_fen

FUND_ORDER: tuple[str, ...] = tuple(fund.value for fund in Fund)
"""The funds' names in cascade order, as the ledger's postings name them."""
AMOUNTS = (
    "total", *FUND_ORDER, "fund_total", "patient_pay",
)  # fmt: skip
"""The settlement amounts a total sums (each `<name>_fen` on the settlement row)."""
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)
"""The dates a finance query may name. A period's bounds become local midnights in UTC and its
end the day after; outside these years that arithmetic would leave the calendar (a 500)."""
PERIOD_DAYS_MAX = 366

# ---------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class Period:
    date_from: date
    date_to: date
    zone: str

    @property
    def start_utc(self) -> datetime:
        return _local_midnight_utc(self.date_from, self.zone)

    @property
    def end_utc(self) -> datetime:
        """Exclusive end: midnight after the last day."""
        return _local_midnight_utc(self.date_to + timedelta(days=1), self.zone)


def _local_midnight_utc(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def month_period(month: str, zone: str) -> Period:
    """'2018-03' → the period of that calendar month."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return Period(first, following - timedelta(days=1), zone)


def _out_of_range(place: list[str], day: date) -> dict[str, Any] | None:
    if DATE_MIN <= day <= DATE_MAX:
        return None
    return item(
        place,
        f"{day.isoformat()} is outside {DATE_MIN.isoformat()} to {DATE_MAX.isoformat()}",
        "date_out_of_range",
    )


def checked_period(
    date_from: date,
    date_to: date,
    zone: str,
    *,
    names: tuple[str, ...] = ("query", "date_from", "date_to"),
) -> Period:
    """The period a query names, refused (422) outside the calendar or over a year long.

    `names` are where the two dates were read and their fields' names, as the caller's
    problems must say them: the query's `date_from`/`date_to`, or a platform message's
    `input.data.stmt_begndate`/`stmt_enddate` (3201)."""
    *place, from_name, to_name = names
    from_place, to_place = [*place, from_name], [*place, to_name]
    errors = [
        error
        for error in (_out_of_range(from_place, date_from), _out_of_range(to_place, date_to))
        if error is not None
    ]
    if errors:
        raise invalid_request(f"The request has {len(errors)} problem(s).", errors)
    if date_to < date_from:
        raise invalid_request(
            f"{to_name} is before {from_name}.",
            [item(to_place, f"before {from_name}", "invalid_period")],
        )
    if (date_to - date_from).days > PERIOD_DAYS_MAX:
        raise invalid_request(
            f"A period is at most {PERIOD_DAYS_MAX} days.",
            [item(to_place, f"period longer than {PERIOD_DAYS_MAX} days", "invalid_period")],
        )
    return Period(date_from, date_to, zone)


def month_in_range(month: str) -> bool:
    """A `YYYY-MM` month whose year lies within the dates a query may name."""
    return DATE_MIN.year <= int(month[:4]) <= DATE_MAX.year


# ---------------------------------------------------------------- totals (3201)


def _summed(
    connection: Connection,
    table: Any,
    count: Any,
    when: Any,
    period: Period,
    hospital_id: str | None,
    *extra: Any,
) -> dict[str, Any]:
    """The count and each amount's sum over `table`'s rows whose `when` lies in the period."""
    columns = [count] + [
        func.coalesce(func.sum(table.c[f"{name}_fen"]), 0).label(name) for name in AMOUNTS
    ]
    query = select(*columns).where(when >= period.start_utc, when < period.end_utc, *extra)
    if hospital_id is not None:
        query = query.where(table.c.hospital_id == hospital_id)
    row = connection.execute(query).one()
    return {"count": int(row[0]), **{name: int(getattr(row, name)) for name in AMOUNTS}}


def _sums(
    connection: Connection, when: Any, period: Period, hospital_id: str | None, *extra: Any
) -> dict[str, Any]:
    """The figures of the settlements whose `when` lies in the period."""
    return _summed(connection, SETTLEMENT, func.count(), when, period, hospital_id, *extra)


def _hour_sums(
    connection: Connection, kind: str, period: Period, hospital_id: str | None
) -> dict[str, Any]:
    """The same figures as `_sums`, added up from the hourly totals of the period."""
    hours = SETTLEMENT_HOUR.c
    count = func.coalesce(func.sum(hours.count), 0)
    return _summed(
        connection, SETTLEMENT_HOUR, count, hours.hour, period, hospital_id, hours.kind == kind
    )


def on_whole_hours(period: Period) -> bool:
    """The period's bounds are whole UTC hours (every zone with a whole-hour offset)."""
    return all(
        moment.minute == moment.second == moment.microsecond == 0
        for moment in (period.start_utc, period.end_utc)
    )


def totals_fen(
    engine: Engine, period: Period, hospital_id: str | None, insured_region: str | None = None
) -> dict[str, dict[str, Any]]:
    """Counts and sums in fen: settled in the period, reversed in it, and net; with
    `insured_region`, of the settlements of persons insured there only (the clearing
    institution of 3201's `setl_optins`).

    Read from the hourly totals, a few rows a day whatever the volume; in a business time zone
    whose midnights fall inside a UTC hour (an offset of 5:30, say), or for one insured region
    (the hourly totals do not keep it), from the settlements.
    """
    regional = () if insured_region is None else (SETTLEMENT.c.insured_region == insured_region,)
    with engine.connect() as connection:
        if on_whole_hours(period) and insured_region is None:
            settled = _hour_sums(connection, "settled", period, hospital_id)
            reversed_ = _hour_sums(connection, "reversed", period, hospital_id)
        else:
            settled = _sums(connection, SETTLEMENT.c.settled_at, period, hospital_id, *regional)
            reversed_ = _sums(
                connection,
                SETTLEMENT.c.reversed_at,
                period,
                hospital_id,
                SETTLEMENT.c.status == "reversed",
                *regional,
            )
    net = {name: settled[name] - reversed_[name] for name in ("count", *AMOUNTS)}
    return {"settled": settled, "reversed": reversed_, "net": net}


def totals_json(engine: Engine, period: Period, hospital_id: str | None) -> dict[str, Any]:
    figures = totals_fen(engine, period, hospital_id)
    return {
        "hospital_id": hospital_id,
        "date_from": period.date_from.isoformat(),
        "date_to": period.date_to.isoformat(),
        "time_zone": period.zone,
        **{
            part: {"count": sums["count"], **{name: format_fen(sums[name]) for name in AMOUNTS}}
            for part, sums in figures.items()
        },
    }


# ---------------------------------------------------------------- daily series (the chart)


def daily_fund_payments(
    engine: Engine, period: Period, hospital_id: str | None
) -> list[dict[str, Any]]:
    """Net fund payments per local day of the period: [{"day", fund…: fen}] for every day."""
    offset = datetime(
        period.date_from.year,
        period.date_from.month,
        period.date_from.day,
        tzinfo=ZoneInfo(period.zone),
    ).utcoffset()
    assert offset is not None
    hours = int(offset.total_seconds() // 3600)
    if engine.dialect.name == "sqlite":
        day = func.date(FUND_POSTING.c.posted_at, f"{hours:+d} hours")
    else:
        day = func.date(func.timezone(period.zone, FUND_POSTING.c.posted_at))
    query = (
        select(day.label("day"), FUND_POSTING.c.fund, func.sum(FUND_POSTING.c.amount_fen))
        .where(
            FUND_POSTING.c.posted_at >= period.start_utc, FUND_POSTING.c.posted_at < period.end_utc
        )
        .group_by(day, FUND_POSTING.c.fund)
    )
    if hospital_id is not None:
        query = query.where(FUND_POSTING.c.hospital_id == hospital_id)
    series: dict[str, dict[str, int]] = {}
    current = period.date_from
    while current <= period.date_to:
        series[current.isoformat()] = dict.fromkeys(FUND_ORDER, 0)
        current += timedelta(days=1)
    with engine.connect() as connection:
        for day_value, fund, amount in connection.execute(query):
            key = day_value if isinstance(day_value, str) else day_value.isoformat()
            if key in series and fund in series[key]:
                series[key][fund] += int(amount)
    return [{"day": key, **values} for key, values in series.items()]


# ---------------------------------------------------------------- search


def search_settlements(
    engine: Engine, term: str, hospital_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Settlements whose settlement id or claim id equals the term (newest first)."""
    query = (
        select(
            SETTLEMENT.c.settlement_id,
            SETTLEMENT.c.claim_id,
            SETTLEMENT.c.hospital_id,
            SETTLEMENT.c.person_id,
            SETTLEMENT.c.status,
            SETTLEMENT.c.settled_at,
            SETTLEMENT.c.total_fen,
            SETTLEMENT.c.fund_total_fen,
            SETTLEMENT.c.patient_pay_fen,
        )
        .where((SETTLEMENT.c.settlement_id == term) | (SETTLEMENT.c.claim_id == term))
        .order_by(SETTLEMENT.c.settled_at.desc())
        .limit(limit)
    )
    if hospital_id is not None:
        query = query.where(SETTLEMENT.c.hospital_id == hospital_id)
    with engine.connect() as connection:
        return [
            {
                "settlement_id": row.settlement_id,
                "claim_id": row.claim_id,
                "hospital_id": row.hospital_id,
                "person_id": row.person_id,
                "status": row.status,
                "settled_at": row.settled_at,
                "total": format_fen(row.total_fen),
                "fund_total": format_fen(row.fund_total_fen),
                "patient_pay": format_fen(row.patient_pay_fen),
            }
            for row in connection.execute(query)
        ]
