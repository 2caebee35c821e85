"""The national platform's inpatient interface (INTEROP.md): one message in, one answer out.

`answer` reads the envelope, checks that the key's hospital is `fixmedins_code`, and runs the
transaction its `infno` names. Every answered message is HTTP 200 with `infcode 0`, or `-1` and
`err_msg` naming every problem (then nothing was written).

Encounters. 2401 opens an encounter (its `mdtrt_id` is the claim id it will be settled under),
2301/2302 add and remove fee lines, 2402 closes it with the discharge diagnoses; 2403 corrects
the admission, 2404 cancels it, 2405 cancels the discharge. Each runs in one write transaction
that also keeps its answer under the message's `msgid`. 2303 and 2304 build
the claim from the encounter and go through the very path `POST /v1/settlements` takes
(`settle_claim`, or the group-commit writer): one ledger, one claim-id idempotency, one lock.
A refund line (negative `cnt`, `init_feedetl_sn`) is netted into the line it refunds, so the
claim holds what was finally billed; a line refunded to nothing leaves the claim.

Idempotency by `msgid`: the answer of every writing message (2401, 2403, 2404, 2301, 2302,
2402, 2405, 2304, 2305) is kept by hospital and `msgid` with the SHA-256 of its `infno` and
its `input` as validated (`_body_hash`: the values read, each in its canonical form). The same
`msgid` again answers those bytes; with another transaction or other values it is refused. For all
but 2304 and 2305 the answer is
kept in the transaction that makes the change, so two copies of one message sent at once make
one change (the second finds the first's row, or its insert of the same key fails and it
answers the first's answer). 2304 and 2305 write through the settlement service's own
transaction, which is idempotent by itself (one settled settlement per claim id; a reversal
reversed again answers the same); their answers are kept after it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, delete, exc, insert, select, update

from api.core import exact_json
from api.core import nhsa as platform
from api.core.access import Principal
from api.core.contract import ClaimIn, mask_id_number
from api.core.deps import AppState
from api.core.metrics import NHSA_MESSAGES, NHSA_SECONDS
from api.core.problems import ApiProblem, LockUnavailable
from api.db import store
from api.db.engine import commit, read_connection, write_connection
from api.db.tables import ENCOUNTER, ENCOUNTER_LINE, HOSPITAL, NHSA_MESSAGE, PERSON, SETTLEMENT
from api.services import finance
from api.services.group_commit import SettlementWriter
from api.services.settlements import Outcome, preview_settlement, reverse_settlement, settle_claim
from settlement.engine import diagnosis_problem, pay_later_eligible, select_group
from settlement.model import Gender, Group
from settlement.model import Person as EnginePerson
from settlement.money import (
    MONEY_DECIMALS,
    QUANTITY_DECIMALS,
    UNIT_PRICE_DECIMALS,
    format_fen,
    scaled_int,
)
from settlement.rejection import Rejection
from settlement.result import LineSettlement, Settlement
from settlement.rules import amount_fen

SEAL_SECONDS = 120
"""How long a 2304's seal keeps its encounter's lines from changing, at most. Only the 2304
that set it lifts it, once it is answered (settled or refused); a seal this old belongs to a
2304 that never came back (a crash), and lapses."""

SEAL_POLL_SECONDS = 0.02
"""How often a 2304 looks again at an encounter another 2304 holds sealed (up to the lock wait)."""


class Refused(Exception):
    """The message is refused: `problems` names every problem; nothing was written."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Message:
    """One message being answered, with what every transaction needs."""

    state: AppState
    writer: SettlementWriter | None
    principal: Principal
    envelope: platform.Envelope
    received: datetime
    warnings: list[str] = field(default_factory=list)
    """What the answer's `warn_msg` says (2301: each line's findings and refund notes)."""
    seals: list[tuple[str, str]] = field(default_factory=list)
    """The seals (mdtrt_id, token) this message lifts in the transaction that keeps its answer
    (2304, settled), or on their own if it is not kept."""

    @property
    def hospital_id(self) -> str:
        return self.envelope.fixmedins_code

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.state.settings.business_timezone)

    def local(self, moment: datetime) -> datetime:
        """A stored UTC time as the platform writes times: the business zone's wall clock."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def stored(self, wall: datetime) -> datetime:
        """A platform time (the business zone's wall clock) as stored: in UTC."""
        return wall.replace(tzinfo=self.zone).astimezone(UTC)


# ---------------------------------------------------------------- the envelope


def answer(
    state: AppState, writer: SettlementWriter | None, principal: Principal, body: bytes
) -> bytes:
    """The answer to one message, as the bytes of its JSON envelope (counted and timed by
    infno and infcode for `GET /metrics`)."""
    started = time.perf_counter()
    counted = ["unreadable", "-1"]
    try:
        return _answer(state, writer, principal, body, counted)
    finally:
        infno, infcode = counted
        NHSA_MESSAGES.labels(infno, infcode).inc()
        NHSA_SECONDS.labels(infno).observe(time.perf_counter() - started)


def _answer(
    state: AppState,
    writer: SettlementWriter | None,
    principal: Principal,
    body: bytes,
    counted: list[str],
) -> bytes:
    received = state.clock()
    try:
        document = exact_json.loads(body, values_max=platform.MESSAGE_VALUES_MAX)
    except exact_json.NotJson as error:
        return envelope_bytes(state, received, -1, str(error), None)
    if not isinstance(document, dict):
        return envelope_bytes(state, received, -1, "the body is not a JSON object", None)
    try:
        envelope = platform.Envelope.model_validate(document)
    except ValidationError as error:
        return envelope_bytes(state, received, -1, _joined(platform.problems_of(error, "")), None)
    counted[0] = envelope.infno if envelope.infno in platform.INPUTS else "unknown"
    message = Message(state, writer, principal, envelope, received)
    try:
        answered = _dispatch(message)
    except Refused as refused:
        return envelope_bytes(state, received, -1, _joined(refused.problems), None)
    counted[1] = "0"
    return answered


def _dispatch(message: Message) -> bytes:
    envelope = message.envelope
    problems = []
    principal = message.principal
    if principal.role == "hospital" and principal.hospital_id != envelope.fixmedins_code:
        problems.append(
            f"fixmedins_code: {envelope.fixmedins_code} is not this key's hospital "
            f"({principal.hospital_id})"
        )
    if envelope.infno not in platform.INPUTS:
        problems.append(
            f"infno: {envelope.infno} is not a transaction onestop answers "
            f"(it answers {', '.join(platform.INFNOS)})"
        )
    if problems:
        raise Refused(*problems)
    try:
        data = platform.INPUTS[envelope.infno].model_validate(envelope.input)
    except ValidationError as error:
        raise Refused(*platform.problems_of(error, "input")) from None
    if envelope.infno not in platform.WRITING:
        with read_connection(message.state.engine) as connection:
            _check_hospital(message, connection)
        return _answered(message, _run(message, data, None))
    digest = _body_hash(envelope.infno, data)
    with read_connection(message.state.engine) as connection:
        _check_hospital(message, connection)
        kept = _kept_answer(message, digest, connection)
    if kept is not None:
        return kept
    if envelope.infno in _IN_ONE_TRANSACTION:
        return _write_in_one_transaction(message, data, digest)
    try:
        answered = _answered(message, _run(message, data, None))
        return _keep(message, digest, answered, None)
    finally:
        # Not lifted with the answer kept (refused, or failed): lifted now, on their own.
        for mdtrt_id, token in message.seals:
            _unseal(message, mdtrt_id, token)


def _run(message: Message, data: Any, connection: Connection | None) -> dict[str, Any]:
    """The transaction's output; the service's own refusals said the platform's way."""
    handler = _HANDLERS[message.envelope.infno]
    try:
        with store.lock_waits_mapped():
            return handler(message, data, connection)
    except ApiProblem as problem:
        raise Refused(*_problem_texts(problem)) from None
    except LockUnavailable:
        raise Refused("the person's record is busy with another settlement: send again") from None


def _write_in_one_transaction(message: Message, data: Any, digest: str) -> bytes:
    try:
        with write_connection(message.state.engine) as connection:
            # Again in the transaction: a copy that committed while this one waited to begin
            # (SQLite lets one writer in at a time) is answered, not run a second time.
            kept = _kept_answer(message, digest, connection)
            if kept is not None:
                return kept
            try:
                output = _run(message, data, connection)
            except Refused:
                # A copy of this message that committed meanwhile answers for it (its change is
                # what made this one look like a second admission, say).
                connection.rollback()
                kept = _kept_answer(message, digest)
                if kept is not None:
                    return kept
                raise
            answered = _answered(message, output)
            return _keep(message, digest, answered, connection)
    except exc.IntegrityError:
        # A copy of this message (or another message on the same lines) committed first.
        kept = _kept_answer(message, digest)
        if kept is not None:
            return kept
        raise Refused(
            "another message changed this encounter at the same moment: send again"
        ) from None


def _keep(message: Message, digest: str, answered: bytes, connection: Connection | None) -> bytes:
    """Keep a writing message's answer under its msgid (in `connection`'s transaction, or one
    of its own) and return it; a copy kept first wins and is returned instead."""
    row = {
        "hospital_id": message.hospital_id,
        "msgid": message.envelope.msgid,
        "infno": message.envelope.infno,
        "body_hash": digest,
        "answer": answered.decode(),
        "created_at": message.received,
    }
    if connection is not None:
        connection.execute(insert(NHSA_MESSAGE), row)
        commit(connection)
        return answered
    try:
        with write_connection(message.state.engine) as own:
            own.execute(insert(NHSA_MESSAGE), row)
            for mdtrt_id, token in message.seals:
                _lift(own, mdtrt_id, token)
            commit(own)
        message.seals.clear()
    except exc.IntegrityError:
        kept = _kept_answer(message, digest)
        if kept is not None:
            return kept
        raise
    return answered


def _kept_answer(
    message: Message, digest: str, connection: Connection | None = None
) -> bytes | None:
    """The answer kept for this msgid (a repeat), refused when it was another message."""
    if connection is None:
        with read_connection(message.state.engine) as own:
            return _kept_answer(message, digest, own)
    kept = connection.execute(
        select(NHSA_MESSAGE.c.body_hash, NHSA_MESSAGE.c.infno, NHSA_MESSAGE.c.answer).where(
            NHSA_MESSAGE.c.hospital_id == message.hospital_id,
            NHSA_MESSAGE.c.msgid == message.envelope.msgid,
        )
    ).first()
    if kept is None:
        return None
    if kept.infno != message.envelope.infno or kept.body_hash != digest:
        raise Refused(
            f"msgid: {message.envelope.msgid} was already used for another message "
            f"(infno {kept.infno}); a new message needs a new msgid"
        )
    return str(kept.answer).encode()


def _body_hash(infno: str, data: BaseModel) -> str:
    """What makes two messages the same message: the transaction and what onestop read of its
    input (`data`, validated), each value in its canonical form, so `10`, `10.0`, `"10"` and
    `"10.00"` are one amount. The envelope's times and operator and every field onestop ignores
    may differ between a HIS's retries; the raw input is never formatted, so the hash costs
    what the fields read cost (a `1e999999` in an ignored field once cost a megabyte)."""
    canonical = orjson.dumps(
        {"infno": infno, "input": data.model_dump()},
        option=orjson.OPT_SORT_KEYS,
        default=_decimal_text,
    )
    return hashlib.sha256(canonical).hexdigest()


def _decimal_text(value: Any) -> str:
    """A number as the message means it: 495.00 and 495.0 are the same amount (and so are -0
    and 0). The validated numbers are short: normalizing them costs nothing."""
    if isinstance(value, Decimal):
        return "0" if value.is_zero() else format(value.normalize(), "f")
    raise TypeError(type(value))


def _answered(message: Message, output: dict[str, Any]) -> bytes:
    """The answer of a message answered (`infcode 0`), with its warnings."""
    return envelope_bytes(message.state, message.received, 0, "", output, _joined(message.warnings))


def envelope_bytes(
    state: AppState,
    received: datetime,
    infcode: int,
    err_msg: str,
    output: dict[str, Any] | None,
    warn_msg: str = "",
) -> bytes:
    """The answer envelope as the platform writes it (INTEROP.md, "Additions"): `infcode` the
    number 0 or -1; `inf_refmsgid` the answering region's code (6), the answer's time
    `yyyyMMddHHmmss` and a 10-digit random serial; `refmsg_time` and `respond_time`
    `yyyyMMddHHmmssSSS`; `err_msg` and `warn_msg` always present (empty when there is
    nothing to say); raw UTF-8, never a `\\u` escape (orjson writes no other way)."""
    zone = ZoneInfo(state.settings.business_timezone)
    responded = state.clock().astimezone(zone)
    serial = f"{secrets.randbelow(10**10):010d}"
    return exact_json.dumps(
        {
            "infcode": infcode,
            "inf_refmsgid": f"{state.settings.nhsa_region}{responded:%Y%m%d%H%M%S}{serial}",
            "refmsg_time": _millis(received.astimezone(zone)),
            "respond_time": _millis(responded),
            "err_msg": err_msg,
            "warn_msg": warn_msg,
            "output": {} if output is None else output,
        }
    )


def _millis(moment: datetime) -> str:
    """A time as the envelope writes it: `yyyyMMddHHmmssSSS` (17 digits)."""
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def _joined(problems: list[str]) -> str:
    return "; ".join(problems)


def _problem_texts(problem: ApiProblem, billed: Sequence[_NetLine] = ()) -> list[str]:
    """The service's refusal (a 4xx problem) as the platform's problem texts; the lines of a
    claim built from an encounter (`billed`) named by their feedetl_sn."""
    if not problem.errors:
        return [problem.detail]
    return [
        _placed([part for part in error["loc"] if part != "body"], error["msg"], billed)
        for error in problem.errors
    ]


def _check_hospital(message: Message, connection: Connection) -> None:
    """An admin key names any hospital, but it must be registered; `mdtrtarea_admvs`, when
    given, must be the hospital's region."""
    region = connection.execute(
        select(HOSPITAL.c.region).where(HOSPITAL.c.hospital_id == message.hospital_id)
    ).scalar()
    if region is None:
        raise Refused(f"fixmedins_code: hospital {message.hospital_id} is not registered")
    area = message.envelope.mdtrtarea_admvs
    if area and area != region:
        raise Refused(f"mdtrtarea_admvs: {area} is not the hospital's region {region}")


# ---------------------------------------------------------------- 1101 person information


def _person_information(message: Message, data: platform.In1101, _: Any) -> dict[str, Any]:
    query = data.data
    with read_connection(message.state.engine) as connection:
        persons = connection.execute(
            select(PERSON).where(PERSON.c.id_number == query.mdtrt_cert_no).limit(2)
        ).all()
        if len(persons) != 1 or persons[0].name != query.psn_name:
            # One answer for "none", "several" and "another name": 1101 is no way to learn
            # which identity numbers are registered without the name that goes with them.
            raise Refused(
                "input.data.mdtrt_cert_no: no registered person has this identity number and name"
            )
        person = persons[0]
        registered = store.load_parties_many(connection, set(), {person.person_id}).persons[
            person.person_id
        ]
    today = message.local(message.received).date()
    return {
        "baseinfo": {
            "psn_no": person.person_id,
            "psn_cert_type": "01",
            "certno": mask_id_number(person.id_number),
            "psn_name": person.name,
            "gend": platform.GENDER_CODES[Gender(person.gender)],
            "brdy": person.birth_date.isoformat(),
            "age": exact_json.number(str(registered.age_on(today))),
            "insuplc_admdvs": person.insured_region,
        },
        "insuinfo": [
            {
                "insutype": platform.INSUTYPE,
                "psn_type": _group_on(registered.statuses, today),
                "insuplc_admdvs": person.insured_region,
                "cvlserv_flag": "0",  # 公务员标志: a resident is no civil servant
                "balc": platform.amount(0),  # 余额: a resident has no personal account
            }
        ],
        "idetinfo": [
            {
                "psn_idet_type": status.group.value,
                "psn_idet_type_name": platform.GROUP_NAMES[status.group],
                "begntime": f"{status.valid_from.isoformat()} 00:00:00",
                "endtime": f"{(status.valid_to or OPEN_ENDED).isoformat()} 23:59:59",
            }
            for status in registered.statuses
        ],
    }


OPEN_ENDED = date(9999, 12, 31)
"""The last day of a status without one (`idetinfo[].endtime`): a time a client's date type
reads, never null nor "" (one reads `endtime` into a non-nullable DateTime)."""


def _group_on(statuses: Any, day: date) -> str:
    groups = [status.group for status in statuses if status.covers(day)]
    return min(groups, key=list(Group).index).value if groups else ""


# ---------------------------------------------------------------- 2401 admission


UNKNOWN_PERSON = (
    "input.mdtrtinfo.mdtrt_cert_no: no registered person has this psn_no and credential"
)
"""2401's one answer for an unknown psn_no, a credential that is not the person's, and an
`insuplc_admdvs` that is not the person's insured region: a HIS that does not hold the
person's ID card learns nothing, not even whether the psn_no exists."""


def _admit(message: Message, data: platform.In2401, connection: Any) -> dict[str, Any]:
    info = data.mdtrtinfo
    _check_credential(message, connection, info)
    # Only now, the person proven, may a problem name what the registry holds of them.
    site, person = store.load_parties(connection, message.hospital_id, info.psn_no)
    problems = []
    if site.region != person.insured_region and info.filing is None:
        problems.append(
            f"input.mdtrtinfo.filing: the person is insured in {person.insured_region} and the "
            f"hospital is in {site.region}: a cross-region stay names its filing "
            "(resident, referral, emergency or temporary)"
        )
    if site.region == person.insured_region and info.filing is not None:
        problems.append("input.mdtrtinfo.filing: an in-region stay has no filing")
    admitted = connection.execute(
        select(ENCOUNTER.c.mdtrt_id).where(
            ENCOUNTER.c.hospital_id == message.hospital_id, ENCOUNTER.c.ipt_no == info.ipt_no
        )
    ).scalar()
    if admitted is not None:
        problems.append(
            f"input.mdtrtinfo.ipt_no: stay {info.ipt_no} is admitted already, as encounter "
            f"{admitted}"
        )
    if problems:
        raise Refused(*problems)
    now = message.received
    mdtrt_id = f"MD{message.local(now):%Y%m%d}{secrets.token_hex(8).upper()}"
    connection.execute(
        insert(ENCOUNTER),
        {
            "mdtrt_id": mdtrt_id,
            "hospital_id": message.hospital_id,
            "person_id": info.psn_no,
            "insutype": info.insutype,
            "med_type": info.med_type,
            "ipt_no": info.ipt_no,
            "begntime": message.stored(info.begntime),
            "adm_diag_dscr": info.adm_diag_dscr,
            "filing": None if info.filing is None else info.filing.value,
            "diagnoses": orjson.dumps(_ordered(data.diseinfo)).decode(),
            "created_at": now,
            "updated_at": now,
        },
    )
    store.audit(connection, message.principal.actor, "nhsa 2401", f"{mdtrt_id} {info.psn_no}", now)
    waived = _deposit_waived(message, person, site, info.begntime.date())
    result = {"mdtrt_id": mdtrt_id, "psn_no": info.psn_no, "ipt_otp_no": info.ipt_no}
    return {"result": {**result, "deposit_waived": "1" if waived else "0"}}


def _deposit_waived(
    message: Message, person: EnginePerson, site: store.Site, admitted_on: date
) -> bool:
    """先诊疗后付费 (rules §15) on the admission date: the person may be admitted without a
    deposit. onestop's own field of the 2401 answer (the platform has none), written as the
    platform writes its flags: "1" or "0", a string."""
    tariff = message.state.tariffs.select(person.insured_region, admitted_on)
    if tariff is None:
        return False
    group = select_group(person, tariff, admitted_on)
    in_region = site.region == person.insured_region
    return pay_later_eligible(tariff, group, site.level, in_region=in_region)


def _check_credential(message: Message, connection: Connection, info: platform.Admission) -> None:
    """Refused, with one text whatever is wrong, unless `mdtrt_cert_no` is the ID number of
    person `psn_no` (an `x` check character read as `X`) and `insuplc_admdvs`, when sent,
    the person's insured region. Checked before anything else of the person."""
    person = connection.execute(
        select(PERSON.c.id_number, PERSON.c.insured_region).where(PERSON.c.person_id == info.psn_no)
    ).first()
    insured = message.envelope.insuplc_admdvs
    if (
        person is None
        or not hmac.compare_digest(person.id_number.encode(), info.mdtrt_cert_no.upper().encode())
        or (insured and insured != person.insured_region)
    ):
        raise Refused(UNKNOWN_PERSON)


def _ordered(diagnoses: list[platform.DiagnosisIn]) -> list[str]:
    """Diagnosis codes, the main diagnosis first, then by the sequence numbers sent."""
    ranked = sorted(
        enumerate(diagnoses),
        key=lambda pair: (pair[1].maindiag_flag != "1", pair[1].diag_srt_no, pair[0]),
    )
    return [diagnosis.diag_code for _, diagnosis in ranked]


# ---------------------------------------------------------------- encounters and their lines


def _encounter(
    message: Message,
    connection: Connection,
    mdtrt_id: str,
    psn_no: str,
    *,
    lock: bool = False,
    person: bool = False,
) -> Any:
    """The hospital's encounter `mdtrt_id` of person `psn_no` (another hospital's is unknown);
    with `person`, also the person's columns an answer's `setlinfo` names (in one statement)."""
    query = select(ENCOUNTER)
    if person:
        query = query.add_columns(*_SETLINFO_PERSON).join(
            PERSON, PERSON.c.person_id == ENCOUNTER.c.person_id
        )
    query = query.where(
        ENCOUNTER.c.mdtrt_id == mdtrt_id, ENCOUNTER.c.hospital_id == message.hospital_id
    )
    if lock and connection.dialect.name != "sqlite":
        query = query.with_for_update(of=ENCOUNTER)
    encounter = connection.execute(query).first()
    if encounter is None:
        raise Refused(f"mdtrt_id: no encounter {mdtrt_id} at hospital {message.hospital_id}")
    if encounter.person_id != psn_no:
        raise Refused(f"psn_no: encounter {mdtrt_id} is not person {psn_no}'s")
    values = encounter._asdict()
    values["begntime"] = message.local(encounter.begntime)
    if encounter.endtime is not None:
        values["endtime"] = message.local(encounter.endtime)
    return SimpleNamespace(**values)


def _changing(message: Message, connection: Connection, rows: Sequence[Any], field: str) -> Any:
    """The one encounter a changing message (2301, 2302, 2402) names in every row, locked;
    refused when it is settled or being settled."""
    first = rows[0]
    problems = [
        f"input.{field}[{index}].mdtrt_id: one message changes one encounter ({first.mdtrt_id})"
        for index, row in enumerate(rows)
        if (row.mdtrt_id, row.psn_no) != (first.mdtrt_id, first.psn_no)
    ]
    if problems:
        raise Refused(*problems)
    encounter = _encounter(message, connection, first.mdtrt_id, first.psn_no, lock=True)
    _refuse_when_settled(message, connection, first.mdtrt_id)
    _refuse_when_sealed(message, encounter)
    return encounter


def _refuse_when_settled(message: Message, connection: Connection, mdtrt_id: str) -> None:
    settled = store.settled_for_claim(connection, message.hospital_id, mdtrt_id)
    if settled is not None:
        raise Refused(
            f"mdtrt_id: encounter {mdtrt_id} is settled ({settled.settlement_id}); cancel the "
            "settlement (2305) before changing it"
        )


def _refuse_when_sealed(message: Message, encounter: Any) -> None:
    """Lines do not change while a 2304 settles them (the seal it set when it read them)."""
    if _seal_holds(encounter, message.received):
        raise Refused(
            f"mdtrt_id: encounter {encounter.mdtrt_id} is being settled (2304): send again "
            "once it is answered"
        )


def _seal_holds(encounter: Any, now: datetime) -> bool:
    """Whether a 2304's seal holds the encounter at `now`: set, and not yet SEAL_SECONDS old
    (a seal that old belongs to a 2304 that died, and lapses)."""
    sealed: datetime | None = encounter.sealed_at
    if sealed is None:
        return False
    if sealed.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        sealed = sealed.replace(tzinfo=UTC)
    return (now - sealed).total_seconds() < SEAL_SECONDS


def _unseal(message: Message, mdtrt_id: str, token: str) -> None:
    """Lift this 2304's own seal. A seal another 2304 set (after this one's lapsed) is left
    alone: lifting it would let lines change under that 2304 (issue 19, section 2)."""
    with write_connection(message.state.engine) as connection:
        _lift(connection, mdtrt_id, token)
        commit(connection)


def _lift(connection: Connection, mdtrt_id: str, token: str) -> None:
    connection.execute(
        update(ENCOUNTER)
        .where(ENCOUNTER.c.mdtrt_id == mdtrt_id, ENCOUNTER.c.sealed_by == token)
        .values(sealed_at=None, sealed_by=None)
    )


def _lines(connection: Connection, mdtrt_id: str) -> list[Any]:
    return list(
        connection.execute(
            select(ENCOUNTER_LINE)
            .where(ENCOUNTER_LINE.c.mdtrt_id == mdtrt_id)
            .order_by(ENCOUNTER_LINE.c.position)
        )
    )


@dataclass(slots=True)
class _NetLine:
    """An uploaded line with every refund of it netted in: what the claim bills."""

    feedetl_sn: str
    position: int
    code: str
    quantity: Decimal
    price: Decimal
    amount: Decimal


def _netted(lines: list[Any]) -> dict[str, _NetLine]:
    """Each charged line by feedetl_sn, its refunds netted in (a refund names a known line)."""
    net: dict[str, _NetLine] = {}
    for line in lines:
        amount = Decimal(line.amount_fen).scaleb(-2)
        if line.init_feedetl_sn is None:
            net[line.feedetl_sn] = _NetLine(
                line.feedetl_sn,
                line.position,
                line.med_list_codg,
                Decimal(line.cnt),
                Decimal(line.pric),
                amount,
            )
        else:
            refunded = net[line.init_feedetl_sn]
            refunded.quantity += Decimal(line.cnt)
            refunded.amount += amount
    return net


def _billed(amount: Decimal) -> int:
    return scaled_int(amount, MONEY_DECIMALS)


def _line_fen(cnt: Decimal, pric: Decimal) -> int:
    """round(cnt × pric) in fen: the engine's one rounding of a line (`rules.amount_fen`),
    half away from zero for a refund's negative count."""
    sign = -1 if (cnt < 0) != (pric < 0) else 1
    units = scaled_int(abs(cnt), QUANTITY_DECIMALS)
    return sign * amount_fen(units, scaled_int(abs(pric), UNIT_PRICE_DECIMALS))


def _upload(message: Message, data: platform.In2301, connection: Any) -> dict[str, Any]:
    rows = data.feedetail
    first = rows[0]
    encounter = _changing(message, connection, rows, "feedetail")
    problems: list[str] = []
    existing = _lines(connection, first.mdtrt_id)
    by_sn = {line.feedetl_sn: line for line in existing}
    net = _netted(existing)
    position = max((line.position for line in existing), default=0)
    new_rows, answered_sns = [], []
    for index, row in enumerate(rows):
        place = f"input.feedetail[{index}]"
        expected_fen = _line_fen(row.cnt, row.pric)
        if _billed(row.det_item_fee_sumamt) != expected_fen:
            problems.append(
                f"{place}.det_item_fee_sumamt: {row.det_item_fee_sumamt} is not cnt × pric = "
                f"{row.cnt} × {row.pric} = {format_fen(expected_fen)}"
            )
        if row.cnt == 0:
            problems.append(f"{place}.cnt: a line has a quantity")
        if row.feedetl_sn in by_sn:
            same = by_sn[row.feedetl_sn]
            if (same.med_list_codg, Decimal(same.cnt), Decimal(same.pric), same.amount_fen) != (
                row.med_list_codg, row.cnt, row.pric, _billed(row.det_item_fee_sumamt),
            ):  # fmt: skip
                problems.append(
                    f"{place}.feedetl_sn: {row.feedetl_sn} is uploaded already, with other "
                    "figures; cancel it (2302) to change it"
                )
            answered_sns.append(row.feedetl_sn)
            continue  # the same line again: already there, answered as it stands
        if row.cnt > 0 and row.init_feedetl_sn:
            problems.append(f"{place}.init_feedetl_sn: only a refund (negative cnt) names one")
        if row.cnt < 0:
            problems += _refund_problems(place, row, net)
        problems += _outside_stay(f"{place}.fee_ocur_time", row.fee_ocur_time, encounter)
        position += 1
        line = {
            "mdtrt_id": row.mdtrt_id,
            "feedetl_sn": row.feedetl_sn,
            "position": position,
            "med_list_codg": row.med_list_codg,
            "medins_list_codg": row.medins_list_codg,
            "fee_ocur_time": message.stored(row.fee_ocur_time),
            "cnt": format(row.cnt, "f"),
            "pric": format(row.pric, "f"),
            "amount_fen": _billed(row.det_item_fee_sumamt),
            "init_feedetl_sn": row.init_feedetl_sn or None,
            "uploaded_at": message.received,
        }
        by_sn[row.feedetl_sn] = _pending_row(line)
        new_rows.append(line)
        answered_sns.append(row.feedetl_sn)
        if row.cnt > 0:
            net[row.feedetl_sn] = _NetLine(
                row.feedetl_sn, position, row.med_list_codg, row.cnt, row.pric,
                row.det_item_fee_sumamt,
            )  # fmt: skip
    if problems:
        raise Refused(*problems)
    all_lines = existing + [_pending_row(line) for line in new_rows]
    settlement, catalog = _preview_encounter(message, connection, encounter, all_lines)
    _refuse_unknown_items(rows, catalog)
    if new_rows:
        connection.execute(insert(ENCOUNTER_LINE), new_rows)
        connection.execute(
            update(ENCOUNTER)
            .where(ENCOUNTER.c.mdtrt_id == encounter.mdtrt_id)
            .values(updated_at=message.received)
        )
    settled = {line.line_no: line for line in settlement.lines}
    answered = [by_sn[sn] for sn in answered_sns]
    message.warnings.extend(_line_notes(answered, net, settled, settlement.findings))
    memos = {row.feedetl_sn: row.memo for row in rows}  # the memo sent now, also for a repeat
    return {
        "result": [
            _line_answer(line, memos[line.feedetl_sn], net, settled, catalog) for line in answered
        ]
    }


def _refuse_unknown_items(rows: Sequence[platform.FeeLine], catalog: Any) -> None:
    """Every line names an item of the catalog, also a line its refund nets to nothing: the
    claim leaves that one out, so the engine never looks its code up, but its answer does."""
    problems = [
        f"input.feedetail[{index}].med_list_codg: {row.med_list_codg} is not in the catalog"
        for index, row in enumerate(rows)
        if row.med_list_codg not in catalog
    ]
    if problems:
        raise Refused(*problems)


def _outside_stay(place: str, when: datetime, encounter: Any) -> list[str]:
    """A fee line is of the stay when it is charged from the admission's calendar day to the
    discharge's (once discharged), as the platform's wall clock writes them. The grace is the
    rest of those two days: they are what the claim knows of the stay (its admission and
    discharge dates), so a fee at 07:50 of an 08:00 admission is the stay's, one of the day
    before is not."""
    first, last = _stay_days(encounter)
    if when.date() < first:
        return [f"{place}: {platform.platform_time(when)} is before the day of admission {first}"]
    if last is not None and when.date() > last:
        return [f"{place}: {platform.platform_time(when)} is after the day of discharge {last}"]
    return []


def _stay_days(encounter: Any) -> tuple[date, date | None]:
    """The admission's day and the discharge's (None while in hospital)."""
    last = None if encounter.endtime is None else encounter.endtime.date()
    return encounter.begntime.date(), last


def _charged_outside(
    message: Message, lines: Sequence[Any], first: date, last: date | None
) -> list[Any]:
    """The stored lines charged before day `first` or after day `last`, earliest first."""
    outside = [
        line
        for line in lines
        if message.local(line.fee_ocur_time).date() < first
        or (last is not None and message.local(line.fee_ocur_time).date() > last)
    ]
    return sorted(outside, key=lambda line: (line.fee_ocur_time, line.position))


def _named_lines(message: Message, lines: Sequence[Any]) -> str:
    """Lines by feedetl_sn and time, the first three, for a problem's text."""
    named = ", ".join(
        f"{line.feedetl_sn} ({platform.platform_time(message.local(line.fee_ocur_time))})"
        for line in lines[:3]
    )
    return named + (f" and {len(lines) - 3} more" if len(lines) > 3 else "")


def _pending_row(values: dict[str, Any]) -> Any:
    """A line about to be inserted, read by attribute as a stored row is."""
    return SimpleNamespace(**values)


def _refund_problems(place: str, row: platform.FeeLine, net: dict[str, _NetLine]) -> list[str]:
    refunded = net.get(row.init_feedetl_sn)
    if refunded is None:
        return [
            f"{place}.init_feedetl_sn: a refund names the charged line it refunds; "
            f"{row.init_feedetl_sn or '(none)'} is no charged line of this encounter"
        ]
    problems = []
    if (refunded.code, refunded.price) != (row.med_list_codg, row.pric):
        problems.append(
            f"{place}: a refund is of line {refunded.feedetl_sn}'s item {refunded.code} at its "
            f"price {refunded.price}"
        )
    quantity = refunded.quantity + row.cnt
    amount = refunded.amount + row.det_item_fee_sumamt
    if quantity < 0:
        problems.append(
            f"{place}.cnt: refunds more than line {refunded.feedetl_sn} has left "
            f"({refunded.quantity})"
        )
    elif _line_fen(quantity, refunded.price) != _billed(amount):
        problems.append(
            f"{place}.det_item_fee_sumamt: line {refunded.feedetl_sn} would bill {amount} for "
            f"{quantity} × {refunded.price}, not round(cnt × pric)"
        )
    if not problems:
        refunded.quantity, refunded.amount = quantity, amount
    return problems


def billed_lines(lines: list[Any]) -> list[_NetLine]:
    """What the claim of an encounter with these stored lines bills: each charged line with its
    refunds netted in, a line refunded to nothing left out, in upload order (the claim's line
    numbers). `ledger verify` proves each settled encounter's settlement against it."""
    billed = [line for line in _netted(lines).values() if line.quantity != 0]
    billed.sort(key=lambda line: line.position)
    return billed


def _claim(encounter: Any, lines: list[Any], discharge: date) -> tuple[ClaimIn, list[_NetLine]]:
    """The encounter as the contract's claim (`claim_id` = `mdtrt_id`), refunds netted in."""
    billed = billed_lines(lines)
    claim = ClaimIn.model_validate(
        {
            "claim_id": encounter.mdtrt_id,
            "hospital_id": encounter.hospital_id,
            "person_id": encounter.person_id,
            "admission_date": encounter.begntime.date(),
            "discharge_date": discharge,
            "diagnoses": orjson.loads(encounter.diagnoses),
            "surgery": bool(encounter.oprn_oprt_code),
            "filing": encounter.filing,
            "items": [
                {
                    "line_no": line.position,
                    "item_code": line.code,
                    "quantity": format(line.quantity, "f"),
                    "unit_price": format(line.price, "f"),
                    "amount": format(line.amount, "f"),
                }
                for line in billed
            ],
        }
    )
    return claim, billed


def _preview_encounter(
    message: Message, connection: Connection, encounter: Any, lines: list[Any]
) -> tuple[Settlement, Any]:
    """The encounter settled as it stands, nothing written: before discharge, as of the last
    fee's day. Refused as the claim would be, each problem named by the line's feedetl_sn."""
    if encounter.endtime is not None:
        day = encounter.endtime.date()
    else:
        day = max(
            [encounter.begntime, *(message.local(line.fee_ocur_time) for line in lines)]
        ).date()
    claim_in, billed = _claim(encounter, lines, day)
    result, _site = preview_settlement(connection, message.state.tariffs, claim_in)
    if isinstance(result, Rejection):
        raise Refused(*(_placed(problem.loc, problem.msg, billed) for problem in result.problems))
    catalog = message.state.tariffs.by_version(result.catalog_version)
    assert catalog is not None
    return result, catalog.catalog


def _placed(loc: Sequence[str | int], msg: str, billed: Sequence[_NetLine]) -> str:
    """A problem at `loc` of a claim as `place: msg`, a line of the claim built from an
    encounter (`billed`) named by its feedetl_sn."""
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int) and loc[1] < len(billed):
        where = f"feedetl_sn {billed[loc[1]].feedetl_sn}"
        rest = ".".join(str(part) for part in loc[2:])
        return f"{where}{'.' + rest if rest else ''}: {msg}"
    return f"{'.'.join(str(part) for part in loc)}: {msg}"


