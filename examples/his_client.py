"""A reference HIS client of onestop's national-platform interface (docs/operations.md,
"Pointing a HIS at onestop"): one whole inpatient stay, standard library only.

1101 finds the patient by resident ID card; 2401 admits; three 2301 upload the fee lines as
they occur; 2402 discharges with a lung-cancer diagnosis and surgery (charity programme for a
dibao patient); 2303 pre-settles; 2304 settles; 5203 queries the settlement; 2305 cancels it
(skip with --keep). Prints the settlement slip; exits 1 when any answer has infcode -1.
The platform's corrections on the way, each an option: --cancel-admission (2404 cancels the
admission, 2401 admits the stay again), --correct-begntime (2401 mistypes the admission a day
late, 2403 corrects it before the first fees), --cancel-discharge (2405 cancels the discharge,
2402 discharges again).

    python examples/his_client.py --key "$ONESTOP_KEY"   # against `make run`

Amounts travel as JSON numbers written and read exactly (Decimal, never a binary float), and
every answer is read as strictly as public HIS code reads the platform's (`strict_problems`):
an answer with a null, an amount that is not a number of its decimals, or an id that is not a
string stops the client, as it would stop a Java or C# client.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ATTEMPTS = 3
"""How often a message is sent when no answer comes back."""
DEMO_KEYS = Path("var/demo-keys.env")
"""Where `make run` keeps the demo keys (read when no key is given)."""
ADMISSION = date(2018, 3, 1)
"""The shipped sample tariffs are in force for 2018 and 2019 only, so the stay is in 2018."""
DISCHARGE_DAY = 11
FEES: tuple[tuple[int, tuple[tuple[str, str, str], ...]], ...] = (
    (0, (("C0001", "6", "388.00"), ("A0002", "30", "3.50"))),
    (4, (("S0002", "1", "12000.00"), ("M0001", "2", "1800.00"), ("B0002", "4", "1230.50"))),
    (DISCHARGE_DAY, (("B0001", "20", "18.75"), ("S0001", "11", "45.00"), ("S0003", "11", "25.00"))),
)
"""(day of the stay, lines (catalog code, cnt, pric)): worked example E2's bill, one 2301 a
day on which fees were charged."""
CORRECTIONS = {
    "cancel-admission": "2404 cancels the admission, then 2401 admits the stay again",
    "correct-begntime": "2401 mistypes the admission a day late; 2403 corrects it",
    "cancel-discharge": "2405 cancels the discharge, then 2402 discharges again",
}
"""The platform's corrections the client can send on the way (options; run_stay's
`corrections` names each by its option's last word: admission, begntime, discharge)."""
DIAGNOSIS = "C34.1"  # lung cancer, upper lobe: charity programme disease 1 with surgery
OPERATION = "32.2901"  # thoracoscopic lobectomy (ICD-9-CM-3)


SEQUENCE = itertools.count(secrets.randbelow(10_000))
"""msgid's 4-digit sequence, shared by the process and starting at random: a HIS keeps one per
hospital, and two runs of this client within one second must not send the same msgid (the
same msgid with another body is refused)."""


DECIMALS = {
    **dict.fromkeys(
        (
            "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
            "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "cvlserv_pay", "hifes_pay",
            "hifmi_pay", "hifob_pay", "maf_pay", "hosp_part_amt", "oth_pay", "fund_pay_sumamt",
            "psn_part_amt", "acct_pay", "psn_cash_pay", "balc", "acct_mulaid_pay",
            "crt_payb_lmt_amt", "fund_payamt", "det_item_fee_sumamt", "overlmt_amt",
        ),
        2,
    ),
    "pool_prop_selfpay": 4, "selfpay_prop": 4, "cnt": 4, "pric": 6, "pric_uplmt_amt": 6,
}  # fmt: skip
"""The decimals of each number field of the answers (the platform's 16,2, 5,4, 16,4, 16,6):
a C# client reads them into a non-nullable `decimal`, a Java one with `new BigDecimal(text)`."""
NUMBERS = frozenset({"infcode", "age", "fixmedins_setl_cnt"})
"""The other numbers; every other field is an id, a code, a time or text: a string."""
ENVELOPE = {"inf_refmsgid": r"[0-9]{30}", "refmsg_time": r"[0-9]{17}", "respond_time": r"[0-9]{17}"}


