"""Demo data for `make run`: hospitals of each level, persons of each group and none, keys,
in two regions (220000 Jilin, 210000 Liaoning) so that cross-region claims can be tried.

Besides, worked example E4's stay for 王五 (registered poor, level 2), settled and paid later
with a plan, whose settlement raised a high-burden alert (rules §15–16): the finance view's
receivables and alerts have one of each from the start.

Seeded only into an empty database. The keys are shown once at creation like any key; so that
a newcomer can find them again, the demo also writes them to a file readable by its owner only.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from api.core.clock import system_clock
from api.core.contract import HospitalIn, PersonIn, StatusIn
from api.db.engine import write_session
from api.db.keys import create_key
from api.db.tables import HOSPITAL, PERSON, PERSON_STATUS, Hospital
from api.services.registries import put_hospital, put_person
from settlement.model import Gender, Group, Person, Status
from settlement.money import format_fen
from settlement.tariff import TariffBook
from tariffs import load_default

JILIN = "220000"
LIAONING = "210000"

DEMO_HOSPITALS: tuple[tuple[str, str, int, str], ...] = (
    ("H2201001", "长春市双阳区鹿乡镇卫生院", 1, JILIN),
    ("H2201002", "农安县人民医院", 2, JILIN),
    ("H2201003", "吉林大学第一医院", 3, JILIN),
    ("H2101002", "沈阳市辽中区人民医院", 2, LIAONING),
    ("H2101003", "中国医科大学附属第一医院", 3, LIAONING),
)
"""(hospital id, name, level, region): a claim of a person insured in the other region is
cross-region and names its filing (rules §12)."""


def _id_number(body: str) -> str:
    """A resident ID number with its ISO 7064 MOD 11-2 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


DEMO_PERSONS: tuple[
    tuple[str, str, str, date, str, str, tuple[tuple[Group, date, date | None], ...]], ...
] = (
    ("P0001", "张三", "22010219600501123", date(1960, 5, 1), "male", JILIN, ()),
    (
        "P0002",
        "李四",
        "22010219580817234",
        date(1958, 8, 17),
        "female",
        JILIN,
        ((Group.DIBAO, date(2017, 1, 1), None),),
    ),
    (
        "P0003",
        "赵六",
        "22018319450203456",
        date(1945, 2, 3),
        "male",
        JILIN,
        ((Group.DESTITUTE, date(2016, 1, 1), None),),
    ),
    (
        "P0004",
        "王五",
        "22020319700312345",
        date(1970, 3, 12),
        "male",
        JILIN,
        ((Group.REGISTERED_POOR, date(2016, 6, 1), date(2020, 12, 31)),),
    ),
    (
        "P0005",
        "孙小宝",
        "22072120090615567",
        date(2009, 6, 15),
        "female",
        JILIN,
        ((Group.REGISTERED_POOR, date(2016, 6, 1), None),),
    ),
    (
        "P0006",
        "周七",
        "22030219660921678",
        date(1966, 9, 21),
        "female",
        JILIN,
        ((Group.DIBAO, date(2015, 1, 1), date(2017, 12, 31)),),
    ),
    ("P0007", "刘八", "21010219520314135", date(1952, 3, 14), "male", LIAONING, ()),
    (
        "P0008",
        "陈九",
        "21011219751108246",
        date(1975, 11, 8),
        "female",
        LIAONING,
        ((Group.DIBAO, date(2016, 1, 1), None),),
    ),
)
"""(person id, name, ID number without its check character, birth date, gender, insured
region, statuses)."""


def seed_if_empty(engine: Engine, keys_file: Path, tariffs: TariffBook | None = None) -> bool:
    """Seed the demo data when there are no hospitals yet; True when it did. `tariffs`: the
    book the service settles with (the shipped tariffs by default)."""
    with write_session(engine) as session:
        if session.scalar(select(func.count()).select_from(Hospital)):
            return False
        for hospital_id, name, level, region in DEMO_HOSPITALS:
            put_hospital(
                session, hospital_id, HospitalIn(name=name, level=level, region=region), "demo"
            )
        for person_id, name, id_body, birth, gender, region, statuses in DEMO_PERSONS:
            body = PersonIn(
                name=name,
                id_number=_id_number(id_body),
                birth_date=birth,
                gender=gender,
                insured_region=region,
                statuses=[
                    StatusIn(group=g, valid_from=start, valid_to=end) for g, start, end in statuses
                ],
            )
            put_person(session, person_id, body, "demo")
        session.flush()
        lines = []
        roles: list[tuple[str, str | None]] = [("admin", None), ("finance", None)]
        roles += [("hospital", hospital[0]) for hospital in DEMO_HOSPITALS]
        for role, bound_hospital in roles:
            key, _ = create_key(session, role, bound_hospital, "demo")
            name = f"ONESTOP_{role.upper()}_KEY" + (f"_{bound_hospital}" if bound_hospital else "")
            lines.append(f"{name}={key}")
        session.commit()
    _write_keys(keys_file, lines)
    seed_after_the_bill(engine, load_default().book if tariffs is None else tariffs)
    return True