_SPLIT = ("full_selfpay", "over_cap_selfpay", "first_selfpay", "in_scope", "refused_selfpay")


def _line_answer(
    line: Any,
    memo: str,
    net: dict[str, _NetLine],
    settled: dict[int, LineSettlement],
    catalog: Any,
) -> dict[str, Any]:
    """2301's row for an uploaded line: the figures of the charged line it belongs to (for a
    refund, the line it refunds, as the refund leaves it; `settled` by line number), and the
    `memo` the HIS sent with the line now, echoed (clients keep their own id of the fee in
    it; onestop's findings go in `warn_msg`, `_line_notes`)."""
    charged = line.feedetl_sn if line.init_feedetl_sn is None else line.init_feedetl_sn
    billed = settled.get(net[charged].position)
    figures = {name: 0 if billed is None else getattr(billed, f"{name}_fen") for name in _SPLIT}
    pric = Decimal(line.pric)
    return {
        "feedetl_sn": line.feedetl_sn,
        "det_item_fee_sumamt": platform.amount(line.amount_fen),
        "cnt": platform.count(Decimal(line.cnt)),
        "pric": platform.price(pric),
        **platform.line_split(catalog[line.med_list_codg], figures, pric),
        "memo": memo,
    }


def _line_notes(
    lines: Sequence[Any],
    net: dict[str, _NetLine],
    settled: dict[int, LineSettlement],
    findings: Sequence[Any],
) -> list[str]:
    """2301's `warn_msg`: for each line answered, its refund note and the rule findings of
    the charged line it belongs to, each naming the `feedetl_sn` it is about, each once."""
    said: dict[int, list[str]] = {}
    for finding in findings:
        said.setdefault(finding.line_no, []).append(f"{finding.rule} {finding.message_zh}")
    notes: list[str] = []
    for line in lines:
        charged = line.feedetl_sn if line.init_feedetl_sn is None else line.init_feedetl_sn
        position = net[charged].position
        if line.init_feedetl_sn is not None:
            notes.append(f"feedetl_sn {line.feedetl_sn}: 退费，冲减明细 {charged}")
        if position not in settled:
            notes.append(f"feedetl_sn {charged}: 已全部退费")
        notes += [f"feedetl_sn {charged}: {text}" for text in said.get(position, [])]
    return list(dict.fromkeys(notes))


