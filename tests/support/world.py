"""A test's own world: hospitals of the three levels, a person of each group, and their keys,
registered through the admin API with ids unique to the test. Besides: a level-3 hospital of
another region (Liaoning, 210000) with its key, for cross-region claims (rules §12), and a man
of no group born 1958-06-01, for the rule checks of gender and age (rules §14)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.core.config import Settings
from api.db.engine import make_engine, write_session
from api.db.keys import create_key

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
"""The worked examples (claim.json, person.json, … per example)."""


@dataclass
class Keys:
    admin: str
    finance: str
    hospital: dict[str, str]


@dataclass
class World:
    """One test's own hospitals, persons and keys (ids are unique per test)."""

    tag: str
    keys: Keys
    hospitals: dict[int, str]  # level → hospital_id
    persons: dict[str, str]  # 'none' | group | 'male' → person_id
    client: TestClient
    cross_region_hospital: str = field(default="")
    """A level-3 hospital of region 210000 (the persons are insured in 220000); its key is in
    `keys.hospital`. Not in `hospitals`, which holds the home region's hospital of each level."""
    id_numbers: dict[str, str] = field(default_factory=dict)
    """person_id → the ID number registered: the credential a HIS sends with 2401."""

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def hospital_headers(self, level: int = 3) -> dict[str, str]:
        return self.auth(self.keys.hospital[self.hospitals[level]])

    def cross_region_headers(self) -> dict[str, str]:
        return self.auth(self.keys.hospital[self.cross_region_hospital])

    def claim(
        self, example: str = "e2", *, level: int = 3, person: str = "dibao", **changes: Any
    ) -> dict[str, Any]:
        """A worked-example claim for this world's hospital and person."""
        body: dict[str, Any] = json.loads(
            (EXAMPLES / example / "claim.json").read_text(encoding="utf-8")
        )
        body["hospital_id"] = self.hospitals[level]
        body["person_id"] = self.persons[person]
        body["claim_id"] = f"ZY{self.tag}{secrets.token_hex(3)}"
        body.update(changes)
        return body


def id_number(body: str) -> str:
    """A resident ID number: the 17 digits of `body` and their ISO 7064 MOD 11-2 check
    character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


_TAGS_USED: set[str] = set()


def _new_tag() -> str:
    """Six hex digits no other world of this process has had. A test session makes some
    1,500 worlds on each database; drawn at random alone, two of them share a tag in about
    one session in fifteen, and the second finds the first's hospitals already there."""
    while (tag := secrets.token_hex(3).upper()) in _TAGS_USED:
        pass
    _TAGS_USED.add(tag)
    return tag


def make_world(client: TestClient, settings: Settings) -> World:
    tag = _new_tag()
    engine = make_engine(settings)
    with write_session(engine) as session:
        admin, _ = create_key(session, "admin", None, "test")
        finance, _ = create_key(session, "finance", None, "test")
        session.commit()
    engine.dispose()
    headers = {"Authorization": f"Bearer {admin}"}
    hospitals = {}
    for level in (1, 2, 3):
        hospital_id = f"H{tag}{level}"
        response = client.put(
            f"/v1/hospitals/{hospital_id}",
            json={"name": f"测试医院{level}", "level": level, "region": "220000"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        hospitals[level] = hospital_id
    cross_region_hospital = f"H{tag}LN3"
    response = client.put(
        f"/v1/hospitals/{cross_region_hospital}",
        json={"name": "辽宁测试医院", "level": 3, "region": "210000"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    persons, id_numbers = {}, {}
    for index, group in enumerate(("none", "destitute", "dibao", "registered_poor")):
        person_id = f"P{tag}{index}"
        statuses = (
            []
            if group == "none"
            else [{"group": group, "valid_from": "2017-01-01", "valid_to": None}]
        )
        id_numbers[person_id] = id_number(f"2201021960050{index}123")
        response = client.put(
            f"/v1/persons/{person_id}",
            json={
                "name": f"测试{index}",
                "id_number": id_numbers[person_id],
                "birth_date": "1960-05-01",
                "gender": "female",
                "insured_region": "220000",
                "statuses": statuses,
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        persons[group] = person_id
    persons["male"] = _register_male(client, headers, f"P{tag}M")
    id_numbers[persons["male"]] = MALE_ID_NUMBER
    engine = make_engine(settings)
    hospital_keys = {}
    with write_session(engine) as session:
        for hospital_id in (*hospitals.values(), cross_region_hospital):
            hospital_keys[hospital_id], _ = create_key(session, "hospital", hospital_id, "test")
        session.commit()
    engine.dispose()
    return World(
        tag,
        Keys(admin, finance, hospital_keys),
        hospitals,
        persons,
        client,
        cross_region_hospital,
        id_numbers,
    )


MALE_ID_NUMBER = id_number("22010219580601031")


def _register_male(client: TestClient, headers: dict[str, str], person_id: str) -> str:
    """A man of no group, insured in 220000, born 1958-06-01 (59 in March 2018)."""
    response = client.put(
        f"/v1/persons/{person_id}",
        json={
            "name": "测试男",
            "id_number": MALE_ID_NUMBER,
            "birth_date": "1958-06-01",
            "gender": "male",
            "insured_region": "220000",
            "statuses": [],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return person_id
