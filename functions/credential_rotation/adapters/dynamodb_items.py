"""Reading one attribute of a DynamoDB item as the ledger's and the call-record index's writers write it.

Each reader raises ValueError naming the attribute and what is wrong with it, never its value: the callers
turn that into their own report (a ledger problem, a MalformedIndexRow).
"""

from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any


def text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, dict) or set(value) != {"S"} or not isinstance(value["S"], str):
        raise ValueError(f"{name}: {'missing' if value is None else 'not a string'}")
    return value["S"]


def date(item: Mapping[str, Any], name: str) -> datetime:
    written = text(item, name)
    try:
        moment = datetime.fromisoformat(written)
    except ValueError:
        raise ValueError(f"{name}: not an ISO 8601 date and time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"{name}: has no time zone")
    return moment


def count(item: Mapping[str, Any], name: str) -> int:
    """A whole number, zero or more."""
    value = item.get(name)
    number = -1
    if isinstance(value, dict) and set(value) == {"N"} and isinstance(value["N"], str):
        with suppress(ValueError):
            number = int(value["N"])
    if number < 0:
        raise ValueError(f"{name}: not a count")
    return number
