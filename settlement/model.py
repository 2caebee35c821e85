"""The engine's input records: claims, persons, statuses and year-to-date accumulators.

Claim lines are NamedTuples (cheap to build by the thousand); the rest are frozen dataclasses.
Amounts are py-moneyed `Money` in CNY; quantities are `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from moneyed import Money

from settlement.money import ZERO, fen_to_money, money_to_fen


class Group(StrEnum):
    """Assistance group (救助对象类别)."""

    DESTITUTE = "destitute"  # 特困供养人员
    DIBAO = "dibao"  # 低保对象
    REGISTERED_POOR = "registered_poor"  # 建档立卡贫困人口


class Fund(StrEnum):
    """The five funds, declared in cascade order (保险在先、救助在后)."""

    BASIC_INSURANCE = "basic_insurance"  # 基本医保统筹基金
    CRITICAL_ILLNESS = "critical_illness"  # 大病保险
    MEDICAL_ASSISTANCE = "medical_assistance"  # 医疗救助
    CHARITY = "charity"  # 慈善救助
    HEALTH_FUND = "health_fund"  # 健康扶贫基金 (rules §13)


FUND_ORDER: tuple[Fund, ...] = tuple(Fund)


class Filing(StrEnum):
    """How a cross-region stay was filed with the insured region (备案类别, rules §12)."""

    RESIDENT = "resident"  # 异地长期居住
    REFERRAL = "referral"  # 转诊转院
    EMERGENCY = "emergency"  # 急诊抢救
    TEMPORARY = "temporary"  # 其他临时外出就医


class Gender(StrEnum):
    """The person's registered gender, read by rule R01 (超性别)."""

    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class ItemClass(StrEnum):
    """Catalog class: A fully in scope, B after a first self-pay share, C fully self-paid."""

    A = "A"  # 甲类
    B = "B"  # 乙类
    C = "C"  # 丙类


class ItemKind(StrEnum):
    DRUG = "drug"
    SERVICE = "service"
    MATERIAL = "material"


class ClaimLine(NamedTuple):
    """One billed line (费用明细) as the hospital posts it."""

    line_no: int
    item_code: str
    quantity: Decimal
    unit_price: Money
    amount: Money


@dataclass(frozen=True, slots=True)
class Claim:
    """One inpatient stay posted at discharge (出院结算申请)."""

    claim_id: str
    hospital_id: str
    person_id: str
    admission_date: date
    discharge_date: date
    diagnoses: tuple[str, ...]
    surgery: bool
    lines: tuple[ClaimLine, ...]
    filing: Filing | None = None
    """备案类别: required on a cross-region claim, absent on an in-region one (rules §12)."""

    @property
    def policy_year(self) -> int:
        return self.discharge_date.year


@dataclass(frozen=True, slots=True)
class Status:
    """Membership of an assistance group over a validity period (both ends included)."""

    group: Group
    valid_from: date
    valid_to: date | None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on `day` of a person born on `birth_date`."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


@dataclass(frozen=True, slots=True)
class Person:
    person_id: str
    birth_date: date
    insured_region: str
    statuses: tuple[Status, ...] = ()
    gender: Gender = Gender.UNKNOWN

    def age_on(self, day: date) -> int:
        """Age in whole years on `day`."""
        return age_on(self.birth_date, day)


@dataclass(frozen=True, slots=True)
class Accumulators:
    """Year-to-date figures of one person for one policy year (年度累计)."""

    year: int
    admissions: int = 0
    basic_paid: Money = ZERO
    ci_base: Money = ZERO
    ci_paid: Money = ZERO
    assistance_paid: Money = ZERO
    charity_paid: Money = ZERO
    health_paid: Money = ZERO
    patient_paid: Money = ZERO
    """What the person paid of the year's bills (their `patient_pay`, rules §16)."""

    def to_fen(self) -> AccumulatorsFen:
        return AccumulatorsFen(
            year=self.year,
            admissions=self.admissions,
            basic_paid=money_to_fen(self.basic_paid),
            ci_base=money_to_fen(self.ci_base),
            ci_paid=money_to_fen(self.ci_paid),
            assistance_paid=money_to_fen(self.assistance_paid),
            charity_paid=money_to_fen(self.charity_paid),
            health_paid=money_to_fen(self.health_paid),
            patient_paid=money_to_fen(self.patient_paid),
        )


class AccumulatorsFen(NamedTuple):
    """The same accumulators in integer fen, as the cascade and the database hold them."""

    year: int
    admissions: int
    basic_paid: int
    ci_base: int
    ci_paid: int
    assistance_paid: int
    charity_paid: int
    health_paid: int
    patient_paid: int

    @classmethod
    def empty(cls, year: int) -> AccumulatorsFen:
        return cls(year, 0, 0, 0, 0, 0, 0, 0, 0)

    def to_money(self) -> Accumulators:
        """The same accumulators with `Money` amounts, as the engine's edges take them."""
        return Accumulators(
            year=self.year,
            admissions=self.admissions,
            basic_paid=fen_to_money(self.basic_paid),
            ci_base=fen_to_money(self.ci_base),
            ci_paid=fen_to_money(self.ci_paid),
            assistance_paid=fen_to_money(self.assistance_paid),
            charity_paid=fen_to_money(self.charity_paid),
            health_paid=fen_to_money(self.health_paid),
            patient_paid=fen_to_money(self.patient_paid),
        )
