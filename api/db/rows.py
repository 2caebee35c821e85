"""The one place where database rows and engine types turn into each other.

A settlement read back from the database is rebuilt as the engine's `Settlement` and checked
for conservation again before it is shown, so a row changed behind the service's back can
never be served as a balanced bill. Rows are read by attribute, so ORM objects and Core rows
serve alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from api.core.contract import (
    ACCUMULATOR_AMOUNTS,
    accumulators_json,
    findings_json,
    settlement_json,
)
from api.db.tables import ACCUMULATOR_COLUMNS, PACKED_LINE_FIELDS, TOTAL_COLUMNS
from settlement.conservation import check_conservation
from settlement.model import (
    AccumulatorsFen,
    Claim,
    ClaimLine,
    Filing,
    Fund,
    Gender,
    Group,
    ItemClass,
    Status,
)
from settlement.model import (
    Person as EnginePerson,
)
from settlement.money import fen_to_money, money
from settlement.result import (
    Burden,
    Finding,
    FindingAction,
    FundStep,
    LineSettlement,
    Rule,
    Settlement,
    Totals,
)

assert LineSettlement._fields == PACKED_LINE_FIELDS, "pack_lines and unpack_lines assume this"
_DESCRIPTIVE = 6
"""The packed line's fields before its amounts (line_no … unit_price)."""
_accumulator_values = attrgetter(*ACCUMULATOR_COLUMNS.values())


def person_to_engine(person: Any, statuses: Sequence[Any]) -> EnginePerson:
    """From a person row and its status rows (ORM objects or Core rows: read by attribute)."""
    return EnginePerson(
        person_id=person.person_id,
        birth_date=person.birth_date,
        insured_region=person.insured_region,
        gender=Gender(person.gender),
        statuses=tuple(
            Status(Group(status.group), status.valid_from, status.valid_to) for status in statuses
        ),
    )


class ClaimInputs(NamedTuple):
    """What the engine read for a settlement beyond the settlement's own fields: the claim's
    diagnoses and surgery, the hospital's level, the person's birth date and gender. Stored
    with the settlement, so that its claim can be settled again (policy simulation)."""

    diagnoses: tuple[str, ...]
    surgery: bool
    hospital_level: int
    birth_date: date
    gender: str

    @classmethod
    def of(cls, claim: Claim, person: EnginePerson, hospital_level: int) -> ClaimInputs:
        return cls(
            claim.diagnoses, claim.surgery, hospital_level, person.birth_date, person.gender.value
        )

    def values(self) -> dict[str, Any]:
        """The settlement row's columns that hold them."""
        return {
            "diagnoses": orjson.dumps(self.diagnoses).decode(),
            "surgery": self.surgery,
            "hospital_level": self.hospital_level,
            "birth_date": self.birth_date,
            "gender": self.gender,
        }


# A year's bills repeat their quantities, prices and amounts: each is made once (the values
# are immutable), which makes rebuilding a stored claim several times faster.
_line_quantity = lru_cache(maxsize=1 << 16)(Decimal)
_line_price = lru_cache(maxsize=1 << 16)(money)
_line_amount = lru_cache(maxsize=1 << 16)(fen_to_money)


_POSTED = tuple(
    PACKED_LINE_FIELDS.index(name)
    for name in ("line_no", "item_code", "quantity", "unit_price", "amount_fen")
)
"""Where a packed line holds what the hospital posted."""


def stored_claim(row: Any) -> tuple[Claim, EnginePerson, int] | None:
    """The claim a settlement row settled, the person as the engine read them (with the
    group recorded on the settlement as their one status on the discharge day) and the
    hospital's level; None when the row predates the stored inputs and they could not be
    recovered (migration 0010). The lines are the packed lines' posted fields."""
    if row.diagnoses is None or row.surgery is None or row.hospital_level is None:
        return None
    line_no, code, quantity, price, amount = _POSTED
    lines = tuple(
        ClaimLine(
            values[line_no],
            values[code],
            _line_quantity(values[quantity]),
            _line_price(values[price]),
            _line_amount(values[amount]),
        )
        for values in orjson.loads(row.lines)
    )
    claim = Claim(
        claim_id=row.claim_id,
        hospital_id=row.hospital_id,
        person_id=row.person_id,
        admission_date=row.admission_date,
        discharge_date=row.discharge_date,
        diagnoses=tuple(orjson.loads(row.diagnoses)),
        surgery=bool(row.surgery),
        lines=lines,
        filing=None if row.filing is None else Filing(row.filing),
    )
    group = row.group
    statuses = (
        () if group is None else (Status(Group(group), row.discharge_date, row.discharge_date),)
    )
    person = EnginePerson(
        person_id=row.person_id,
        birth_date=row.birth_date,
        insured_region=row.insured_region,
        statuses=statuses,
        gender=Gender(row.gender),
    )
    return claim, person, row.hospital_level


