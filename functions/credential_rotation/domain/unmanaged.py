"""Usernames the workflow cannot manage: kept, never deleted, and reported by fingerprint.

The ledger keys a username as a DynamoDB sort key, which must be a non-empty UTF-8 string of at most
1,024 bytes. The Chime SDK Voice API documents no limit of its own (its model puts no length, pattern or
count on a username; the API reference asks for "RFC2617 compliant, US-ASCII"), so a listing may hold a
username the ledger cannot date. Such a credential cannot be judged: it is kept, the connector's other
credentials are judged as usual, and the audit names it by fingerprint with what is wrong, so that a
person can remove or rename it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# DynamoDB's largest sort key value: the longest username the ledger can date.
MAX_USERNAME_BYTES = 1_024


class Unmanageable(StrEnum):
    EMPTY = "empty"
    NOT_TEXT = "not-text"
    NOT_ENCODABLE = "not-utf-8-encodable"
    TOO_LONG = "longer-than-1024-bytes"


@dataclass(frozen=True)
class Sorted:
    managed: tuple[str, ...]
    # (the username as listed, why the ledger cannot key it)
    unmanaged: tuple[tuple[object, Unmanageable], ...]


def why_unmanageable(username: object) -> Unmanageable | None:
    if not isinstance(username, str):
        return Unmanageable.NOT_TEXT
    if not username:
        return Unmanageable.EMPTY
    try:
        encoded = username.encode("utf-8")
    except UnicodeEncodeError:
        return Unmanageable.NOT_ENCODABLE
    if len(encoded) > MAX_USERNAME_BYTES:
        return Unmanageable.TOO_LONG
    return None


def sort_listing(usernames: Iterable[object]) -> Sorted:
    """The usernames the workflow can date and judge (each once), and the others with their reason."""
    managed: dict[str, None] = {}
    unmanaged: list[tuple[object, Unmanageable]] = []
    for username in usernames:
        why = why_unmanageable(username)
        if why is None:
            managed[str(username)] = None
        else:
            unmanaged.append((username, why))
    return Sorted(managed=tuple(managed), unmanaged=tuple(unmanaged))
