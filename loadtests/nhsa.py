"""A stay settled through the national platform's interface (`POST /v1/nhsa`, INTEROP.md), as
the load test's hospital billing system sends it, and the checks of every answer.

A generated claim (`loadtests.claims.generate`) becomes a stay of four transactions: 2401
admission (a cross-region stay names its filing in `mdtrtinfo.filing`), 2301 fee detail (every
line, in two messages when there are two lines or more: the first half charged on the day of
admission, the rest on the day of discharge), 2402 discharge (the claim's diagnoses; an
operation code when it had surgery), 2304 settlement (`medfee_sumamt` the lines' total). Every
answer must be HTTP 200 with `infcode` 0, and is read the way public HIS code reads the
platform's JSON (`strict_problems`): every number an exact `Decimal` from its own digits, every
amount one of exactly two decimals, no null anywhere, ids and codes strings. Amounts are written as JSON numbers
with their own digits, never through a binary float.

The checks of 2304's answer, to the fen: medfee_sumamt = the claim's lines = fund_pay_sumamt +
psn_cash_pay = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt;
fund_pay_sumamt = hifp_pay + hifmi_pay + maf_pay + oth_pay = the sum of setldetail's
fund_payamt, and each fund's setldetail row is the setlinfo field INTEROP.md maps it to.
2301's rows must answer the lines sent, each line's split adding up to its amount.

Pure and free of locust: the locust user (`loadtests/locustfile.py`) sends each message with
its client and the tests with theirs, through `run_stay`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson

from loadtests.claims import population_id_number
from loadtests.generate import Stay

NHSA_PATH: Final = "/v1/nhsa"
NHSA_PERCENT_DEFAULT: Final = 10
"""The share of the load test's users that settle through /v1/nhsa, in percent."""
BUSINESS_ZONE: Final = ZoneInfo("Asia/Shanghai")
FUND_FIELDS: Final[dict[str, str]] = {
    "390100": "hifp_pay",
    "390200": "hifmi_pay",
    "610100": "maf_pay",
    "999997": "oth_pay",
    "610103": "oth_pay",
}
"""Each fund's code (setldetail's fund_pay_type) → the setlinfo field it is part of."""
FUND_PARTS: Final = ("hifp_pay", "hifmi_pay", "maf_pay", "oth_pay")
SPLIT_PARTS: Final = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
"""What medfee_sumamt splits into before the funds (full + refused, over cap, first, in scope)."""
LINE_SPLIT: Final = ("fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt", "inscp_scp_amt")
"""The same split of one fee line, as 2301 answers it."""
SETTLED_AMOUNTS: Final = (
    "medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay", "psn_part_amt", *FUND_PARTS,
    *SPLIT_PARTS,
)  # fmt: skip
SURGERY_CODE: Final = "32.2901"


# ---------------------------------------------------------------- the platform's JSON


def dumps(document: Any) -> bytes:
    """The document as JSON, every Decimal a number with its own digits (`1.50` stays 1.50)."""
    return orjson.dumps(document, default=_fragment)


def _fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"{value!r} is not written into a message")


def loads(content: bytes) -> Any:
    """A message's or an answer's JSON, every non-integer number an exact Decimal made from
    the number's own text (`Decimal(str)`, as Java's `new BigDecimal(String)`)."""
    return json.loads(content, parse_float=Decimal)


# ---------------------------------------------------------------- reading answers strictly