def accumulators_fen(row: Any, year: int) -> AccumulatorsFen:
    """From an accumulator row (ORM or Core), or the empty year when there is none."""
    if row is None:
        return AccumulatorsFen.empty(year)
    return AccumulatorsFen(year, *_accumulator_values(row))


def settlement_contribution(totals: Any) -> dict[str, int]:
    """What a settlement added to each accumulator column (rules §9), read from its totals (a
    settlement row or the engine's `Totals`: the same names); a reversal takes exactly these
    off again (`store.undo_accumulators`, the simulation's replay)."""
    return {
        "admissions": 1,
        "basic_paid_fen": totals.basic_insurance_fen,
        "ci_base_fen": totals.in_scope_fen - totals.basic_insurance_fen,
        "ci_paid_fen": totals.critical_illness_fen,
        "assistance_paid_fen": totals.medical_assistance_fen,
        "charity_paid_fen": totals.charity_fen,
        "health_paid_fen": totals.health_fund_fen,
        "patient_paid_fen": totals.patient_pay_fen,
    }


def accumulator_row_values(accumulators: AccumulatorsFen) -> dict[str, int]:
    """The accumulator's columns (not its key) from the engine's figures."""
    return {column: getattr(accumulators, name) for name, column in ACCUMULATOR_COLUMNS.items()}


def settlement_row_values(
    settlement: Settlement,
    *,
    settlement_id: str,
    claim_hash: str,
    settled_at: datetime,
    inputs: ClaimInputs,
) -> dict[str, Any]:
    totals = settlement.totals
    values: dict[str, Any] = {name: getattr(totals, name) for name in TOTAL_COLUMNS}
    values.update(
        settlement_id=settlement_id,
        claim_id=settlement.claim_id,
        hospital_id=settlement.hospital_id,
        person_id=settlement.person_id,
        claim_hash=claim_hash,
        status="settled",
        admission_date=settlement.admission_date,
        discharge_date=settlement.discharge_date,
        policy_year=settlement.policy_year,
        tariff_version=settlement.tariff_version,
        group=None if settlement.group is None else settlement.group.value,
        charity_disease=settlement.charity_disease,
        insured_region=settlement.insured_region,
        treatment_region=settlement.treatment_region,
        filing=None if settlement.filing is None else settlement.filing.value,
        catalog_version=settlement.catalog_version,
        findings=orjson.dumps(findings_json(settlement.findings, chinese=True)).decode(),
        settled_at=settled_at,
        reversed_at=None,
        reversal_reason=None,
        accumulators_after=orjson.dumps(
            accumulators_json(settlement.accumulators_after_fen)
        ).decode(),
        lines=pack_lines(settlement.lines),
        pay_later_eligible=settlement.pay_later_eligible,
        burden_threshold_fen=settlement.burden.threshold_fen,
        burden_crossed=settlement.burden.crossed,
        **inputs.values(),
    )
    return values


def pack_lines(lines: Sequence[LineSettlement]) -> str:
    """The bill's lines as `settlement.lines` stores them (see `PACKED_LINE_FIELDS`)."""
    return orjson.dumps(
        [
            (
                line.line_no, line.item_code, line.item_name, line.item_class.value,
                str(line.quantity), str(line.unit_price.amount), *line[_DESCRIPTIVE:],
            )
            for line in lines
        ]
    ).decode()  # fmt: skip


def unpack_lines(packed: str) -> tuple[LineSettlement, ...]:
    """The bill's lines from `settlement.lines`; a line packed before a field was appended
    reads that amount as zero. Anything but integer fen is refused (ValueError)."""
    width = len(PACKED_LINE_FIELDS)
    lines = []
    for values in orjson.loads(packed):
        if not isinstance(values, list) or not _DESCRIPTIVE < len(values) <= width:
            raise ValueError(f"a packed line is not a list of {width} fields: {values!r}")
        amounts = values[_DESCRIPTIVE:]
        amounts += [0] * (width - len(values))
        if not all(type(amount) is int for amount in amounts):
            raise ValueError(f"line {values[0]!r}: an amount is not integer fen: {amounts!r}")
        line_no, item_code, item_name, item_class, quantity, unit_price = values[:_DESCRIPTIVE]
        lines.append(
            LineSettlement(
                line_no, item_code, item_name, ItemClass(item_class), Decimal(quantity),
                money(unit_price), *amounts,
            )
        )  # fmt: skip
    return tuple(lines)


