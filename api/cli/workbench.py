"""`onestop settle` and `onestop tariffs check`: the settlement workbench, no database needed.

`onestop settle` prints the itemized bill of one claim for a person and a hospital's level and
region, the way the service will (a hospital of another region than the person's insured one
makes the claim cross-region, SETTLEMENT_RULES.md §12); `onestop tariffs check` validates tariff
files. Heavy imports stay inside the commands so that every command starts quickly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import fail, read_model, tariff_book
from api.core.contract import (
    AccumulatorsBody,
    ClaimIn,
    PersonIn,
    accumulators_json,
    settlement_json,
)
from settlement.engine import settle
from settlement.model import Accumulators, Fund
from settlement.money import format_fen
from settlement.rejection import Rejection
from settlement.result import Settlement

tariffs_app = typer.Typer(help="Check and inspect tariff files.", no_args_is_help=True)

REGION_PATTERN = re.compile(r"[0-9]{6}")
"""A region code as the registries write it (the hospital's and the person's, six digits)."""


def _region(value: str | None) -> str | None:
    if value is not None and not REGION_PATTERN.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not a region code of six digits")
    return value


def settle_file(
    claim_file: Annotated[
        Path, typer.Argument(metavar="CLAIM.json", help="The claim, as posted to /v1/settlements.")
    ],
    person_file: Annotated[
        Path,
        typer.Option(
            "--person", metavar="PERSON.json", help="The person, in the contract's person shape."
        ),
    ],
    hospital_level: Annotated[
        int, typer.Option("--hospital-level", min=1, max=3, help="The hospital's level: 1, 2 or 3.")
    ],
    hospital_region: Annotated[
        str | None,
        typer.Option(
            "--hospital-region",
            metavar="REGION",
            callback=_region,
            help="The hospital's region, six digits (default: the person's insured region; "
            "another region makes the claim cross-region).",
        ),
    ] = None,
    accumulators_file: Annotated[
        Path | None,
        typer.Option(
            "--accumulators",
            metavar="ACC.json",
            help="Year-to-date accumulators before this claim (default: none yet).",
        ),
    ] = None,
    save_accumulators: Annotated[
        Path | None,
        typer.Option(
            "--save-accumulators",
            metavar="ACC.json",
            help="Write the accumulators after this claim here (the shape --accumulators "
            "reads, `patient_paid` included), to settle the person's next claim on them.",
        ),
    ] = None,
    output: Annotated[
        Literal["table", "json"],
        typer.Option("--format", help="table for people, json in the contract's shape."),
    ] = "table",
    tariff_dir: Annotated[
        Path | None,
        typer.Option("--tariffs", help="A tariff directory (default: the shipped tariffs)."),
    ] = None,
) -> None:
    """Settle one claim without a database and print the itemized bill."""
    claim = read_model(claim_file, ClaimIn).to_engine()
    person = read_model(person_file, PersonIn).to_engine(claim.person_id)
    accumulators = (
        Accumulators(year=claim.policy_year)
        if accumulators_file is None
        else read_model(accumulators_file, AccumulatorsBody).to_engine()
    )
    book = tariff_book(tariff_dir)
    result = settle(claim, person, hospital_level, accumulators, book, hospital_region)
    if isinstance(result, Rejection):
        problems = [
            f"{'.'.join(str(part) for part in problem.loc)}: {problem.msg} [{problem.code}]"
            for problem in result.problems
        ]
        raise fail(problems, f"claim {claim.claim_id} is refused ({len(problems)} problems)")
    if save_accumulators is not None:
        after = accumulators_json(result.accumulators_after_fen)
        text = json.dumps(after, ensure_ascii=False, indent=2) + "\n"
        save_accumulators.write_text(text, encoding="utf-8")
    if output == "json":
        document = settlement_json(
            result, settlement_id=None, status="preview", settled_at=None, reversed_at=None
        )
        del document["settlement_id"], document["settled_at"], document["reversed_at"]
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print_bill(result, Console())


FUND_HEADINGS = {
    Fund.BASIC_INSURANCE: "basic",
    Fund.CRITICAL_ILLNESS: "critical illness",
    Fund.MEDICAL_ASSISTANCE: "assistance",
    Fund.CHARITY: "charity",
    Fund.HEALTH_FUND: "health fund",
}
"""The short column headings of the five funds, in cascade order."""
assert tuple(FUND_HEADINGS) == tuple(Fund)


def print_bill(settlement: Settlement, console: Console) -> None:
    """The itemized bill as terminal tables: lines, fund shares, totals, the rule checks'
    findings when there are any, and each fund's steps."""
    console.print(_heading(settlement), highlight=False)
    console.print(_lines_table(settlement))
    console.print(_shares_table(settlement))
    totals = Table(title="Totals", title_justify="left", show_header=False)
    totals.add_column("what")
    totals.add_column("amount", justify="right")
    for label, fen in _total_rows(settlement):
        totals.add_row(label, format_fen(fen))
    console.print(totals)
    console.print(_after_the_bill(settlement), highlight=False)
    if settlement.findings:
        console.print(_findings_table(settlement))
    for step in settlement.funds:
        cap = (
            "no cap"
            if step.cap_remaining_fen is None
            else f"cap left {format_fen(step.cap_remaining_fen)}"
        )
        console.print(
            f"[bold]{step.fund.value}[/] ({step.fund_code}): base {format_fen(step.base_fen)}, "
            f"payable {format_fen(step.payable_fen)}, {cap}, "
            f"paid [bold]{format_fen(step.paid_fen)}[/]",
            highlight=False,
        )
        for sentence in step.explanation:
            console.print(f"    {sentence}", highlight=False, markup=False)


