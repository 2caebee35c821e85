"""The shapes of API_CONTRACT.md, and the one place that converts them to and from the engine.

Request models refuse unknown fields (a misspelt field must not silently change what a fund
pays) and JSON numbers for money, quantities and prices (a float has already lost the fen).
They check form only; what a claim means (unknown codes, amounts, decimals) is the engine's
to judge, so that one answer names every problem of the claim at once.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from settlement.model import (
    Accumulators,
    AccumulatorsFen,
    Claim,
    ClaimLine,
    Filing,
    Gender,
    Group,
    Person,
    Status,
)
from settlement.money import format_fen, money
from settlement.result import Burden, Finding, LineSettlement, Settlement, Totals


def _fen_text(fen: int) -> str:
    """An amount in fen as the contract's money text (`format_fen`), zero and positive amounts,
    the common cases, formatted inline. (A cache of the texts was tried: on bills of fresh
    amounts, as under load, it saved nothing: `loadtests.bench_answer`.)"""
    if fen == 0:
        return "0.00"
    if fen > 0:
        return f"{fen // 100}.{fen % 100:02d}"
    return format_fen(fen)


DECIMAL_PATTERN = r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$"
"""A plain decimal string: no exponent, no NaN; length bounded so parsing stays cheap."""
MONEY_PATTERN = r"^-?[0-9]{1,15}\.[0-9]{2}$"
"""A money string as the contract writes it back: exactly two decimals."""
ID_PATTERN = r"^[0-9A-Za-z_-][0-9A-Za-z_.-]{0,63}$"
"""Every id the service takes (hospital, person, claim, settlement; in bodies, paths, queries,
imports and records): 1 to 64 letters, digits, `_`, `.` or `-`, never starting with a dot, so
that `.` and `..` (or a hidden-file name) are never an id."""
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
LINE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""One line of text: no control characters (PostgreSQL cannot store NUL; a name is one line)."""
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Free text: tabs and line breaks allowed, no other control character (none is ever meant)."""
ICD10_TEXT = Annotated[StrictStr, Field(min_length=1, max_length=16)]

DecimalText = Annotated[
    StrictStr,
    Field(
        pattern=DECIMAL_PATTERN,
        description="A decimal number written as a JSON string, never a JSON number.",
        examples=["11", "45.00"],
    ),
]
MoneyText = Annotated[
    StrictStr,
    Field(
        pattern=MONEY_PATTERN, description="CNY amount, exactly two decimals.", examples=["495.00"]
    ),
]
Identifier = Annotated[StrictStr, Field(pattern=ID_PATTERN)]


def _date_text(value: Any) -> Any:
    """Only `YYYY-MM-DD` (or a `date` from Python callers): pydantic's own date parsing also
    takes Unix timestamps and datetimes at midnight, which no client means as a day."""
    if type(value) is date:
        return value
    if not isinstance(value, str) or DATE_TEXT.fullmatch(value) is None:
        raise PydanticCustomError("date_format", "Input should be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text)]
"""A calendar day as the contract writes it, `YYYY-MM-DD`, and nothing else."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemIn(_Strict):
    """One billed line (费用明细): amount must equal round(quantity × unit_price)."""

    line_no: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    item_code: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    quantity: Annotated[DecimalText, Field(description="At most 4 decimals.", examples=["11"])]
    unit_price: Annotated[DecimalText, Field(description="At most 6 decimals.", examples=["45.00"])]
    amount: Annotated[DecimalText, Field(description="At most 2 decimals.", examples=["495.00"])]


