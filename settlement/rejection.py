"""Expected refusals as values: a closed set of problem codes, every problem of a claim at once.

A rejected claim is an outcome, not an error: the engine returns a `Rejection` listing each
problem with where it is (`loc`, in the contract's field names) and a readable message. Only
the API maps these to HTTP (422 problem+json).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    NO_LINES = "no_lines"
    TOO_MANY_LINES = "too_many_lines"
    DUPLICATE_LINE_NO = "duplicate_line_no"
    UNKNOWN_ITEM_CODE = "unknown_item_code"
    AMOUNT_MISMATCH = "amount_mismatch"
    TOO_MANY_DECIMALS = "too_many_decimals"
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    NEGATIVE_AMOUNT = "negative_amount"
    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    WRONG_CURRENCY = "wrong_currency"
    DISCHARGE_BEFORE_ADMISSION = "discharge_before_admission"
    ADMISSION_BEFORE_BIRTH = "admission_before_birth"
    NO_DIAGNOSIS = "no_diagnosis"
    INVALID_DIAGNOSIS = "invalid_diagnosis"
    NO_TARIFF = "no_tariff"
    FILING_REQUIRED = "filing_required"
    FILING_NOT_ALLOWED = "filing_not_allowed"
    UNKNOWN_FILING = "unknown_filing"
    NO_CROSS_REGION_POLICY = "no_cross_region_policy"
    UNKNOWN_HOSPITAL_LEVEL = "unknown_hospital_level"
    ACCUMULATORS_YEAR_MISMATCH = "accumulators_year_mismatch"


@dataclass(frozen=True, slots=True)
class Problem:
    code: ProblemCode
    loc: tuple[str | int, ...]
    msg: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """The claim was refused; `problems` names every problem found, in claim order."""

    problems: tuple[Problem, ...]

    def __post_init__(self) -> None:
        assert self.problems, "a rejection names at least one problem"

    @property
    def codes(self) -> frozenset[ProblemCode]:
        return frozenset(problem.code for problem in self.problems)
