"""A hospital billing system's side of the national platform's interface, for the tests: the
envelope, and a whole stay (2401 → 2301 → 2402) built from a contract claim."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count
from typing import Any

from loadtests.nhsa import diseinfo, dumps, fee_line, loads, strict_problems
from tests.support.world import World

_SEQUENCE = count(1)


def msgid(hospital_id: str) -> str:
    """A fresh msgid of the platform's length: institution (12), then 18 unique characters."""
    return f"{hospital_id[:12]:0<12}{next(_SEQUENCE):014d}{secrets.token_hex(2).upper()}"


def envelope(hospital_id: str, infno: str, data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "infno": infno,
        "msgid": msgid(hospital_id),
        "mdtrtarea_admvs": "",
        "insuplc_admdvs": "",
        "recer_sys_code": "HIS",
        "infver": "V1.0",
        "opter_type": "1",
        "opter": "001",
        "opter_name": "收费员",
        "inf_time": "2018-03-12 10:00:00",
        "fixmedins_code": hospital_id,
        "fixmedins_name": "测试医院",
        "sign_no": "",
        "input": data,
    }
    body.update(changes)
    return body


def exact(response: Any, infno: str | None = None) -> Any:
    """An answer's JSON with every number an exact Decimal, read as strictly as public HIS
    code reads it (`loadtests.nhsa.strict_problems`: no null, every amount a number of its
    decimals, ids and codes strings, the output's arrays of `infno` present): a test fails on
    an answer such a client would fail on."""
    document = loads(response.content)
    problems = strict_problems(response.content, document, infno)
    assert problems == [], problems
    return document


def admission_data(
    world: World,
    claim: dict[str, Any],
    *,
    ipt_no: str = "ZY0001",
    diagnoses: list[str] | None = None,
    **mdtrtinfo: Any,
) -> dict[str, Any]:
    """A 2401's input admitting `claim`'s person on its admission day: the person's ID card as
    a HIS reads it at the admission desk, the claim's filing when it has one, `diagnoses` (the
    claim's own by default) as diseinfo, the first the main one; `mdtrtinfo` overrides."""
    return {
        "mdtrtinfo": {
            "psn_no": claim["person_id"],
            "insutype": "390",
            "begntime": f"{claim['admission_date']} 08:00:00",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": world.id_numbers.get(claim["person_id"], ""),
            "med_type": "21",
            "ipt_no": ipt_no,
            **({"filing": claim["filing"]} if claim.get("filing") else {}),
            **mdtrtinfo,
        },
        "diseinfo": diseinfo(claim["diagnoses"] if diagnoses is None else diagnoses),
    }


@dataclass
class His:
    """One hospital's billing system talking to onestop."""

    world: World
    hospital_id: str
    headers: dict[str, str]
    sent: list[dict[str, Any]] = field(default_factory=list)

    def post(self, body: dict[str, Any] | bytes) -> Any:
        """Send one body; the response. Every answer (HTTP 200) is read as strictly as a
        public HIS reads it (`exact`), so every test of the interface proves its answers."""
        infno = None
        if isinstance(body, dict):
            self.sent.append(body)
            infno = body.get("infno") if isinstance(body.get("infno"), str) else None
            body = dumps(body)
        response = self.world.client.post(
            "/v1/nhsa", content=body, headers={**self.headers, "content-type": "application/json"}
        )
        # A fault of onestop's is HTTP 500 with an envelope of infcode -1 (api.routes.nhsa), which
        # no test of the interface may take for a refusal.
        assert response.status_code != 500, response.text
        if response.status_code == 200:
            exact(response, infno)
        return response

    def call(self, infno: str, data: dict[str, Any], **changes: Any) -> Any:
        """Send one message; the answer's JSON (asserting HTTP 200)."""
        response = self.post(envelope(self.hospital_id, infno, data, **changes))
        assert response.status_code == 200, response.text
        return exact(response, infno)

    def ok(self, infno: str, data: dict[str, Any], **changes: Any) -> Any:
        answer = self.call(infno, data, **changes)
        assert answer["infcode"] == 0, answer["err_msg"]
        return answer["output"]

    def admit(self, claim: dict[str, Any], **mdtrtinfo: Any) -> str:
        data = admission_data(
            self.world,
            claim,
            **{"ipt_no": f"ZY{secrets.token_hex(4)}", "adm_diag_dscr": "入院诊断", **mdtrtinfo},
        )
        return str(self.ok("2401", data)["result"]["mdtrt_id"])

    def fee_lines(self, claim: dict[str, Any], mdtrt_id: str) -> list[dict[str, Any]]:
        """The claim's items as 2301 lines, all charged on the day of admission."""
        return [
            fee_line(item, mdtrt_id, claim["person_id"], claim["admission_date"])
            for item in claim["items"]
        ]

    def discharge(self, claim: dict[str, Any], mdtrt_id: str) -> Any:
        return self.ok(
            "2402",
            {
                "dscginfo": {
                    "mdtrt_id": mdtrt_id,
                    "psn_no": claim["person_id"],
                    "endtime": f"{claim['discharge_date']} 10:00:00",
                    "dise_codg": claim["diagnoses"][0],
                    "oprn_oprt_code": "32.2901" if claim["surgery"] else "",
                    "dscg_way": "1",
                },
                "diseinfo": diseinfo(claim["diagnoses"]),
            },
        )

    def stay(self, claim: dict[str, Any]) -> str:
        """2401, 2301 (every line), 2402: the encounter ready to settle; its mdtrt_id."""
        mdtrt_id = self.admit(claim)
        self.ok("2301", {"feedetail": self.fee_lines(claim, mdtrt_id)})
        self.discharge(claim, mdtrt_id)
        return mdtrt_id

    def settle_data(self, claim: dict[str, Any], mdtrt_id: str, **changes: Any) -> dict[str, Any]:
        return {
            "data": {
                "psn_no": claim["person_id"],
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": "",
                "medfee_sumamt": sum(Decimal(item["amount"]) for item in claim["items"]),
                "psn_setlway": "01",
                "mdtrt_id": mdtrt_id,
                "insutype": "390",
                "acct_used_flag": "0",
                "mid_setl_flag": "0",
                **changes,
            }
        }