class ClaimIn(_Strict):
    """A discharge claim (出院结算申请) as a hospital billing system posts it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "claim_id": "ZY20180312001",
                    "hospital_id": "H2201001",
                    "person_id": "P0001",
                    "admission_date": "2018-03-01",
                    "discharge_date": "2018-03-12",
                    "diagnoses": ["C34.1"],
                    "surgery": True,
                    "items": [
                        {
                            "line_no": 1,
                            "item_code": "S0001",
                            "quantity": "11",
                            "unit_price": "45.00",
                            "amount": "495.00",
                        }
                    ],
                },
                {
                    "claim_id": "ZY20180312X01",
                    "hospital_id": "H2101003",
                    "person_id": "P0002",
                    "admission_date": "2018-03-01",
                    "discharge_date": "2018-03-12",
                    "diagnoses": ["C34.1"],
                    "surgery": True,
                    "filing": "referral",
                    "items": [
                        {
                            "line_no": 1,
                            "item_code": "S0001",
                            "quantity": "11",
                            "unit_price": "45.00",
                            "amount": "495.00",
                        }
                    ],
                },
            ]
        },
    )
    claim_id: Identifier
    hospital_id: Identifier
    person_id: Identifier
    admission_date: IsoDate
    discharge_date: IsoDate
    diagnoses: Annotated[list[ICD10_TEXT], Field(min_length=1, max_length=50)]
    surgery: StrictBool
    items: Annotated[list[ItemIn], Field(max_length=100_000)]
    """The engine refuses more than CLAIM_LINES_MAX lines with a named problem; this bound
    only keeps a hostile body from being parsed without end."""
    filing: Annotated[
        Filing | None,
        Field(
            description="备案类别, required on a cross-region claim (the hospital's region is not "
            "the person's insured region), null or absent on an in-region one.",
        ),
    ] = None

    def identity_json(self) -> dict[str, Any]:
        """The claim as its idempotency hash reads it: without `filing` when there is none,
        so that a claim settled before `filing` existed replays as the same claim."""
        document = self.model_dump(mode="json")
        if document["filing"] is None:
            del document["filing"]
        return document

    def to_engine(self) -> Claim:
        return Claim(
            claim_id=self.claim_id,
            hospital_id=self.hospital_id,
            person_id=self.person_id,
            admission_date=self.admission_date,
            discharge_date=self.discharge_date,
            diagnoses=tuple(self.diagnoses),
            surgery=self.surgery,
            filing=self.filing,
            lines=tuple(
                ClaimLine(
                    item.line_no,
                    item.item_code,
                    Decimal(item.quantity),
                    money(item.unit_price),
                    money(item.amount),
                )
                for item in self.items
            ),
        )


class StatusIn(_Strict):
    group: Group
    valid_from: IsoDate
    valid_to: IsoDate | None

    @model_validator(mode="after")
    def _valid_to_not_before_valid_from(self) -> StatusIn:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise PydanticCustomError(
                "invalid_period",
                "valid_to {valid_to} is before valid_from {valid_from}",
                {"valid_to": str(self.valid_to), "valid_from": str(self.valid_from)},
            )
        return self

    def to_engine(self) -> Status:
        return Status(self.group, self.valid_from, self.valid_to)


class PersonIn(_Strict):
    """A person as registered (参保人员), with assistance statuses and their validity."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "李四",
                    "id_number": "220102195808172342",
                    "birth_date": "1958-08-17",
                    "gender": "female",
                    "insured_region": "220000",
                    "statuses": [{"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}],
                }
            ]
        },
    )

    name: Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=LINE_TEXT_PATTERN)]
    id_number: Annotated[StrictStr, Field(pattern=r"^[0-9]{17}[0-9X]$")]
    birth_date: IsoDate
    gender: Literal["male", "female", "unknown"]
    insured_region: Annotated[StrictStr, Field(pattern=r"^[0-9]{6}$")]
    statuses: Annotated[list[StatusIn], Field(max_length=20)] = []

    def to_engine(self, person_id: str) -> Person:
        return Person(
            person_id=person_id,
            birth_date=self.birth_date,
            insured_region=self.insured_region,
            statuses=tuple(status.to_engine() for status in self.statuses),
            gender=Gender(self.gender),
        )


class HospitalIn(_Strict):
    """A hospital as registered (定点医疗机构): its name, level (1 乡镇/一级, 2 县级/二级,
    3 三级) and region. Strict: `"level": true` or `"2"` is refused, not read as a level."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [{"name": "吉林大学第一医院", "level": 3, "region": "220000"}]
        },
    )

    name: Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=LINE_TEXT_PATTERN)]
    level: Annotated[StrictInt, Field(ge=1, le=3, description="1 乡镇/一级, 2 县级/二级, 3 三级")]
    region: Annotated[
        StrictStr, Field(pattern=r"^[0-9]{6}$", description="Region code, e.g. 220000")
    ]


def mask_id_number(id_number: str) -> str:
    """Show only the last four characters: 220102**********1234 → '**************1234'."""
    return "*" * max(0, len(id_number) - 4) + id_number[-4:]


class ReversalIn(_Strict):
    """Why a settlement is reversed (冲正原因), kept with the settlement and in the audit."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"reason": "医院冲正：重复上传"}]},
    )

    reason: Annotated[StrictStr, Field(min_length=1, max_length=500, pattern=TEXT_PATTERN)]