ANSWER_FIELDS: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
            "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "cvlserv_pay", "hifes_pay",
            "hifmi_pay", "hifob_pay", "maf_pay", "hosp_part_amt", "oth_pay", "fund_pay_sumamt",
            "psn_part_amt", "acct_pay", "psn_cash_pay", "balc", "acct_mulaid_pay",
            "crt_payb_lmt_amt", "fund_payamt", "det_item_fee_sumamt", "overlmt_amt",
        ),
        "amount",
    ),
    "pool_prop_selfpay": "rate",
    "selfpay_prop": "rate",
    "cnt": "count",
    "pric": "price",
    "pric_uplmt_amt": "price",
    "age": "number",
    "fixmedins_setl_cnt": "integer",
    "infcode": "integer",
    **dict.fromkeys(("setl_time", "begntime", "endtime"), "time"),
    **dict.fromkeys(("brdy", "begndate", "enddate"), "date"),
    "deposit_waived": "flag",
}  # fmt: skip
"""Each answer field's type as public HIS code reads it (docs/reliability.md, "What real HIS
clients read"): an amount into a non-nullable C# `decimal` or a Java `new BigDecimal(text)`
(16,2: exactly two decimals), the platform's rates 5,4, `cnt` 16,4, prices 16,6; times and
dates into a date type; a flag is the platform's "1" or "0" (onestop's `deposit_waived`). Every
other field is an id, a code or text: a string."""
DECIMALS: Final = {"amount": 2, "rate": 4, "count": 4, "price": 6}
ARRAYS: Final[dict[str, tuple[str, ...]]] = {
    "1101": ("insuinfo", "idetinfo"),
    "2301": ("result",),
    "2303": ("setldetail",),
    "2304": ("setldetail",),
    "2305": ("setldetail",),
    "5203": ("setldetail",),
}
"""The arrays of each transaction's output: present even when empty (a client iterates them)."""
_TEXTS: Final = {
    "inf_refmsgid": re.compile(r"[0-9]{30}"),
    "refmsg_time": re.compile(r"[0-9]{17}"),
    "respond_time": re.compile(r"[0-9]{17}"),
    "time": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"),
    "date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "flag": re.compile(r"[01]"),
}
_ESCAPE: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u")
"""A `\\u` escape in the bytes (not an escaped backslash before a `u`)."""


def strict_problems(content: bytes, document: Any, infno: str | None = None) -> list[str]:
    """Everything a strict HIS client would fail on in an answer (its bytes and its JSON read
    by `loads`): the envelope's fields and formats, a null anywhere, an amount that is not a
    number of exactly its decimals, an id or code that is not a string, a `\\u` escape (one
    client strips backslashes), and, for an answered `infno`, an array of its output absent."""
    if not isinstance(document, dict):
        return ["the answer is not a JSON object"]
    problems = [] if _ESCAPE.search(content) is None else ["the answer has a \\u escape"]
    for name in ("inf_refmsgid", "refmsg_time", "respond_time"):
        if not (isinstance(document.get(name), str) and _TEXTS[name].fullmatch(document[name])):
            problems.append(f"{name} {document.get(name)!r} is not the platform's format")
    for name in ("err_msg", "warn_msg"):
        if not isinstance(document.get(name), str):
            problems.append(f"{name} {document.get(name)!r} is not a string")
    if document.get("infcode") not in (0, -1) or isinstance(document.get("infcode"), bool):
        problems.append(f"infcode {document.get('infcode')!r} is not the number 0 or -1")
    output = document.get("output")
    if not isinstance(output, dict):
        return [*problems, "output is not an object"]
    problems += _walk_problems(document, "")
    if document.get("infcode") == 0 and infno in ARRAYS:
        problems += [
            f"output.{name} is not an array"
            for name in ARRAYS[infno]
            if not isinstance(output.get(name), list)
        ]
    return problems


def _walk_problems(value: Any, place: str) -> list[str]:
    """The problems of every field under `value` (at `place`), by the type `ANSWER_FIELDS`
    gives its name."""
    if isinstance(value, list):
        return [
            problem
            for index, each in enumerate(value)
            for problem in _walk_problems(each, f"{place}[{index}]")
        ]
    if not isinstance(value, dict):
        return []
    problems = []
    for name, each in value.items():
        where = f"{place}.{name}".lstrip(".")
        if isinstance(each, dict | list):
            problems += _walk_problems(each, where)
        elif each is None:
            problems.append(f"{where} is null")
        else:
            problems += _field_problems(where, ANSWER_FIELDS.get(name, "text"), each)
    return problems


