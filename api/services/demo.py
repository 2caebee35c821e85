"""Demo data for `make run`: hospitals of each level, persons of each group and none, keys.

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

from api.core.contract import HospitalIn, PersonIn, StatusIn
from api.db.engine import write_session
from api.db.keys import create_key
from api.db.tables import HOSPITAL, PERSON, PERSON_STATUS, Hospital
from api.services.registries import put_hospital, put_person
from settlement.model import Group

DEMO_HOSPITALS = (
    ("H2201001", "长春市双阳区鹿乡镇卫生院", 1),
    ("H2201002", "农安县人民医院", 2),
    ("H2201003", "吉林大学第一医院", 3),
)


def _id_number(body: str) -> str:
    """A resident ID number with its ISO 7064 MOD 11-2 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


DEMO_PERSONS: tuple[
    tuple[str, str, str, date, str, tuple[tuple[Group, date, date | None], ...]], ...
] = (
    ("P0001", "张三", "22010219600501123", date(1960, 5, 1), "male", ()),
    (
        "P0002",
        "李四",
        "22010219580817234",
        date(1958, 8, 17),
        "female",
        ((Group.DIBAO, date(2017, 1, 1), None),),
    ),
    (
        "P0003",
        "赵六",
        "22018319450203456",
        date(1945, 2, 3),
        "male",
        ((Group.DESTITUTE, date(2016, 1, 1), None),),
    ),
    (
        "P0004",
        "王五",
        "22020319700312345",
        date(1970, 3, 12),
        "male",
        ((Group.REGISTERED_POOR, date(2016, 6, 1), date(2020, 12, 31)),),
    ),
    (
        "P0005",
        "孙小宝",
        "22072120090615567",
        date(2009, 6, 15),
        "female",
        ((Group.REGISTERED_POOR, date(2016, 6, 1), None),),
    ),
    (
        "P0006",
        "周七",
        "22030219660921678",
        date(1966, 9, 21),
        "female",
        ((Group.DIBAO, date(2015, 1, 1), date(2017, 12, 31)),),
    ),
)


def seed_if_empty(engine: Engine, keys_file: Path) -> bool:
    """Seed the demo data when there are no hospitals yet; True when it did."""
    with write_session(engine) as session:
        if session.scalar(select(func.count()).select_from(Hospital)):
            return False
        for hospital_id, name, level in DEMO_HOSPITALS:
            put_hospital(
                session,
                hospital_id,
                HospitalIn(name=name, level=level, region="220000"),
                "demo",
            )
        for person_id, name, id_body, birth, gender, statuses in DEMO_PERSONS:
            body = PersonIn(
                name=name,
                id_number=_id_number(id_body),
                birth_date=birth,
                gender=gender,
                insured_region="220000",
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
    return True


# ---------------------------------------------------------------- load-test population

GROUP_MIX: tuple[tuple[Group | None, int], ...] = (
    (None, 80),
    (Group.REGISTERED_POOR, 12),
    (Group.DIBAO, 6),
    (Group.DESTITUTE, 2),
)
"""Shares (percent) of persons by assistance group in the seeded population."""
LEVEL_MIX = (1, 2, 2, 2, 2, 3, 3, 3, 1, 2)
SEED_BATCH = 5_000


def population_person_id(index: int) -> str:
    return f"LP{index:07d}"


def population_hospital_id(index: int) -> str:
    return f"LH{index:04d}"


def seed_population(
    engine: Engine, persons: int, hospitals: int, keys_file: Path, seed: int = 20181231
) -> dict[str, int]:
    """Bulk-insert a load-test population (persons of every group and none, hospitals of every
    level) and one key per hospital plus a finance key, written to `keys_file` (mode 600).

    Ids are deterministic (LP0000000…, LH0000…), so a load generator can address persons and
    hospitals without reading the database. Existing rows with those ids are left as they are.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with write_session(engine) as session:
        counts = {"hospitals": _seed_hospitals(session, hospitals, now)}
        counts.update(_seed_persons(session, rng, persons, now))
        lines = []
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
    rows = [
        {
            "hospital_id": population_hospital_id(i),
            "name": f"负载测试医院{i}",
            "level": LEVEL_MIX[i % len(LEVEL_MIX)],
            "region": "220000",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(hospitals)
        if population_hospital_id(i) not in existing
    ]
    if rows:
        session.execute(insert(HOSPITAL), rows)
    return len(rows)


def _seed_persons(
    session: Session, rng: random.Random, persons: int, now: datetime
) -> dict[str, int]:
    """Persons in batches of SEED_BATCH, with the group mix's statuses; existing ids kept."""
    counts = {"persons": 0, "statuses": 0}
    groups = [group for group, share in GROUP_MIX for _ in range(share)]
    existing = set(
        session.scalars(select(PERSON.c.person_id).where(PERSON.c.person_id.like("LP%")))
    )
    for start in range(0, persons, SEED_BATCH):
        person_rows, status_rows = [], []
        for index in range(start, min(persons, start + SEED_BATCH)):
            person_id = population_person_id(index)
            birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 78))
            group = rng.choice(groups)
            if person_id in existing:
                continue
            person_rows.append(
                {"person_id": person_id, "name": f"测试{index}",
                 "id_number": _id_number(f"220102{birth:%Y%m%d}{index % 1000:03d}"),
                 "birth_date": birth, "gender": rng.choice(("male", "female")),
                 "insured_region": "220000", "created_at": now, "updated_at": now}
            )  # fmt: skip
            if group is not None:
                status_rows.append(
                    {"person_id": person_id, "group": group.value,
                     "valid_from": date(2016, 1, 1), "valid_to": None}
                )  # fmt: skip
        if person_rows:
            session.execute(insert(PERSON), person_rows)
        if status_rows:
            session.execute(insert(PERSON_STATUS), status_rows)
        counts["persons"] += len(person_rows)
        counts["statuses"] += len(status_rows)
    return counts