# ---------------------------------------------------------------- 2302 cancel lines


def _cancel_lines(message: Message, data: platform.In2302, connection: Any) -> dict[str, Any]:
    rows = data.data
    first = rows[0]
    _changing(message, connection, rows, "data")
    problems: list[str] = []
    lines = {line.feedetl_sn: line for line in _lines(connection, first.mdtrt_id)}
    if any(row.feedetl_sn == "0000" for row in rows):
        doomed = set(lines)
    else:
        doomed = {row.feedetl_sn for row in rows}
        for index, row in enumerate(rows):
            if row.feedetl_sn not in lines:
                problems.append(
                    f"input.data[{index}].feedetl_sn: {row.feedetl_sn} is no line of "
                    f"encounter {first.mdtrt_id}"
                )
        for line in lines.values():
            if line.init_feedetl_sn in doomed and line.feedetl_sn not in doomed:
                problems.append(
                    f"feedetl_sn {line.init_feedetl_sn}: its refund {line.feedetl_sn} stands; "
                    "cancel the refund with it"
                )
        if not problems:
            problems = _left_unrounded(rows, lines, doomed)
    if problems:
        raise Refused(*problems)
    if doomed:
        connection.execute(
            delete(ENCOUNTER_LINE).where(
                ENCOUNTER_LINE.c.mdtrt_id == first.mdtrt_id,
                ENCOUNTER_LINE.c.feedetl_sn.in_(sorted(doomed)),
            )
        )
    store.audit(
        connection,
        message.principal.actor,
        "nhsa 2302",
        f"{first.mdtrt_id}: {len(doomed)} lines cancelled",
        message.received,
    )
    return {}


