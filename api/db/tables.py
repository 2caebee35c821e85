"""The database tables (SQLModel), their Core handles and their column lists: one owner each.

Money is stored as integer fen (BIGINT). The SQLModel family follows the full-stack
template: `XBase` (shared fields) → `X(table=True)` / `XPublic` (the registries' answers).
Postings are append-only: a reversal appends negated postings, it never edits one.
The column lists at the end are derived from the engine's types (`Totals`,
`LineSettlement`, `AccumulatorsFen`, `Fund`), so a new amount there is a new column here.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from settlement.model import AccumulatorsFen, Fund, Group
from settlement.result import LineSettlement, Totals

# ---------------------------------------------------------------- hospitals


class HospitalBase(SQLModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    level: Annotated[int, Field(ge=1, le=3, description="1 乡镇/一级, 2 县级/二级, 3 三级")]
    # SQLModel's Field ignores `regex` under pydantic v2, so the pattern is a StringConstraint.
    region: Annotated[
        str,
        StringConstraints(pattern=r"^[0-9]{6}$"),
        Field(description="Region code, e.g. 220000"),
    ]


class Hospital(HospitalBase, table=True):
    hospital_id: str = Field(primary_key=True, max_length=64)
    created_at: datetime
    updated_at: datetime


class HospitalPublic(HospitalBase):
    hospital_id: str


# ---------------------------------------------------------------- persons


class Person(SQLModel, table=True):
    person_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    id_number: str = Field(max_length=18)
    """Stored in full for matching with the civil-affairs registry; never returned unmasked."""
    birth_date: date
    gender: str = Field(max_length=8)
    insured_region: str = Field(max_length=6)
    created_at: datetime
    updated_at: datetime


class PersonStatus(SQLModel, table=True):
    __tablename__ = "person_status"
    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.person_id", index=True, max_length=64)
    group: str = Field(max_length=32)
    valid_from: date
    valid_to: date | None = None


class StatusPublic(SQLModel):
    group: Group
    valid_from: date
    valid_to: date | None


class PersonPublic(SQLModel):
    person_id: str
    name: str
    id_number: str
    """Masked: only the last four characters are shown."""
    birth_date: date
    gender: str
    insured_region: str
    statuses: list[StatusPublic]


# ---------------------------------------------------------------- keys


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, unique=True)
    """The key's public prefix, by which it is looked up; the secret part is only hashed."""
    secret_hash: str = Field(max_length=64)
    role: str = Field(max_length=16)
    hospital_id: str | None = Field(default=None, foreign_key="hospital.hospital_id", max_length=64)
    label: str = Field(default="", max_length=200)
    created_at: datetime
    revoked_at: datetime | None = None


# ---------------------------------------------------------------- settlements


