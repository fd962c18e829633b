"""Record a listing in the ledger: date the usernames seen for the first time, end the lives of those gone.

The Chime SDK Voice API keeps no dates, so a username's age is the time since a run first listed it. Two
runs may observe one connector at once; the ledger's writes are conditional on the row each run read, so
they agree on one date: the loser of a race takes the winner's date (or, if that row cannot be trusted,
its own ``now``, which can only make a deletion later).

A listed username whose row a delete step marked RetiringBy keeps its date while the mark is live
(``MARK_LIFETIME`` after RetiringAt: the step may still be deleting it, and its retry must find the mark to
report the deletion). A mark that has outlived its step on a username still listed means the delete did not
take effect (a server fault or a refusal whose mark stayed), or the deletion went unrecorded and the
username came back: either way the username starts a new life, dated now, as one back after its life
ended, which can only make a deletion later. A mark without RetiringAt was written before marks were
dated, and counts as outlived.

``usernames`` must all be keyable (see ``domain/unmanaged.py``). A username whose row is malformed is left
alone and gets no date: the policy judges it as new.
"""

from collections.abc import Iterable
from datetime import datetime

from credential_rotation.domain.ledger_records import (
    ISSUING,
    MARK_LIFETIME,
    PRESENT,
    LedgerRecord,
    Observation,
)
from credential_rotation.ports import Ledger


def observe(ledger: Ledger, voice_connector_id: str, usernames: Iterable[str], now: datetime) -> Observation:
    """The first-seen date of every listed username the ledger can date, and the ledger as read."""
    view = ledger.read(voice_connector_id)
    listed = set(usernames)
    first_seen: dict[str, datetime] = {}
    for username in sorted(listed - view.unreadable):
        first_seen[username] = _date(ledger, voice_connector_id, username, view.records.get(username), now)
    for username, record in view.records.items():
        if record.state == PRESENT and username not in listed:
            # A failed condition inside means a concurrent run already ended this life, or began a new one.
            ledger.end_life(voice_connector_id, record, now)
    return Observation(first_seen=first_seen, view=view)


def _date(
    ledger: Ledger, voice_connector_id: str, username: str, record: LedgerRecord | None, now: datetime
) -> datetime:
    if record is not None and record.state == ISSUING:
        # A successor CreateSecret chose, on the connector for the first time.
        won = ledger.date_successor(voice_connector_id, record, now)
    elif (
        record is not None
        and record.state == PRESENT
        and record.first_seen_at is not None
        and not _mark_outlived(record, now)
    ):
        return record.first_seen_at
    else:
        # New, back after its life ended (most likely a new credential under an old name), or still here
        # after the delete step that marked it ended: not deleted, or deleted and put back.
        won = ledger.start_life(voice_connector_id, username, now, record)
    if won:
        return now
    # Another writer dated it first: its date stands.
    return ledger.first_seen(voice_connector_id, username) or now


def _mark_outlived(record: LedgerRecord, now: datetime) -> bool:
    """Whether the row carries a delete step's mark that the step can no longer act on. ``now`` is when
    this run started, so a mark written since reads as younger than it is, and is kept."""
    if record.retiring_by is None:
        return False
    return record.retiring_at is None or now - record.retiring_at > MARK_LIFETIME