def _left_unrounded(rows: Sequence[Any], lines: dict[str, Any], doomed: set[str]) -> list[str]:
    """Each charged line that cancelling refunds of it would leave billing other than
    round(cnt × pric), named by the first cancelled refund of it: each refund was checked
    against the refunds before it, not against the line without one of them (3 × 1.335 =
    4.01, refunds of 1 (-1.34) and 1.5 (-2.00): without the first, 1.5 left bill 2.01, not
    2.00), and the claim would then refuse the line at every 2301, 2303 and 2304."""
    kept = _netted([line for sn, line in lines.items() if sn not in doomed])
    problems = []
    named: set[str] = set()
    for index, row in enumerate(rows):
        charged = lines[row.feedetl_sn].init_feedetl_sn
        if charged is None or charged in doomed or charged in named:
            continue
        named.add(charged)
        left = kept[charged]
        expected = _line_fen(left.quantity, left.price)
        if expected != _billed(left.amount):
            problems.append(
                f"input.data[{index}].feedetl_sn: cancelling refund {row.feedetl_sn} would leave "
                f"line {charged} billing {left.amount} for {left.quantity} × {left.price}, not "
                f"round(cnt × pric) = {format_fen(expected)}; cancel its other refunds with it"
            )
    return problems


# ---------------------------------------------------------------- 2402 discharge


