"""The printable discharge settlement slip (结算单): a settlement document with the person's
and hospital's names, rendered from `statement.html` (autoescaped, the ID number masked).

Served by the API (`/v1/settlements/{id}/statement`) and by the finance view alike.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from sqlalchemy import Engine

from api.core.contract import mask_id_number
from api.db.engine import read_session
from api.db.tables import Hospital, Person

FUND_LABELS = {
    "basic_insurance": "基本医保统筹基金",
    "critical_illness": "大病保险",
    "medical_assistance": "医疗救助",
    "charity": "慈善救助",
}
GROUP_LABELS = {
    None: "无",
    "destitute": "特困供养人员",
    "dibao": "低保对象",
    "registered_poor": "建档立卡贫困人口",
}
CLASS_LABELS = {"A": "甲类", "B": "乙类", "C": "丙类"}
STATUS_LABELS = {"settled": "已结算", "reversed": "已冲正", "preview": "预结算"}


def render_statement(engine: Engine, templates: Environment, document: dict[str, Any]) -> str:
    with read_session(engine) as session:
        person = session.get(Person, document["person_id"])
        hospital = session.get(Hospital, document["hospital_id"])
    template = templates.get_template("statement.html")
    return template.render(
        s=document,
        person_name=person.name if person else "",
        person_id_masked=mask_id_number(person.id_number) if person else "",
        hospital_name=hospital.name if hospital else document["hospital_id"],
        hospital_level=hospital.level if hospital else "",
        fund_labels=FUND_LABELS,
        group_label=GROUP_LABELS.get(document["group"], document["group"]),
        class_labels=CLASS_LABELS,
        status_label=STATUS_LABELS.get(document["status"], document["status"]),
    )