class AccumulatorsBody(_Strict):
    """Year-to-date accumulators of one person (年度累计), as the contract shows them."""

    year: Annotated[StrictInt, Field(ge=1900, le=9999)]
    admissions: Annotated[StrictInt, Field(ge=0)] = 0
    basic_paid: MoneyText = "0.00"
    ci_base: MoneyText = "0.00"
    ci_paid: MoneyText = "0.00"
    assistance_paid: MoneyText = "0.00"
    charity_paid: MoneyText = "0.00"
    health_paid: MoneyText = "0.00"
    patient_paid: MoneyText = "0.00"

    def to_engine(self) -> Accumulators:
        return Accumulators(
            year=self.year,
            admissions=self.admissions,
            basic_paid=money(self.basic_paid),
            ci_base=money(self.ci_base),
            ci_paid=money(self.ci_paid),
            assistance_paid=money(self.assistance_paid),
            charity_paid=money(self.charity_paid),
            health_paid=money(self.health_paid),
            patient_paid=money(self.patient_paid),
        )


ACCUMULATOR_AMOUNTS = AccumulatorsFen._fields[2:]
"""The accumulators' amounts (after year and admissions), in fen in the engine, money here."""


def accumulators_json(accumulators: AccumulatorsFen) -> dict[str, Any]:
    return {
        "year": accumulators.year,
        "admissions": accumulators.admissions,
        **dict(zip(ACCUMULATOR_AMOUNTS, map(_fen_text, accumulators[2:]), strict=True)),
    }


TOTAL_KEYS = tuple(field.name.removesuffix("_fen") for field in dataclasses.fields(Totals))
"""The bill's totals as the contract names them: the engine's `Totals` without `_fen`."""
_total_figures = attrgetter(*(field.name for field in dataclasses.fields(Totals)))
"""The totals' amounts in fen, in `TOTAL_KEYS`' order."""


_ITEM_KEYS = tuple(name.removesuffix("_fen") for name in LineSettlement._fields)
"""The contract's item keys, in the order of `LineSettlement`'s fields."""


def _item_json(line: LineSettlement, keys: tuple[str, ...] = _ITEM_KEYS) -> dict[str, Any]:
    """One line of the bill; the ten amounts follow the six descriptive fields in field order.

    The amounts are formatted by `_fen_text`: thirty lines a bill, twelve amounts a line."""
    values: list[Any] = [
        line.line_no, line.item_code, line.item_name, line.item_class.value,
        str(line.quantity), str(line.unit_price.amount),
    ]  # fmt: skip
    values += map(_fen_text, line[6:])
    return dict(zip(keys, values, strict=True))


def burden_json(burden: Burden) -> dict[str, Any]:
    """The year's burden (rules §16): what the person has paid this year, after this claim."""
    return {
        "year_to_date": _fen_text(burden.year_to_date_fen),
        "threshold": None if burden.threshold_fen is None else _fen_text(burden.threshold_fen),
        "crossed": burden.crossed,
    }


def findings_json(findings: tuple[Finding, ...], *, chinese: bool = False) -> list[dict[str, Any]]:
    """The rule checks' findings as the contract writes them (`message_zh` too when stored)."""
    documents = []
    for finding in findings:
        document = {
            "rule": finding.rule.value,
            "name": finding.name,
            "line_no": finding.line_no,
            "action": finding.action.value,
            "amount": format_fen(finding.amount_fen),
            "message": finding.message,
        }
        if chinese:
            document["message_zh"] = finding.message_zh
        documents.append(document)
    return documents


def settlement_json(
    settlement: Settlement,
    *,
    settlement_id: str | None,
    status: Literal["settled", "reversed", "preview"],
    settled_at: str | None,
    reversed_at: str | None,
) -> dict[str, Any]:
    """The contract's settlement object, built directly (one pass, no intermediate models)."""
    items = [_item_json(line) for line in settlement.lines]
    return _settlement_document(settlement, items, settlement_id, status, settled_at, reversed_at)