def fund_row_values(settlement_id: str, settlement: Settlement) -> list[dict[str, Any]]:
    return [
        {
            "settlement_id": settlement_id,
            "position": position,
            "fund": step.fund.value,
            "fund_code": step.fund_code,
            "base_fen": step.base_fen,
            "payable_fen": step.payable_fen,
            "cap_remaining_fen": step.cap_remaining_fen,
            "paid_fen": step.paid_fen,
            "explanation": orjson.dumps(list(step.explanation)).decode(),
            "explanation_zh": orjson.dumps(list(step.explanation_zh)).decode(),
            "rate_ppm": step.rate_ppm,
        }
        for position, step in enumerate(settlement.funds)
    ]


def posting_values(
    settlement_id: str,
    hospital_id: str,
    regions: tuple[str, str],
    funds: list[tuple[str, str, int]],
    *,
    kind: str,
    posted_at: datetime,
) -> list[dict[str, Any]]:
    """Ledger postings for (fund, fund code, paid): negated for a reversal. `regions` are the
    settlement's (insured region, treatment region)."""
    sign = -1 if kind == "reversal" else 1
    insured_region, treatment_region = regions
    return [
        {
            "settlement_id": settlement_id,
            "hospital_id": hospital_id,
            "insured_region": insured_region,
            "treatment_region": treatment_region,
            "fund": fund,
            "fund_code": fund_code,
            "kind": kind,
            "amount_fen": sign * paid_fen,
            "posted_at": posted_at,
        }
        for fund, fund_code, paid_fen in funds
    ]


def settlement_from_rows(row: Any, funds: Sequence[Any]) -> Settlement:
    """The engine's settlement rebuilt from its row (lines packed in it) and its fund rows,
    checked for conservation again."""
    after = orjson.loads(row.accumulators_after)
    accumulators_after = AccumulatorsFen(
        after["year"],
        after["admissions"],
        # An amount added after the settlement was stored (health_paid) was zero then;
        # patient_paid was written into every stored settlement by migration 0009.
        *(_fen(after.get(name, "0.00")) for name in ACCUMULATOR_AMOUNTS),
    )
    settlement = Settlement(
        claim_id=row.claim_id,
        hospital_id=row.hospital_id,
        person_id=row.person_id,
        admission_date=row.admission_date,
        discharge_date=row.discharge_date,
        policy_year=row.policy_year,
        tariff_version=row.tariff_version,
        group=None if row.group is None else Group(row.group),
        charity_disease=row.charity_disease,
        totals=Totals(**{name: getattr(row, name) for name in TOTAL_COLUMNS}),
        lines=unpack_lines(row.lines),
        funds=tuple(
            FundStep(
                fund=Fund(fund.fund),
                fund_code=fund.fund_code,
                base_fen=fund.base_fen,
                payable_fen=fund.payable_fen,
                cap_remaining_fen=fund.cap_remaining_fen,
                paid_fen=fund.paid_fen,
                sentences=_stored_sentences(fund.explanation),
                sentences_zh=None
                if fund.explanation_zh is None
                else _stored_sentences(fund.explanation_zh),
                rate_ppm=fund.rate_ppm,
            )
            for fund in sorted(funds, key=lambda fund: fund.position)
        ),
        accumulators_after_fen=accumulators_after,
        insured_region=row.insured_region,
        treatment_region=row.treatment_region,
        filing=None if row.filing is None else Filing(row.filing),
        catalog_version=row.catalog_version,
        findings=tuple(
            Finding(
                rule=Rule(finding["rule"]),
                line_no=finding["line_no"],
                action=FindingAction(finding["action"]),
                amount_fen=_fen(finding["amount"]),
                message=finding["message"],
                message_zh=finding["message_zh"],
            )
            for finding in orjson.loads(row.findings)
        ),
        pay_later_eligible=row.pay_later_eligible,
        burden=Burden(
            year_to_date_fen=accumulators_after.patient_paid,
            threshold_fen=row.burden_threshold_fen,
            crossed=row.burden_crossed,
        ),
    )
    check_conservation(settlement)
    return settlement


def _stored_sentences(stored: str) -> tuple[tuple[str, tuple[object, ...]], ...]:
    """Explanation lines as stored (rendered text), as sentences that render to themselves."""
    return tuple(("{}", (text,)) for text in orjson.loads(stored))


def _fen(text: str) -> int:
    return int(Decimal(text).scaleb(2))


def settlement_document(row: Any, settlement: Settlement) -> dict[str, Any]:
    return settlement_json(
        settlement,
        settlement_id=row.settlement_id,
        status="reversed" if row.status == "reversed" else "settled",
        settled_at=timestamp(row.settled_at),
        reversed_at=None if row.reversed_at is None else timestamp(row.reversed_at),
    )


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the microsecond as stored."""
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
