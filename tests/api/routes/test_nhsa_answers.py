"""POST /v1/nhsa's answers read the way public HIS code reads the platform's (issue 19, section
6), on both databases.

Hospital systems bind the platform's answers to typed models: C# classes with non-nullable
`decimal` (newtouch-cloud/openhis `WinServiceAPI/YiBaoInterface/Models/Output/Output_1101.cs`:
`decimal balc`, `decimal age`; binzhe12123/Medical `SY.Com.Medical.Model/SYB/YBJS/JS2207.cs`:
`decimal crt_payb_lmt_amt`, `ZJ2204.cs`: `decimal pric_uplmt_amt`, `JBXX/RY1101.cs`: `DateTime
endtime`), Java that runs `new BigDecimal(text)` over every amount (S-117-John/nhis-web
`pro/zsba/compay/ins/qgyb/service/InsQgybStService.java`), and fastjson that takes the HIS's own
fee id back out of 2301's `memo` with `UUID.fromString`. `CLIENT_TYPES` is the field → type
table of those models; every answer of a whole stay must bind to it. Besides: the memo echoed,
the findings in `warn_msg`, the envelope's formats, `pric` against its cap, and `oth_pay` with
the health fund.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from examples import his_client
from tests.support.nhsa import His, envelope, exact
from tests.support.world import World, id_number

MONEY, RATE, COUNT, PRICE = "16,2", "5,4", "16,4", "16,6"
"""The platform's 数值型 lengths: the decimals a field is written with (16,2: two)."""
DECIMALS = {MONEY: 2, RATE: 4, COUNT: 4, PRICE: 6}
TEXT, NUMBER, TIME, DATE, ARRAY = "字符型", "数值型", "日期时间型", "日期型", "array"

_SETLINFO_MONEY = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
    "act_pay_dedc", "hifp_pay", "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay",
    "maf_pay", "hosp_part_amt", "oth_pay", "fund_pay_sumamt", "psn_part_amt", "acct_pay",
    "psn_cash_pay", "balc", "acct_mulaid_pay",
)  # fmt: skip
CLIENT_TYPES: dict[str, dict[str, str]] = {
    "envelope": {
        "infcode": NUMBER, "inf_refmsgid": TEXT, "refmsg_time": TEXT, "respond_time": TEXT,
        "err_msg": TEXT, "warn_msg": TEXT,
    },
    "baseinfo": {
        "psn_no": TEXT, "psn_cert_type": TEXT, "certno": TEXT, "psn_name": TEXT, "gend": TEXT,
        "brdy": DATE, "age": NUMBER, "insuplc_admdvs": TEXT,
    },
    "insuinfo": {
        "balc": MONEY, "insutype": TEXT, "psn_type": TEXT, "cvlserv_flag": TEXT,
        "insuplc_admdvs": TEXT,
    },
    "idetinfo": {"psn_idet_type": TEXT, "begntime": TIME, "endtime": TIME},
    "result2401": {"mdtrt_id": TEXT, "psn_no": TEXT, "ipt_otp_no": TEXT},
    "result2301": {
        "feedetl_sn": TEXT, "det_item_fee_sumamt": MONEY, "cnt": COUNT, "pric": PRICE,
        "pric_uplmt_amt": PRICE, "selfpay_prop": RATE, "fulamt_ownpay_amt": MONEY,
        "overlmt_amt": MONEY, "preselfpay_amt": MONEY, "inscp_scp_amt": MONEY,
        "chrgitm_lv": TEXT, "med_chrgitm_type": TEXT, "memo": TEXT,
    },
    "setlinfo": {
        "mdtrt_id": TEXT, "psn_no": TEXT, "psn_name": TEXT, "psn_cert_type": TEXT,
        "certno": TEXT, "gend": TEXT, "brdy": DATE, "age": NUMBER, "insutype": TEXT,
        "psn_type": TEXT, "cvlserv_flag": TEXT, "setl_time": TIME, "med_type": TEXT,
        **dict.fromkeys(_SETLINFO_MONEY, MONEY), "pool_prop_selfpay": RATE,
        "medins_setl_id": TEXT, "clr_optins": TEXT, "clr_way": TEXT, "clr_type": TEXT,
    },
    "setldetail": {
        "fund_pay_type": TEXT, "inscp_scp_amt": MONEY, "crt_payb_lmt_amt": MONEY,
        "fund_payamt": MONEY, "fund_pay_type_name": TEXT, "setl_proc_info": TEXT,
    },
}  # fmt: skip
"""Each answer field the public clients' models declare → its type there (the platform's
data dictionary: 字符型 a string, 数值型 16,2 a decimal of two decimals, …). A client binding
an answer to these models fails on a null, a missing field, an amount that is not a number,
or a number where it declares a string."""
FORMATS = {
    TIME: re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"),
    DATE: re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
}


