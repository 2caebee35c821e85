"""JSON whose numbers are exact decimals, both ways, for the interfaces that write money as JSON
numbers (the national platform's, FHIR's).

Reading: `loads` parses every non-integer number as a `Decimal` from its own digits (never
through a binary float) and refuses a key given twice in one object, as the service's own
bodies do (api.core.body). Writing: a number is put in the document as its own digits (`number`,
an orjson fragment), and a `Decimal` anywhere in it is written the same way, so that `24100.00`
leaves as `24100.00`, not `24100.0`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from api.core.body import DuplicateKeyError, no_duplicate_pairs

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


class NotJson(ValueError):
    """The body is not one JSON document this module reads (the message says why)."""


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not a JSON number")


def loads(body: bytes) -> Any:
    """The JSON document with exact decimals; NotJson names what is wrong with it."""
    try:
        return json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_no_constant,
            object_pairs_hook=no_duplicate_pairs,
        )
    except DuplicateKeyError as duplicate:
        raise NotJson(f"the key {duplicate.key!r} is given more than once in one object") from None
    except NotJson:
        raise
    except (ValueError, RecursionError) as error:
        raise NotJson(f"the body is not JSON: {error}") from None


def number(value: Decimal | str) -> orjson.Fragment:
    """`value` (a decimal, or its digits) as a JSON number written with exactly these digits."""
    text = value if isinstance(value, str) else format(value, "f")
    assert _NUMBER.fullmatch(text), text
    return orjson.Fragment(text.encode())


def dumps(document: Any) -> bytes:
    """The document as JSON, every `number` and every `Decimal` written with its own digits."""
    return orjson.dumps(document, default=_decimal)


def _decimal(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return number(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