class SettlementRow(SQLModel, table=True):
    """One settlement; amounts in fen. Replays and conflicts are decided on `claim_hash`."""

    __tablename__ = "settlement"
    __table_args__ = (
        # At most one settled settlement per hospital and claim id; reversed ones may repeat.
        Index(
            "uq_settlement_settled_claim",
            "hospital_id",
            "claim_id",
            unique=True,
            sqlite_where=text("status = 'settled'"),
            postgresql_where=text("status = 'settled'"),
        ),
        Index("ix_settlement_settled_at", "settled_at"),
        # A year's persons of one insured region: the policy simulation's partitions.
        Index("ix_settlement_year_region_person", "policy_year", "insured_region", "person_id"),
        Index("ix_settlement_hospital_settled_at", "hospital_id", "settled_at"),
        # Totals find reversals by reversal time; only reversed settlements have one.
        Index(
            "ix_settlement_reversed_at",
            "reversed_at",
            sqlite_where=text("reversed_at IS NOT NULL"),
            postgresql_where=text("reversed_at IS NOT NULL"),
        ),
        Index(
            "ix_settlement_hospital_reversed_at",
            "hospital_id",
            "reversed_at",
            sqlite_where=text("reversed_at IS NOT NULL"),
            postgresql_where=text("reversed_at IS NOT NULL"),
        ),
    )

    settlement_id: str = Field(primary_key=True, max_length=40)
    claim_id: str = Field(max_length=64)
    hospital_id: str = Field(foreign_key="hospital.hospital_id", max_length=64)
    person_id: str = Field(foreign_key="person.person_id", max_length=64, index=True)
    claim_hash: str = Field(max_length=64)
    status: str = Field(max_length=16)
    admission_date: date
    discharge_date: date
    policy_year: int
    tariff_version: str = Field(max_length=64)
    group: str | None = Field(default=None, max_length=32)
    charity_disease: str | None = Field(default=None, max_length=100)
    settled_at: datetime
    reversed_at: datetime | None = None
    reversal_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    full_selfpay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    over_cap_selfpay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    first_selfpay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    in_scope_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    deductible_applied_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    basic_insurance_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    critical_illness_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    medical_assistance_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    charity_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    fund_total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    patient_pay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    refused_selfpay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    health_fund_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    insured_region: str = Field(max_length=6)
    """The person's insured region, whose policy tariff settled the claim (参保地)."""
    treatment_region: str = Field(max_length=6)
    """The hospital's region, whose catalog read the lines (就医地); the same in-region."""
    filing: str | None = Field(default=None, max_length=16)
    catalog_version: str = Field(max_length=64)
    findings: str = Field(sa_column=Column(Text, nullable=False))
    """The rule checks' findings (rules §14) as the contract's JSON list, with their Chinese."""
    accumulators_after: str = Field(sa_column=Column(Text, nullable=False))
    """The accumulators after this settlement, as the contract's JSON object."""
    pay_later_eligible: bool = Field(default=False, nullable=False)
    """The person may defer their share to after discharge (先诊疗后付费, rules §15)."""
    burden_threshold_fen: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    """The alert threshold of the settlement's policy tariff (rules §16); NULL: it has none.
    The burden itself is `patient_paid` of `accumulators_after`."""
    burden_crossed: bool = Field(default=False, nullable=False)
    """This settlement took the year's burden from below the threshold to at or above it."""
    diagnoses: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The claim's ICD-10 diagnoses, main diagnosis first, as a JSON list: with `surgery`,
    `hospital_level`, `birth_date`, `gender` and the lines, what the engine read, so that the
    year can be settled again (policy simulation, `api.services.simulation`). NULL only for a
    settlement stored before migration 0010 whose claim could not be recovered."""
    surgery: bool | None = Field(default=None, nullable=True)
    hospital_level: int | None = Field(default=None, nullable=True)
    """The hospital's level on the day it was settled (the registry's may change later)."""
    birth_date: date | None = Field(default=None, nullable=True)
    """The person's birth date and gender as the engine read them (age and gender rules)."""
    gender: str | None = Field(default=None, max_length=8, nullable=True)
    lines: str = Field(sa_column=Column(Text, nullable=False))
    """The bill's lines, packed: a JSON array with one array per line, in the claim's order,
    holding `PACKED_LINE_FIELDS` (amounts as integer fen). One column, not a row a line: a
    30-line bill is one insert, and finance reads the funds' totals, never the lines."""


class SettlementFundRow(SQLModel, table=True):
    """What each fund did for a settlement (the platform's setldetail row)."""

    __tablename__ = "settlement_fund"
    settlement_id: str = Field(
        foreign_key="settlement.settlement_id", primary_key=True, max_length=40
    )
    position: int = Field(primary_key=True)
    fund: str = Field(max_length=32)
    fund_code: str = Field(max_length=16)
    base_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    payable_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    cap_remaining_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    paid_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    """The explanation sentences as a JSON list of strings."""
    explanation_zh: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """The same in Chinese for the printed slip; NULL for steps stored before it was kept."""
    rate_ppm: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    """The rate the fund applied, in millionths, where it has one rate (basic insurance: the
    platform's `pool_prop_selfpay`); NULL otherwise and for steps stored before it was kept."""


class FundPosting(SQLModel, table=True):
    """Append-only ledger: what a fund owes a hospital. A reversal appends the negation."""

    __tablename__ = "fund_posting"
    __table_args__ = (
        UniqueConstraint("settlement_id", "fund", "kind", name="uq_posting_once"),
        Index("ix_posting_hospital_posted_at", "hospital_id", "posted_at"),
    )
    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    settlement_id: str = Field(foreign_key="settlement.settlement_id", max_length=40, index=True)
    hospital_id: str = Field(max_length=64)
    insured_region: str = Field(max_length=6)
    """Whose funds pay (参保地): what each insured region owes each treatment region."""
    treatment_region: str = Field(max_length=6)
    fund: str = Field(max_length=32)
    fund_code: str = Field(max_length=16)
    kind: str = Field(max_length=16)
    """'settle' or 'reversal'."""
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    posted_at: datetime


