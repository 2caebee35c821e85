"""`onestop simulate`: the recorded year re-settled under a candidate tariff (政策测算,
SIMULATION.md), for the bureaus' finance staff. Read-only: it opens the database the service
uses (ONESTOP_DATABASE_URL) with read-only connections and can run beside a serving instance.

Exit status: 0 the report; 1 the report, and the baseline did not reproduce every stored
settlement (each difference listed); 2 refused before or instead of a report (a bad candidate,
an unknown region, a year or region with no settlements, claims the candidate cannot settle).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from api.cli.common import fail, tariff_book

EXIT_DIFFERENCES = 1
REGION = re.compile(r"[0-9]{6}")
RUN_LABELS = {"baseline": "原政策 baseline", "candidate": "候选 candidate"}
RUN_COLOURS = {"baseline": "#94a3b8", "candidate": "#2563eb"}


def simulate(
    year: Annotated[int, typer.Option(help="The policy year to re-settle, e.g. 2018.")],
    region: Annotated[str, typer.Option(help="The insured region (参保地), e.g. 220000.")],
    candidate: Annotated[
        Path, typer.Option(help="A tariff directory in the project's layout (checked first).")
    ],
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes of the local Dask cluster.")
    ] = os.cpu_count() or 1,
    scheduler: Annotated[
        str | None,
        typer.Option(help="An existing Dask cluster's scheduler, e.g. tcp://10.0.0.5:8786."),
    ] = None,
    output_format: Annotated[
        Literal["table", "json", "csv", "html"], typer.Option("--format")
    ] = "table",
    out: Annotated[
        Path | None, typer.Option(help="Write the report here (default: stdout).")
    ] = None,
) -> None:
    """Re-settle every settlement of a year and insured region, in the order it was committed,
    under the recorded tariffs (the baseline, which must reproduce each stored settlement to
    the fen) and under a candidate tariff directory; report what each fund and the patients
    would have paid, by group and hospital level, and the persons' burdens."""
    from api.cli.common import database
    from api.core.config import Settings
    from api.services import simulation
    from tariffs import TariffError, load_tariffs

    try:
        candidate_book = load_tariffs(candidate).book
    except TariffError as error:
        raise fail(error.problems, f"{candidate}: the candidate is refused, nothing run") from None
    settings = Settings()
    recorded = tariff_book(settings.tariff_dir)
    regions = sorted({tariff.region for tariff in recorded.tariffs})
    if not REGION.fullmatch(region) or region not in regions:
        raise fail(
            [f"region {region!r} is not one the tariffs know ({', '.join(regions)})"],
            "unknown region, nothing run",
        )
    engine = database()
    try:
        with engine.connect() as connection:
            count, unreadable = simulation.population(connection, year, region)
    finally:
        engine.dispose()
    if count == 0:
        raise fail(
            [f"no settlement is recorded with policy year {year} and insured region {region}"],
            "nothing to simulate",
        )
    if unreadable:
        raise fail(
            [
                f"{unreadable} of the {count} settlements were stored before their claims' "
                "diagnoses and surgery were kept (migration 0010): they cannot be settled again"
            ],
            "the year cannot be re-settled, nothing run",
        )
    books = (recorded, candidate_book)
    total = _run(settings.database_url, books, year, region, workers, scheduler)
    refused = [
        f"{refusal.settlement_id}: {'; '.join(refusal.problems)}" for refusal in total.refusals
    ]
    refused += [f"{sid}: its claim's inputs were not kept" for sid in sorted(total.unreadable)]
    if refused:
        raise fail(sorted(refused), f"the candidate cannot settle {len(refused)} recorded claims")
    document = simulation.report(total, books, year, region)
    _write(document, output_format, out, candidate)
    if document["baseline_differences"]:
        console = Console(stderr=True)
        console.print(
            f"[bold red]the baseline did not reproduce {len(document['baseline_differences'])} "
            "stored figures[/]",
            highlight=False,
        )
        for item in document["baseline_differences"]:
            console.print(
                f"  - {item['settlement_id']} {item['figure']}: stored {item['stored']}, "
                f"replayed {item['replayed']}",
                highlight=False,
                markup=False,
            )
        raise typer.Exit(EXIT_DIFFERENCES)


