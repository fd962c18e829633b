"""Indexing call detail records over the fakes: every record's effect exactly once, in any order, whatever
is delivered twice or late; what cannot be read fails its message alone; the backfill pages through a day
and marks it done only after its last page."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from credential_rotation.domain.call_records import parse_key
from credential_rotation.domain.evidence import EvidenceState, assess
from credential_rotation.tasks.indexing import (
    BackfillPage,
    ObjectCreated,
    day_prefix,
    index_backfill_page,
    index_notifications,
    start_backfill,
)
from tests.support.call_records import cdr
from tests.support.fakes import (
    FakeCallRecordBucket,
    FakeIndexingQueue,
    FakeVoiceConnectors,
    InMemoryUsageIndex,
    fault,
)

BUCKET = "cdr-bucket"
VC = "abcdef1ghij2klmno3pqr4"
OTHER_VC = "zyxwvutsrqponmlkjihgf0"
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 5, 3, 3, tzinfo=UTC)


@pytest.fixture
def bucket() -> FakeCallRecordBucket:
    return FakeCallRecordBucket()


@pytest.fixture
def index() -> InMemoryUsageIndex:
    return InMemoryUsageIndex()


def place(bucket, vc_id, at, username, transaction_id=None) -> ObjectCreated:
    key, body = cdr(vc_id, at, username, transaction_id)
    bucket.write(BUCKET, key, body)
    return ObjectCreated(message_id=f"m-{key[-12:]}", bucket=BUCKET, key=key)


def calls_of(index, vc_id=VC):
    return {name: (usage.calls, usage.last_used_at) for name, usage in index.calls(vc_id).by_username.items()}


def test_each_call_counts_once_and_the_newest_dates_the_username(bucket, index):
    notes = [place(bucket, VC, T0 + timedelta(hours=hour), "pbx") for hour in range(5)]
    notes.append(place(bucket, VC, T0, "other"))
    result = index_notifications(notes, bucket, index, BUCKET, NOW)
    assert (result.indexed, result.failed) == (6, [])
    assert calls_of(index) == {"pbx": (5, T0 + timedelta(hours=4)), "other": (1, T0)}
    state = index.state()
    assert state.newest_call_at == T0 + timedelta(hours=4)
    assert state.covers_since == T0


def test_any_order_any_duplicates_any_batching_gives_the_same_index(bucket):
    notes = [place(bucket, VC, T0 + timedelta(minutes=7 * n), f"user-{n % 3}") for n in range(30)]
    notes += [place(bucket, OTHER_VC, T0 + timedelta(minutes=n), None) for n in range(4)]
    in_order = InMemoryUsageIndex()
    index_notifications(notes, bucket, in_order, BUCKET, NOW)
    shuffler = random.Random(7)
    for _ in range(5):
        deliveries = notes + shuffler.sample(notes, 12)  # at-least-once: some twice
        shuffler.shuffle(deliveries)
        shuffled = InMemoryUsageIndex()
        for start in range(0, len(deliveries), 4):
            index_notifications(deliveries[start : start + 4], bucket, shuffled, BUCKET, NOW)
        assert calls_of(shuffled) == calls_of(in_order)
        assert shuffled.unauthenticated == in_order.unauthenticated == {OTHER_VC: 4}
        assert shuffled.state().newest_call_at == in_order.state().newest_call_at


def test_a_late_record_adds_its_count_and_never_moves_a_date_back(bucket, index):
    index_notifications([place(bucket, VC, T0 + timedelta(days=1), "pbx")], bucket, index, BUCKET, NOW)
    index_notifications([place(bucket, VC, T0, "pbx")], bucket, index, BUCKET, NOW)
    assert calls_of(index) == {"pbx": (2, T0 + timedelta(days=1))}
    assert index.state().newest_call_at == T0 + timedelta(days=1)


def test_a_duplicate_delivery_counts_nothing(bucket, index):
    note = place(bucket, VC, T0, "pbx")
    first = index_notifications([note], bucket, index, BUCKET, NOW)
    again = index_notifications([note, note], bucket, index, BUCKET, NOW)
    assert (first.indexed, again.indexed, again.duplicates) == (1, 0, 2)
    assert calls_of(index) == {"pbx": (1, T0)}


def test_a_malformed_record_fails_its_message_alone(bucket, index):
    good = place(bucket, VC, T0, "pbx")
    bad = place(bucket, VC, T0 + timedelta(hours=1), "pbx")
    bucket.write(BUCKET, bad.key, b"{ not json")
    result = index_notifications([bad, good], bucket, index, BUCKET, NOW)
    assert result.failed == [bad.message_id]
    assert result.errors == ["MalformedCallRecord"]
    assert calls_of(index) == {"pbx": (1, T0)}


def test_a_read_that_fails_is_retried_and_then_counts_once(bucket, index):
    note = place(bucket, VC, T0, "pbx")
    bucket.fail_next("read", fault("SlowDown"))
    assert index_notifications([note], bucket, index, BUCKET, NOW).failed == [note.message_id]
    assert index_notifications([note], bucket, index, BUCKET, NOW).failed == []
    assert calls_of(index) == {"pbx": (1, T0)}


def test_counted_but_not_advanced_is_delivered_again_and_completes_without_counting_twice(bucket, index):
    earlier = place(bucket, VC, T0, "pbx")
    index_notifications([earlier], bucket, index, BUCKET, NOW)
    later = place(bucket, VC, T0 + timedelta(days=1), "pbx")
    index.fail_next("advance", fault("ProvisionedThroughputExceededException"))
    assert index_notifications([later], bucket, index, BUCKET, NOW).failed == [later.message_id]
    assert calls_of(index) == {"pbx": (2, T0)}  # counted, not yet dated
    redelivered = index_notifications([later], bucket, index, BUCKET, NOW)
    assert (redelivered.failed, redelivered.duplicates) == ([], 1)
    assert calls_of(index) == {"pbx": (2, T0 + timedelta(days=1))}


def test_objects_outside_the_cdr_folder_or_the_cdr_bucket_are_ignored(bucket, index):
    note = place(bucket, VC, T0, "pbx")
    foreign = ObjectCreated("m-foreign", "attacker-bucket", note.key)
    streaming = ObjectCreated("m-sdr", BUCKET, "Amazon-Chime-Voice-Connector-SDRs/json/x")
    result = index_notifications([foreign, streaming], bucket, index, BUCKET, NOW)
    assert (result.ignored, result.failed, bucket.reads) == (2, [], [])
    # With no CDR bucket known, nothing is evidence.
    assert index_notifications([note], bucket, index, None, NOW).ignored == 1
    assert index.state() is None


def test_a_backfill_pages_through_each_day_and_marks_it_done_after_the_last_page(bucket, index):
    bucket.page_size = 2
    queue = FakeIndexingQueue()
    chime = FakeVoiceConnectors({VC: []})
    day = NOW.replace(hour=0) - timedelta(days=1)
    for minute in range(5):
        place(bucket, VC, day + timedelta(minutes=minute), "pbx")
    started = start_backfill(chime, index, queue, BUCKET, 2, NOW)
    assert (started.days, started.covers_since) == (3, NOW.replace(hour=0) - timedelta(days=2))
    assert (len(queue.backfill), index.state().backfill_pending) == (3, 3)
    # Stale until every day is done, even though records are already indexed.
    while queue.backfill:
        _, prefix, after = queue.backfill.pop(0)
        index_backfill_page(BackfillPage("m", BUCKET, prefix, after), bucket, index, queue, NOW)
        if queue.backfill:
            assert (
                assess(index.state(), index.calls(VC), NOW, timedelta(hours=24)).state is EvidenceState.STALE
            )
    assert index.state().backfill_pending == 0
    assert calls_of(index) == {"pbx": (5, day + timedelta(minutes=4))}
    assert index.state().covers_since == started.covers_since


def test_a_backfill_over_records_already_indexed_counts_nothing_twice(bucket, index):
    queue = FakeIndexingQueue()
    live = place(bucket, VC, NOW - timedelta(hours=5), "pbx")
    index_notifications([live], bucket, index, BUCKET, NOW)
    start_backfill(FakeVoiceConnectors({VC: []}), index, queue, BUCKET, 1, NOW)
    for _, prefix, after in list(queue.backfill):
        index_backfill_page(BackfillPage("m", BUCKET, prefix, after), bucket, index, queue, NOW)
    assert calls_of(index) == {"pbx": (1, parse_key(live.key).started_at.replace(microsecond=0))}


def test_a_backfill_page_with_a_malformed_record_fails_whole_and_its_day_stays_pending(bucket, index):
    queue = FakeIndexingQueue()
    start_backfill(FakeVoiceConnectors({VC: []}), index, queue, BUCKET, 1, NOW)
    bad = place(bucket, VC, NOW - timedelta(hours=1), "pbx")
    bucket.write(BUCKET, bad.key, b"[]")
    _, prefix, after = next(page for page in queue.backfill if page[1] == day_prefix(VC, NOW.replace(hour=0)))
    with pytest.raises(Exception, match="not a JSON object"):
        index_backfill_page(BackfillPage("m", BUCKET, prefix, after), bucket, index, queue, NOW)
    assert prefix in index.pending


@pytest.mark.parametrize("days", [0, 91])
def test_a_backfill_look_back_out_of_range_is_refused(bucket, index, days):
    with pytest.raises(ValueError, match="LookBackDays"):
        start_backfill(FakeVoiceConnectors({VC: []}), index, FakeIndexingQueue(), BUCKET, days, NOW)
