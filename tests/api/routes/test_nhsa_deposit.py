"""2401 answers `deposit_waived` (rules §15, 先诊疗后付费 on the admission date; API_CONTRACT.md
"after the bill"): onestop's own field beside the platform's three, written as the platform
writes a flag, "1" or "0" (a strict HIS reads no JSON boolean)."""

from __future__ import annotations

import pytest

from tests.api.routes.test_nhsa import cross_region_his, his_of
from tests.support.nhsa import admission_data
from tests.support.world import World


@pytest.mark.parametrize(
    ("person", "level", "waived"),
    [
        ("dibao", 2, True),
        ("destitute", 1, True),
        ("registered_poor", 2, True),
        ("dibao", 3, False),  # above the sample's hospital_level_max of 2
        ("none", 1, False),  # no group
    ],
)
def test_the_deposit_is_waived_for_the_sections_groups_at_county_hospitals(
    world: World, person: str, level: int, waived: bool
) -> None:
    his = his_of(world, level)
    claim = world.claim("e2", level=level, person=person)
    result = his.ok("2401", admission_data(world, claim, ipt_no=f"ZY{person}{level}"))["result"]
    assert result["deposit_waived"] == ("1" if waived else "0")
    assert set(result) == {"mdtrt_id", "psn_no", "ipt_otp_no", "deposit_waived"}


def test_a_cross_region_admission_keeps_its_deposit(world: World) -> None:
    his = cross_region_his(world)
    claim = world.claim("e2", person="dibao", filing="referral")
    claim["hospital_id"] = world.cross_region_hospital
    result = his.ok("2401", admission_data(world, claim, ipt_no="ZYX1"))["result"]
    assert result["deposit_waived"] == "0"


def test_the_group_is_the_one_on_the_admission_date(world: World) -> None:
    """A status that begins after the admission day does not waive the deposit at 2401, though
    the stay may be paid later once settled (the discharge date decides there)."""
    admin = world.auth(world.keys.admin)
    person_id = f"P{world.tag}LATE"
    registered = world.client.put(
        f"/v1/persons/{person_id}",
        json={
            "name": "晚",
            "id_number": "220102196005091236",
            "birth_date": "1960-05-09",
            "gender": "female",
            "insured_region": "220000",
            "statuses": [{"group": "dibao", "valid_from": "2018-03-05", "valid_to": None}],
        },
        headers=admin,
    )
    assert registered.status_code == 201, registered.text
    world.id_numbers[person_id] = "220102196005091236"
    his = his_of(world, 2)
    claim = {**world.claim("e2", level=2), "person_id": person_id}
    result = his.ok("2401", admission_data(world, claim, ipt_no="ZYLATE"))["result"]
    assert result["deposit_waived"] == "0"
    bill = world.client.post("/v1/settlements", json=claim, headers=world.hospital_headers(2))
    assert bill.status_code == 201, bill.text
    assert bill.json()["pay_later_eligible"] is True


def test_the_strict_reading_takes_the_flag_as_the_platform_writes_flags_only() -> None:
    """The suite's strict HIS reading (loadtests.nhsa) refuses a boolean or another word."""
    from loadtests.nhsa import strict_problems

    def problems(value: object) -> list[str]:
        answer = {
            "infcode": 0, "inf_refmsgid": "220000201803121000000123456789",
            "refmsg_time": "20180312100000123", "respond_time": "20180312100000125",
            "err_msg": "", "warn_msg": "", "output": {"result": {"deposit_waived": value}},
        }  # fmt: skip
        return strict_problems(b"{}", answer, "2401")

    assert problems("1") == problems("0") == []
    assert problems(True) == ["output.result.deposit_waived True is a boolean"]
    assert problems("yes") == [
        "output.result.deposit_waived 'yes' is not a flag as the platform writes it"
    ]