class Refused(Exception):
    """onestop answered infcode -1 (or an HTTP error): that message wrote nothing."""


class Unreadable(Exception):
    """An answer a strict HIS client cannot read (its message may have been done)."""


def strict_problems(answer: Any) -> list[str]:
    """What a strict HIS client fails on in an answer read with `parse_float=Decimal`."""
    problems = [
        f"{name} {answer.get(name)!r} is not the platform's format"
        for name, form in ENVELOPE.items()
        if not re.fullmatch(form, str(answer.get(name)))
    ]
    if answer.get("infcode") not in (0, -1) or not isinstance(answer.get("warn_msg"), str):
        problems.append("infcode is not 0 or -1, or warn_msg is missing")
    return problems + _field_problems(answer, "")


def _field_problems(value: Any, place: str) -> list[str]:
    if isinstance(value, list):
        return [p for i, each in enumerate(value) for p in _field_problems(each, f"{place}[{i}]")]
    problems = []
    for name, each in value.items() if isinstance(value, dict) else ():
        where = f"{place}.{name}".lstrip(".")
        if isinstance(each, dict | list):
            problems += _field_problems(each, where)
        elif name in DECIMALS:
            exponent = each.as_tuple().exponent if isinstance(each, Decimal) else None
            if exponent != -DECIMALS[name]:
                problems.append(f"{where} {each!r} is not a number of {DECIMALS[name]} decimals")
        elif name in NUMBERS:
            if isinstance(each, bool) or not isinstance(each, int | Decimal):
                problems.append(f"{where} {each!r} is not a number")
        elif not isinstance(each, str):
            problems.append(f"{where} {each!r} is not a string")  # null included
    return problems


def day(days: int, hour: int) -> str:
    """A time of the stay as the platform writes times (the business zone's wall clock)."""
    return f"{ADMISSION + timedelta(days=days)} {hour:02d}:00:00"


def to_json(value: Any) -> str:
    """JSON text in which every Decimal is a number with its own digits."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(each) for each in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class Platform:
    """One hospital's connection: the envelope, msgid, key and exact JSON."""

    def __init__(self, base_url: str, key: str, hospital: str) -> None:
        self.url = base_url.rstrip("/") + "/v1/nhsa"
        self.key, self.hospital = key, hospital

    def msgid(self) -> str:
        """Institution code (12) + yyyyMMddHHmmss + a 4-digit sequence: 30 characters."""
        now = datetime.now()
        return f"{self.hospital[:12]:0<12}{now:%Y%m%d%H%M%S}{next(SEQUENCE) % 10_000:04d}"

    def call(self, infno: str, data: dict[str, Any]) -> Any:
        """Send one message; its `output`, or Refused with the answer's err_msg (Unreadable
        when the answer is not as the platform writes it)."""
        envelope = {
            "infno": infno, "msgid": self.msgid(), "mdtrtarea_admvs": "", "insuplc_admdvs": "",
            "recer_sys_code": "HIS", "infver": "V1.0", "opter_type": "1", "opter": "001",
            "opter_name": "收费员", "inf_time": f"{datetime.now():%Y-%m-%d %H:%M:%S}",
            "fixmedins_code": self.hospital, "fixmedins_name": "", "sign_no": "", "input": data,
        }  # fmt: skip
        answer = self.post(infno, to_json(envelope).encode())
        problems = strict_problems(answer)
        if problems:
            raise Unreadable(f"{infno}: a strict client cannot read its answer: {problems}")
        if answer["infcode"] != 0:
            raise Refused(f"{infno} refused (infcode {answer['infcode']}): {answer['err_msg']}")
        return answer["output"]

    def post(self, infno: str, body: bytes) -> Any:
        """The answer to one message. Without an answer (connection lost, timeout) the very
        same message is sent again: its msgid makes a repeat answer the first answer."""
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        for attempt in range(1, ATTEMPTS + 1):
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers)
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read(), parse_float=Decimal)
            except urllib.error.HTTPError as error:  # 401, 403, 413, 415: no envelope
                raise Refused(f"{infno}: HTTP {error.code}: {error.read().decode()}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == ATTEMPTS:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")


