"""The `onestop` command line: a settlement workbench and tariff checks, no database needed.

`onestop settle` prints the itemized bill of one claim for a person and hospital level, the
way the service will; `onestop tariffs check` validates tariff files. Heavy imports stay inside
the commands so that every command starts quickly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from api.contract import AccumulatorsBody, ClaimIn, PersonIn, settlement_json
from settlement.engine import settle as settle_claim
from settlement.model import Accumulators
from settlement.money import format_fen
from settlement.rejection import Rejection
from settlement.result import Settlement

M = TypeVar("M", bound=BaseModel)

app = typer.Typer(
    help="onestop: one-stop settlement of medical insurance, assistance and charity.",
    no_args_is_help=True,
    add_completion=False,
)
tariffs_app = typer.Typer(help="Check and inspect tariff files.", no_args_is_help=True)
app.add_typer(tariffs_app, name="tariffs")

EXIT_REFUSED = 2
"""Exit status for a refused claim or input file: every problem has been printed."""


def _fail(problems: list[str], heading: str) -> typer.Exit:
    console = Console(stderr=True)
    console.print(f"[bold red]{heading}[/]", highlight=False)
    for problem in problems:
        console.print(f"  - {problem}", highlight=False, markup=False)
    return typer.Exit(EXIT_REFUSED)


def _read_model(path: Path, model: type[M]) -> M:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise _fail([f"{path}: {error.strerror}"], f"cannot read {path}") from None
    except json.JSONDecodeError as error:
        raise _fail([f"{path}: line {error.lineno}: {error.msg}"], f"{path} is not JSON") from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = [
            f"{path}: {'.'.join(str(part) for part in detail['loc']) or '(root)'}: {detail['msg']}"
            for detail in error.errors()
        ]
        raise _fail(problems, f"{path} is refused ({len(problems)} problems)") from None


def _load_book(directory: Path | None) -> Any:
    from tariffs import TariffError, load_default, load_tariffs

    try:
        return (load_default() if directory is None else load_tariffs(directory)).book
    except TariffError as error:
        raise _fail(error.problems, "the tariff files are refused") from None


@app.command()
def settle(
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
    accumulators_file: Annotated[
        Path | None,
        typer.Option(
            "--accumulators",
            metavar="ACC.json",
            help="Year-to-date accumulators before this claim (default: none yet).",
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
    claim = _read_model(claim_file, ClaimIn).to_engine()
    person = _read_model(person_file, PersonIn).to_engine(claim.person_id)
    accumulators = (
        Accumulators(year=claim.policy_year)
        if accumulators_file is None
        else _read_model(accumulators_file, AccumulatorsBody).to_engine()
    )
    result = settle_claim(claim, person, hospital_level, accumulators, _load_book(tariff_dir))
    if isinstance(result, Rejection):
        problems = [
            f"{'.'.join(str(part) for part in problem.loc)}: {problem.msg} [{problem.code}]"
            for problem in result.problems
        ]
        raise _fail(problems, f"claim {claim.claim_id} is refused ({len(problems)} problems)")
    if output == "json":
        document = settlement_json(
            result, settlement_id=None, status="preview", settled_at=None, reversed_at=None
        )
        del document["settlement_id"], document["settled_at"], document["reversed_at"]
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print_bill(result, Console())


def print_bill(settlement: Settlement, console: Console) -> None:
    """The itemized bill as terminal tables: lines, fund shares, totals, and each fund's steps."""
    group = settlement.group.value if settlement.group else "none"
    console.print(
        f"[bold]Claim {settlement.claim_id}[/]  hospital {settlement.hospital_id}  "
        f"person {settlement.person_id}  stay {settlement.admission_date} → "
        f"{settlement.discharge_date}\ntariff {settlement.tariff_version}  group {group}  "
        f"charity disease {settlement.charity_disease or 'none'}",
        highlight=False,
    )
    lines = Table(title="Lines (费用明细)", title_justify="left")
    for heading in ("#", "code", "name", "class", "qty", "unit price", "amount", "full self-pay",
                    "over cap", "first self-pay", "in scope"):  # fmt: skip
        lines.add_column(heading, justify="left" if heading in ("code", "name") else "right")
    for line in settlement.lines:
        lines.add_row(
            str(line.line_no), line.item_code, line.item_name, line.item_class.value,
            str(line.quantity), str(line.unit_price.amount), format_fen(line.amount_fen),
            format_fen(line.full_selfpay_fen), format_fen(line.over_cap_selfpay_fen),
            format_fen(line.first_selfpay_fen), format_fen(line.in_scope_fen),
        )  # fmt: skip
    console.print(lines)
    shares = Table(title="Who pays each line", title_justify="left")
    for heading in ("#", "code", "basic", "critical illness", "assistance", "charity", "patient"):
        shares.add_column(heading, justify="left" if heading == "code" else "right")
    for line in settlement.lines:
        shares.add_row(
            str(line.line_no), line.item_code, format_fen(line.basic_insurance_fen),
            format_fen(line.critical_illness_fen), format_fen(line.medical_assistance_fen),
            format_fen(line.charity_fen), format_fen(line.patient_pay_fen),
        )  # fmt: skip
    console.print(shares)
    totals = Table(title="Totals", title_justify="left", show_header=False)
    totals.add_column("what")
    totals.add_column("amount", justify="right")
    for label, fen in _total_rows(settlement):
        totals.add_row(label, format_fen(fen))
    console.print(totals)
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


