"""The load test's NHSA user (`loadtests.nhsa`, sent by `NhsaHospitalSystem` of the locustfile):
its stays, made from the generator's claims of the seeded population, settle through
`POST /v1/nhsa` on both backends and pass every check; the same settlement read back through
`GET /v1/settlements/{setl_id}` passes the bill's checks; and the checks fail on tampered
answers, refused messages and numbers that are not exact."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.db.engine import make_engine
from api.main import create_app
from api.services.demo import seed_population
from loadtests.claims import (
    DEFAULT_MIX,
    bill_problems,
    claim_json,
    generate,
    hospital_keys,
    read_keys,
)
from loadtests.generate import Mix
from loadtests.nhsa import (
    NHSA_PATH,
    Check,
    NhsaStay,
    Send,
    answer_problems,
    dumps,
    loads,
    nhsa_users,
    run_stay,
    upload_check,
)
from tests.support.db import migrated_database

PERSONS = 2_000
HOSPITALS = 10
"""LH0000…LH0009: every level, LH0004 and LH0007 in 210000, the rest in 220000."""


@dataclass
class Service:
    client: TestClient
    keys: dict[str, str]
    answers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(infno, output) of every right answer, in order."""

    def send_as(self, key: str, problems: list[str] | None = None) -> Send:
        """A `Send` over the test client: asserts a right answer, or with `problems` collects
        what was wrong instead."""

        def send(infno: str, body: bytes, check: Check) -> dict[str, Any] | None:
            response = self.client.post(
                NHSA_PATH, content=body,
                headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
            )  # fmt: skip
            output, found = answer_problems(response.status_code, response.content, check, infno)
            if problems is None:
                assert found == [], (infno, found)
            elif found:
                problems.extend(found)
                return None
            assert output is not None
            self.answers.append((infno, output))
            return output

        return send

    def stay(
        self, hospital_id: str, seed: int, *, lines: int | None, mix: Mix = DEFAULT_MIX
    ) -> NhsaStay:
        rng = random.Random(seed)
        generated = generate(
            rng, claim_id=f"N{seed}", hospital_id=hospital_id, persons=PERSONS, lines=lines,
            mix=mix,
        )  # fmt: skip
        return NhsaStay.of(generated, claim_json(generated.claim))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service over a fresh database with the load test's seeded population and keys."""
    folder = tmp_path_factory.mktemp("nhsa-user")
    with migrated_database(request.param, folder / "nhsa.db", "onestop_nhsa_user") as url:
        settings = Settings(database_url=url, key_cache_seconds=0, lock_wait_ms=5_000)
        engine = make_engine(settings)
        seed_population(engine, PERSONS, HOSPITALS, folder / "keys.env")
        engine.dispose()
        keys = hospital_keys(read_keys(folder / "keys.env"))
        with TestClient(create_app(settings)) as client:
            yield Service(client, keys)


def _settled(service: Service, stay: NhsaStay) -> dict[str, Any]:
    output = run_stay(stay, service.send_as(service.keys[stay.hospital_id]))
    assert output is not None
    return output


MIXES = {
    "load test's": DEFAULT_MIX,
    "rules broken": Mix(rule_breaking_percent=100, cross_region_percent=0),
    "cross-region": Mix(cross_region_percent=100),
}


