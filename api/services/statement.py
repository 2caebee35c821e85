"""The printable discharge settlement slip (结算单): a settlement document with the person's
and hospital's names, rendered from `statement.html` (autoescaped, the ID number masked).

Every explanation line and finding on the slip is in Chinese: the settlement document the API
answers holds the English only, so the Chinese is read here from what was stored with the
settlement (each fund step's `explanation_zh`, each finding's `message_zh`). A fund step stored
before the Chinese was kept (migration 0006) shows its stored English text instead.

Served by the API (`/v1/settlements/{id}/statement`) and by the finance view alike.
"""

from __future__ import annotations

from typing import Any

import orjson
from jinja2 import Environment
from sqlalchemy import Connection, Engine, bindparam, select

from api.core.contract import mask_id_number
from api.db import store
from api.db.engine import read_session
from api.db.tables import SETTLEMENT_FUND, Hospital, Person
from settlement.chinese import NAMES_ZH
from settlement.model import Filing, Group

FUND_LABELS = {
    "basic_insurance": "基本医保统筹基金",
    "critical_illness": "大病保险",
    "medical_assistance": "医疗救助",
    "charity": "慈善救助",
    "health_fund": "健康扶贫基金",
}
GROUP_LABELS: dict[str | None, str] = {
    None: "无",
    **{group.value: NAMES_ZH[group.value] for group in Group},
}
FILING_LABELS: dict[str | None, str] = {
    None: "无",
    **{filing.value: NAMES_ZH[filing.value] for filing in Filing},
}
"""备案类别 (rules §12) in Chinese, from the engine's own translations; 无 for an in-region claim."""
ACTION_LABELS = {"refused": "不予支付", "warning": "提示"}
"""What a rule check did to a line (rules §14)."""
CLASS_LABELS = {"A": "甲类", "B": "乙类", "C": "丙类"}
STATUS_LABELS = {"settled": "已结算", "reversed": "已冲正", "preview": "预结算"}

_FUND_TEXTS = (
    select(SETTLEMENT_FUND.c.fund, SETTLEMENT_FUND.c.explanation, SETTLEMENT_FUND.c.explanation_zh)
    .where(SETTLEMENT_FUND.c.settlement_id == bindparam("settlement_id"))
    .order_by(SETTLEMENT_FUND.c.position)
)


def render_statement(engine: Engine, templates: Environment, document: dict[str, Any]) -> str:
    """The slip of a stored settlement, `document` being its contract document."""
    with read_session(engine) as session:
        person = session.get(Person, document["person_id"])
        hospital = session.get(Hospital, document["hospital_id"])
        funds, findings = _chinese_of(session.connection(), document)
    template = templates.get_template("statement.html")
    return template.render(
        s=document,
        funds=funds,
        findings=findings,
        person_name=person.name if person else "",
        person_id_masked=mask_id_number(person.id_number) if person else "",
        hospital_name=hospital.name if hospital else document["hospital_id"],
        hospital_level=hospital.level if hospital else "",
        fund_labels=FUND_LABELS,
        group_label=GROUP_LABELS.get(document["group"], document["group"]),
        filing_label=FILING_LABELS.get(document["filing"], document["filing"]),
        cross_region=document["insured_region"] != document["treatment_region"],
        class_labels=CLASS_LABELS,
        status_label=STATUS_LABELS.get(document["status"], document["status"]),
    )


def _chinese_of(
    connection: Connection, document: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The document's funds with their stored Chinese explanation lines (the stored English
    where none was kept), and its findings with their stored Chinese messages."""
    settlement_id = document["settlement_id"]
    row = store.settlement_row(connection, settlement_id)
    assert row is not None, settlement_id
    texts = connection.execute(_FUND_TEXTS, {"settlement_id": settlement_id}).all()
    assert [text.fund for text in texts] == [fund["fund"] for fund in document["funds"]]
    funds = [
        {
            **fund,
            "explanation": orjson.loads(
                text.explanation if text.explanation_zh is None else text.explanation_zh
            ),
        }
        for fund, text in zip(document["funds"], texts, strict=True)
    ]
    stored_findings = orjson.loads(row.findings)
    assert len(stored_findings) == len(document["findings"]), settlement_id
    findings = [
        {
            **finding,
            "action": ACTION_LABELS.get(finding["action"], finding["action"]),
            "message": stored.get("message_zh") or finding["message"],
        }
        for finding, stored in zip(document["findings"], stored_findings, strict=True)
    ]
    return funds, findings
