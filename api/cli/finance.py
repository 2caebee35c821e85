"""`onestop reconcile` and `onestop clearing`: the finance routes on the command line, with
readable tables for a terminal and file output for the books."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

reconcile_app = typer.Typer(
    help="Reconciliation: totals (3201) and detail (3202).", no_args_is_help=True
)
EXIT_DIFFERENCES = 1
"""`reconcile detail` exits 1 when the hospital's records and the engine differ."""


def _engine_and_zone() -> tuple[Any, str]:
    from api.core.config import Settings
    from api.db.engine import make_engine

    settings = Settings()
    return make_engine(settings), settings.business_timezone


def _write(output: Path | None, content: str | bytes) -> None:
    if output is None:
        text = content if isinstance(content, str) else content.decode()
        typer.echo(text, nl=not text.endswith("\n"))  # a CSV's last line is already ended
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        output.write_bytes(content)
    else:
        output.write_text(content, encoding="utf-8")
    typer.echo(f"written to {output}", err=True)


@reconcile_app.command("totals")
def reconcile_totals(
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    hospital: Annotated[str | None, typer.Option(help="One hospital (default: all).")] = None,
    output_format: Annotated[Literal["table", "json"], typer.Option("--format")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write to this file instead.")] = None,
) -> None:
    """Settled, reversed and net counts and sums per fund for a period (business days)."""
    from api.services.finance import AMOUNTS, Period, totals_json

    engine, zone = _engine_and_zone()
    period = Period(date.fromisoformat(date_from), date.fromisoformat(date_to), zone)
    document = totals_json(engine, period, hospital)
    if output_format == "json":
        _write(output, json.dumps(document, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Totals {date_from} → {date_to} ({zone}) {hospital or 'all hospitals'}")
    table.add_column("")
    for part in ("settled", "reversed", "net"):
        table.add_column(part, justify="right")
    table.add_row(
        "count", *(str(document[part]["count"]) for part in ("settled", "reversed", "net"))
    )
    for name in AMOUNTS:
        table.add_row(name, *(document[part][name] for part in ("settled", "reversed", "net")))
    Console(record=output is not None).print(table)


@reconcile_app.command("detail")
def reconcile_detail(
    records: Annotated[
        Path,
        typer.Argument(
            metavar="RECORDS.csv",
            help="The hospital's records: settlement_id,claim_id,status,total,fund_total,patient_pay.",
        ),
    ],
    hospital: Annotated[str, typer.Option(help="The hospital whose books these are.")],
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    output_format: Annotated[Literal["table", "json", "csv"], typer.Option("--format")] = "table",
    output: Annotated[
        Path | None, typer.Option(help="Write every classified record to this file.")
    ] = None,
) -> None:
    """Classify every record and every engine settlement of the period; exit 1 on differences."""
    from api.core.config import Settings
    from api.services.finance import Period
    from api.services.reconciliation import Reconciliation, RecordsRefused, csv_records

    engine, zone = _engine_and_zone()
    period = Period(date.fromisoformat(date_from), date.fromisoformat(date_to), zone)
    reconciliation = Reconciliation(engine, hospital, period, Settings().reconciliation_records_max)
    try:
        with records.open(encoding="utf-8-sig", newline="") as handle:
            reconciliation.add(csv_records(handle))
        reconciliation.finish()
        summary = reconciliation.summary()
        _report(reconciliation, summary, output_format, output)
    except RecordsRefused as refused:
        console = Console(stderr=True)
        console.print(f"[bold red]{records}: {refused.total} problems; nothing reconciled[/]")
        for problem in refused.problems:
            where = ".".join(str(part) for part in problem["loc"])
            console.print(f"  - {where}: {problem['msg']}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except OSError as error:
        typer.echo(f"cannot read {records}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    finally:
        reconciliation.close()
    if summary["differences"]:
        raise typer.Exit(EXIT_DIFFERENCES)


def _report(
    reconciliation: Any, summary: dict[str, Any], output_format: str, output: Path | None
) -> None:
    from api.core.spreadsheet import write_csv

    console = Console()
    table = Table(title="Reconciliation summary")
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for name in (
        "matched",
        "amount_mismatch",
        "status_mismatch",
        "missing_in_engine",
        "missing_at_hospital",
    ):
        table.add_row(name, str(summary[name]))
    console.print(table)
    if output is not None and output_format != "table":
        with output.open("w", encoding="utf-8", newline="") as handle:
            if output_format == "json":
                handle.write('{"summary": ' + json.dumps(summary) + ', "items": [')
                for index, item in enumerate(reconciliation.items()):
                    handle.write(("," if index else "") + json.dumps(item, ensure_ascii=False))
                handle.write("]}\n")
            else:
                # Ids come from the hospital's file: every cell is made spreadsheet-safe.
                write_csv(handle, [DETAIL_CSV_COLUMNS])
                write_csv(handle, (_detail_row(item) for item in reconciliation.items()))
        typer.echo(f"every record written to {output}", err=True)
        return
    differences = Table(title="Differences")
    for heading in ("outcome", "settlement", "claim", "hospital says", "engine says", "fields"):
        differences.add_column(heading)
    shown = 0
    for item in reconciliation.items():
        if item["outcome"] == "matched":
            continue
        shown += 1
        if shown > 200:
            continue
        differences.add_row(
            item["outcome"], item["settlement_id"], item["claim_id"], _figures(item["hospital"]),
            _figures(item["engine"]), " ".join(item["differences"]),
        )  # fmt: skip
    if shown:
        console.print(differences)
        if shown > 200:
            console.print(f"… and {shown - 200} more; use --format csv --output FILE for all.")


DETAIL_CSV_COLUMNS = ("outcome", "settlement_id", "claim_id", "hospital", "engine", "differences")
"""The columns of `reconcile detail --format csv --output FILE`."""


def _detail_row(item: dict[str, Any]) -> list[str]:
    return [
        item["outcome"], item["settlement_id"], item["claim_id"], json.dumps(item["hospital"]),
        json.dumps(item["engine"]), " ".join(item["differences"]),
    ]  # fmt: skip


def _figures(figures: dict[str, str] | None) -> str:
    if figures is None:
        return "—"
    return f"{figures['status']} {figures['total']} (funds {figures['fund_total']}, patient {figures['patient_pay']})"


CLEARING_COLUMNS = (
    "hospital", "insured region", "fund", "code", "settlements", "reversals", "settled",
    "reversed", "owed",
)  # fmt: skip
REGIONS_COLUMNS = (
    "insured region", "treatment region", "fund", "code", "settlements", "reversals",
    "settled", "reversed", "net",
)  # fmt: skip
NUMBER_COLUMNS = ("settlements", "reversals", "settled", "reversed", "owed", "net")


def clearing(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    hospital: Annotated[str | None, typer.Option(help="One hospital (default: all).")] = None,
    by_region: Annotated[
        bool,
        typer.Option(
            "--by-region",
            help="What each insured region's funds owe each treatment region's hospitals "
            "(every hospital; not with --hospital).",
        ),
    ] = False,
    output_format: Annotated[
        Literal["table", "json", "csv", "xlsx"], typer.Option("--format")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file (required for xlsx).")
    ] = None,
) -> None:
    """What each fund owes each hospital for a month, net of reversals (3203); with
    --by-region, per insured region, treatment region and fund (跨区域清算)."""
    from api.services import clearing as service

    if by_region and hospital is not None:
        typer.echo("--hospital does not apply to --by-region (it covers every hospital)", err=True)
        raise typer.Exit(2)
    if output_format == "xlsx" and output is None:
        typer.echo("--output FILE is required for xlsx", err=True)
        raise typer.Exit(2)
    engine, zone = _engine_and_zone()
    if by_region:
        document = service.regions_json(engine, month, zone)
        csv_of, xlsx_of, table_of = service.regions_csv, service.regions_xlsx, _regions_table
    else:
        document = service.clearing_json(engine, month, zone, hospital)
        csv_of, xlsx_of, table_of = service.clearing_csv, service.clearing_xlsx, _clearing_table
    if output_format == "json":
        _write(output, json.dumps(document, ensure_ascii=False, indent=2))
    elif output_format == "csv":
        _write(output, csv_of(document))
    elif output_format == "xlsx":
        _write(output, xlsx_of(document))
    else:
        Console().print(table_of(document, zone))


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for heading in columns:
        table.add_column(heading, justify="right" if heading in NUMBER_COLUMNS else "left")
    return table


def _clearing_table(document: dict[str, Any], zone: str) -> Table:
    # A hospital's name is shown as plain text: `[`…`]` in it is not console markup.
    table = _table(f"Clearing {document['month']} ({zone})", CLEARING_COLUMNS)
    for row in document["rows"]:
        table.add_row(
            Text(f"{row['hospital_id']} {row['hospital_name']}"), row["insured_region"], row["fund"],
            row["fund_code"], str(row["settlements"]), str(row["reversals"]), row["settled"],
            row["reversed"], row["owed"],
        )  # fmt: skip
    table.add_row("TOTAL", "", "", "", "", "", "", "", document["total_owed"])
    return table


def _regions_table(document: dict[str, Any], zone: str) -> Table:
    table = _table(f"Clearing between regions {document['month']} ({zone})", REGIONS_COLUMNS)
    for row in document["rows"]:
        table.add_row(
            row["insured_region"], row["treatment_region"], row["fund"], row["fund_code"],
            str(row["settlements"]), str(row["reversals"]), row["settled"], row["reversed"],
            row["net"],
        )  # fmt: skip
    for fund in document["fund_totals"]:
        table.add_row(
            "TOTAL", "", fund["fund"], fund["fund_code"], str(fund["settlements"]),
            str(fund["reversals"]), fund["settled"], fund["reversed"], fund["net"],
        )  # fmt: skip
    total = document["total"]
    table.add_row("TOTAL", "", "", "", "", "", total["settled"], total["reversed"], total["net"])
    return table