def _discharge(message: Message, data: platform.In2402, connection: Any) -> dict[str, Any]:
    info = data.dscginfo
    encounter = _changing(message, connection, [info], "dscginfo")
    problems = []
    diagnoses = _ordered(data.diseinfo) or ([info.dise_codg] if info.dise_codg else [])
    if not diagnoses:
        problems.append("input.diseinfo: a discharge names its diagnoses (or dscginfo.dise_codg)")
    elif not data.diseinfo and (wrong := diagnosis_problem(info.dise_codg)) is not None:
        problems.append(f"input.dscginfo.dise_codg: {wrong}")
    if info.endtime < encounter.begntime:
        problems.append(
            f"input.dscginfo.endtime: {platform.platform_time(info.endtime)} is before the "
            f"admission {platform.platform_time(encounter.begntime)}"
        )
    late = _charged_outside(
        message, _lines(connection, info.mdtrt_id), date.min, info.endtime.date()
    )
    if late:
        problems.append(
            f"input.dscginfo.endtime: {platform.platform_time(info.endtime)} is before the day "
            f"of lines {_named_lines(message, late)}: cancel them (2302) or discharge later"
        )
    if problems:
        raise Refused(*problems)
    connection.execute(
        update(ENCOUNTER)
        .where(ENCOUNTER.c.mdtrt_id == info.mdtrt_id)
        .values(
            endtime=message.stored(info.endtime),
            dscg_way=info.dscg_way or None,
            oprn_oprt_code=info.oprn_oprt_code or None,
            diagnoses=orjson.dumps(diagnoses).decode(),
            updated_at=message.received,
        )
    )
    store.audit(connection, message.principal.actor, "nhsa 2402", info.mdtrt_id, message.received)
    return {}


