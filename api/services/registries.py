"""Registries: hospitals and persons, put whole (create or replace), each write audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from sqlalchemy import Engine, delete, insert, select
from sqlmodel import Session, col

from api.core.contract import HospitalIn, PersonIn, StatusIn, mask_id_number
from api.core.problems import not_found
from api.db.engine import read_session, write_session
from api.db.store import audit
from api.db.tables import (
    PERSON_STATUS,
    Hospital,
    HospitalPublic,
    Person,
    PersonPublic,
    PersonStatus,
    StatusPublic,
)
from settlement.model import Group

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Put(Generic[T]):
    value: T
    created: bool


def put_hospital(
    session: Session, hospital_id: str, body: HospitalIn, actor: str
) -> Put[HospitalPublic]:
    now = datetime.now(UTC)
    row = session.get(Hospital, hospital_id)
    created = row is None
    if row is None:
        row = Hospital(hospital_id=hospital_id, created_at=now, updated_at=now, **body.model_dump())
        session.add(row)
    else:
        for name, value in body.model_dump().items():
            setattr(row, name, value)
        row.updated_at = now
    audit(session, actor, "hospital.create" if created else "hospital.update", hospital_id, now)
    return Put(HospitalPublic(hospital_id=hospital_id, **body.model_dump()), created)


def put_person(session: Session, person_id: str, body: PersonIn, actor: str) -> Put[PersonPublic]:
    now = datetime.now(UTC)
    row = session.get(Person, person_id)
    created = row is None
    fields = body.model_dump(exclude={"statuses"})
    if row is None:
        row = Person(person_id=person_id, created_at=now, updated_at=now, **fields)
        session.add(row)
        session.flush()
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = now
    session.execute(delete(PersonStatus).where(col(PersonStatus.person_id) == person_id))
    if body.statuses:
        session.execute(
            insert(PERSON_STATUS),
            [
                {
                    "person_id": person_id,
                    "group": s.group.value,
                    "valid_from": s.valid_from,
                    "valid_to": s.valid_to,
                }
                for s in body.statuses
            ],
        )
    audit(session, actor, "person.create" if created else "person.update", person_id, now)
    return Put(_person_public(row, body.statuses), created)


def _person_public(
    row: Person, statuses: Sequence[StatusIn] | Sequence[PersonStatus]
) -> PersonPublic:
    return PersonPublic(
        person_id=row.person_id,
        name=row.name,
        id_number=mask_id_number(row.id_number),
        birth_date=row.birth_date,
        gender=row.gender,
        insured_region=row.insured_region,
        statuses=[
            StatusPublic(group=Group(str(s.group)), valid_from=s.valid_from, valid_to=s.valid_to)
            for s in statuses
        ],
    )


def get_hospital(engine: Engine, hospital_id: str) -> HospitalPublic:
    with read_session(engine) as session:
        row = session.get(Hospital, hospital_id)
        if row is None:
            raise not_found("hospital", hospital_id)
        return HospitalPublic(
            hospital_id=row.hospital_id, name=row.name, level=row.level, region=row.region
        )


def get_person(engine: Engine, person_id: str) -> PersonPublic:
    with read_session(engine) as session:
        row = session.get(Person, person_id)
        if row is None:
            raise not_found("person", person_id)
        statuses = list(
            session.scalars(select(PersonStatus).where(col(PersonStatus.person_id) == person_id))
        )
        return _person_public(row, statuses)


def write_hospital(
    engine: Engine, hospital_id: str, body: HospitalIn, actor: str
) -> Put[HospitalPublic]:
    with write_session(engine) as session:
        result = put_hospital(session, hospital_id, body, actor)
        session.commit()
        return result


def write_person(engine: Engine, person_id: str, body: PersonIn, actor: str) -> Put[PersonPublic]:
    with write_session(engine) as session:
        result = put_person(session, person_id, body, actor)
        session.commit()
        return result
