"""The balance check that cannot be switched off (rules §10).

Every settlement is checked before the engine returns it (and, by the service, again after it
is read back). A violation is a bug: it raises `ConservationError`, an `AssertionError` raised
explicitly so that not even `python -O` silences it.
"""

from __future__ import annotations

from operator import add, le

from settlement.model import FUND_ORDER
from settlement.result import Settlement


class ConservationError(AssertionError):
    """A settlement does not balance to the fen: never return or store it."""


def check_conservation(settlement: Settlement) -> None:
    """Raise `ConservationError` unless every identity of §10 holds to the fen.

    One pass over the lines for the per-line identities, then column sums for the totals:
    the check costs little next to the settlement it guards, and always runs.
    """
    name = f"claim {settlement.claim_id}"
    columns = list(zip(*settlement.lines, strict=True))[6:]
    if columns:
        # Column-wise with builtins and `operator` (the loops run in C); a broken identity
        # is then located line by line for the message.
        (amount, full, over, first, in_scope, b, c, m, h, patient, refused, f) = columns
        # The refused self-pay and the fifth fund are zero on most bills: added only if not.
        four = map(add, map(add, b, c), map(add, m, h))
        funds = tuple(map(add, four, f) if any(f) else four)
        parts = map(add, map(add, full, over), map(add, first, in_scope))
        if tuple(map(add, parts, refused) if any(refused) else parts) != amount:
            _locate(settlement, "amount ≠ refused + self-pay parts + in scope")
        if tuple(map(add, funds, patient)) != amount:
            _locate(settlement, "amount ≠ funds + patient")
        if not all(map(le, funds, in_scope)):
            _locate(settlement, "funds pay more than in scope")
        if min(map(min, columns)) < 0:
            _locate(settlement, "a negative figure")
    _check_totals(settlement, name, [sum(column) for column in columns] or [0] * 12)
    _check_findings(settlement, name)


def _locate(settlement: Settlement, what: str) -> None:
    """Raise for the first line that breaks an identity the column check found broken."""
    for line in settlement.lines:
        (_, _, _, _, _, _, amount, full, over, first, in_scope, b, c, m, h, patient) = line[:16]
        refused, f = line[16:]
        broken = (
            amount != refused + full + over + first + in_scope
            or amount != b + c + m + h + f + patient
            or b + c + m + h + f > in_scope
            or min(line[6:]) < 0
        )
        if broken:
            raise ConservationError(f"claim {settlement.claim_id} line {line.line_no}: {what}")
    raise ConservationError(f"claim {settlement.claim_id}: {what}")


def _check_findings(settlement: Settlement, name: str) -> None:
    """Each line's findings add up to its refused self-pay (§14), and name lines of the bill."""
    if not settlement.findings:
        if settlement.totals.refused_selfpay_fen:
            raise ConservationError(f"{name}: refused self-pay without a finding")
        return
    by_line: dict[int, int] = {}
    for finding in settlement.findings:
        if finding.amount_fen < 0:
            raise ConservationError(f"{name}: finding on line {finding.line_no} is negative")
        by_line[finding.line_no] = by_line.get(finding.line_no, 0) + finding.amount_fen
    refused = {line.line_no: line.refused_selfpay_fen for line in settlement.lines}
    for line_no in by_line:
        if line_no not in refused:
            raise ConservationError(f"{name}: a finding names line {line_no}, not on the bill")
    for line_no, refused_fen in refused.items():
        if by_line.get(line_no, 0) != refused_fen:
            raise ConservationError(f"{name} line {line_no}: findings ≠ refused self-pay")


def _check_totals(settlement: Settlement, name: str, sums: list[int]) -> None:  # noqa: PLR0912
    # One branch per identity of §10: a flat list of checks reads better than a loop of lambdas.
    totals = settlement.totals
    (amount, full, over, first, in_scope, basic, ci, assistance, charity, patient) = sums[:10]
    refused, health = sums[10:]
    if totals.total_fen != amount:
        raise ConservationError(f"{name}: total ≠ sum of lines")
    if totals.full_selfpay_fen != full:
        raise ConservationError(f"{name}: full self-pay ≠ sum of lines")
    if totals.over_cap_selfpay_fen != over:
        raise ConservationError(f"{name}: over-cap ≠ sum of lines")
    if totals.first_selfpay_fen != first:
        raise ConservationError(f"{name}: first self-pay ≠ sum of lines")
    if totals.in_scope_fen != in_scope:
        raise ConservationError(f"{name}: in scope ≠ sum of lines")
    if totals.patient_pay_fen != patient:
        raise ConservationError(f"{name}: patient pay ≠ sum of lines")
    if totals.refused_selfpay_fen != refused:
        raise ConservationError(f"{name}: refused self-pay ≠ sum of lines")
    if totals.total_fen != refused + full + over + first + in_scope:
        raise ConservationError(f"{name}: total ≠ refused + parts + in scope")
    if tuple(step.fund for step in settlement.funds) != FUND_ORDER:
        raise ConservationError(f"{name}: funds out of cascade order")
    fund_totals = (
        totals.basic_insurance_fen,
        totals.critical_illness_fen,
        totals.medical_assistance_fen,
        totals.charity_fen,
        totals.health_fund_fen,
    )
    left_fen = totals.in_scope_fen
    for step, shares, total in zip(
        settlement.funds, (basic, ci, assistance, charity, health), fund_totals, strict=True
    ):
        paid = step.paid_fen
        if shares != paid:
            raise ConservationError(f"{name}: {step.fund} line shares ≠ its total")
        if total != paid:
            raise ConservationError(f"{name}: {step.fund} claim total ≠ its step")
        if paid < 0:
            raise ConservationError(f"{name}: {step.fund} pays a negative amount")
        if paid > left_fen:
            raise ConservationError(f"{name}: {step.fund} pays more than is left before it")
        if step.cap_remaining_fen is not None and paid > step.cap_remaining_fen:
            raise ConservationError(f"{name}: {step.fund} exceeds its annual cap")
        left_fen -= paid
    if totals.fund_total_fen != basic + ci + assistance + charity + health:
        raise ConservationError(f"{name}: fund total ≠ sum of funds")
    if totals.total_fen != totals.fund_total_fen + totals.patient_pay_fen:
        raise ConservationError(f"{name}: total ≠ funds + patient")