def _settlement_document(
    settlement: Settlement,
    items: list[dict[str, Any]] | orjson.Fragment,
    settlement_id: str | None,
    status: str,
    settled_at: str | None,
    reversed_at: str | None,
) -> dict[str, Any]:
    totals = settlement.totals
    return {
        "settlement_id": settlement_id,
        "status": status,
        "claim_id": settlement.claim_id,
        "hospital_id": settlement.hospital_id,
        "person_id": settlement.person_id,
        "admission_date": settlement.admission_date.isoformat(),
        "discharge_date": settlement.discharge_date.isoformat(),
        "policy_year": settlement.policy_year,
        "tariff_version": settlement.tariff_version,
        "group": None if settlement.group is None else settlement.group.value,
        "charity_disease": settlement.charity_disease,
        "insured_region": settlement.insured_region,
        "treatment_region": settlement.treatment_region,
        "filing": None if settlement.filing is None else settlement.filing.value,
        "catalog_version": settlement.catalog_version,
        "settled_at": settled_at,
        "reversed_at": reversed_at,
        "totals": dict(zip(TOTAL_KEYS, map(_fen_text, _total_figures(totals)), strict=True)),
        "items": items,
        "funds": [
            {
                "fund": step.fund.value,
                "fund_code": step.fund_code,
                "base": _fen_text(step.base_fen),
                "payable": _fen_text(step.payable_fen),
                "cap_remaining": None
                if step.cap_remaining_fen is None
                else _fen_text(step.cap_remaining_fen),
                "paid": _fen_text(step.paid_fen),
                "explanation": list(step.explanation),
            }
            for step in settlement.funds
        ],
        "findings": findings_json(settlement.findings),
        "accumulators_after": accumulators_json(settlement.accumulators_after_fen),
        "pay_later_eligible": settlement.pay_later_eligible,
        "burden": burden_json(settlement.burden),
    }


_ITEM_TEMPLATE = (
    '{{"{}":%d,"{}":%s,"{}":%s,"{}":"%s","{}":"%s","{}":"%s"'.format(*_ITEM_KEYS[:6])
    + "".join(f',"{key}":"%d.%02d"' for key in _ITEM_KEYS[6:])
    + "}"
)
"""One line of the bill as JSON text: the line number, the code and the name written as JSON
strings, the class, quantity and unit price (plain text: a letter, decimal digits), then each
amount as its yuan and its two-digit fen, in `_item_json`'s order."""

_json_text = lru_cache(maxsize=4096)(lambda text: orjson.dumps(text).decode())
"""A text as a JSON string, as orjson writes it: a hospital bills the same codes and names
over and over. (Keyed by `str` only: equal texts are the same text.)"""

_CHUNK = 32
"""Lines written by one format: a bill's arguments for up to 32 lines in one tuple."""


@lru_cache(maxsize=_CHUNK)
def _lines_template(count: int) -> str:
    return ",".join([_ITEM_TEMPLATE] * count)


def _items_text(lines: tuple[LineSettlement, ...]) -> str:
    """The bill's lines as the JSON array `orjson.dumps([_item_json(line) ...])` writes,
    written directly: the arguments of up to `_CHUNK` lines formatted by one template, each
    amount as `divmod(fen, 100)`, the codes and names from a cache.

    `divmod` writes a negative amount wrong (-5 fen would be "-1.95"); no line of a settlement
    has one (the conservation check refuses it, rules §10), and a line that had would be
    refused here, never written."""
    text, chunks = _json_text, []
    for start in range(0, len(lines), _CHUNK):
        arguments: list[Any] = []
        chunk = lines[start : start + _CHUNK]
        for line in chunk:
            arguments += (line[0], text(line[1]), text(line[2]), line[3], line[4], line[5].amount)
            figures = line[6:]
            if min(figures) < 0:
                raise ValueError(f"line {line[0]} has a negative amount: not a settlement's line")
            for fen in figures:
                arguments += divmod(fen, 100)
        chunks.append(_lines_template(len(chunk)) % tuple(arguments))
    return "[" + ",".join(chunks) + "]"


def settlement_body(settlement: Settlement, *, settlement_id: str, settled_at: str) -> bytes:
    """A settlement made now, as the bytes `orjson.dumps(settlement_json(...))` writes for it
    (status "settled", not reversed), built without the items' dicts: the lines, thirty a
    typical bill and sixteen fields a line, are the document's cost
    (`test_a_settlements_body_is_the_bytes_of_its_document`)."""
    items = orjson.Fragment(_items_text(settlement.lines))
    return orjson.dumps(
        _settlement_document(settlement, items, settlement_id, "settled", settled_at, None)
    )


# ---------------------------------------------------------------- response shapes (OpenAPI)
# The service builds responses with `settlement_json` (one pass, no intermediate models);
# these models describe the same documents in the served OpenAPI document.