@pytest.mark.parametrize("mix", MIXES.values(), ids=MIXES.keys())
def test_the_nhsa_users_stays_settle_with_every_check_passed(service: Service, mix: Mix) -> None:
    """Stays at hospitals of both regions and all levels, skewed and one-line bills: every
    answer right (2401 → 2301 in two messages → 2402 → 2304), and the settlement the same as
    the settlement route answers it, bill checks and all."""
    kinds = {"filing": 0, "findings": 0, "health fund": 0, "one message": 0}
    for index, hospital_id in enumerate(("LH0000", "LH0001", "LH0004", "LH0005", "LH0007") * 2):
        stay = service.stay(
            hospital_id, 100 * index + 7, lines=1 if index % 5 == 3 else None, mix=mix
        )
        sent = len(service.answers)
        output = _settled(service, stay)
        infnos = [infno for infno, _ in service.answers[sent:]]
        uploads = len(stay.batches())
        assert infnos == ["2401", *["2301"] * uploads, "2402", "2304"]
        kinds["one message"] += uploads == 1
        info = output["setlinfo"]
        response = service.client.get(
            f"/v1/settlements/{info['setl_id']}",
            headers={"Authorization": f"Bearer {service.keys[hospital_id]}"},
        )
        assert response.status_code == 200, response.text
        bill = response.json()
        assert bill["claim_id"] == stay.mdtrt_id
        assert bill_problems(stay.claim, bill) == []
        totals = bill["totals"]
        assert (
            Decimal(totals["total"]), Decimal(totals["fund_total"]), Decimal(totals["patient_pay"])
        ) == (info["medfee_sumamt"], info["fund_pay_sumamt"], info["psn_cash_pay"])  # fmt: skip
        assert Decimal(totals["health_fund"]) + Decimal(totals["charity"]) == info["oth_pay"]
        kinds["filing"] += bill["filing"] is not None
        kinds["findings"] += bool(bill["findings"])
        kinds["health fund"] += Decimal(totals["health_fund"]) > 0
    assert kinds["one message"] == 2
    if mix.cross_region_percent == 100:
        assert kinds["filing"] >= 4  # the stays at the 210000 hospitals are of 220000 persons
    if mix.rule_breaking_percent == 100:
        assert kinds["findings"] >= 5


def test_a_stay_of_another_hospital_or_settled_twice_is_reported(service: Service) -> None:
    """A message of another hospital than the key's is answered infcode -1, and so is a
    second settlement of a settled encounter's fee lines: both reported, nothing more sent."""
    stay = service.stay("LH0002", 11, lines=5)
    problems: list[str] = []
    assert run_stay(stay, service.send_as(service.keys["LH0003"], problems)) is None
    assert len(problems) == 1
    assert problems[0].startswith("infcode -1: fixmedins_code: LH0002 is not this key's hospital")
    _settled(service, stay)
    again: list[str] = []
    day, items = stay.batches()[0]
    send = service.send_as(service.keys["LH0002"], again)
    assert send("2301", stay.upload(day, items), upload_check(items)) is None
    assert "is settled" in again[0], again


def test_the_settlement_check_finds_every_fen_out_of_place(service: Service) -> None:
    stay = service.stay("LH0001", 12, lines=20, mix=Mix(cross_region_percent=0))
    output = _settled(service, stay)
    assert stay.settlement_problems(output) == []
    info = output["setlinfo"]
    paying = [row["fund_pay_type"] for row in output["setldetail"]]
    assert "390100" in paying, paying

    def problems_with(change: Any) -> list[str]:
        tampered = copy.deepcopy(output)
        change(tampered["setlinfo"], tampered["setldetail"])
        return stay.settlement_problems(tampered)

    fen = Decimal("0.01")

    def more(name: str) -> Any:
        return lambda info, _: info.update({name: info[name] + fen})

    assert "medfee_sumamt ≠ fund_pay_sumamt + psn_cash_pay" in problems_with(more("psn_cash_pay"))
    assert "fund_pay_sumamt ≠ hifp_pay + hifmi_pay + maf_pay + oth_pay" in problems_with(
        more("hifp_pay")
    )
    assert f"medfee_sumamt {info['medfee_sumamt'] + fen} ≠ the claim's lines {stay.total}" in (
        problems_with(more("medfee_sumamt"))
    )
    assert "psn_part_amt ≠ psn_cash_pay" in problems_with(more("psn_part_amt"))
    assert "medfee_sumamt ≠ fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + " in (
        " ".join(problems_with(more("inscp_scp_amt")))
    )

    def detail_fen(_: Any, detail: list[dict[str, Any]]) -> None:
        detail[0]["fund_payamt"] += fen

    assert "fund_pay_sumamt ≠ the sum of setldetail's fund_payamt" in problems_with(detail_fen)
    assert problems_with(lambda _, detail: detail.append(dict(detail[0]))) == [
        f"setldetail: a fund twice ({[*paying, paying[0]]})"
    ]
    assert problems_with(lambda info, _: info.update(hifp_pay=float(info["hifp_pay"]))) == [
        f"setlinfo: hifp_pay {float(info['hifp_pay'])!r} is not a JSON number"
    ]
    assert problems_with(lambda info, _: info.update(hifp_pay=str(info["hifp_pay"]))) == [
        f"setlinfo: hifp_pay {str(info['hifp_pay'])!r} is not a JSON number"
    ]
    assert problems_with(lambda info, _: info.update(hifp_pay=Decimal("1.005"))) == [
        "setlinfo: hifp_pay 1.005 is not an amount of 2 decimals"
    ]
    assert problems_with(lambda info, _: info.pop("setl_id")) == ["2304: no setl_id"]