# ---------------------------------------------------------------- 2403, 2404, 2405 corrections
#
# None applies to a settled encounter (cancel the settlement with 2305 first) nor to one a
# 2304 is settling (`_changing`); each runs in one transaction with its answer kept by msgid.


def _change_admission(message: Message, data: platform.In2403, connection: Any) -> dict[str, Any]:
    """2403: correct the admission's time, description, filing or diagnoses. A new begntime
    keeps every line of the stay inside it, as 2301 and 2402 do."""
    change = data.adminfo
    encounter = _changing(message, connection, [change], "adminfo")
    sent = {
        "begntime": change.begntime,
        "adm_diag_dscr": change.adm_diag_dscr,
        "filing": change.filing,
        "diseinfo": data.diseinfo or None,
    }
    changed = [name for name, value in sent.items() if value is not None]
    if not changed:
        raise Refused("input.adminfo: 2403 changes begntime, adm_diag_dscr, filing or diseinfo")
    problems = []
    if change.begntime is not None:
        problems += _begntime_problems(message, connection, encounter, change.begntime)
    if change.filing is not None and encounter.filing is None:
        problems.append(
            f"input.adminfo.filing: encounter {encounter.mdtrt_id} is an in-region stay: it has "
            "no filing"
        )
    if data.diseinfo and encounter.endtime is not None:
        problems.append(
            f"input.diseinfo: encounter {encounter.mdtrt_id} is discharged: its diagnoses are "
            "the discharge's (send 2402 again, or cancel the discharge with 2405 first)"
        )
    if problems:
        raise Refused(*problems)
    values: dict[str, Any] = {"updated_at": message.received}
    if change.begntime is not None:
        values["begntime"] = message.stored(change.begntime)
    if change.adm_diag_dscr is not None:
        values["adm_diag_dscr"] = change.adm_diag_dscr
    if change.filing is not None:
        values["filing"] = change.filing.value
    if data.diseinfo:
        values["diagnoses"] = orjson.dumps(_ordered(data.diseinfo)).decode()
    connection.execute(
        update(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == encounter.mdtrt_id).values(**values)
    )
    store.audit(
        connection,
        message.principal.actor,
        "nhsa 2403",
        f"{encounter.mdtrt_id}: {', '.join(changed)} changed",
        message.received,
    )
    return {}