def bound(model: str, document: Any, place: str = "") -> list[str]:
    """What fails when `document` is bound to the clients' `model`: every field it declares
    present, not null, of its type (an amount a JSON number of exactly its decimals, read by
    `Decimal(text)`; an id or code a string; a time in the platform's format)."""
    assert isinstance(document, dict), (place, document)
    problems = []
    for name, kind in CLIENT_TYPES[model].items():
        where = f"{place}.{name}".lstrip(".")
        value = document.get(name)
        if value is None:
            problems.append(f"{where} is {'null' if name in document else 'missing'}")
        elif kind in DECIMALS:
            written = Decimal(str(value)) if isinstance(value, Decimal) else None
            if written is None or written.as_tuple().exponent != -DECIMALS[kind]:
                problems.append(f"{where} {value!r} is not a {kind} number")
        elif kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                problems.append(f"{where} {value!r} is not a number")
        elif not isinstance(value, str) or (kind in FORMATS and not FORMATS[kind].fullmatch(value)):
            problems.append(f"{where} {value!r} is not a {kind}")
    return problems


def bound_rows(model: str, rows: Any, place: str) -> list[str]:
    assert isinstance(rows, list), f"{place} is not an array: {rows!r}"
    return [p for i, row in enumerate(rows) for p in bound(model, row, f"{place}[{i}]")]


def his_of(world: World, level: int = 3) -> His:
    return His(world, world.hospitals[level], world.hospital_headers(level))


def answered(his: His, infno: str, data: dict[str, Any]) -> dict[str, Any]:
    """Send one message; its whole answer (infcode 0), the envelope bound to the clients'."""
    answer = his.call(infno, data)
    assert answer["infcode"] == 0, answer["err_msg"]
    assert bound("envelope", answer) == []
    assert his_client.strict_problems(answer) == []  # the reference client reads it too
    return dict(answer)


def registered(world: World, name: str, statuses: list[dict[str, Any]]) -> str:
    """A person of this test alone, with an ID number no other test registers (1101 finds a
    person by it), insured in 220000; their person_id (`world.id_numbers` has the number)."""
    serial = int(world.tag, 16) % 10**7
    number = id_number(f"22{serial // 1000:04d}19700101{serial % 1000:03d}")
    person_id = f"P{world.tag}{name}"
    put = world.client.put(
        f"/v1/persons/{person_id}",
        json={"name": "王五", "id_number": number, "birth_date": "1970-01-01",
              "gender": "male", "insured_region": "220000", "statuses": statuses},
        headers=world.auth(world.keys.admin),
    )  # fmt: skip
    assert put.status_code == 201, put.text
    world.id_numbers[person_id] = number
    return person_id


DIBAO = [{"group": "dibao", "valid_from": "2017-01-01", "valid_to": None}]