DEMO_DEFERRED_CLAIM: dict[str, object] = {
    "claim_id": "ZYDEMO20180312", "hospital_id": "H2201002", "person_id": "P0004",
    "admission_date": "2018-03-01", "discharge_date": "2018-03-12",
    "diagnoses": ["K80.1"], "surgery": True,
    "items": [
        {"line_no": number, "item_code": code, "quantity": quantity, "unit_price": price,
         "amount": amount}
        for number, code, quantity, price, amount in (
            (1, "S0001", "11", "45.00", "495.00"), (2, "S0002", "1", "12000.00", "12000.00"),
            (3, "B0002", "4", "1230.50", "4922.00"), (4, "B0001", "20", "18.75", "375.00"),
            (5, "C0001", "6", "388.00", "2328.00"), (6, "M0001", "2", "1800.00", "3600.00"),
            (7, "A0002", "30", "3.50", "105.00"), (8, "S0003", "11", "25.00", "275.00"),
        )
    ],
}  # fmt: skip
"""Worked example E4's claim: 王五 (registered poor) at 农安县人民医院 (level 2), a first
admission of 2018. He pays 6924.41: he may pay later, and his year crosses the 5000.00 alert."""


def seed_after_the_bill(engine: Engine, tariffs: TariffBook) -> None:
    """A stay paid later with its plan, whose settlement raised a high-burden alert (rules
    §15–16): the finance view and `onestop receivables`/`alerts` have something to show."""
    from api.core.access import Principal
    from api.core.after_bill import ReceivableIn
    from api.core.contract import ClaimIn
    from api.services.receivables import create_receivable
    from api.services.settlements import settle_claim

    actor = Principal("admin", None, "demo")
    outcome = settle_claim(engine, tariffs, ClaimIn.model_validate(DEMO_DEFERRED_CLAIM), actor)
    made = outcome.made
    assert made is not None, "the demo database was empty"
    patient_pay = made.settlement.totals.patient_pay_fen
    at_discharge = patient_pay % 100_00 + 400_00  # the cents and 400.00 at the counter
    owed = patient_pay - at_discharge
    plan = ReceivableIn.model_validate(
        {
            "paid_at_discharge": format_fen(at_discharge),
            "installments": [
                {"due_date": "2018-04-12", "amount": format_fen(owed - owed // 2)},
                {"due_date": "2018-06-12", "amount": format_fen(owed // 2)},
            ],
        }
    )
    create_receivable(engine, tariffs, system_clock, made.settlement_id, plan, actor)


# ---------------------------------------------------------------- load-test population

POPULATION_SEED = 20181231
GROUP_MIX: tuple[tuple[Group | None, int], ...] = (
    (None, 80),
    (Group.REGISTERED_POOR, 12),
    (Group.DIBAO, 6),
    (Group.DESTITUTE, 2),
)
"""Shares (percent) of persons by assistance group in the seeded population."""
REGION_MIX: tuple[tuple[str, int], ...] = ((JILIN, 90), (LIAONING, 10))
"""Shares (percent) of persons by insured region in the seeded population."""
HOSPITAL_MIX: tuple[tuple[int, str], ...] = (
    (1, JILIN), (2, JILIN), (2, JILIN), (2, JILIN), (2, LIAONING),
    (3, JILIN), (3, JILIN), (3, LIAONING), (1, JILIN), (2, JILIN),
)  # fmt: skip
"""(level, region) of hospital LH…n by n modulo 10: every level in Jilin, levels 2 and 3 in
Liaoning."""
STATUS_FROM = date(2016, 1, 1)
SEED_BATCH = 5_000
_GROUPS = tuple(group for group, share in GROUP_MIX for _ in range(share))
_REGIONS = tuple(region for region, share in REGION_MIX for _ in range(share))
_ID_PREFIX = {JILIN: "220102", LIAONING: "210102"}


def population_person_id(index: int) -> str:
    return f"LP{index:07d}"


def population_id_number(person: Person) -> str:
    """The ID number of a load-test person (`population_person`): its region's prefix, its
    birth date and its index's last three digits. A HIS sends it with 2401 (the platform's
    credential), so the load generator must know it too (`loadtests.claims` holds a copy)."""
    index = int(person.person_id.removeprefix("LP"))
    body = f"{_ID_PREFIX[person.insured_region]}{person.birth_date:%Y%m%d}{index % 1000:03d}"
    return _id_number(body)


def population_hospital_id(index: int) -> str:
    return f"LH{index:04d}"


def population_person(index: int, seed: int = POPULATION_SEED) -> Person:
    """The load-test person of this index, the same for every seeding with the same seed.

    A function of the index alone, so that a load generator knows a person's insured region,
    gender, age and group without reading the database (it must, to send a cross-region
    claim's filing and to keep or break the catalog's rule data on purpose). The load tests
    hold a copy of this definition (`loadtests.claims`, which reaches the service over HTTP
    only); tests/loadtests/test_loadtests.py holds the two equal."""
    rng = random.Random(seed * 100_000_000 + index)
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 78))
    group = rng.choice(_GROUPS)
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    region = rng.choice(_REGIONS)
    statuses = () if group is None else (Status(group, STATUS_FROM, None),)
    return Person(population_person_id(index), birth, region, statuses, gender)


def population_hospital(index: int) -> tuple[str, int, str]:
    """(hospital id, level, region) of the load-test hospital of this index."""
    level, region = HOSPITAL_MIX[index % len(HOSPITAL_MIX)]
    return population_hospital_id(index), level, region


def seed_population(
    engine: Engine, persons: int, hospitals: int, keys_file: Path, seed: int = POPULATION_SEED
) -> dict[str, int]:
    """Bulk-insert a load-test population (persons of every group and none, of both regions;
    hospitals of every level) and one key per hospital plus a finance key and an admin key (the
    load test reads `GET /metrics` with it), written to `keys_file` (mode 600).

    Ids are deterministic (LP0000000…, LH0000…), and so is everything else about a person or
    a hospital (`population_person`, `population_hospital`), so a load generator can address
    persons and hospitals without reading the database. Existing rows with those ids are left
    as they are.
    """
    now = datetime.now(UTC)
    with write_session(engine) as session:
        counts = {"hospitals": _seed_hospitals(session, hospitals, now)}
        counts.update(_seed_persons(session, persons, seed, now))
        lines = []
        admin_key, _ = create_key(session, "admin", None, "load test")
        lines.append(f"ONESTOP_ADMIN_KEY={admin_key}")
        finance_key, _ = create_key(session, "finance", None, "load test")
        lines.append(f"ONESTOP_FINANCE_KEY={finance_key}")
        for i in range(hospitals):
            key, _ = create_key(session, "hospital", population_hospital_id(i), "load test")
            lines.append(f"ONESTOP_HOSPITAL_KEY_{population_hospital_id(i)}={key}")
        session.commit()
    _write_keys(keys_file, lines)
    return counts


def _write_keys(keys_file: Path, lines: list[str]) -> None:
    """The demo's keys, one `NAME=key` a line, in a file readable by its owner only."""
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(keys_file, 0o600)


def _seed_hospitals(session: Session, hospitals: int, now: datetime) -> int:
    existing = set(session.scalars(select(HOSPITAL.c.hospital_id)))
    rows = []
    for i in range(hospitals):
        hospital_id, level, region = population_hospital(i)
        if hospital_id not in existing:
            rows.append(
                {"hospital_id": hospital_id, "name": f"负载测试医院{i}", "level": level,
                 "region": region, "created_at": now, "updated_at": now}
            )  # fmt: skip
    if rows:
        session.execute(insert(HOSPITAL), rows)
    return len(rows)


def _seed_persons(session: Session, persons: int, seed: int, now: datetime) -> dict[str, int]:
    """Persons in batches of SEED_BATCH, with their group's status; existing ids kept."""
    counts = {"persons": 0, "statuses": 0}
    existing = set(
        session.scalars(select(PERSON.c.person_id).where(PERSON.c.person_id.like("LP%")))
    )
    for start in range(0, persons, SEED_BATCH):
        person_rows, status_rows = [], []
        for index in range(start, min(persons, start + SEED_BATCH)):
            if population_person_id(index) in existing:
                continue
            person = population_person(index, seed)
            person_rows.append(
                {"person_id": person.person_id, "name": f"测试{index}",
                 "id_number": population_id_number(person), "birth_date": person.birth_date,
                 "gender": person.gender.value, "insured_region": person.insured_region,
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
            status_rows += [
                {"person_id": person.person_id, "group": status.group.value,
                 "valid_from": status.valid_from, "valid_to": status.valid_to}
                for status in person.statuses
            ]  # fmt: skip
        if person_rows:
            session.execute(insert(PERSON), person_rows)
        if status_rows:
            session.execute(insert(PERSON_STATUS), status_rows)
        counts["persons"] += len(person_rows)
        counts["statuses"] += len(status_rows)
    return counts