def _begntime_problems(
    message: Message, connection: Connection, encounter: Any, begntime: datetime
) -> list[str]:
    """A new admission time is before the discharge and on or before the day of every line."""
    problems = []
    if encounter.endtime is not None and encounter.endtime < begntime:
        problems.append(
            f"input.adminfo.begntime: {platform.platform_time(begntime)} is after the "
            f"discharge {platform.platform_time(encounter.endtime)}"
        )
    early = _charged_outside(message, _lines(connection, encounter.mdtrt_id), begntime.date(), None)
    if early:
        problems.append(
            f"input.adminfo.begntime: {platform.platform_time(begntime)} is after the day of "
            f"lines {_named_lines(message, early)}: cancel them (2302) or admit earlier"
        )
    return problems


def _cancel_admission(message: Message, data: platform.In2404, connection: Any) -> dict[str, Any]:
    """2404: the encounter and its lines are deleted, an audit row says so, and its stay number
    (ipt_no) may be admitted again. Allowed whatever its lines and discharge, unless it is
    settled or being settled; a settlement of it that was cancelled (2305) stays in the
    ledger, reversed, as every reversal does."""
    ref = data.data
    encounter = _changing(message, connection, [ref], "data")
    removed = connection.execute(
        delete(ENCOUNTER_LINE).where(ENCOUNTER_LINE.c.mdtrt_id == ref.mdtrt_id)
    ).rowcount
    connection.execute(delete(ENCOUNTER).where(ENCOUNTER.c.mdtrt_id == ref.mdtrt_id))
    store.audit(
        connection,
        message.principal.actor,
        "nhsa 2404",
        f"{ref.mdtrt_id} {ref.psn_no} stay {encounter.ipt_no}: admission cancelled, "
        f"{removed} lines with it",
        message.received,
    )
    return {}


def _cancel_discharge(message: Message, data: platform.In2404, connection: Any) -> dict[str, Any]:
    """2405: the person is in hospital again; the discharge's diagnoses stay the encounter's
    (the latest it was told) until a new 2402 or a 2403 names others."""
    ref = data.data
    encounter = _changing(message, connection, [ref], "data")
    if encounter.endtime is None:
        raise Refused(
            f"mdtrt_id: encounter {ref.mdtrt_id} is not discharged: no discharge to cancel"
        )
    connection.execute(
        update(ENCOUNTER)
        .where(ENCOUNTER.c.mdtrt_id == ref.mdtrt_id)
        .values(endtime=None, dscg_way=None, oprn_oprt_code=None, updated_at=message.received)
    )
    store.audit(connection, message.principal.actor, "nhsa 2405", ref.mdtrt_id, message.received)
    return {}


# ---------------------------------------------------------------- 2303/2304 settle


def _settle_ready(message: Message, data: platform.In2303) -> tuple[ClaimIn, list[_NetLine]]:
    """The discharged encounter as a claim, its `medfee_sumamt` checked against its lines."""
    info = data.data
    with read_connection(message.state.engine) as connection:
        encounter = _encounter(message, connection, info.mdtrt_id, info.psn_no)
        return _ready_claim(message, info, encounter, _lines(connection, info.mdtrt_id))


def _seal_ready(
    message: Message, data: platform.In2303
) -> tuple[ClaimIn, list[_NetLine], str, Any]:
    """2304: the claim as `_settle_ready`, its lines sealed in the transaction that reads them
    under a token of this 2304's own (returned), which alone lifts the seal, and the encounter
    read with the person's columns its answer names. While another 2304 holds the encounter
    sealed (a copy of this message, say), it waits up to the lock wait for that one to be
    answered, then reads the lines as that one left them."""
    info = data.data
    state = message.state
    deadline = time.monotonic() + state.settings.lock_wait_ms / 1000
    token = secrets.token_hex(16)
    while True:
        with write_connection(state.engine) as connection:
            encounter = _encounter(
                message, connection, info.mdtrt_id, info.psn_no, lock=True, person=True
            )
            now = state.clock()
            if not _seal_holds(encounter, now):
                lines = _lines(connection, info.mdtrt_id)
                claim, billed = _ready_claim(message, info, encounter, lines)
                connection.execute(
                    update(ENCOUNTER)
                    .where(ENCOUNTER.c.mdtrt_id == info.mdtrt_id)
                    .values(sealed_at=now, sealed_by=token)
                )
                commit(connection)
                return claim, billed, token, encounter
        if time.monotonic() >= deadline:
            raise Refused(
                f"mdtrt_id: encounter {info.mdtrt_id} is being settled by another 2304: send "
                "again once it is answered"
            )
        time.sleep(SEAL_POLL_SECONDS)


def _ready_claim(
    message: Message, info: platform.SettleData, encounter: Any, lines: list[Any]
) -> tuple[ClaimIn, list[_NetLine]]:
    if encounter.endtime is None:
        raise Refused(
            f"mdtrt_id: encounter {info.mdtrt_id} is not discharged: send 2402 before "
            f"{message.envelope.infno}"
        )
    claim, billed = _claim(encounter, lines, encounter.endtime.date())
    total = sum((line.amount for line in billed), Decimal("0.00"))
    if info.medfee_sumamt != total:
        raise Refused(
            f"input.data.medfee_sumamt: {info.medfee_sumamt} is not the encounter's lines' "
            f"total {total:.2f}"
        )
    if total == 0:
        # Settled, it would count as an admission: the person's next deductible anywhere
        # would be cut (subsequent_admission_factor) by a stay that billed nothing.
        raise Refused(
            f"input.data.medfee_sumamt: encounter {info.mdtrt_id}'s lines total 0.00: a stay "
            "that bills nothing is not settled; cancel the admission (2404) instead"
        )
    return claim, billed


