"""The balance check (`settlement.conservation`, SETTLEMENT_RULES.md §10) tested from outside.

A worked example is settled, then copies of it are tampered with by one fen, each so that the
identity under test breaks and as little else as the identities allow. The check must refuse
every copy, naming the identity. The identities are linked, so a few can only break together
with one the check tests first (the claim total is both the sum of its lines and the sum of its
parts, so a part's total cannot drift alone); those tests name the identity the check reports
and assert the one under test is broken as well.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from datetime import date

import pytest

from settlement import conservation
from settlement.conservation import ConservationError, check_conservation
from settlement.engine import settle
from settlement.model import Accumulators, Fund, Group
from settlement.money import money
from settlement.result import Settlement
from settlement.tariff import TariffBook
from tests.worked_examples import example_claim, h1_claim, h1_person, person


@pytest.fixture(scope="module")
def e2_at_the_basic_cap(book: TariffBook) -> Settlement:
    """E2 for a person whose basic-insurance cap has exactly this claim's 12184.32 left."""
    dibao = person(Group.DIBAO, valid_from=date(2017, 1, 1))
    before = Accumulators(year=2018, basic_paid=money("137815.68"))
    result = settle(example_claim(), dibao, 3, before, book)
    assert isinstance(result, Settlement), result
    return result


def shifted_line(settlement: Settlement, line_no: int, **fen: int) -> Settlement:
    """A copy with the named figures of one line moved by the given numbers of fen."""
    lines = tuple(
        line._replace(**{name: getattr(line, name) + delta for name, delta in fen.items()})
        if line.line_no == line_no
        else line
        for line in settlement.lines
    )
    return replace(settlement, lines=lines)


def shifted_totals(settlement: Settlement, **fen: int) -> Settlement:
    """A copy with the named claim totals moved by the given numbers of fen."""
    totals = settlement.totals
    moved = {name: getattr(totals, name) + delta for name, delta in fen.items()}
    return replace(settlement, totals=replace(totals, **moved))


def shifted_step(settlement: Settlement, fund: Fund, **fen: int) -> Settlement:
    """A copy with the named figures of one fund's step moved by the given numbers of fen."""
    funds = tuple(
        replace(step, **{name: getattr(step, name) + delta for name, delta in fen.items()})
        if step.fund is fund
        else step
        for step in settlement.funds
    )
    return replace(settlement, funds=funds)


def refusal(settlement: Settlement) -> str:
    """The message the check refuses a settlement with (the test fails if it accepts it)."""
    with pytest.raises(ConservationError) as raised:
        check_conservation(settlement)
    return str(raised.value)


def test_the_untampered_worked_examples_pass_the_check(e1: Settlement, e2: Settlement) -> None:
    check_conservation(e1)
    check_conservation(e2)