def run_stay(
    base_url: str,
    key: str,
    hospital: str,
    id_number: str,
    name: str,
    keep: bool = False,
    filing: str | None = None,
    corrections: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One whole stay; every answer's output by infno (2301: a list). Raises Refused.
    `corrections` (of CORRECTIONS) sends the platform's corrections on the way."""
    his = Platform(base_url, key, hospital)
    answers: dict[str, Any] = {}
    card = {"mdtrt_cert_type": "02", "mdtrt_cert_no": id_number}
    answers["1101"] = his.call("1101", {"data": {**card, "psn_name": name}})
    psn_no = answers["1101"]["baseinfo"]["psn_no"]
    print(f"1101 person: {name} is psn_no {psn_no}")

    diseinfo = [{"diag_type": "1", "maindiag_flag": "1", "diag_srt_no": 1, "diag_code": DIAGNOSIS}]
    ipt_no = f"ZY{datetime.now():%Y%m%d%H%M%S}{secrets.token_hex(2).upper()}"  # 住院号, unique
    begntime = day(1 if "begntime" in corrections else 0, 8)  # mistyped: a day late
    mdtrtinfo = {
        "psn_no": psn_no, "insutype": "390", "begntime": begntime, **card, "med_type": "21",
        "ipt_no": ipt_no, "adm_diag_dscr": "右肺上叶占位", **({"filing": filing} if filing else {}),
    }  # fmt: skip
    answers["2401"] = his.call("2401", {"mdtrtinfo": mdtrtinfo, "diseinfo": diseinfo})
    mdtrt_id = answers["2401"]["result"]["mdtrt_id"]
    print(f"2401 admitted: mdtrt_id {mdtrt_id}")
    if "admission" in corrections:
        answers["2404"] = his.call("2404", {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no}})
        answers["2401"] = his.call("2401", {"mdtrtinfo": mdtrtinfo, "diseinfo": diseinfo})
        print(f"2404 cancelled {mdtrt_id}; 2401 admitted the stay {ipt_no} again: ", end="")
        mdtrt_id = answers["2401"]["result"]["mdtrt_id"]
        print(f"mdtrt_id {mdtrt_id}")
    if "begntime" in corrections:
        adminfo = {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "begntime": day(0, 8)}
        answers["2403"] = his.call("2403", {"adminfo": adminfo})
        print(f"2403 corrected the admission from {begntime} to {day(0, 8)}")

    answers["2301"], total, serial = [], Decimal("0.00"), itertools.count(1)
    for days, lines in FEES:
        feedetail = []
        for code, cnt, pric in lines:
            amount = (Decimal(cnt) * Decimal(pric)).quantize(Decimal("0.01"), ROUND_HALF_UP)
            total += amount
            feedetail.append({
                "feedetl_sn": f"F{next(serial):04d}", "mdtrt_id": mdtrt_id, "psn_no": psn_no,
                "med_type": "21", "fee_ocur_time": day(days, 9), "med_list_codg": code,
                "medins_list_codg": f"HIS-{code}", "det_item_fee_sumamt": amount,
                "cnt": Decimal(cnt), "pric": Decimal(pric),
            })  # fmt: skip
        answers["2301"].append(his.call("2301", {"feedetail": feedetail}))
        print(f"2301 uploaded {len(feedetail)} lines of day {days}")

    dscginfo = {
        "mdtrt_id": mdtrt_id, "psn_no": psn_no, "endtime": day(DISCHARGE_DAY, 10),
        "dise_codg": DIAGNOSIS, "oprn_oprt_code": OPERATION, "dscg_way": "1",
    }  # fmt: skip
    answers["2402"] = his.call("2402", {"dscginfo": dscginfo, "diseinfo": diseinfo})
    print("2402 discharged")
    if "discharge" in corrections:
        answers["2405"] = his.call("2405", {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no}})
        answers["2402"] = his.call("2402", {"dscginfo": dscginfo, "diseinfo": diseinfo})
        print("2405 cancelled the discharge; 2402 discharged again")

    settle = {
        "psn_no": psn_no, **card, "medfee_sumamt": total, "psn_setlway": "01",
        "mdtrt_id": mdtrt_id, "insutype": "390", "acct_used_flag": "0", "mid_setl_flag": "0",
    }  # fmt: skip
    answers["2303"] = his.call("2303", {"data": settle})
    print(f"2303 pre-settled: funds pay {answers['2303']['setlinfo']['fund_pay_sumamt']}")
    answers["2304"] = his.call("2304", {"data": settle})
    setl_id = answers["2304"]["setlinfo"]["setl_id"]
    print(f"2304 settled: setl_id {setl_id}")
    ref = {"psn_no": psn_no, "setl_id": setl_id, "mdtrt_id": mdtrt_id}
    answers["5203"] = his.call("5203", {"data": ref})
    print(f"5203 queried: medfee_sumamt {answers['5203']['setlinfo']['medfee_sumamt']}")
    if not keep:
        answers["2305"] = his.call("2305", {"data": ref})
        print(f"2305 cancelled: funds pay {answers['2305']['setlinfo']['fund_pay_sumamt']}")
    return answers


