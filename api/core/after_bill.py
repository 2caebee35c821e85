"""The shapes of API_CONTRACT.md "after the bill" (rules §15–16): receivables of patients who
pay later (先诊疗后付费), their payments, the aging of what is owed, and the high-burden
alerts with their decisions (临时救助).

Amounts are the contract's money text (exactly two decimals: `1.005` or `1` is refused by the
pattern, never rounded); dates are `YYYY-MM-DD` and nothing else. What the amounts must add up
to is the service's to judge (api.services.receivables), so that one answer names every
problem at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.core.contract import ID_PATTERN, TEXT_PATTERN, IsoDate, MoneyText
from tariffs.schema import INSTALLMENTS_LIMIT

AGING_BUCKETS = ("not_due", "1_30", "31_90", "91_180", "over_180")
"""Days an unpaid installment is past its due date, as of the day asked: 0 or less, 1–30,
31–90, 91–180, more than 180."""

PAYMENT_METHODS = ("cash", "card", "transfer")
"""How a hospital records a patient's payment; `temporary_assistance` is a grant's only."""

INSTALLMENTS_MAX = INSTALLMENTS_LIMIT
"""The most installments a body may list before any tariff is read: the most a tariff's
`installments_max` may allow (its own limit may be lower)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstallmentIn(_Strict):
    due_date: IsoDate
    amount: MoneyText


class ReceivableIn(_Strict):
    """The plan a hospital agrees with a patient allowed to pay later (先诊疗后付费)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "paid_at_discharge": "436.67",
                    "installments": [
                        {"due_date": "2018-04-12", "amount": "2500.00"},
                        {"due_date": "2018-05-12", "amount": "2500.00"},
                    ],
                }
            ]
        },
    )

    paid_at_discharge: MoneyText
    installments: Annotated[list[InstallmentIn], Field(min_length=1, max_length=INSTALLMENTS_MAX)]


class PaymentIn(_Strict):
    """A payment a patient made on their receivable, recorded by the hospital."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"payment_id": "PAY-0001", "amount": "800.00", "paid_on": "2018-04-10",
                 "method": "cash"}
            ]
        },
    )  # fmt: skip

    payment_id: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    amount: MoneyText
    paid_on: IsoDate
    method: Literal["cash", "card", "transfer", "temporary_assistance"]
    """`temporary_assistance` is refused here: only a grant makes such a payment."""


class InstallmentOut(BaseModel):
    due_date: str
    amount: MoneyText
    paid: MoneyText
    outstanding: MoneyText


class PaymentOut(BaseModel):
    payment_id: str
    amount: MoneyText
    paid_on: str
    method: Literal["cash", "card", "transfer", "temporary_assistance"]
    recorded_at: str
    decision_id: str | None


class ReceivableOut(BaseModel):
    """What a patient owes the hospital for one settlement, and what they paid."""

    receivable_id: str
    settlement_id: str
    hospital_id: str
    person_id: str
    policy_year: int
    discharge_date: str
    principal: MoneyText
    """The settlement's `patient_pay` less `paid_at_discharge`: what the installments add up to."""
    paid_at_discharge: MoneyText
    installments: list[InstallmentOut]
    payments: list[PaymentOut]
    outstanding: MoneyText
    status: Literal["open", "paid", "cancelled"]
    refund_due: MoneyText
    """On cancellation (the settlement reversed): what the patient paid, to be given back;
    0.00 otherwise."""
    refund_to_fund: MoneyText
    """On cancellation: what temporary assistance paid, returned to fund 999998; 0.00 otherwise."""
    created_at: str
    cancelled_at: str | None


class AgingOut(BaseModel):
    """One hospital's outstanding amount, each unpaid installment aged by its due date."""

    hospital_id: str
    receivables: int
    outstanding: MoneyText
    not_due: MoneyText
    days_1_30: MoneyText = Field(alias="1_30")
    days_31_90: MoneyText = Field(alias="31_90")
    days_91_180: MoneyText = Field(alias="91_180")
    over_180: MoneyText


class ReceivablesOut(BaseModel):
    """`GET /v1/receivables`: the receivables as of a day, and their aging per hospital."""

    as_of: str
    receivables: list[ReceivableOut]
    aging: list[AgingOut]


# ---------------------------------------------------------------- alerts and decisions (rules §16)


class DecisionIn(BaseModel):
    """A decision on a raised alert: grant an amount (at most the year's burden) or decline."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"decision_id": "TA-2018-0001", "decision": "grant", "amount": "3000.00",
                 "reason": "因病致贫风险高，一事一议给予临时救助"}
            ]
        },
    )  # fmt: skip

    decision_id: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    decision: Literal["grant", "decline"]
    amount: MoneyText | None = None
    """The grant; absent for a decline."""
    reason: Annotated[StrictStr, Field(min_length=1, max_length=500, pattern=TEXT_PATTERN)]


class ApplicationOut(BaseModel):
    to: Literal["receivable", "person"]
    receivable_id: str | None
    hospital_id: str | None
    payment_id: str | None
    amount: MoneyText


class DecisionOut(BaseModel):
    decision_id: str
    person_id: str
    year: int
    decision: Literal["grant", "decline"]
    amount: MoneyText
    reason: str
    decided_on: str
    decided_at: str
    fund_code: str
    applications: list[ApplicationOut]
    paid_to_person: MoneyText


class AlertOut(BaseModel):
    person_id: str
    id_number: str
    """Masked: the last four characters only."""
    name: str
    group: str | None
    insured_region: str
    year: int
    patient_paid: MoneyText
    threshold: MoneyText
    raised_at: str
    settlement_id: str
    """The settlement that crossed the threshold (the last crossing)."""
    settlements: list[str]
    """The year's settlements still in force, in the order they were settled."""
    receivables_outstanding: MoneyText
    """What the person still owes on open receivables of that year."""
    status: Literal["raised", "withdrawn", "granted", "declined"]
    decision: DecisionOut | None


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


def example_receivable() -> dict[str, Any]:
    """An example document, for the OpenAPI page."""
    return {
        "receivable_id": "RV20180312A1B2C3D4E5F60718",
        "settlement_id": "ST20180312A1B2C3D4E5F60718",
        "hospital_id": "H2201002",
        "person_id": "P0002",
        "policy_year": 2018,
        "discharge_date": "2018-03-12",
        "principal": "5000.00",
        "paid_at_discharge": "436.67",
        "installments": [
            {"due_date": "2018-04-12", "amount": "2500.00", "paid": "800.00",
             "outstanding": "1700.00"},
            {"due_date": "2018-05-12", "amount": "2500.00", "paid": "0.00",
             "outstanding": "2500.00"},
        ],
        "payments": [
            {"payment_id": "PAY-0001", "amount": "800.00", "paid_on": "2018-04-10",
             "method": "cash", "recorded_at": "2018-04-10T02:00:00Z", "decision_id": None}
        ],
        "outstanding": "4200.00",
        "status": "open",
        "refund_due": "0.00",
        "refund_to_fund": "0.00",
        "created_at": "2018-03-12T06:00:00Z",
        "cancelled_at": None,
    }  # fmt: skip