def _total_rows(settlement: Settlement) -> list[tuple[str, int]]:
    totals = settlement.totals
    return [
        ("total 医疗费总额", totals.total_fen),
        ("full self-pay 全自费", totals.full_selfpay_fen),
        ("over-cap self-pay 超限价自费", totals.over_cap_selfpay_fen),
        ("first self-pay 先行自付", totals.first_selfpay_fen),
        ("in scope 政策范围内", totals.in_scope_fen),
        ("deductible applied 起付线", totals.deductible_applied_fen),
        ("basic insurance 统筹基金", totals.basic_insurance_fen),
        ("critical illness 大病保险", totals.critical_illness_fen),
        ("medical assistance 医疗救助", totals.medical_assistance_fen),
        ("charity 慈善救助", totals.charity_fen),
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


# ---------------------------------------------------------------- service commands

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once) and revoke.", no_args_is_help=True)
persons_app = typer.Typer(help="Person registry.", no_args_is_help=True)
hospitals_app = typer.Typer(help="Hospital registry.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying the service.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(persons_app, name="persons")
app.add_typer(hospitals_app, name="hospitals")
app.add_typer(demo_app, name="demo")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database named by ONESTOP_DATABASE_URL (SQLite file by default)."""
    from api.core.config import Settings
    from api.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database migrated to {revision}: {_redacted(settings.database_url)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the HTTP service (uvicorn with uvloop and httptools)."""
    import uvicorn

    uvicorn.run(
        "api.app:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
    )


Role = Literal["admin", "finance", "hospital"]


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, finance or hospital.")],
    hospital: Annotated[
        str | None, typer.Option(help="The hospital a hospital key is bound to.")
    ] = None,
    label: Annotated[str, typer.Option(help="A note on who holds the key.")] = "",
) -> None:
    """Create an API key and print it once, alone on the last line (only its hash is kept)."""
    from api.core.config import Settings
    from api.db import make_engine, write_session
    from api.models import Hospital
    from api.registry import audit
    from api.security import create_key

    if (role == "hospital") != (hospital is not None):
        raise _fail(
            ["--hospital is required for a hospital key and refused for other roles"], "key refused"
        )
    engine = make_engine(Settings())
    with write_session(engine) as session:
        if hospital is not None and session.get(Hospital, hospital) is None:
            raise _fail([f"hospital {hospital} is not registered"], "key refused")
        key, row = create_key(session, role, hospital, label)
        audit(session, "cli", "key.create", f"{row.prefix} role {role} {hospital or ''}")
        session.commit()
    typer.echo(
        f"created {role} key {row.prefix}" + (f" for hospital {hospital}" if hospital else "")
    )
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (osk_<prefix>_…).")],
) -> None:
    """Revoke a key; services stop accepting it within their key cache time (5 s by default)."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from api.core.config import Settings
    from api.db import make_engine, write_session
    from api.models import ApiKey
    from api.registry import audit

    engine = make_engine(Settings())
    with write_session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if row is None:
            raise _fail([f"no key with prefix {prefix}"], "nothing revoked")
        row.revoked_at = row.revoked_at or datetime.now(UTC)
        audit(session, "cli", "key.revoke", prefix)
        session.commit()
    typer.echo(f"revoked key {prefix}")


@persons_app.command("import")
def persons_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="Persons CSV (see docs/operations.md).")
    ],
) -> None:
    """Import persons all-or-nothing; list every bad row and import nothing if any is bad."""
    from api.imports import import_persons

    _run_import(import_persons, file, "persons")


@hospitals_app.command("import")
def hospitals_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.csv", help="Hospitals CSV (see docs/operations.md).")
    ],
) -> None:
    """Import hospitals all-or-nothing; list every bad row and import nothing if any is bad."""
    from api.imports import import_hospitals

    _run_import(import_hospitals, file, "hospitals")


def _run_import(importer: Any, file: Path, what: str) -> None:
    from api.core.config import Settings
    from api.db import make_engine
    from api.imports import ImportRefused

    engine = make_engine(Settings())
    try:
        count = importer(engine, file)
    except ImportRefused as refused:
        raise _fail(
            refused.problems, f"{file}: nothing imported ({len(refused.problems)} problems)"
        ) from None
    typer.echo(f"imported {count} {what} from {file}")


@demo_app.command("seed")
def demo_seed(
    keys_file: Annotated[
        Path, typer.Option(help="Where the demo keys are written (mode 600).")
    ] = Path("var/demo-keys.env"),
    persons: Annotated[
        int | None,
        typer.Option(
            min=1, max=10_000_000, help="Seed a load-test population of this many persons."
        ),
    ] = None,
    hospitals: Annotated[
        int,
        typer.Option(min=1, max=10_000, help="With --persons: this many hospitals, a key each."),
    ] = 10,
) -> None:
    """Seed demo hospitals, persons (each group and none) and keys, if the database is empty;
    with --persons, bulk-insert a load-test population (LP0000000…, LH0000…) and its keys."""
    from api.core.config import Settings
    from api.db import make_engine
    from api.demo import seed_if_empty, seed_population

    engine = make_engine(Settings())
    if persons is not None:
        import time

        started = time.perf_counter()
        counts = seed_population(engine, persons, hospitals, keys_file)
        typer.echo(
            f"seeded {counts['persons']} persons ({counts['statuses']} with a group) and "
            f"{counts['hospitals']} hospitals in {time.perf_counter() - started:.1f} s; "
            f"keys of {hospitals} hospitals and finance in {keys_file}"
        )
        return
    created = seed_if_empty(engine, keys_file)
    typer.echo("demo data seeded" if created else "database already has data; demo seed skipped")
    if not keys_file.exists():
        return
    keys = dict(
        line.split("=", 1) for line in keys_file.read_text(encoding="utf-8").split() if "=" in line
    )
    typer.echo(f"demo keys (also in {keys_file}, readable by you only):")
    for name, key in keys.items():
        typer.echo(f"  {name}={key}")
    hospital_key = keys.get("ONESTOP_HOSPITAL_KEY_H2201003", "<hospital key>")
    typer.echo(
        "\nSettle a sample claim (worked example E2: dibao, lung cancer surgery) from here:\n"
        f"  curl -s -X POST http://127.0.0.1:8000/v1/settlements \\\n"
        f"    -H 'Authorization: Bearer {hospital_key}' \\\n"
        "    -H 'Content-Type: application/json' --data @docs/examples/e2/claim.json\n"
        "Post it again for an idempotent replay; open the slip (结算单) with\n"
        f"  curl -s -H 'Authorization: Bearer {hospital_key}' "
        "http://127.0.0.1:8000/v1/settlements/<settlement_id>/statement > slip.html"
    )


# ---------------------------------------------------------------- ledger

ledger_app = typer.Typer(
    help="Ledger checks: accumulators, conservation, postings.", no_args_is_help=True
)
app.add_typer(ledger_app, name="ledger")

EXIT_LEDGER_DIFFERS = 1
"""Exit status of `ledger verify` when any difference was found (all of them are printed)."""


@ledger_app.command("verify")
def ledger_verify(
    year: Annotated[
        int | None,
        typer.Option(
            "--year",
            min=1900,
            max=9999,
            metavar="YYYY",
            help="Only this policy year (default: all).",
        ),
    ] = None,
) -> None:
    """Check the stored ledger; exit 0 when it is sound, 1 listing every difference.

    Accumulators against the settled settlements, every settlement's conservation, and the
    fund postings against the settlements' funds. Reads one snapshot and writes nothing.
    """
    from rich.text import Text

    from api.core.config import Settings
    from api.db import make_engine
    from api.ledger import check

    engine = make_engine(Settings())
    try:
        report = check(engine, year)
    finally:
        engine.dispose()
    console = Console()
    scope = "all policy years" if year is None else f"policy year {year}"
    console.print(
        f"checked {scope}: {report.accumulators} accumulators, {report.settlements} "
        f"settlements, {report.postings} postings",
        highlight=False,
    )
    if report.balanced:
        console.print("[bold green]ledger verified: no differences[/]", highlight=False)
        return
    table = Table(title="Ledger differences", title_justify="left")
    table.add_column("kind", no_wrap=True)
    table.add_column("where", no_wrap=True)
    table.add_column("expected", justify="right")
    table.add_column("found", justify="right")
    table.add_column("message")
    for difference in report.differences:
        # Text cells: a value read from the database is never taken for Rich markup.
        table.add_row(
            Text(difference.kind), Text(difference.where), Text(_shown(difference.expected)),
            Text(_shown(difference.found)), Text(difference.message),
        )  # fmt: skip
    console.print(table)
    total = len(report.differences) + report.differences_omitted
    omitted = f" ({report.differences_omitted} not listed)" if report.differences_omitted else ""
    console.print(f"[bold red]{total} differences{omitted}[/]", highlight=False)
    raise typer.Exit(EXIT_LEDGER_DIFFERS)


def _shown(value: int | str | None) -> str:
    return "—" if value is None else str(value)


# ---------------------------------------------------------------- finance

from api.finance_cli import clearing, reconcile_app  # noqa: E402 - registered after the others

app.add_typer(reconcile_app, name="reconcile")
app.command("clearing")(clearing)


if __name__ == "__main__":
    app()