def test_the_upload_check_finds_a_line_whose_split_does_not_add_up(service: Service) -> None:
    stay = service.stay("LH0000", 13, lines=4)
    sent = len(service.answers)
    _settled(service, stay)
    _, items = stay.batches()[0]
    output = next(output for infno, output in service.answers[sent:] if infno == "2301")
    check = upload_check(items)
    assert check(output) == []
    tampered = copy.deepcopy(output)
    tampered["result"][0]["inscp_scp_amt"] += Decimal("0.01")
    sn = tampered["result"][0]["feedetl_sn"]
    assert check(tampered) == [
        f"2301 {sn}: amount ≠ fulamt_ownpay_amt + overlmt_amt + preselfpay_amt + inscp_scp_amt"
    ]
    assert check({"result": tampered["result"][1:]}) == ["2301: the rows are not the lines sent"]


def test_an_answer_that_is_not_a_right_envelope_is_a_problem() -> None:
    def fine(_: dict[str, Any]) -> list[str]:
        return []

    assert answer_problems(401, b'{"title": "no key"}', fine)[1] == [
        """HTTP 401, expected 200: b'{"title": "no key"}'"""
    ]
    assert answer_problems(200, b"<html>", fine)[1] == ["the answer is not JSON: b'<html>'"]
    head = (
        b'{"infcode": %s, "inf_refmsgid": "000000201803121000000123456789", '
        b'"refmsg_time": "20180312100000123", "respond_time": "20180312100000125", '
        b'"err_msg": "%s", "warn_msg": "", "output": %s}'
    )
    refused = head % (b"-1", b"msgid: used", b"{}")
    assert answer_problems(200, refused, fine)[1] == ["infcode -1: msgid: used"]
    answered = head % (b"0", b"", b'{"fund_payamt": 1.10}')
    assert answer_problems(200, answered, fine) == ({"fund_payamt": Decimal("1.10")}, [])