def _presettle(message: Message, data: platform.In2303, _: Any) -> dict[str, Any]:
    claim, billed = _settle_ready(message, data)
    with read_connection(message.state.engine) as connection:
        result, _site = preview_settlement(connection, message.state.tariffs, claim)
        if isinstance(result, Rejection):
            raise Refused(
                *(_placed(problem.loc, problem.msg, billed) for problem in result.problems)
            )
        person = _person_row(connection, claim.person_id)
    return {
        "setlinfo": platform.setlinfo(
            result,
            person,
            setl_id=None,
            setl_time=message.local(message.received),
            msgid=message.envelope.msgid,
        ),
        "setldetail": platform.setldetail(result),
    }


def _settle(message: Message, data: platform.In2303, _: Any) -> dict[str, Any]:
    claim, billed, token, person = _seal_ready(message, data)
    # Answered, this 2304 lifts its own seal, in the transaction that keeps its answer (or on
    # its own when refused): refused, the lines may change again; settled, the settlement
    # itself refuses changes until a 2305 cancels it.
    message.seals.append((claim.claim_id, token))
    state = message.state
    outcome: Outcome
    try:
        if message.writer is not None:
            outcome = message.writer.submit(claim, message.principal).result()
        else:
            outcome = settle_claim(
                state.engine, state.tariffs, claim, message.principal, state.clock,
            )  # fmt: skip
    except ApiProblem as problem:
        raise Refused(*_problem_texts(problem, billed)) from None
    made = outcome.made
    if made is None:
        # A replay (a copy of this 2304 settled it first): answered as stored.
        return _settlement_answer(message, outcome.settlement_id, reversal=False)
    # Answered from the settlement just made, as a 5203 reads it back from what was written.
    return _answer_of(message, made.settlement, person, made.settlement_id, made.settled_at)


def _settlement_answer(message: Message, settlement_id: str, *, reversal: bool) -> dict[str, Any]:
    with read_connection(message.state.engine) as connection:
        row = store.settlement_row(connection, settlement_id)
        assert row is not None
        settlement = store.stored_settlement(connection, row)
        person = _person_row(connection, row.person_id)
    moment = row.reversed_at if reversal else row.settled_at
    return _answer_of(message, settlement, person, settlement_id, moment, reversal=reversal)


def _answer_of(
    message: Message,
    settlement: Settlement,
    person: Any,
    settlement_id: str,
    moment: datetime,
    *,
    reversal: bool = False,
) -> dict[str, Any]:
    """2304's, 2305's and 5203's output: `setlinfo` and `setldetail` of `settlement`."""
    return {
        "setlinfo": platform.setlinfo(
            settlement,
            person,
            setl_id=settlement_id,
            setl_time=message.local(moment),
            msgid=message.envelope.msgid,
            reversal=reversal,
        ),
        "setldetail": platform.setldetail(settlement, reversal=reversal),
    }


_SETLINFO_PERSON = (PERSON.c.name, PERSON.c.birth_date, PERSON.c.id_number, PERSON.c.gender)
"""What `setlinfo` reads of the person (`platform.setlinfo`)."""


def _person_row(connection: Connection, person_id: str) -> Any:
    return connection.execute(select(PERSON).where(PERSON.c.person_id == person_id)).one()


# ---------------------------------------------------------------- 2305 cancel, 5203 query


def _named_settlement(message: Message, data: platform.In2305) -> Any:
    ref = data.data
    with read_connection(message.state.engine) as connection:
        row = connection.execute(
            select(SETTLEMENT.c.settlement_id, SETTLEMENT.c.claim_id, SETTLEMENT.c.person_id,
                   SETTLEMENT.c.status)
            .where(SETTLEMENT.c.settlement_id == ref.setl_id,
                   SETTLEMENT.c.hospital_id == message.hospital_id)
        ).first()  # fmt: skip
    if row is None:
        raise Refused(f"setl_id: no settlement {ref.setl_id} at hospital {message.hospital_id}")
    problems = []
    if row.claim_id != ref.mdtrt_id:
        problems.append(f"mdtrt_id: settlement {ref.setl_id} is not of encounter {ref.mdtrt_id}")
    if row.person_id != ref.psn_no:
        problems.append(f"psn_no: settlement {ref.setl_id} is not person {ref.psn_no}'s")
    if problems:
        raise Refused(*problems)
    return row


def _cancel_settlement(message: Message, data: platform.In2305, _: Any) -> dict[str, Any]:
    row = _named_settlement(message, data)
    state = message.state
    reverse_settlement(
        state.engine, row.settlement_id, f"2305 msgid {message.envelope.msgid}",
        message.principal, state.clock,
    )  # fmt: skip
    # No seal to lift: the 2304 that settled lifted its own, and a 2304 in flight now (after
    # an earlier reversal) holds a seal that is its own to lift.
    return _settlement_answer(message, row.settlement_id, reversal=True)


def _query_settlement(message: Message, data: platform.In2305, _: Any) -> dict[str, Any]:
    row = _named_settlement(message, data)
    return _settlement_answer(message, row.settlement_id, reversal=row.status == "reversed")


# ---------------------------------------------------------------- 3201 totals reconciliation


def _reconcile(message: Message, data: platform.In3201, _: Any) -> dict[str, Any]:
    stated = data.data
    try:
        period = finance.checked_period(
            stated.stmt_begndate,
            stated.stmt_enddate,
            message.state.settings.business_timezone,
            names=("input", "data", "stmt_begndate", "stmt_enddate"),
        )
    except ApiProblem as problem:
        raise Refused(*_problem_texts(problem)) from None
    # setl_optins is the clearing institution: the insured region a settlement is cleared
    # with (setlinfo's clr_optins); empty, every settlement of the hospital.
    net = finance.totals_fen(
        message.state.engine, period, message.hospital_id, stated.setl_optins or None
    )["net"]
    ours = {
        "medfee_sumamt": net["total"],
        "fund_pay_sumamt": net["fund_total"],
        "acct_pay": 0,
    }
    differences = [
        f"{name} {getattr(stated, name):.2f} ≠ {Decimal(fen).scaleb(-2):.2f}"
        for name, fen in ours.items()
        if _billed(getattr(stated, name)) != fen
    ]
    if stated.fixmedins_setl_cnt != net["count"]:
        differences.append(f"fixmedins_setl_cnt {stated.fixmedins_setl_cnt} ≠ {net['count']}")
    return {
        "stmtinfo": {
            "setl_optins": stated.setl_optins,
            "stmt_rslt": "1" if differences else "0",
            "stmt_rslt_dscr": "不平：" + "；".join(differences) if differences else "平",
            **{name: platform.amount(fen) for name, fen in ours.items()},
            "fixmedins_setl_cnt": net["count"],
        }
    }


_Handler = Callable[[Message, Any, Any], dict[str, Any]]
_HANDLERS: dict[str, _Handler] = {
    "1101": _person_information,
    "2401": _admit,
    "2403": _change_admission,
    "2404": _cancel_admission,
    "2301": _upload,
    "2302": _cancel_lines,
    "2402": _discharge,
    "2405": _cancel_discharge,
    "2303": _presettle,
    "2304": _settle,
    "2305": _cancel_settlement,
    "5203": _query_settlement,
    "3201": _reconcile,
}
_IN_ONE_TRANSACTION = frozenset({"2401", "2403", "2404", "2301", "2302", "2402", "2405"})
assert set(_HANDLERS) == set(platform.INFNOS) == set(platform.INPUTS)
assert _IN_ONE_TRANSACTION | {"2304", "2305"} == platform.WRITING
