"""Demo data for `make run`: hospitals of each level, persons of each group and none, keys.

Seeded only into an empty database. The keys are shown once at creation like any key; so that
a newcomer can find them again, the demo also writes them to a file readable by its owner only.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, func, select

from api.contract import PersonIn, StatusIn
from api.db import write_session
from api.models import Hospital, HospitalCreate
from api.registry import put_hospital, put_person
from api.security import create_key
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
                HospitalCreate(name=name, level=level, region="220000"),
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
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(keys_file, 0o600)
    return True