def _after_the_bill(settlement: Settlement) -> str:
    """Who may pay later (先诊疗后付费, rules §15) and the year's burden (rules §16)."""
    burden = settlement.burden
    deferring = (
        "yes: the patient may pay their share after discharge"
        if settlement.pay_later_eligible
        else "no"
    )
    if burden.threshold_fen is None:
        alert = "no alert threshold in this tariff"
    else:
        state = "crossed by this claim" if burden.crossed else "not crossed by this claim"
        alert = f"threshold {format_fen(burden.threshold_fen)}, {state}"
    return (
        f"pay later (先诊疗后付费): {deferring}\n"
        f"year's burden (个人负担): {format_fen(burden.year_to_date_fen)} paid this year; {alert}"
    )


def _heading(settlement: Settlement) -> str:
    """Who, where and when; both regions, the filing, and the policy and catalog versions."""
    group = settlement.group.value if settlement.group else "none"
    filing = settlement.filing.value if settlement.filing else "none"
    scope = (
        "in-region" if settlement.insured_region == settlement.treatment_region else "cross-region"
    )
    return (
        f"[bold]Claim {settlement.claim_id}[/]  hospital {settlement.hospital_id}  "
        f"person {settlement.person_id}  stay {settlement.admission_date} → "
        f"{settlement.discharge_date}\ninsured region {settlement.insured_region}  "
        f"treatment region {settlement.treatment_region} ({scope})  filing {filing}  "
        f"tariff {settlement.tariff_version}  catalog {settlement.catalog_version}\n"
        f"group {group}  charity disease {settlement.charity_disease or 'none'}"
    )


def _lines_table(settlement: Settlement) -> Table:
    lines = Table(title="Lines (费用明细)", title_justify="left")
    for heading in ("#", "code", "name", "class", "qty", "unit price", "amount", "refused 违规",
                    "full self-pay", "over cap", "first self-pay", "in scope"):  # fmt: skip
        lines.add_column(heading, justify="left" if heading in ("code", "name") else "right")
    for line in settlement.lines:
        lines.add_row(
            str(line.line_no), line.item_code, line.item_name, line.item_class.value,
            str(line.quantity), str(line.unit_price.amount), format_fen(line.amount_fen),
            format_fen(line.refused_selfpay_fen), format_fen(line.full_selfpay_fen),
            format_fen(line.over_cap_selfpay_fen), format_fen(line.first_selfpay_fen),
            format_fen(line.in_scope_fen),
        )  # fmt: skip
    return lines


def _shares_table(settlement: Settlement) -> Table:
    shares = Table(title="Who pays each line", title_justify="left")
    for heading in ("#", "code", *FUND_HEADINGS.values(), "patient"):
        shares.add_column(heading, justify="left" if heading == "code" else "right")
    for line in settlement.lines:
        shares.add_row(
            str(line.line_no),
            line.item_code,
            *(format_fen(line.fund_fen(fund)) for fund in FUND_HEADINGS),
            format_fen(line.patient_pay_fen),
        )
    return shares


def _findings_table(settlement: Settlement) -> Table:
    """The rule checks' findings (合理性审核, rules §14), in line and then rule order."""
    findings = Table(title="Findings (合理性审核)", title_justify="left")
    for heading in ("rule", "中文名", "line", "action", "amount", "message"):
        findings.add_column(heading, justify="right" if heading in ("line", "amount") else "left")
    for finding in settlement.findings:
        findings.add_row(
            finding.rule.value, finding.name, str(finding.line_no), finding.action.value,
            format_fen(finding.amount_fen), finding.message,
        )  # fmt: skip
    return findings


def _total_rows(settlement: Settlement) -> list[tuple[str, int]]:
    totals = settlement.totals
    return [
        ("total 医疗费总额", totals.total_fen),
        ("refused self-pay 违规自付", totals.refused_selfpay_fen),
        ("full self-pay 全自费", totals.full_selfpay_fen),
        ("over-cap self-pay 超限价自费", totals.over_cap_selfpay_fen),
        ("first self-pay 先行自付", totals.first_selfpay_fen),
        ("in scope 政策范围内", totals.in_scope_fen),
        ("deductible applied 起付线", totals.deductible_applied_fen),
        ("basic insurance 统筹基金", totals.basic_insurance_fen),
        ("critical illness 大病保险", totals.critical_illness_fen),
        ("medical assistance 医疗救助", totals.medical_assistance_fen),
        ("charity 慈善救助", totals.charity_fen),
        ("health fund 健康扶贫基金", totals.health_fund_fen),
        ("fund total 基金支付总额", totals.fund_total_fen),
        ("patient pays 个人负担", totals.patient_pay_fen),
    ]


@tariffs_app.command("check")
def tariffs_check(
    directory: Annotated[
        Path | None, typer.Argument(help="Tariff directory (default: the shipped tariffs).")
    ] = None,
) -> None:
    """Validate tariff files; list every problem with file, field or line, and reason."""
    from tariffs import DEFAULT_TARIFF_DIR, TariffError, load_tariffs

    target = DEFAULT_TARIFF_DIR if directory is None else directory
    try:
        loaded = load_tariffs(target)
    except TariffError as error:
        console = Console(stderr=True)
        console.print(f"[bold red]{target}: {len(error.problems)} problems[/]", highlight=False)
        for problem in error.problems:
            console.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    table = Table(title=f"Tariffs in {target}", title_justify="left")
    for heading in ("version", "region", "effective", "catalog items", "charity diseases", "file"):
        table.add_column(heading)
    for tariff in loaded.book.tariffs:
        table.add_row(
            tariff.version, tariff.region,
            f"{tariff.effective_from} → {tariff.effective_to or 'open'}",
            str(len(tariff.catalog)), str(len(tariff.charity.diseases)),
            loaded.files[tariff.version].name,
        )  # fmt: skip
    Console().print(table)
