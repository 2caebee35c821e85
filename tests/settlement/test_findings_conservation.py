"""The findings identity of the balance check (SETTLEMENT_RULES.md §14), tested from outside.

Each line's rule findings add up to its refused self-pay (违规自付), and every finding names a
line of the bill. A mutation run found that nothing tampered a settlement's findings, so the
check could be switched off unnoticed (issue 19 §7). R1, whose bill breaks each rule once, is
settled, then copies of it have their findings tampered while every figure of its lines and
totals stays as settled: the check must refuse each copy, naming what broke.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from settlement.conservation import ConservationError, check_conservation
from settlement.engine import settle
from settlement.model import Accumulators
from settlement.result import Finding, FindingAction, Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import r1_claim, r1_person


@pytest.fixture(scope="module")
def r1(book: TariffBook) -> Settlement:
    """R1: refused self-pay 90.00, 120.00, 80.00, 3000.00 and 40.00 on lines 1 to 5, one
    finding each; line 6 has none."""
    result = settle(r1_claim(), r1_person(), 2, Accumulators(year=2018), book)
    assert isinstance(result, Settlement), result
    assert [(f.line_no, f.amount_fen) for f in result.findings] == [
        (1, 90_00), (2, 120_00), (3, 80_00), (4, 3000_00), (5, 40_00),
    ]  # fmt: skip
    return result


def with_findings(settlement: Settlement, *findings: Finding) -> Settlement:
    return replace(settlement, findings=findings)


def moved(
    finding: Finding, *, line_no: int | None = None, amount_fen: int | None = None
) -> Finding:
    """The finding with its line or amount changed (its texts are not what the check reads)."""
    return replace(
        finding,
        line_no=finding.line_no if line_no is None else line_no,
        amount_fen=finding.amount_fen if amount_fen is None else amount_fen,
    )


def refusal(settlement: Settlement) -> str:
    """The message the check refuses a settlement with (the test fails if it accepts it)."""
    with pytest.raises(ConservationError) as raised:
        check_conservation(settlement)
    return str(raised.value)


def test_r1_as_settled_passes_the_check(r1: Settlement) -> None:
    check_conservation(r1)


def test_a_fen_moved_between_two_lines_findings_breaks_each_lines_identity(
    r1: Settlement,
) -> None:
    """The findings still add up to the claim's refused self-pay; line 1's do not add up to its
    own: a check of the claim's sum alone would pass this copy."""
    first, second, *rest = r1.findings
    tampered = with_findings(
        r1, moved(first, amount_fen=first.amount_fen + 1),
        moved(second, amount_fen=second.amount_fen - 1), *rest,
    )  # fmt: skip
    assert sum(f.amount_fen for f in tampered.findings) == r1.totals.refused_selfpay_fen
    assert refusal(tampered) == "claim ZY20180306R01 line 1: findings ≠ refused self-pay"


def test_a_finding_put_on_another_line_breaks_both_lines_identity(r1: Settlement) -> None:
    """Line 3's finding of 80.00 moved to line 6, which refused nothing."""
    first, second, third, *rest = r1.findings
    tampered = with_findings(r1, first, second, moved(third, line_no=6), *rest)
    assert refusal(tampered) == "claim ZY20180306R01 line 3: findings ≠ refused self-pay"


def test_a_finding_left_out_breaks_its_lines_identity(r1: Settlement) -> None:
    tampered = with_findings(r1, *r1.findings[:4])
    assert refusal(tampered) == "claim ZY20180306R01 line 5: findings ≠ refused self-pay"


def test_a_second_finding_for_an_amount_already_found_breaks_the_identity(r1: Settlement) -> None:
    """A rule's finding twice: the line's findings add up to twice its refused self-pay."""
    tampered = with_findings(r1, *r1.findings, r1.findings[3])
    assert refusal(tampered) == "claim ZY20180306R01 line 4: findings ≠ refused self-pay"


def test_a_warning_that_carries_an_amount_breaks_the_identity(r1: Settlement) -> None:
    """A warning refuses nothing; one of a fen on line 6 makes its findings a fen too many."""
    warning = moved(r1.findings[0], line_no=6, amount_fen=1)
    warning = replace(warning, action=FindingAction.WARNING)
    tampered = with_findings(r1, *r1.findings, warning)
    assert refusal(tampered) == "claim ZY20180306R01 line 6: findings ≠ refused self-pay"


def test_no_findings_for_refused_self_pay_is_refused(r1: Settlement) -> None:
    assert refusal(with_findings(r1)) == "claim ZY20180306R01: refused self-pay without a finding"


def test_a_finding_on_a_line_not_on_the_bill_is_refused(r1: Settlement) -> None:
    stray = moved(r1.findings[0], line_no=7, amount_fen=0)
    tampered = with_findings(r1, *r1.findings, stray)
    assert refusal(tampered) == "claim ZY20180306R01: a finding names line 7, not on the bill"


def test_a_negative_finding_is_refused_even_where_the_line_adds_up(r1: Settlement) -> None:
    """Line 4's 3000.00 found as 3000.01 and −0.01: the line's sum holds, a finding is negative."""
    fourth = r1.findings[3]
    tampered = with_findings(
        r1, *r1.findings[:3], moved(fourth, amount_fen=fourth.amount_fen + 1),
        moved(fourth, amount_fen=-1), r1.findings[4],
    )  # fmt: skip
    assert refusal(tampered) == "claim ZY20180306R01: finding on line 4 is negative"


def test_a_claim_without_refusals_and_without_findings_passes(e2: Settlement) -> None:
    assert e2.findings == ()
    assert e2.totals.refused_selfpay_fen == 0
    check_conservation(e2)