class SettlementHour(SQLModel, table=True):
    """What was settled, and what was reversed, per hospital and UTC hour: the totals (3201)
    read these instead of every settlement of the period.

    Kept with each write in the same transaction (`api.db.store`). `slot` keeps each writing
    process to rows of its own, so that two services never wait on one counter row; a total
    adds up the slots.
    """

    __tablename__ = "settlement_hour"
    __table_args__ = (Index("ix_settlement_hour_kind_hour", "kind", "hour"),)
    hospital_id: str = Field(primary_key=True, max_length=64)
    hour: datetime = Field(primary_key=True)
    """The UTC hour, as the settlement's time truncated to it."""
    kind: str = Field(primary_key=True, max_length=16)
    """'settled' (by settlement time) or 'reversed' (by reversal time)."""
    slot: int = Field(primary_key=True)
    count: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    basic_insurance_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    critical_illness_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    medical_assistance_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    charity_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    health_fund_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    fund_total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    patient_pay_fen: int = Field(sa_column=Column(BigInteger, nullable=False))


class AccumulatorRow(SQLModel, table=True):
    """Year-to-date figures of one person for one policy year; locked by each settlement."""

    __tablename__ = "accumulator"
    person_id: str = Field(foreign_key="person.person_id", primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    admissions: int = 0
    basic_paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    ci_base_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    ci_paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    assistance_paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    charity_paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    health_paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    patient_paid_fen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    """What the person paid of the year's bills (their `patient_pay`, rules §16)."""


class AuditRecord(SQLModel, table=True):
    """Who changed what and when: every write leaves one."""

    __tablename__ = "audit"
    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    at: datetime
    actor: str = Field(max_length=64)
    """The API key's prefix, or 'cli' for the command line."""
    action: str = Field(max_length=64)
    subject: str = Field(sa_column=Column(String(200), nullable=False))


# ---------------------------------------------------------------- encounters (national platform)


class EncounterRow(SQLModel, table=True):
    """A stay as the national platform's interface builds it (INTEROP.md): opened at admission
    (2401), its lines uploaded as they occur (2301/2302), closed at discharge (2402) and settled
    (2304) as the claim `claim_id = mdtrt_id` of its hospital. Whether it is settled is the
    settlement table's to say (a settled settlement of that claim id), never a copy here."""

    __tablename__ = "encounter"
    __table_args__ = (
        Index("ix_encounter_hospital_person", "hospital_id", "person_id"),
        # One encounter per stay: the hospital's own stay number (住院号) names it.
        UniqueConstraint("hospital_id", "ipt_no", name="uq_encounter_stay"),
    )
    mdtrt_id: str = Field(primary_key=True, max_length=30)
    hospital_id: str = Field(foreign_key="hospital.hospital_id", max_length=64)
    person_id: str = Field(foreign_key="person.person_id", max_length=64)
    insutype: str = Field(max_length=6)
    med_type: str = Field(max_length=6)
    ipt_no: str = Field(max_length=30)
    begntime: datetime
    """Admission time as the hospital sent it (China Standard Time, no zone)."""
    adm_diag_dscr: str = Field(sa_column=Column(Text, nullable=False))
    filing: str | None = Field(default=None, max_length=16)
    """备案类别 of a cross-region stay (onestop's values; rules §12)."""
    endtime: datetime | None = None
    """Discharge time (2402); NULL while the person is in hospital."""
    dscg_way: str | None = Field(default=None, max_length=6)
    oprn_oprt_code: str | None = Field(default=None, max_length=30)
    diagnoses: str = Field(sa_column=Column(Text, nullable=False))
    """The discharge diagnoses' ICD-10 codes, main diagnosis first, as a JSON list."""
    sealed_at: datetime | None = None
    """Set by 2304 in the transaction that reads the lines it settles: for a while after, no
    line may change (2301/2302/2402 are refused), so that what is settled is what is there."""
    sealed_by: str | None = Field(default=None, max_length=32)
    """The seal's owner: a random token of the 2304 that set it, which alone lifts it (a seal
    older than `SEAL_SECONDS`, of a 2304 that never came back, lapses by itself)."""
    created_at: datetime
    updated_at: datetime


class EncounterLineRow(SQLModel, table=True):
    """One uploaded fee line (2301). A refund is a line of its own with a negative `cnt` and
    `init_feedetl_sn` naming the line it refunds; the claim nets them (api.services.nhsa)."""

    __tablename__ = "encounter_line"
    mdtrt_id: str = Field(foreign_key="encounter.mdtrt_id", primary_key=True, max_length=30)
    feedetl_sn: str = Field(primary_key=True, max_length=30)
    position: int
    """Upload order within the encounter: the claim's line numbers follow it."""
    med_list_codg: str = Field(max_length=50)
    medins_list_codg: str = Field(max_length=150)
    fee_ocur_time: datetime
    cnt: str = Field(max_length=32)
    """Quantity as an exact decimal string (4 decimals at most)."""
    pric: str = Field(max_length=32)
    """Unit price as an exact decimal string (6 decimals at most)."""
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    init_feedetl_sn: str | None = Field(default=None, max_length=30)
    uploaded_at: datetime


class NhsaMessage(SQLModel, table=True):
    """The answer to each writing message of the platform's interface, by hospital and
    `msgid`: a repeated message answers this again, byte for byte (INTEROP.md)."""

    __tablename__ = "nhsa_message"
    hospital_id: str = Field(primary_key=True, max_length=64)
    msgid: str = Field(primary_key=True, max_length=30)
    infno: str = Field(max_length=4)
    body_hash: str = Field(max_length=64)
    """SHA-256 of the message's `infno` and `input`, canonical: another body is refused."""
    answer: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime


# ---------------------------------------------------------------- after the bill (rules §15–16)


class ReceivableRow(SQLModel, table=True):
    """What a patient allowed to pay later (先诊疗后付费) owes the hospital for one settlement:
    the settlement's `patient_pay` less what was paid at discharge, in installments."""

    __tablename__ = "receivable"
    __table_args__ = (Index("ix_receivable_hospital", "hospital_id", "discharge_date"),)
    receivable_id: str = Field(primary_key=True, max_length=40)
    settlement_id: str = Field(foreign_key="settlement.settlement_id", unique=True, max_length=40)
    hospital_id: str = Field(foreign_key="hospital.hospital_id", max_length=64)
    person_id: str = Field(foreign_key="person.person_id", max_length=64)
    policy_year: int
    discharge_date: date
    paid_at_discharge_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    principal_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    """`patient_pay − paid_at_discharge`: what the installments add up to."""
    body_hash: str = Field(max_length=64)
    """SHA-256 of the agreement as posted: the same body again is a replay, another a conflict."""
    status: str = Field(max_length=16)
    """open, paid (outstanding 0.00) or cancelled (its settlement reversed)."""
    refund_due_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """On cancellation: what the patient paid (at discharge and since), to be given back."""
    refund_to_fund_fen: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    """On cancellation: what temporary assistance paid, returned to fund 999998."""
    created_at: datetime
    cancelled_at: datetime | None = None


class ReceivableInstallmentRow(SQLModel, table=True):
    """One installment of a receivable, in due order (position 0 first)."""

    __tablename__ = "receivable_installment"
    receivable_id: str = Field(
        foreign_key="receivable.receivable_id", primary_key=True, max_length=40
    )
    position: int = Field(primary_key=True)
    due_date: date
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))