def _field_problems(where: str, kind: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [f"{where} {value!r} is a boolean"]
    expected = _expected(kind, value)
    return [] if expected is None else [f"{where} {value!r} is not {expected}"]


def _expected(kind: str, value: Any) -> str | None:
    """What a field of `kind` should be, when `value` is not that; None when it is."""
    if kind in DECIMALS:
        exponent = value.as_tuple().exponent if isinstance(value, Decimal) else None
        fits, wanted = exponent == -DECIMALS[kind], f"a number of {DECIMALS[kind]} decimals"
    elif kind == "number":
        fits, wanted = isinstance(value, int | Decimal), "a number"
    elif kind == "integer":
        fits, wanted = isinstance(value, int), "an integer"
    elif kind in _TEXTS:
        fits = isinstance(value, str) and _TEXTS[kind].fullmatch(value) is not None
        wanted = f"a {kind} as the platform writes it"
    else:
        fits, wanted = isinstance(value, str), "a string"
    return None if fits else wanted


def nhsa_users(users: int, percent: int) -> int:
    """How many of `users` settle through /v1/nhsa for a share of `percent`: the share
    rounded, but at least one when the share is above 0 and there are two users or more, and
    at least one other user while the share is below 100."""
    if users <= 0 or percent <= 0:
        return 0
    if percent >= 100:
        return users
    return min(max(round(users * percent / 100), 1 if users >= 2 else 0), users - 1)


# ---------------------------------------------------------------- a stay's messages


@dataclass
class NhsaStay:
    """One generated claim as a stay of platform messages from the claim's hospital."""

    claim: dict[str, Any]
    """The claim as the contract's JSON (`loadtests.claims.claim_json`)."""
    treatment_region: str
    insured_region: str
    id_number: str
    """The person's ID number: the credential 2401 carries (`mdtrt_cert_no`)."""
    mdtrt_id: str = ""
    """onestop's id of the encounter, from 2401's answer."""
    ipt_no: str = field(init=False)
    """The stay's 住院号, unique at the hospital: the claim id and 10 random characters."""

    def __post_init__(self) -> None:
        self.ipt_no = f"ZY{str(self.claim['claim_id'])[:18]}{secrets.token_hex(5).upper()}"

    @classmethod
    def of(cls, stay: Stay, claim: dict[str, Any]) -> NhsaStay:
        person = stay.person
        return cls(claim, stay.hospital.region, person.insured_region, population_id_number(person))

    @property
    def hospital_id(self) -> str:
        return str(self.claim["hospital_id"])

    @property
    def person_id(self) -> str:
        return str(self.claim["person_id"])

    @property
    def total(self) -> Decimal:
        """The claim's lines' total: what medfee_sumamt must be."""
        return sum((Decimal(item["amount"]) for item in self.claim["items"]), Decimal("0.00"))

    def msgid(self) -> str:
        """A new msgid of the platform's 30 characters: the institution (12), 18 unique."""
        institution = "".join(c for c in self.hospital_id if c.isascii() and c.isalnum())
        return f"{institution[:12]:0<12}{secrets.token_hex(9).upper()}"

    def envelope(self, infno: str, data: dict[str, Any]) -> bytes:
        return dumps(
            {
                "infno": infno,
                "msgid": self.msgid(),
                "mdtrtarea_admvs": self.treatment_region,
                "insuplc_admdvs": self.insured_region,
                "recer_sys_code": "HIS",
                "infver": "V1.0",
                "opter_type": "1",
                "opter": "001",
                "opter_name": "收费员",
                "inf_time": f"{datetime.now(BUSINESS_ZONE):%Y-%m-%d %H:%M:%S}",
                "fixmedins_code": self.hospital_id,
                "fixmedins_name": "负载测试医院",
                "sign_no": "",
                "input": data,
            }
        )

    def diseinfo(self) -> list[dict[str, Any]]:
        return diseinfo(self.claim["diagnoses"])

    def admission(self) -> bytes:
        claim = self.claim
        mdtrtinfo = {
            "psn_no": self.person_id,
            "insutype": "390",
            "begntime": f"{claim['admission_date']} 08:00:00",
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": self.id_number,
            "med_type": "21",
            "ipt_no": self.ipt_no,
            "adm_diag_dscr": "入院诊断",
        }
        if claim.get("filing"):
            mdtrtinfo["filing"] = claim["filing"]
        return self.envelope("2401", {"mdtrtinfo": mdtrtinfo, "diseinfo": self.diseinfo()})

    def batches(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """The claim's lines as 2301 uploads them: (the day they were charged, the lines)."""
        items = self.claim["items"]
        if len(items) < 2:
            return [(self.claim["admission_date"], items)]
        half = (len(items) + 1) // 2
        return [
            (self.claim["admission_date"], items[:half]),
            (self.claim["discharge_date"], items[half:]),
        ]

    def upload(self, day: str, items: list[dict[str, Any]]) -> bytes:
        lines = [fee_line(item, self.mdtrt_id, self.person_id, day) for item in items]
        return self.envelope("2301", {"feedetail": lines})

    def discharge(self) -> bytes:
        claim = self.claim
        dscginfo = {
            "mdtrt_id": self.mdtrt_id,
            "psn_no": self.person_id,
            "endtime": f"{claim['discharge_date']} 10:00:00",
            "dise_codg": claim["diagnoses"][0],
            "oprn_oprt_code": SURGERY_CODE if claim["surgery"] else "",
            "dscg_way": "1",
        }
        return self.envelope("2402", {"dscginfo": dscginfo, "diseinfo": self.diseinfo()})

    def settlement(self) -> bytes:
        data = {
            "psn_no": self.person_id,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": self.id_number,
            "medfee_sumamt": self.total,
            "psn_setlway": "01",
            "mdtrt_id": self.mdtrt_id,
            "insutype": "390",
            "acct_used_flag": "0",
            "mid_setl_flag": "0",
        }
        return self.envelope("2304", {"data": data})

    def admission_problems(self, output: dict[str, Any]) -> list[str]:
        return admission_problems(output, person_id=self.person_id)

    def settlement_problems(self, output: dict[str, Any]) -> list[str]:
        return settlement_problems(
            output, total=self.total, mdtrt_id=self.mdtrt_id, person_id=self.person_id
        )


def diseinfo(diagnoses: list[str]) -> list[dict[str, Any]]:
    """A claim's diagnoses as the platform's `diseinfo`, the first one the main diagnosis."""
    return [
        {"diag_type": "1", "maindiag_flag": "1" if index == 0 else "0",
         "diag_srt_no": index + 1, "diag_code": code, "diag_name": code}
        for index, code in enumerate(diagnoses)
    ]  # fmt: skip


def feedetl_sn(item: dict[str, Any]) -> str:
    return f"F{item['line_no']:04d}"


def fee_line(item: dict[str, Any], mdtrt_id: str, person_id: str, day: str) -> dict[str, Any]:
    """A claim's item as a 2301 fee line charged on `day` (amounts as Decimals)."""
    return {
        "feedetl_sn": feedetl_sn(item),
        "mdtrt_id": mdtrt_id,
        "psn_no": person_id,
        "med_type": "21",
        "fee_ocur_time": f"{day} 09:00:00",
        "med_list_codg": item["item_code"],
        "medins_list_codg": f"HIS-{item['item_code']}",
        "det_item_fee_sumamt": Decimal(item["amount"]),
        "cnt": Decimal(item["quantity"]),
        "pric": Decimal(item["unit_price"]),
    }


# ---------------------------------------------------------------- sending a stay

Check = Callable[[dict[str, Any]], list[str]]
"""The problems of a transaction's `output`."""
Send = Callable[[str, bytes, Check], "dict[str, Any] | None"]
"""Post one message (infno, body) and check its answer: the `output` when the answer is right
(HTTP 200, infcode 0, no problem of the check), None when it was reported as wrong."""


def answer_problems(
    status: int, content: bytes, check: Check, infno: str | None = None
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the output, every problem) of one answer (to a message of `infno`): HTTP 200, JSON
    read as strictly as a HIS does (`strict_problems`), infcode 0, then `check`."""
    if status != 200:
        return None, [f"HTTP {status}, expected 200: {content[:300]!r}"]
    try:
        document = loads(content)
    except ValueError:
        return None, [f"the answer is not JSON: {content[:300]!r}"]
    strict = strict_problems(content, document, infno)
    if strict:
        return None, strict
    if document.get("infcode") != 0:
        return None, [f"infcode {document.get('infcode')!r}: {str(document.get('err_msg'))[:300]}"]
    output = document.get("output")
    if not isinstance(output, dict):
        return None, ["the answer has no output object"]
    return output, check(output)


def run_stay(stay: NhsaStay, send: Send) -> dict[str, Any] | None:
    """2401 → 2301 (one or two messages) → 2402 → 2304: 2304's output, or None when an answer
    was wrong (`send` reported it; the stay goes no further)."""
    admitted = send("2401", stay.admission(), stay.admission_problems)
    if admitted is None:
        return None
    stay.mdtrt_id = str(admitted["result"]["mdtrt_id"])
    for day, items in stay.batches():
        if send("2301", stay.upload(day, items), upload_check(items)) is None:
            return None
    if send("2402", stay.discharge(), no_check) is None:
        return None
    return send("2304", stay.settlement(), stay.settlement_problems)


# ---------------------------------------------------------------- the checks of every answer


def no_check(_: dict[str, Any]) -> list[str]:
    return []


def admission_problems(output: dict[str, Any], *, person_id: str) -> list[str]:
    """Everything wrong with 2401's output: an encounter id, of the person admitted."""
    result = output.get("result")
    if not isinstance(result, dict):
        return ["2401: no result"]
    mdtrt_id = result.get("mdtrt_id")
    if not isinstance(mdtrt_id, str) or not mdtrt_id:
        return [f"2401: mdtrt_id {mdtrt_id!r}"]
    if result.get("psn_no") != person_id:
        return [f"2401: psn_no {result.get('psn_no')!r}, sent {person_id}"]
    return []


def upload_check(items: list[dict[str, Any]]) -> Check:
    """The check of 2301's answer to these lines: a row per line sent, in order, with its
    amount, the amount split into full + refused, over cap, first self-pay and in scope."""

    def check(output: dict[str, Any]) -> list[str]:
        rows = output.get("result")
        if not isinstance(rows, list):
            return ["2301: no result rows"]
        if [row.get("feedetl_sn") for row in rows] != [feedetl_sn(item) for item in items]:
            return ["2301: the rows are not the lines sent"]
        problems = []
        for item, row in zip(items, rows, strict=True):
            where = f"2301 {row['feedetl_sn']}"
            amounts, bad = _amounts(row, ("det_item_fee_sumamt", *LINE_SPLIT), where)
            if bad:
                problems += bad
                continue
            if amounts["det_item_fee_sumamt"] != Decimal(item["amount"]):
                problems.append(f"{where}: det_item_fee_sumamt ≠ the amount sent")
            if amounts["det_item_fee_sumamt"] != sum(amounts[name] for name in LINE_SPLIT):
                problems.append(f"{where}: amount ≠ {' + '.join(LINE_SPLIT)}")
        return problems

    return check


def settlement_problems(
    output: dict[str, Any], *, total: Decimal, mdtrt_id: str, person_id: str
) -> list[str]:
    """Everything wrong with 2304's output for a stay whose lines total `total`: conservation
    to the fen over setlinfo and setldetail, and the stay answered back."""
    info, detail = output.get("setlinfo"), output.get("setldetail")
    if not isinstance(info, dict) or not isinstance(detail, list):
        return ["2304: no setlinfo object or no setldetail list"]
    problems = []
    if not info.get("setl_id"):
        problems.append("2304: no setl_id")
    if (info.get("mdtrt_id"), info.get("psn_no")) != (mdtrt_id, person_id):
        problems.append(f"2304: settled {info.get('mdtrt_id')!r} of {info.get('psn_no')!r}")
    amounts, bad = _amounts(info, SETTLED_AMOUNTS, "setlinfo")
    paid, wrong = _fund_payments(detail)
    if bad or wrong:
        return problems + bad + wrong
    medfee, funds = amounts["medfee_sumamt"], amounts["fund_pay_sumamt"]
    if medfee != total:
        problems.append(f"medfee_sumamt {medfee} ≠ the claim's lines {total}")
    if medfee != funds + amounts["psn_cash_pay"]:
        problems.append("medfee_sumamt ≠ fund_pay_sumamt + psn_cash_pay")
    if amounts["psn_part_amt"] != amounts["psn_cash_pay"]:
        problems.append("psn_part_amt ≠ psn_cash_pay")
    if funds != sum(amounts[name] for name in FUND_PARTS):
        problems.append("fund_pay_sumamt ≠ hifp_pay + hifmi_pay + maf_pay + oth_pay")
    if funds != sum(paid.values()):
        problems.append("fund_pay_sumamt ≠ the sum of setldetail's fund_payamt")
    problems += [
        f"{name} {amounts[name]} ≠ setldetail's {paid[name]}"
        for name in FUND_PARTS
        if amounts[name] != paid[name]
    ]
    if medfee != sum(amounts[name] for name in SPLIT_PARTS):
        problems.append(f"medfee_sumamt ≠ {' + '.join(SPLIT_PARTS)}")
    return problems


def _fund_payments(detail: list[Any]) -> tuple[dict[str, Decimal], list[str]]:
    """What setldetail says each setlinfo fund field paid (one row per fund that paid, each
    of a fund INTEROP.md names), and a problem for each row that is wrong."""
    paid: dict[str, Decimal] = dict.fromkeys(FUND_PARTS, Decimal(0))
    problems, codes = [], []
    for row in detail:
        code = row.get("fund_pay_type") if isinstance(row, dict) else None
        if code not in FUND_FIELDS:
            problems.append(f"setldetail: fund_pay_type {code!r} is no fund of INTEROP.md")
            continue
        codes.append(code)
        fund, wrong = _amounts(row, ("fund_payamt",), f"setldetail {code}")
        problems += wrong
        if not wrong:
            paid[FUND_FIELDS[code]] += fund["fund_payamt"]
            if fund["fund_payamt"] == 0:
                problems.append(f"setldetail {code}: a row of a fund that paid nothing")
    if len(codes) != len(set(codes)):
        problems.append(f"setldetail: a fund twice ({codes})")
    return paid, problems


def _amounts(
    document: dict[str, Any], names: tuple[str, ...], where: str
) -> tuple[dict[str, Decimal], list[str]]:
    """The named amounts of the document, each a JSON number of at most 2 decimals, not
    negative, read exactly; and a problem for each that is not."""
    found, problems = {}, []
    for name in names:
        value = document.get(name)
        exponent = value.as_tuple().exponent if isinstance(value, Decimal) else 0
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            problems.append(f"{where}: {name} {value!r} is not a JSON number")
        elif not isinstance(exponent, int) or exponent < -2 or value < 0:
            problems.append(f"{where}: {name} {value} is not an amount of 2 decimals")
        else:
            found[name] = Decimal(value)
    return found, problems