def test_an_answer_a_strict_his_client_cannot_bind_is_a_problem() -> None:
    """Read as public HIS code reads the platform's answers (issue 19, section 6): a null, an
    amount that is not a number of two decimals, a number where an id belongs, a missing
    array, a time in another format, a \\u escape."""

    def fine(_: dict[str, Any]) -> list[str]:
        return []

    def problems(output: bytes, infno: str = "2304", **envelope: bytes) -> list[str]:
        fields = {
            b"infcode": b"0", b"inf_refmsgid": b'"000000201803121000000123456789"',
            b"refmsg_time": b'"20180312100000123"', b"respond_time": b'"20180312100000125"',
            b"err_msg": b'""', b"warn_msg": b'""', b"output": output,
            **{name.encode(): value for name, value in envelope.items()},
        }  # fmt: skip
        body = b"{" + b",".join(b'"%s":%s' % pair for pair in fields.items()) + b"}"
        return answer_problems(200, body, fine, infno)[1]

    detail = b'"setldetail": []'
    assert problems(b'{"setlinfo": {"medfee_sumamt": 12.50}, %s}' % detail) == []
    assert problems(b'{"setlinfo": {"medfee_sumamt": null}, %s}' % detail) == [
        "output.setlinfo.medfee_sumamt is null"
    ]
    assert problems(b'{"setlinfo": {"medfee_sumamt": 12.5}, %s}' % detail) == [
        "output.setlinfo.medfee_sumamt Decimal('12.5') is not a number of 2 decimals"
    ]
    assert problems(b'{"setlinfo": {"medfee_sumamt": "12.50"}, %s}' % detail) == [
        "output.setlinfo.medfee_sumamt '12.50' is not a number of 2 decimals"
    ]
    assert problems(b'{"setlinfo": {"psn_no": 7}, %s}' % detail) == [
        "output.setlinfo.psn_no 7 is not a string"
    ]
    assert problems(b'{"setlinfo": {}}') == ["output.setldetail is not an array"]
    assert problems(b'{"setlinfo": {"setl_time": "2018-03-12T10:00:00"}, %s}' % detail) == [
        "output.setlinfo.setl_time '2018-03-12T10:00:00' is not a time as the platform writes it"
    ]
    assert problems(b'{"result": [{"pric": 3.5}]}', "2301") == [
        "output.result[0].pric Decimal('3.5') is not a number of 6 decimals"
    ]
    assert problems(b"{}", "1101", respond_time=b'"2018-03-12 10:00:00.125"') == [
        "respond_time '2018-03-12 10:00:00.125' is not the platform's format",
        "output.insuinfo is not an array",
        "output.idetinfo is not an array",
    ]
    assert problems(b"{}", "2402", infcode=b'"0"', warn_msg=b"null") == [
        "warn_msg None is not a string",
        "infcode '0' is not the number 0 or -1",
        "infcode '0' is not an integer",
        "warn_msg is null",
    ]
    assert problems(b'{"psn_name": "\\u738b"}', "2402") == ["the answer has a \\u escape"]
    assert problems(b'{"psn_name": "C:\\\\users"}', "2402") == []


def test_messages_carry_exact_numbers_and_never_a_float() -> None:
    document = {"a": Decimal("24100.00"), "b": [Decimal("0.3333"), 1], "c": "1.5"}
    assert dumps(document) == b'{"a":24100.00,"b":[0.3333,1],"c":"1.5"}'
    assert loads(dumps(document)) == document
    assert str(loads(dumps(document))["a"]) == "24100.00"
    with pytest.raises(TypeError):
        dumps({"a": Decimal("NaN")})


def test_a_stays_messages_are_the_platforms() -> None:
    """msgids of 30 alphanumerics, unique; the filing in 2401 only for a cross-region stay; the
    envelope naming the treatment and the insured region; an ipt_no of its own for each stay
    (the service admits an ipt_no once per hospital)."""
    for index in range(40):
        rng = random.Random(index)
        generated = generate(rng, claim_id=f"M{index}", hospital_id="LH0004", persons=PERSONS,
                             lines=3)  # fmt: skip
        stay = NhsaStay.of(generated, claim_json(generated.claim))
        admission = loads(stay.admission())
        assert len(admission["msgid"]) == 30
        assert admission["msgid"].isalnum()
        assert admission["fixmedins_code"] == "LH0004"
        assert admission["mdtrtarea_admvs"] == "210000"
        assert admission["insuplc_admdvs"] == generated.person.insured_region
        filing = admission["input"]["mdtrtinfo"].get("filing")
        assert (filing is not None) == generated.cross_region
    assert len({loads(stay.admission())["msgid"] for _ in range(1000)}) == 1000
    assert loads(stay.admission())["input"]["mdtrtinfo"]["ipt_no"] == stay.ipt_no
    again = NhsaStay.of(generated, claim_json(generated.claim))
    assert again.ipt_no != stay.ipt_no  # the same claim sent twice is two stays
    assert len(stay.ipt_no) <= 30


@pytest.mark.parametrize(
    ("users", "percent", "expected"),
    [(1, 10, 0), (2, 10, 1), (4, 10, 1), (16, 10, 2), (100, 10, 10), (4, 0, 0), (4, 100, 4),
     (3, 50, 2), (10, 99, 9)],
)  # fmt: skip
def test_the_nhsa_users_share_of_the_users(users: int, percent: int, expected: int) -> None:
    assert nhsa_users(users, percent) == expected