class TotalsOut(BaseModel):
    total: MoneyText
    full_selfpay: MoneyText
    over_cap_selfpay: MoneyText
    first_selfpay: MoneyText
    in_scope: MoneyText
    deductible_applied: MoneyText
    basic_insurance: MoneyText
    critical_illness: MoneyText
    medical_assistance: MoneyText
    charity: MoneyText
    fund_total: MoneyText
    patient_pay: MoneyText
    refused_selfpay: MoneyText
    """违规自付: refused by the rule checks (rules §14), the patient's."""
    health_fund: MoneyText


class ItemOut(BaseModel):
    line_no: int
    item_code: str
    item_name: str
    item_class: Literal["A", "B", "C"]
    quantity: str
    unit_price: str
    amount: MoneyText
    full_selfpay: MoneyText
    over_cap_selfpay: MoneyText
    first_selfpay: MoneyText
    in_scope: MoneyText
    basic_insurance: MoneyText
    critical_illness: MoneyText
    medical_assistance: MoneyText
    charity: MoneyText
    patient_pay: MoneyText
    refused_selfpay: MoneyText
    health_fund: MoneyText


class FundOut(BaseModel):
    fund: Literal[
        "basic_insurance", "critical_illness", "medical_assistance", "charity", "health_fund"
    ]
    fund_code: str
    base: MoneyText
    payable: MoneyText
    cap_remaining: MoneyText | None
    paid: MoneyText
    explanation: list[str]


class AccumulatorsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "year": 2018, "admissions": 2, "basic_paid": "35256.08",
                    "ci_base": "33939.02", "ci_paid": "14166.46",
                    "assistance_paid": "6240.79", "charity_paid": "0.00",
                    "health_paid": "0.00", "patient_paid": "5436.67",
                }
            ]
        }
    )  # fmt: skip
    year: int
    admissions: int
    basic_paid: MoneyText
    ci_base: MoneyText
    ci_paid: MoneyText
    assistance_paid: MoneyText
    charity_paid: MoneyText
    health_paid: MoneyText
    patient_paid: MoneyText
    """What the person paid of the year's bills (their `patient_pay`, rules §16)."""


class BurdenOut(BaseModel):
    """The year's personal burden after this claim (rules §16, 高额医疗费用预警)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"year_to_date": "5436.67", "threshold": "5000.00", "crossed": True}]
        }
    )
    year_to_date: MoneyText
    """What the person has paid of the policy year's bills, this one included (`patient_paid`)."""
    threshold: MoneyText | None
    """The alert threshold of the claim's policy tariff; null when it has no alert."""
    crossed: bool
    """This claim took the year from below the threshold to at or above it."""


class FindingOut(BaseModel):
    """One rule of section 14 that acted on one line (合理性审核)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rule": "R03", "name": "超住院天数", "line_no": 1, "action": "refused",
                    "amount": "90.00",
                    "message": "line 1: S0001 普通病房床位费 is billed at most once per inpatient "
                    "day; the stay has 5 days, 5 left for this code: quantity 7 → 5, 90.00 refused",
                }
            ]
        }
    )  # fmt: skip
    rule: Literal["R01", "R02", "R03", "R04"]
    name: str
    line_no: int
    action: Literal["refused", "warning"]
    amount: MoneyText
    message: str


class SettlementOut(BaseModel):
    """The itemized bill: what each fund pays on every line, and what the patient pays."""

    settlement_id: str | None
    status: Literal["settled", "reversed", "preview"]
    claim_id: str
    hospital_id: str
    person_id: str
    admission_date: date
    discharge_date: date
    policy_year: int
    tariff_version: str
    group: Group | None
    charity_disease: str | None
    insured_region: str
    """参保地: whose policy tariff (`tariff_version`) settled the claim."""
    treatment_region: str
    """就医地: the hospital's region, whose catalog (`catalog_version`) read the lines."""
    filing: Filing | None
    catalog_version: str
    settled_at: str | None
    reversed_at: str | None
    totals: TotalsOut
    items: list[ItemOut]
    funds: list[FundOut]
    findings: list[FindingOut]
    accumulators_after: AccumulatorsOut
    pay_later_eligible: bool
    """先诊疗后付费 (rules §15): the person may pay their share after discharge; no amount
    changes."""
    burden: BurdenOut


class ProblemOut(BaseModel):
    """RFC 9457 problem details, listing every problem found."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]]
    instance: str | None = None