class ReceivablePaymentRow(SQLModel, table=True):
    """A payment on a receivable, by the hospital (cash, card, transfer) or by a temporary
    assistance grant (`temporary_assistance`, with its `decision_id`). It fills installments
    earliest due first; which installment it filled is computed, not stored."""

    __tablename__ = "receivable_payment"
    receivable_id: str = Field(
        foreign_key="receivable.receivable_id", primary_key=True, max_length=40
    )
    payment_id: str = Field(primary_key=True, max_length=64)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    paid_on: date
    method: str = Field(max_length=32)
    body_hash: str = Field(max_length=64)
    decision_id: str | None = Field(default=None, max_length=64)
    recorded_at: datetime


class BurdenAlertRow(SQLModel, table=True):
    """The high-burden alert of one person-year (高额医疗费用预警, rules §16): raised by the
    settlement that crossed the threshold, withdrawn by a reversal that takes the year below it
    before a decision, raised again by a new crossing; decided once (granted or declined)."""

    __tablename__ = "burden_alert"
    __table_args__ = (Index("ix_burden_alert_year_status", "year", "status"),)
    person_id: str = Field(foreign_key="person.person_id", primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    status: str = Field(max_length=16)
    """raised, withdrawn, granted or declined."""
    threshold_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    """The threshold the crossing settlement's policy tariff set (rules §16)."""
    settlement_id: str = Field(foreign_key="settlement.settlement_id", max_length=40)
    """The settlement that crossed it last."""
    raised_at: datetime
    withdrawn_at: datetime | None = None
    decision_id: str | None = Field(default=None, max_length=64)


class AssistanceDecisionRow(SQLModel, table=True):
    """A decision on an alert (临时救助, 一事一议): a grant, paid by fund 999998 first onto the
    person's open receivables, the rest to the person; or a decline."""

    __tablename__ = "assistance_decision"
    decision_id: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(foreign_key="person.person_id", max_length=64)
    year: int
    decision: str = Field(max_length=16)
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    """The grant (0 for a decline)."""
    paid_to_person_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    body_hash: str = Field(max_length=64)
    decided_on: date
    """The business day of the decision: the `paid_on` of every payment it makes."""
    decided_at: datetime
    actor: str = Field(max_length=64)


# ---------------------------------------------------------------- finance view sessions


class WebSession(SQLModel, table=True):
    """A browser session of the finance view (api/web/sessions.py), started by logging in with a key.

    The cookie holds a random token; only its SHA-256 is stored, so the table cannot be
    replayed as cookies. The key itself is never stored: its prefix is, and every page looks
    the key up again, so revoking the key ends its sessions.
    """

    __tablename__ = "web_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    key_prefix: str = Field(max_length=16, index=True)
    role: str = Field(max_length=16)
    hospital_id: str | None = Field(default=None, max_length=64)
    created_at: datetime
    expires_at: datetime = Field(index=True)


# ---------------------------------------------------------------- Core handles and column lists

SETTLEMENT: Table = SQLModel.metadata.tables["settlement"]
SETTLEMENT_FUND: Table = SQLModel.metadata.tables["settlement_fund"]
FUND_POSTING: Table = SQLModel.metadata.tables["fund_posting"]
ACCUMULATOR: Table = SQLModel.metadata.tables["accumulator"]
AUDIT: Table = SQLModel.metadata.tables["audit"]
HOSPITAL: Table = SQLModel.metadata.tables["hospital"]
PERSON: Table = SQLModel.metadata.tables["person"]
PERSON_STATUS: Table = SQLModel.metadata.tables["person_status"]
API_KEY: Table = SQLModel.metadata.tables["api_key"]
WEB_SESSION: Table = SQLModel.metadata.tables["web_session"]
SETTLEMENT_HOUR: Table = SQLModel.metadata.tables["settlement_hour"]
ENCOUNTER: Table = SQLModel.metadata.tables["encounter"]
ENCOUNTER_LINE: Table = SQLModel.metadata.tables["encounter_line"]
NHSA_MESSAGE: Table = SQLModel.metadata.tables["nhsa_message"]
RECEIVABLE: Table = SQLModel.metadata.tables["receivable"]
RECEIVABLE_INSTALLMENT: Table = SQLModel.metadata.tables["receivable_installment"]
RECEIVABLE_PAYMENT: Table = SQLModel.metadata.tables["receivable_payment"]
BURDEN_ALERT: Table = SQLModel.metadata.tables["burden_alert"]
ASSISTANCE_DECISION: Table = SQLModel.metadata.tables["assistance_decision"]

TOTAL_COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(Totals))
"""The settlement row's amounts: the fields of the engine's `Totals`, by name."""
PACKED_LINE_FIELDS: tuple[str, ...] = (
    "line_no", "item_code", "item_name", "item_class", "quantity", "unit_price",
    "amount_fen", "full_selfpay_fen", "over_cap_selfpay_fen", "first_selfpay_fen",
    "in_scope_fen", "basic_insurance_fen", "critical_illness_fen", "medical_assistance_fen",
    "charity_fen", "patient_pay_fen", "refused_selfpay_fen", "health_fund_fen",
)  # fmt: skip
"""What each packed line of `settlement.lines` holds, in this order: the fields of the
engine's `LineSettlement` (the class as its value, quantity and unit price as decimal strings,
amounts in integer fen). Stored data keeps this order, so fields are only ever appended: a
line packed before a field existed is read with that amount zero."""
FUND_TOTAL_COLUMNS: dict[str, str] = {fund.value: f"{fund.value}_fen" for fund in Fund}
"""Each fund's total column on the settlement row."""
HOUR_AMOUNT_COLUMNS: tuple[str, ...] = (
    "total_fen",
    *FUND_TOTAL_COLUMNS.values(),
    "fund_total_fen",
    "patient_pay_fen",
)
"""The settlement amounts the hourly totals add up (the same columns on both tables)."""
ACCUMULATOR_COLUMNS: dict[str, str] = {
    name: name if name == "admissions" else f"{name}_fen" for name in AccumulatorsFen._fields[1:]
}
"""The engine's `AccumulatorsFen` field → the accumulator column (the year is the key)."""

for _name in (*TOTAL_COLUMNS, *FUND_TOTAL_COLUMNS.values()):
    assert _name in SETTLEMENT.c, _name
for _name in HOUR_AMOUNT_COLUMNS:
    assert _name in SETTLEMENT_HOUR.c, _name
assert LineSettlement._fields == PACKED_LINE_FIELDS, "a line field is not packed, or moved"
for _name in ACCUMULATOR_COLUMNS.values():
    assert _name in ACCUMULATOR.c, _name
