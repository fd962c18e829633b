"""Index the account's call detail records: per connector and username, the calls and the last one.

Every CDR object Chime writes reaches the indexing queue (S3 -> EventBridge -> SQS), once or more, in no
order. Each is counted once, by its transaction id (``UsageIndex.count`` is conditional on it), and moves
the usernames' LastUsedAt and the watermark forward only (``advance`` keeps the newest): so a duplicate or
a late record changes nothing it should not, and a retried batch does again exactly what was not done.

A record that cannot be read or is not what Chime documents fails its message: SQS retries it and then
dead-letters it, and the index reports itself stale (domain/evidence.py) until a person looks: a record
that cannot be counted may be the one that shows a credential in use.

Objects outside the CDR folder, and objects in any bucket but the account's CDR bucket, are ignored:
only Chime writes evidence. In fleet mode another account's records arrive too (its spoke forwards its
bucket's events to the hub's event bus): they are read through that account's spoke role, must be in the
bucket that account's Chime settings name and must say they are that account's (``AwsAccountId``), and
are indexed under that account (adapters/usage_index.py).

The backfill indexes the records already in the bucket, one day of one connector per message, a page of
keys at a time, and marks each day done when its last page is indexed; a fleet account's backfill names
the account on each page, and its records are read and checked as its forwarded ones are.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from credential_rotation.domain.call_records import CDR_PREFIX, CallRecord, is_call_record_key, parse_record
from credential_rotation.domain.targets import Target
from credential_rotation.ports import CallRecordStore, IndexingQueue, UsageIndex, VoiceConnectors

# The longest look-back a backfill takes: a day per connector is one message and one pending entry.
MAX_LOOK_BACK_DAYS = 90


@dataclass(frozen=True)
class ObjectCreated:
    """One S3 "Object Created" notification, as the queue delivered it."""

    message_id: str
    bucket: str
    key: str
    # The account and Region the event came from (EventBridge sets them; a sender cannot choose them).
    account: str = ""
    region: str = ""


@dataclass(frozen=True)
class BackfillPage:
    """A backfill message: index the objects under ``prefix`` after ``start_after``."""

    message_id: str
    bucket: str
    prefix: str
    start_after: str | None = None
    # Fleet mode: the account whose bucket it is, and the Region of the spoke role that reads it.
    target: Target | None = None


@dataclass
class BatchResult:
    failed: list[str] = field(default_factory=list)
    indexed: int = 0
    duplicates: int = 0
    ignored: int = 0
    # Error names of the failed messages, for the log (never a key: it holds a transaction id).
    errors: list[str] = field(default_factory=list)


def index_notifications(
    notifications: Sequence[ObjectCreated],
    store: CallRecordStore,
    index: UsageIndex,
    cdr_bucket: str | None,
    now: datetime,
    account: str | None = None,
) -> BatchResult:
    """Index one batch of notifications; the message ids that failed are for SQS to deliver again.

    ``account``: the fleet account whose records these all are (None: this account's)."""
    result = BatchResult()
    counted: list[tuple[str, CallRecord]] = []
    for notification in notifications:
        if notification.bucket != cdr_bucket or not is_call_record_key(notification.key):
            result.ignored += 1
            continue
        try:
            call = parse_record(notification.key, store.read(notification.bucket, notification.key), account)
            new = index.count(call, now)
        except Exception as error:  # each message fails alone; the batch goes on
            result.failed.append(notification.message_id)
            result.errors.append(_name(error))
            continue
        result.indexed += new
        result.duplicates += not new
        counted.append((notification.message_id, call))
    try:
        index.advance([call for _, call in counted], now)
    except Exception as error:
        # Counted but not dated: deliver them again; their counts are already in, and are not repeated.
        result.failed.extend(message_id for message_id, _ in counted)
        result.errors.append(_name(error))
    return result


def index_backfill_page(
    page: BackfillPage, store: CallRecordStore, index: UsageIndex, queue: IndexingQueue, now: datetime
) -> BatchResult:
    """Index one page of a backfill day; raises when any object fails, so the whole page is retried. A
    fleet account's page: every record must say it is that account's."""
    account = page.target.account if page.target else None
    keys, next_start = store.keys(page.bucket, page.prefix, page.start_after)
    calls = []
    result = BatchResult()
    for key in keys:
        if not is_call_record_key(key):
            result.ignored += 1
            continue
        call = parse_record(key, store.read(page.bucket, key), account)
        new = index.count(call, now)
        result.indexed += new
        result.duplicates += not new
        calls.append(call)
    index.advance(calls, now)
    if next_start is not None:
        queue.send_backfill(page.bucket, [(page.prefix, next_start)], page.target)
    else:
        index.finish_backfill_day(page.prefix)
    return result


@dataclass(frozen=True)
class BackfillStarted:
    bucket: str
    days: int
    voice_connectors: int
    covers_since: datetime


def start_backfill(
    chime: VoiceConnectors,
    index: UsageIndex,
    queue: IndexingQueue,
    bucket: str,
    look_back_days: int,
    now: datetime,
    target: Target | None = None,
) -> BackfillStarted:
    """Queue every day of every connector back to ``look_back_days`` before today. The days are recorded
    as pending before the first message goes out, so the index reads as stale until the last is done."""
    if not 1 <= look_back_days <= MAX_LOOK_BACK_DAYS:
        raise ValueError(f"LookBackDays must be between 1 and {MAX_LOOK_BACK_DAYS}")
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=look_back_days)
    connectors = sorted(chime.voice_connector_ids())
    prefixes = [
        day_prefix(vc_id, first_day + timedelta(days=n))
        for vc_id in connectors
        for n in range(look_back_days + 1)
    ]
    index.begin_backfill(prefixes, first_day)
    queue.send_backfill(bucket, [(prefix, None) for prefix in prefixes], target)
    return BackfillStarted(bucket, look_back_days + 1, len(connectors), first_day)


def day_prefix(voice_connector_id: str, day: datetime) -> str:
    return f"{CDR_PREFIX}{voice_connector_id}/{day:%Y/%m/%d}/"


def _name(error: Exception) -> str:
    # The class name only: a message may carry the object's key, and a key holds a transaction id.
    return type(error).__name__