def settlement_ref(claim: dict[str, Any], mdtrt_id: str, setl_id: str) -> dict[str, Any]:
    return {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": claim["person_id"]}}


# ---------------------------------------------------------------- a whole stay, bound


def test_a_whole_stay_binds_to_the_public_clients_models(world: World) -> None:
    """e2 for a dibao patient: critical illness (no cap for dibao) and charity (no cap) pay, and
    the bill has lines with no price cap. Every answer binds to the clients' models."""
    his = his_of(world)
    claim = {**world.claim("e2"), "person_id": registered(world, "D", DIBAO)}
    card = {
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": world.id_numbers[claim["person_id"]],
        "psn_name": "王五",
    }
    person = answered(his, "1101", {"data": card})
    people = person["output"]
    assert bound("baseinfo", people["baseinfo"]) == []
    assert bound_rows("insuinfo", people["insuinfo"], "insuinfo") == []
    assert bound_rows("idetinfo", people["idetinfo"], "idetinfo") == []
    mdtrt_id = his.admit(claim)
    uploaded = answered(his, "2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    assert bound_rows("result2301", uploaded["output"]["result"], "result") == []
    his.discharge(claim, mdtrt_id)
    settle = his.settle_data(claim, mdtrt_id)
    answers = {infno: answered(his, infno, settle)["output"] for infno in ("2303", "2304")}
    setl_id = answers["2304"]["setlinfo"]["setl_id"]
    answers["5203"] = answered(his, "5203", settlement_ref(claim, mdtrt_id, setl_id))["output"]
    answers["2305"] = answered(his, "2305", settlement_ref(claim, mdtrt_id, setl_id))["output"]
    for infno, output in answers.items():
        assert bound("setlinfo", output["setlinfo"], f"{infno} setlinfo") == []
        assert bound_rows("setldetail", output["setldetail"], f"{infno} setldetail") == []
    # The uncapped funds paid, and answer their base as this claim's limit.
    rows = {row["fund_pay_type"]: row for row in answers["2304"]["setldetail"]}
    assert {"390200", "999997"} <= set(rows), rows
    for code in ("390200", "999997"):
        assert rows[code]["crt_payb_lmt_amt"] == rows[code]["inscp_scp_amt"], rows[code]
    # The capped ones the cap left before the claim, as the ledger's own document says.
    stored = world.client.get(f"/v1/settlements/{setl_id}", headers=his.headers).json()
    for fund in stored["funds"]:
        if fund["cap_remaining"] is not None and fund["fund_code"] in rows:
            assert rows[fund["fund_code"]]["crt_payb_lmt_amt"] == Decimal(fund["cap_remaining"])


# ---------------------------------------------------------------- 2301: memo and warn_msg


def test_2301_echoes_each_lines_own_memo_even_a_uuid_and_a_repeated_lines(world: World) -> None:
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    lines = his.fee_lines(claim, mdtrt_id)
    fee_ids = [str(uuid.uuid4()) for _ in lines]
    sent = [{**line, "memo": fee_id} for line, fee_id in zip(lines, fee_ids, strict=True)]
    sent[-1].pop("memo")  # a line sent without one answers an empty memo
    result = answered(his, "2301", {"feedetail": sent})["output"]["result"]
    assert [row["memo"] for row in result] == [*fee_ids[:-1], ""]
    # fastjson's client finds its fee by the memo: UUID.fromString(memo).
    assert [uuid.UUID(row["memo"]) for row in result[:-1]] == [uuid.UUID(i) for i in fee_ids[:-1]]
    # A line uploaded already, sent again (a HIS resending after a lost answer, its fee id
    # re-issued): answered as it stands, with the memo sent now.
    again = {**lines[0], "memo": "HIS-FEE-0001-RETRY"}
    result = answered(his, "2301", {"feedetail": [again]})["output"]["result"]
    assert [(row["feedetl_sn"], row["memo"]) for row in result] == [
        (lines[0]["feedetl_sn"], "HIS-FEE-0001-RETRY")
    ]
    # The platform's 500 characters at most, one line of text: named when longer.
    too_long = his.call("2301", {"feedetail": [{**lines[1], "memo": "备" * 501}]})
    assert too_long["infcode"] == -1
    problem = "input.feedetail[0].memo: String should have at most 500 characters"
    assert problem in too_long["err_msg"]


def test_rule_findings_and_refund_notes_are_in_warn_msg_naming_each_line(world: World) -> None:
    his = his_of(world)
    claim = world.claim("r1", person="male")
    mdtrt_id = his.admit(claim)
    lines = [
        {**line, "memo": f"fee-{line['feedetl_sn']}"} for line in his.fee_lines(claim, mdtrt_id)
    ]
    answer = answered(his, "2301", {"feedetail": lines})
    # r1 breaks rules of section 14 (as of the day of the upload): each finding is in warn_msg,
    # named by the line it is about; the memo stays the HIS's own.
    as_of = {**claim, "discharge_date": claim["admission_date"]}
    preview = world.client.post("/v1/settlements/preview", json=as_of, headers=his.headers)
    findings = preview.json()["findings"]
    assert findings
    for finding in findings:
        said = f"feedetl_sn F{finding['line_no']:04d}: {finding['rule']} "
        assert said in answer["warn_msg"], (said, answer["warn_msg"])
    assert [row["memo"] for row in answer["output"]["result"]] == [
        f"fee-{line['feedetl_sn']}" for line in lines
    ]
    # A refund's note names the refund and the line it refunds.
    refund = {**lines[5], "feedetl_sn": "R0006", "cnt": Decimal("-10"), "memo": "",
              "det_item_fee_sumamt": Decimal("-35.00"), "init_feedetl_sn": "F0006"}  # fmt: skip
    answer = answered(his, "2301", {"feedetail": [refund]})
    assert "feedetl_sn R0006: 退费，冲减明细 F0006" in answer["warn_msg"]
    assert "feedetl_sn F0006: 已全部退费" in answer["warn_msg"]
    assert answer["output"]["result"][0]["memo"] == ""
    # Nothing to say is an empty warn_msg, never an absent one: answered and refused alike.
    his.discharge(claim, mdtrt_id)
    discharged = exact(his.post(his.sent[-1]), "2402")  # that 2402's answer, as kept
    assert (discharged["infcode"], discharged["warn_msg"]) == (0, "")
    refused = his.call("2301", {"feedetail": [{**lines[0], "cnt": "x"}]})
    assert (refused["infcode"], refused["warn_msg"]) == (-1, "")


def test_a_line_with_a_price_cap_answers_its_price_and_its_cap_apart(world: World) -> None:
    """e2's M0001 is billed at 1800.00 against the catalog's cap of 1500.00: `pric` is the
    price sent, `pric_uplmt_amt` the cap, and the difference is over the cap. C0001 has no
    cap: its limit is its own price."""
    his = his_of(world)
    claim = world.claim("e2")
    mdtrt_id = his.admit(claim)
    response = his.post(
        envelope(his.hospital_id, "2301", {"feedetail": his.fee_lines(claim, mdtrt_id)})
    )
    rows = {row["feedetl_sn"]: row for row in exact(response, "2301")["output"]["result"]}
    codes = {f"F{item['line_no']:04d}": item["item_code"] for item in claim["items"]}
    capped = rows[next(sn for sn, code in codes.items() if code == "M0001")]
    assert (capped["pric"], capped["pric_uplmt_amt"]) == (Decimal("1800"), Decimal("1500"))
    assert capped["overlmt_amt"] == (Decimal("1800") - Decimal("1500")) * capped["cnt"]
    uncapped = rows[next(sn for sn, code in codes.items() if code == "C0001")]
    assert uncapped["pric_uplmt_amt"] == uncapped["pric"] == Decimal("388")
    assert uncapped["overlmt_amt"] == 0
    # Written with the platform's decimals: pric 16,6, cnt 16,4.
    assert b'"pric":1800.000000,"pric_uplmt_amt":1500.000000' in response.content
    assert b'"cnt":2.0000,' in response.content


# ---------------------------------------------------------------- 1101


def test_1101_answers_the_fields_clients_require(world: World) -> None:
    """insuinfo carries cvlserv_flag and balc (both declared non-nullable by the clients), an
    open-ended status ends on 9999-12-31 (a DateTime reads it, not null), and every array is
    present, an empty one too."""
    his = his_of(world)
    closed = {"group": "registered_poor", "valid_from": "2016-01-01", "valid_to": "2016-12-31"}
    person_id = registered(world, "ID", [closed, *DIBAO])
    query = {
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": world.id_numbers[person_id],
        "psn_name": "王五",
    }
    response = his.post(envelope(his.hospital_id, "1101", {"data": query}))
    output = exact(response, "1101")["output"]
    assert bound_rows("insuinfo", output["insuinfo"], "insuinfo") == []
    assert bound_rows("idetinfo", output["idetinfo"], "idetinfo") == []
    assert (output["insuinfo"][0]["cvlserv_flag"], output["insuinfo"][0]["balc"]) == ("0", 0)
    assert b'"balc":0.00' in response.content
    assert [status["endtime"] for status in output["idetinfo"]] == [
        "2016-12-31 23:59:59",
        "9999-12-31 23:59:59",
    ]
    # No status at all: an empty array, present.
    admin = world.auth(world.keys.admin)
    person = world.client.get(f"/v1/persons/{person_id}", headers=admin).json()
    kept = ("name", "birth_date", "gender", "insured_region")
    put = world.client.put(
        f"/v1/persons/{person_id}",
        json={**{name: person[name] for name in kept}, "id_number": query["mdtrt_cert_no"],
              "statuses": []},
        headers=admin,
    )  # fmt: skip
    assert put.status_code in (200, 201), put.text
    response = his.post(envelope(his.hospital_id, "1101", {"data": query}))
    assert exact(response, "1101")["output"]["idetinfo"] == []
    assert b'"idetinfo":[]' in response.content


# ---------------------------------------------------------------- the envelope


ANSWERED_ENVELOPE = re.compile(
    rb'\{"infcode":(0|-1),"inf_refmsgid":"([0-9]{30})","refmsg_time":"([0-9]{17})",'
    rb'"respond_time":"([0-9]{17})","err_msg":"[^"]*","warn_msg":"[^"]*","output":'
)


def test_the_envelope_is_written_in_the_platforms_formats(world: World, settings: Settings) -> None:
    his = his_of(world)
    person_id = registered(world, "ENV", [])
    query = {
        "mdtrt_cert_type": "02",
        "mdtrt_cert_no": world.id_numbers[person_id],
        "psn_name": "王五",
    }
    for body, infcode in (
        (envelope(his.hospital_id, "1101", {"data": query}), b"0"),
        (envelope(his.hospital_id, "9999", {}), b"-1"),
    ):
        response = his.post(body)
        written = ANSWERED_ENVELOPE.match(response.content)
        assert written is not None, response.content[:300]
        assert written.group(1) == infcode  # the number 0 or -1, never "0"
        refmsgid, received, responded = (part.decode() for part in written.group(2, 3, 4))
        # The answering region (a setting), the answer's second, a 10-digit serial.
        assert refmsgid[:6] == settings.nhsa_region
        assert refmsgid[6:20] == responded[:14]
        assert received <= responded
    # Raw UTF-8: the person's Chinese name as its own bytes, no \\u escape anywhere.
    named = his.post(envelope(his.hospital_id, "1101", {"data": query}))
    assert "王五".encode() in named.content
    assert b"\\u" not in named.content


@pytest.fixture
def regional_his(world: World, settings: Settings) -> Iterator[His]:
    """The world's level-3 hospital talking to a second service over the same database that
    answers as region 220000 (`ONESTOP_NHSA_REGION`)."""
    regional = Settings(
        database_url=settings.database_url, key_cache_seconds=0, nhsa_region="220000"
    )
    with TestClient(create_app(regional)) as client:
        his = his_of(world)
        yield His(World(**{**world.__dict__, "client": client}), his.hospital_id, his.headers)


def test_the_answering_region_is_the_configured_one(regional_his: His) -> None:
    answer = regional_his.call("9999", {})
    assert answer["inf_refmsgid"].startswith("220000")
    assert answer["inf_refmsgid"][6:20] == answer["respond_time"][:14]


# ---------------------------------------------------------------- oth_pay and the health fund


def test_oth_pay_includes_what_the_health_fund_paid(world: World) -> None:
    """h1: a 2019 stay of a registered-poor patient at a level-2 hospital, which the health
    fund (610103) tops up. setlinfo's oth_pay is charity and the health fund together."""
    his = his_of(world, level=2)
    claim = world.claim("h1", level=2, person="registered_poor")
    mdtrt_id = his.stay(claim)
    output = answered(his, "2304", his.settle_data(claim, mdtrt_id))["output"]
    paid = {row["fund_pay_type"]: row["fund_payamt"] for row in output["setldetail"]}
    assert paid.get("610103", 0) > 0, paid
    setlinfo = output["setlinfo"]
    assert setlinfo["oth_pay"] == paid.get("999997", 0) + paid["610103"]
    assert setlinfo["fund_pay_sumamt"] == sum(paid.values())
    assert bound("setlinfo", setlinfo) == []


def test_the_reference_client_stops_at_an_answer_a_strict_client_cannot_bind() -> None:
    row: dict[str, Any] = {
        "fund_pay_type": "999997", "crt_payb_lmt_amt": Decimal("1.00"),
        "fund_payamt": Decimal("1.00"),
    }  # fmt: skip
    answer = {
        "infcode": 0, "inf_refmsgid": "220000201803121000000123456789",
        "refmsg_time": "20180312100000123", "respond_time": "20180312100000125",
        "err_msg": "", "warn_msg": "", "output": {"setldetail": [row]},
    }  # fmt: skip
    assert his_client.strict_problems(answer) == []
    for value, problem in (
        (None, "output.setldetail[0].crt_payb_lmt_amt None is not a number of 2 decimals"),
        (1, "output.setldetail[0].crt_payb_lmt_amt 1 is not a number of 2 decimals"),
        ("", "output.setldetail[0].crt_payb_lmt_amt '' is not a number of 2 decimals"),
    ):
        row["crt_payb_lmt_amt"] = value
        assert his_client.strict_problems(answer) == [problem]
    row["crt_payb_lmt_amt"], row["fund_pay_type"] = Decimal("1.00"), 999997
    assert his_client.strict_problems(answer) == [
        "output.setldetail[0].fund_pay_type 999997 is not a string"
    ]
    answer["respond_time"] = "2018-03-12 10:00:00.125"
    assert his_client.strict_problems(answer)[0].startswith("respond_time")
