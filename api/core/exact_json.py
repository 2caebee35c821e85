"""JSON whose numbers are exact decimals, both ways, for the interfaces that write money as JSON
numbers (the national platform's, FHIR's).

Reading: `loads` parses every non-integer number as a `Decimal` from its own digits (never
through a binary float) and refuses a key given twice in one object, as the service's own
bodies do (api.core.body). Writing: a number is put in the document as a marked string
(`number`), and `dumps` writes the document with orjson and then each marked string as its
digits, so that `24100.00` leaves as `24100.00`, not `24100.0`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Final

import orjson

from api.core.body import DuplicateKeyError, no_duplicate_pairs

_MARK: Final = "\x1fNUM:"
_MARKED = re.compile(rb'"\\u001fNUM:(-?[0-9]+(?:\.[0-9]+)?)"')
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


def number(value: Decimal | str) -> str:
    """`value` (a decimal, or its digits) as a marked string that `dumps` writes as a number."""
    text = value if isinstance(value, str) else format(value, "f")
    assert _NUMBER.fullmatch(text), text
    return f"{_MARK}{text}"


def dumps(document: Any) -> bytes:
    """The document as JSON, every marked string written as its exact decimal number."""
    return unmarked(orjson.dumps(document))


def unmarked(data: bytes) -> bytes:
    return _MARKED.sub(lambda match: match.group(1), data)
