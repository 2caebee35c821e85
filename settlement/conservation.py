"""The balance check that cannot be switched off (rules §10).

Every settlement is checked before the engine returns it (and, by the service, again after it
is read back). A violation is a bug: it raises `ConservationError`, an `AssertionError` raised
explicitly so that not even `python -O` silences it.
"""

from __future__ import annotations

from settlement.model import FUND_ORDER
from settlement.result import Settlement


class ConservationError(AssertionError):
    """A settlement does not balance to the fen: never return or store it."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConservationError(message)


def check_conservation(settlement: Settlement) -> None:
    """Raise `ConservationError` unless every identity of §10 holds to the fen."""
    totals = settlement.totals
    sums = [0] * 10
    for line in settlement.lines:
        where = f"claim {settlement.claim_id} line {line.line_no}"
        parts = line.full_selfpay_fen + line.over_cap_selfpay_fen
        parts += line.first_selfpay_fen + line.in_scope_fen
        _require(line.amount_fen == parts, f"{where}: amount ≠ self-pay parts + in scope")
        funds = line.basic_insurance_fen + line.critical_illness_fen
        funds += line.medical_assistance_fen + line.charity_fen
        _require(line.amount_fen == funds + line.patient_pay_fen, f"{where}: amount ≠ funds + patient")
        _require(funds <= line.in_scope_fen, f"{where}: funds pay more than in scope")
        for index, value in enumerate(line[6:]):
            _require(value >= 0, f"{where}: negative figure {value} in field {index + 6}")
            sums[index] += value
    (amount, full, over, first, in_scope, basic, ci, assistance, charity, patient) = sums
    name = f"claim {settlement.claim_id}"
    _require(totals.total_fen == amount, f"{name}: total ≠ sum of lines")
    _require(totals.full_selfpay_fen == full, f"{name}: full self-pay ≠ sum of lines")
    _require(totals.over_cap_selfpay_fen == over, f"{name}: over-cap ≠ sum of lines")
    _require(totals.first_selfpay_fen == first, f"{name}: first self-pay ≠ sum of lines")
    _require(totals.in_scope_fen == in_scope, f"{name}: in scope ≠ sum of lines")
    _require(totals.patient_pay_fen == patient, f"{name}: patient pay ≠ sum of lines")
    _require(
        totals.total_fen == full + over + first + in_scope, f"{name}: total ≠ parts + in scope"
    )
    shares = dict(zip(FUND_ORDER, (basic, ci, assistance, charity), strict=True))
    left_fen = totals.in_scope_fen
    for step in settlement.funds:
        paid = step.paid_fen
        _require(shares[step.fund] == paid, f"{name}: {step.fund} shares ≠ its total")
        _require(totals.fund_fen(step.fund) == paid, f"{name}: {step.fund} total ≠ its step")
        _require(paid >= 0, f"{name}: {step.fund} pays a negative amount")
        _require(paid <= left_fen, f"{name}: {step.fund} pays more than is left before it")
        if step.cap_remaining_fen is not None:
            _require(paid <= step.cap_remaining_fen, f"{name}: {step.fund} exceeds its cap")
        left_fen -= paid
    _require(
        [step.fund for step in settlement.funds] == list(FUND_ORDER),
        f"{name}: funds out of cascade order",
    )
    fund_total = totals.fund_total_fen
    _require(fund_total == sum(shares.values()), f"{name}: fund total ≠ sum of funds")
    _require(totals.total_fen == fund_total + totals.patient_pay_fen, f"{name}: total ≠ funds + patient")