def slip(output: dict[str, Any]) -> str:
    """A settlement's setlinfo and setldetail as a readable slip (结算单), amounts first so
    that they line up whatever the width of the Chinese names."""
    info = output["setlinfo"]
    rows = [
        (info["medfee_sumamt"], "医疗费总额 medfee_sumamt"),
        *(
            (fund["fund_payamt"], f"  {fund['fund_pay_type_name']}")
            for fund in output["setldetail"]
        ),
        (info["fund_pay_sumamt"], "基金支付 fund_pay_sumamt"),
        (info["psn_cash_pay"], "个人现金支付 psn_cash_pay"),
    ]
    group = info["psn_type"] or "no assistance group"
    heading = f"结算单 settlement {info['setl_id']}: {info['psn_name']} ({info['psn_no']}, {group})"
    return "\n".join([heading, *(f"{amount:>12}  {label}" for amount, label in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--key", default=os.environ.get("ONESTOP_KEY"), help="$ONESTOP_KEY, else var/demo-keys.env"
    )
    parser.add_argument("--hospital", default="H2201003", help="fixmedins_code")
    parser.add_argument("--id-number", default="220102195808172342", help="resident ID card")
    parser.add_argument("--name", default="李四", help="the patient's name")
    parser.add_argument("--filing", choices=("resident", "referral", "emergency", "temporary"))
    parser.add_argument("--keep", action="store_true", help="skip 2305: keep the settlement")
    for option, help_text in CORRECTIONS.items():
        parser.add_argument(f"--{option}", action="store_true", help=help_text)
    args = parser.parse_args(argv)
    corrections = frozenset(
        option.split("-")[-1] for option in CORRECTIONS if getattr(args, option.replace("-", "_"))
    )
    key = args.key
    if not key and DEMO_KEYS.exists():  # `make run`'s demo keys, as NAME=key lines
        keys = dict(line.split("=", 1) for line in DEMO_KEYS.read_text().split() if "=" in line)
        key = keys.get(f"ONESTOP_HOSPITAL_KEY_{args.hospital}")
    if not key:
        parser.error("no hospital key: pass --key or set ONESTOP_KEY")
    try:
        answers = run_stay(
            args.base_url, key, args.hospital, args.id_number, args.name, args.keep, args.filing,
            corrections,
        )  # fmt: skip
    except (Refused, Unreadable) as refused:
        print(f"stopped: {refused}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        print(f"stopped: no answer from {args.base_url}: {reason}", file=sys.stderr)
        return 1
    print()
    print(slip(answers["2304"]))
    if not args.keep:
        print("(cancelled with 2305; --keep keeps the settlement)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
