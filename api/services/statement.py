"""The printable discharge settlement slip (结算单): a settlement document with the person's
and hospital's names, rendered from `statement.html` (autoescaped, the ID number masked).

Every explanation line and finding on the slip is in Chinese: the settlement document the API
answers holds the English only, so the Chinese is taken from the engine's settlement as it was
rebuilt from its rows (each fund step's `explanation_zh`, each finding's `message_zh`, stored
with it). A fund step stored before the Chinese was kept (migration 0006) shows its stored
English text instead.

Served by the API (`/v1/settlements/{id}/statement`) and by the finance view alike.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from sqlalchemy import Engine

from api.core.contract import mask_id_number
from api.db.engine import read_session
from api.db.tables import Hospital, Person
from api.services.receivables import receivable_of_settlement
from api.services.settlements import Stored
from settlement.chinese import NAMES_ZH
from settlement.model import Filing, Group
from settlement.result import Settlement

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


RECEIVABLE_STATUS_LABELS = {"open": "还款中", "paid": "已还清", "cancelled": "已作废"}
"""A pay-later agreement's status (先诊疗后付费, rules §15)."""
METHOD_LABELS = {
    "cash": "现金",
    "card": "银行卡",
    "transfer": "转账",
    "temporary_assistance": "临时救助",
}


def render_statement(engine: Engine, templates: Environment, stored: Stored) -> str:
    """The slip of a stored settlement, with its pay-later agreement when it has one."""
    document = stored.document
    with read_session(engine) as session:
        person = session.get(Person, document["person_id"])
        hospital = session.get(Hospital, document["hospital_id"])
    receivable = receivable_of_settlement(engine, document["settlement_id"])
    funds, findings = _chinese_of(document, stored.settlement)
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
        receivable=receivable,
        receivable_status=""
        if receivable is None
        else RECEIVABLE_STATUS_LABELS[receivable["status"]],
        method_labels=METHOD_LABELS,
    )


def _chinese_of(
    document: dict[str, Any], settlement: Settlement
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The document's funds with the Chinese explanation lines they were stored with (the
    stored English where none was kept), and its findings with their Chinese messages."""
    funds = [
        {**fund, "explanation": list(step.explanation_zh)}
        for fund, step in zip(document["funds"], settlement.funds, strict=True)
    ]
    findings = [
        {
            **finding,
            "action": ACTION_LABELS.get(finding["action"], finding["action"]),
            "message": stored.message_zh or finding["message"],
        }
        for finding, stored in zip(document["findings"], settlement.findings, strict=True)
    ]
    return funds, findings
