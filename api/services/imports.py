"""Registry imports from CSV, all-or-nothing: every bad row is listed and nothing is written.

`hospitals.csv`: `hospital_id,name,level,region`
`persons.csv`: `person_id,name,id_number,birth_date,gender,insured_region,statuses`, where
`statuses` is `group:valid_from:valid_to` items separated by `;` (valid_to empty for open),
e.g. `dibao:2017-01-01:;registered_poor:2016-06-01:2020-12-31`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from api.core.contract import ID_PATTERN, HospitalIn, PersonIn
from api.db.engine import write_session
from api.services.registries import put_hospital, put_person

HOSPITAL_COLUMNS = ("hospital_id", "name", "level", "region")
PERSON_COLUMNS = (
    "person_id",
    "name",
    "id_number",
    "birth_date",
    "gender",
    "insured_region",
    "statuses",
)
IMPORT_ROWS_MAX = 1_000_000


M = TypeVar("M", bound=BaseModel)


class ImportRefused(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _rows(
    path: Path, columns: tuple[str, ...], problems: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) != columns:
                problems.append(f"line 1: header must be {','.join(columns)}")
                return
            for line_no, values in enumerate(reader, start=2):
                if line_no > IMPORT_ROWS_MAX + 1:
                    problems.append(f"line {line_no}: more than {IMPORT_ROWS_MAX} rows")
                    return
                if len(values) != len(columns):
                    problems.append(
                        f"line {line_no}: {len(values)} fields, expected {len(columns)}"
                    )
                    continue
                yield line_no, dict(zip(columns, values, strict=True))
    except OSError as error:
        problems.append(f"cannot read {path}: {error.strerror}")
    except UnicodeDecodeError as error:
        problems.append(f"{path} is not UTF-8 text (byte {error.start})")


def _validation_problems(line_no: int, error: ValidationError) -> list[str]:
    return [
        f"line {line_no}: {'.'.join(str(part) for part in detail['loc']) or 'row'}: {detail['msg']}"
        for detail in error.errors()
    ]


def _check_id(
    line_no: int, name: str, value: str, seen: dict[str, int], problems: list[str]
) -> bool:
    import re

    if not re.fullmatch(ID_PATTERN, value):
        problems.append(f"line {line_no}: {name} {value!r} is not a valid identifier")
        return False
    if value in seen:
        problems.append(f"line {line_no}: {name} {value} repeats line {seen[value]}")
        return False
    seen[value] = line_no
    return True


def _parse(model: type[M], line_no: int, data: dict[str, Any], problems: list[str]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems.extend(_validation_problems(line_no, error))
        return None


def _write_all(
    engine: Engine,
    problems: list[str],
    parsed: list[tuple[str, M]],
    put: Callable[[Session, str, M, str], Any],
) -> int:
    """Refuse the file if any row is bad; otherwise put every row in one transaction."""
    if problems:
        raise ImportRefused(problems)
    with write_session(engine) as session:
        for key, body in parsed:
            put(session, key, body, "cli")
        session.commit()
    return len(parsed)


def import_hospitals(engine: Engine, path: Path) -> int:
    problems: list[str] = []
    seen: dict[str, int] = {}
    parsed: list[tuple[str, HospitalIn]] = []
    for line_no, row in _rows(path, HOSPITAL_COLUMNS, problems):
        ok = _check_id(line_no, "hospital_id", row["hospital_id"], seen, problems)
        # The request model is strict about types; a CSV field is text, so a level of digits
        # is read as a number first (anything else is refused by the model, with its line).
        fields: dict[str, Any] = {k: v for k, v in row.items() if k != "hospital_id"}
        if fields["level"].isdigit():
            fields["level"] = int(fields["level"])
        body = _parse(HospitalIn, line_no, fields, problems)
        if ok and body is not None:
            parsed.append((row["hospital_id"], body))
    return _write_all(engine, problems, parsed, put_hospital)


def _statuses(line_no: int, text: str, problems: list[str]) -> list[dict[str, Any]] | None:
    statuses = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        parts = item.split(":")
        if len(parts) != 3:
            problems.append(f"line {line_no}: status {item!r} is not group:valid_from:valid_to")
            return None
        group, valid_from, valid_to = parts
        statuses.append({"group": group, "valid_from": valid_from, "valid_to": valid_to or None})
    return statuses


def import_persons(engine: Engine, path: Path) -> int:
    problems: list[str] = []
    seen: dict[str, int] = {}
    parsed: list[tuple[str, PersonIn]] = []
    for line_no, row in _rows(path, PERSON_COLUMNS, problems):
        ok = _check_id(line_no, "person_id", row["person_id"], seen, problems)
        statuses = _statuses(line_no, row["statuses"], problems)
        if statuses is None:
            continue
        data = {k: v for k, v in row.items() if k not in ("person_id", "statuses")}
        body = _parse(PersonIn, line_no, {**data, "statuses": statuses}, problems)
        if ok and body is not None:
            parsed.append((row["person_id"], body))
    return _write_all(engine, problems, parsed, put_person)