def _run(
    url: str,
    books: Any,
    year: int,
    region: str,
    workers: int,
    scheduler: str | None,
) -> Any:
    """The partitions on Dask, with a progress bar on the terminal (stderr)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from api.services import simulation

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(f"re-settling {region} {year}", total=None)

        def done(finished: int, partitions: int) -> None:
            progress.update(task, completed=finished, total=partitions)

        try:
            return simulation.run_partitions(
                url, books, year, region, workers=workers, scheduler=scheduler, on_done=done
            )
        except (OSError, TimeoutError) as error:
            raise fail(
                [f"{scheduler or 'the local cluster'}: {error}"], "the Dask cluster is unreachable"
            ) from None


def _write(document: dict[str, Any], output_format: str, out: Path | None, candidate: Path) -> None:
    if output_format == "table":
        if out is not None:
            with out.open("w", encoding="utf-8") as file:
                _table(document, Console(file=file, width=140))
        else:
            _table(document, Console())
        return
    if output_format == "json":
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    elif output_format == "csv":
        text = report_csv(document)
    else:
        text = report_html(document, candidate.name)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def figure_rows(document: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Every figure of the report as (section, subject, figure, measure, value): the CSV."""
    rows: list[tuple[str, str, str, str, str]] = []

    def figures(section: str, subject: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            for measure in ("baseline", "candidate", "difference", "change_percent"):
                value = item[measure]
                rows.append((section, subject, item["figure"], measure, value or ""))

    for name in ("settlements", "reversals", "standing"):
        rows.append(("population", "", name, "count", str(document[name])))
    figures("funds", "", document["funds"])
    for part in document["by_group"]:
        figures("group", part["group"] or "none", part["figures"])
    for part in document["by_hospital_level"]:
        figures("hospital_level", str(part["level"]), part["figures"])
    for change, count in document["patient_pay"].items():
        rows.append(("patient_pay", change, "settlements", "count", str(count)))
    burden = document["burden"]
    rows.append(("burden", "", "person_years", "count", str(burden["person_years"])))
    for run in ("baseline", "candidate"):
        for measure, value in burden.get(run, {}).items():
            rows.append(
                ("burden", run, "patient_paid", measure, "" if value is None else str(value))
            )
    for item in document["largest_burden_changes"]:
        for measure in ("before", "after", "change"):
            group = item["group"] or "none"
            rows.append(
                ("largest_burden_changes", item["person_id"], group, measure, item[measure])
            )
    for item in document["substituted"]:
        kind, where = item["kind"], item["region"]
        rows.append(("substituted", where, kind, item["recorded"], item["candidate"]))
    for item in document["baseline_differences"]:
        sid, figure = item["settlement_id"], item["figure"]
        rows.append(("baseline_difference", sid, figure, item["stored"], item["replayed"]))
    return rows


def report_csv(document: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "subject", "figure", "measure", "value"))
    writer.writerows(figure_rows(document))
    return buffer.getvalue()


def report_html(document: dict[str, Any], candidate: str) -> str:
    """One self-contained page: inline style, inline SVG, no script and no outside asset."""
    from api.core.chart import paired_bars
    from api.core.templates import make_templates
    from api.services.statement import FUND_LABELS

    labels = {**FUND_LABELS, "patient_pay": "个人自付 patient pay"}
    chart = paired_bars(
        [
            (labels[row["figure"]], _fen(row["baseline"]), _fen(row["candidate"]))
            for row in document["funds"]
        ],
        RUN_LABELS,
    )
    template = make_templates().get_template("simulation.html")
    return template.render(
        report=document,
        chart=chart,
        run_colours=RUN_COLOURS,
        candidate=candidate,
        figure_labels=labels,
    )


def _fen(amount: str) -> int:
    sign = -1 if amount.startswith("-") else 1
    whole, _, cents = amount.removeprefix("-").partition(".")
    return sign * (int(whole) * 100 + int(cents))


def _table(document: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]政策测算 policy simulation {document['region']} {document['year']}[/]: "
        f"{document['settlements']} settlements, {document['reversals']} reversed, "
        f"{document['standing']} standing",
        highlight=False,
    )
    for item in document["substituted"]:
        console.print(
            f"  {item['kind']} {item['region']}: {item['recorded']} → {item['candidate']}",
            highlight=False,
        )
    for note in document["notes"]:
        console.print(f"  note: {note}", highlight=False, markup=False)
    sections = [("per fund", document["funds"])]
    for part in document["by_group"]:
        sections.append((f"group {part['group'] or 'none'}", part["figures"]))
    for part in document["by_hospital_level"]:
        sections.append((f"hospital level {part['level']}", part["figures"]))
    for title, rows in sections:
        table = Table(title=title, title_justify="left")
        for heading in ("figure", "baseline", "candidate", "difference", "change %"):
            table.add_column(heading, justify="left" if heading == "figure" else "right")
        for row in rows:
            table.add_row(
                row["figure"], row["baseline"], row["candidate"], row["difference"],
                row["change_percent"] or "—",
            )  # fmt: skip
        console.print(table)
    changes = document["patient_pay"]
    console.print(
        f"patient pay: rose {changes['rose']}, fell {changes['fell']}, same {changes['same']}",
        highlight=False,
    )
    burden = document["burden"]
    table = Table(title=f"burden over {burden['person_years']} person-years", title_justify="left")
    for heading in ("run", "mean", "median", "p90", "p99", "max", "threshold", "at or above"):
        table.add_column(heading, justify="left" if heading == "run" else "right")
    for run in ("baseline", "candidate"):
        if run in burden:
            b = burden[run]
            table.add_row(
                run, b["mean"], b["median"], b["p90"], b["p99"], b["max"], b["threshold"] or "—",
                "—" if b["at_or_above_threshold"] is None else str(b["at_or_above_threshold"]),
            )  # fmt: skip
    console.print(table)
    table = Table(title="largest changes of a person's burden", title_justify="left")
    for heading in ("person", "group", "before", "after", "change"):
        table.add_column(heading, justify="left" if heading in ("person", "group") else "right")
    for item in document["largest_burden_changes"]:
        table.add_row(
            item["person_id"], item["group"] or "—", item["before"], item["after"], item["change"]
        )
    console.print(table)