def test_the_check_raises_explicitly_and_never_relies_on_assert_statements() -> None:
    """An `assert` would vanish under `python -O`; the check must raise in every mode."""
    tree = ast.parse(inspect.getsource(conservation))
    assert not [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    raised = [
        node.exc.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
    ]
    assert raised
    assert set(raised) == {"ConservationError"}


# --- per line ------------------------------------------------------------------------------


def test_a_fen_of_full_selfpay_moved_between_lines_breaks_amount_equals_parts_plus_in_scope(
    e2: Settlement,
) -> None:
    tampered = shifted_line(e2, 5, full_selfpay_fen=-1)
    tampered = shifted_line(tampered, 1, full_selfpay_fen=+1)
    assert (
        refusal(tampered)
        == "claim ZY20180312001 line 1: amount ≠ refused + self-pay parts + in scope"
    )


def test_a_fen_of_patient_pay_moved_between_lines_breaks_amount_equals_funds_plus_patient(
    e2: Settlement,
) -> None:
    tampered = shifted_line(e2, 5, patient_pay_fen=-1)
    tampered = shifted_line(tampered, 1, patient_pay_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001 line 1: amount ≠ funds + patient"


def test_a_fund_share_moved_onto_a_line_the_funds_pay_in_full_breaks_funds_within_in_scope(
    e2: Settlement,
) -> None:
    """Both lines still balance (the patient's fen moves the other way) and basic's total holds."""
    tampered = shifted_line(e2, 2, basic_insurance_fen=-1, patient_pay_fen=+1)
    tampered = shifted_line(tampered, 1, basic_insurance_fen=+1, patient_pay_fen=-1)
    assert refusal(tampered) == "claim ZY20180312001 line 1: funds pay more than in scope"


def test_a_line_figure_one_fen_below_zero_breaks_no_negative_figures(e2: Settlement) -> None:
    """Line 5's fen of over-cap moves to its full self-pay, and the claim totals follow."""
    tampered = shifted_line(e2, 5, over_cap_selfpay_fen=-1, full_selfpay_fen=+1)
    tampered = shifted_totals(tampered, over_cap_selfpay_fen=-1, full_selfpay_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001 line 5: a negative figure"


# --- claim totals against the lines --------------------------------------------------------


def test_a_claim_total_one_fen_up_breaks_total_equals_sum_of_lines(e2: Settlement) -> None:
    tampered = shifted_totals(e2, total_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: total ≠ sum of lines"


def test_a_full_selfpay_total_one_fen_up_breaks_its_sum_of_lines(e2: Settlement) -> None:
    tampered = shifted_totals(e2, full_selfpay_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: full self-pay ≠ sum of lines"


def test_an_over_cap_total_one_fen_up_breaks_its_sum_of_lines(e2: Settlement) -> None:
    tampered = shifted_totals(e2, over_cap_selfpay_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: over-cap ≠ sum of lines"


def test_a_first_selfpay_total_one_fen_up_breaks_its_sum_of_lines(e2: Settlement) -> None:
    tampered = shifted_totals(e2, first_selfpay_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: first self-pay ≠ sum of lines"


def test_an_in_scope_total_one_fen_up_breaks_its_sum_of_lines(e2: Settlement) -> None:
    tampered = shifted_totals(e2, in_scope_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: in scope ≠ sum of lines"


def test_a_patient_pay_total_one_fen_up_breaks_its_sum_of_lines(e2: Settlement) -> None:
    tampered = shifted_totals(e2, patient_pay_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: patient pay ≠ sum of lines"


def test_a_fen_of_full_selfpay_on_a_line_and_its_total_breaks_total_equals_parts(
    e2: Settlement,
) -> None:
    """The parts' totals match the lines, but line 1 no longer balances: reported first."""
    tampered = shifted_line(e2, 1, full_selfpay_fen=+1)
    tampered = shifted_totals(tampered, full_selfpay_fen=+1)
    totals = tampered.totals
    parts_fen = (
        totals.full_selfpay_fen
        + totals.over_cap_selfpay_fen
        + totals.first_selfpay_fen
        + totals.in_scope_fen
    )
    assert totals.total_fen != parts_fen
    assert (
        refusal(tampered)
        == "claim ZY20180312001 line 1: amount ≠ refused + self-pay parts + in scope"
    )


# --- the funds -----------------------------------------------------------------------------


def test_two_funds_swapped_break_the_cascade_order(e2: Settlement) -> None:
    basic, critical, *later = e2.funds
    tampered = replace(e2, funds=(critical, basic, *later))
    assert refusal(tampered) == "claim ZY20180312001: funds out of cascade order"


def test_a_fund_paying_one_fen_less_than_its_line_shares_breaks_shares_sum_to_its_total(
    e2: Settlement,
) -> None:
    """The step and the claim total agree; the line shares still add up to a fen more."""
    tampered = shifted_step(e2, Fund.CRITICAL_ILLNESS, paid_fen=-1)
    tampered = shifted_totals(tampered, critical_illness_fen=-1)
    assert refusal(tampered) == "claim ZY20180312001: critical_illness line shares ≠ its total"


def test_a_fund_claim_total_one_fen_up_breaks_claim_total_equals_its_step(e2: Settlement) -> None:
    tampered = shifted_totals(e2, critical_illness_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: critical_illness claim total ≠ its step"


def test_a_fund_paying_minus_one_fen_breaks_no_fund_pays_a_negative_amount(
    e1: Settlement,
) -> None:
    """Charity pays nothing in E1; its step, total and line 5 share go one fen below zero.

    The share is a negative line figure, which the check finds first: a fund can only pay a
    negative amount that its line shares add up to by having a negative share.
    """
    tampered = shifted_step(e1, Fund.CHARITY, paid_fen=-1)
    tampered = shifted_totals(tampered, charity_fen=-1, fund_total_fen=-1, patient_pay_fen=+1)
    tampered = shifted_line(tampered, 5, charity_fen=-1, patient_pay_fen=+1)
    assert tampered.fund(Fund.CHARITY).paid_fen < 0
    assert refusal(tampered) == "claim ZY20180312001 line 5: a negative figure"


def test_a_fen_less_in_scope_than_the_funds_paid_breaks_no_fund_pays_more_than_is_left(
    e2: Settlement,
) -> None:
    """In E2 the funds pay the whole in-scope amount; line 1's fen moves to first self-pay.

    Charity then pays a fen more than the funds before it left. Where the lines are sound a
    fund cannot do so, so the check reports the line whose funds pay beyond its in scope.
    """
    tampered = shifted_line(e2, 1, in_scope_fen=-1, first_selfpay_fen=+1)
    tampered = shifted_totals(tampered, in_scope_fen=-1, first_selfpay_fen=+1)
    left_fen = tampered.totals.in_scope_fen - sum(step.paid_fen for step in tampered.funds[:3])
    assert tampered.fund(Fund.CHARITY).paid_fen > left_fen
    assert refusal(tampered) == "claim ZY20180312001 line 1: funds pay more than in scope"


def test_a_cap_left_one_fen_short_of_what_the_fund_paid_breaks_the_annual_cap(
    e2_at_the_basic_cap: Settlement,
) -> None:
    step = e2_at_the_basic_cap.fund(Fund.BASIC_INSURANCE)
    assert step.cap_remaining_fen == step.paid_fen
    check_conservation(e2_at_the_basic_cap)
    tampered = shifted_step(e2_at_the_basic_cap, Fund.BASIC_INSURANCE, cap_remaining_fen=-1)
    assert refusal(tampered) == "claim ZY20180312001: basic_insurance exceeds its annual cap"


def test_a_fund_total_one_fen_up_breaks_fund_total_equals_sum_of_funds(e2: Settlement) -> None:
    tampered = shifted_totals(e2, fund_total_fen=+1)
    assert refusal(tampered) == "claim ZY20180312001: fund total ≠ sum of funds"


def test_a_fen_of_patient_pay_on_a_line_and_its_total_breaks_total_equals_funds_plus_patient(
    e2: Settlement,
) -> None:
    """The patient's total matches the lines, but line 1 no longer balances: reported first."""
    tampered = shifted_line(e2, 1, patient_pay_fen=+1)
    tampered = shifted_totals(tampered, patient_pay_fen=+1)
    totals = tampered.totals
    assert totals.total_fen != totals.fund_total_fen + totals.patient_pay_fen
    assert refusal(tampered) == "claim ZY20180312001 line 1: amount ≠ funds + patient"


# --- the line a broken identity is reported on ---------------------------------------------
# `make mutate` found the line named in each message unpinned where the first lines are sound
# but not plain: a line of full self-pay (E2's line 5), lines the health fund pays a share of
# (every line of H1). A slip in the identity that locates the line (a `-` for a `+`) names an
# earlier, sound line, or none.


@pytest.fixture(scope="module")
def h1(book: TariffBook) -> Settlement:
    result = settle(h1_claim(), h1_person(), 2, Accumulators(year=2019), book)
    assert isinstance(result, Settlement), result
    assert all(line.health_fund_fen > 0 for line in result.lines)
    return result


def test_a_broken_line_after_a_line_of_full_self_pay_is_the_one_named(e2: Settlement) -> None:
    assert e2.lines[4].full_selfpay_fen == e2.lines[4].amount_fen > 0
    tampered = shifted_line(e2, 8, full_selfpay_fen=-1)
    tampered = shifted_line(tampered, 6, full_selfpay_fen=+1)
    assert (
        refusal(tampered)
        == "claim ZY20180312001 line 6: amount ≠ refused + self-pay parts + in scope"
    )


def test_a_broken_line_after_lines_the_health_fund_shares_is_the_one_named(
    h1: Settlement,
) -> None:
    tampered = shifted_line(h1, 3, patient_pay_fen=-1)
    tampered = shifted_line(tampered, 2, patient_pay_fen=+1)
    assert refusal(tampered) == f"claim {h1.claim_id} line 2: amount ≠ funds + patient"


def test_a_line_whose_funds_with_the_health_fund_pass_its_in_scope_is_named(
    h1: Settlement,
) -> None:
    """Line 3's in scope is lowered to a fen below what the five funds pay on it (the health
    fund's share included); the fen goes to first self-pay, so the line's amount holds."""
    line = h1.lines[2]
    funds = (
        line.basic_insurance_fen
        + line.critical_illness_fen
        + line.medical_assistance_fen
        + line.charity_fen
        + line.health_fund_fen
    )
    lowered = line.in_scope_fen - funds + 1
    tampered = shifted_line(h1, 3, in_scope_fen=-lowered, first_selfpay_fen=+lowered)
    assert refusal(tampered) == f"claim {h1.claim_id} line 3: funds pay more than in scope"


def test_a_settlement_stripped_of_its_lines_is_refused_not_crashed_on(e2: Settlement) -> None:
    assert refusal(replace(e2, lines=())) == "claim ZY20180312001: total ≠ sum of lines"


def test_each_funds_share_is_read_by_its_fund(e2: Settlement, h1: Settlement) -> None:
    """`fund_fen` (what the service reads for each fund): the claim's figure is the fund's
    step, the lines' shares add up to it, and H1's health-fund shares are its own."""
    for settlement in (e2, h1):
        for step in settlement.funds:
            assert settlement.totals.fund_fen(step.fund) == step.paid_fen
            assert sum(line.fund_fen(step.fund) for line in settlement.lines) == step.paid_fen
    shares = [line.fund_fen(Fund.HEALTH_FUND) for line in h1.lines]
    assert shares == [1399, 6887, 839, 875]
    assert [line.fund_fen(Fund.CHARITY) for line in e2.lines] == [
        line.charity_fen for line in e2.lines
    ]
