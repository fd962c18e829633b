"""Call-record evidence end to end, offline: the phone system places calls through a voice connector, Chime
writes each call's record into the account's CDR bucket, S3 tells EventBridge, the stack's rule sends the
event to the indexing queue, and Lambda's poller (the sandbox's) hands batches to the real indexer, whose
counts land in the ledger table. Read back through the application's own UsageIndex adapter."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from credential_rotation.adapters.indexing_queue import IndexingQueue
from credential_rotation.adapters.usage_index import UsageIndex
from credential_rotation.domain.evidence import Usage
from sandbox.event_bus import FailedDelivery
from sandbox.phone_system import call_record
from sandbox.session import CDR_BUCKET, Sandbox
from sandbox.sqs_poller import FunctionErrored

INDEXER = "IndexCallRecordsFunction"
MAX_RECEIVES = 5  # the indexing queue's RedrivePolicy


def dial(sandbox: Sandbox, voice_connector_id: str, username: str, **options):
    """A call that authenticates with the password the connector holds for this username."""
    password = sandbox.chime_backend.voice_connectors[voice_connector_id].credentials[username]
    attempt = sandbox.phone.call(voice_connector_id, username, password, **options)
    assert attempt.connected
    return attempt


def usage_index(sandbox: Sandbox) -> UsageIndex:
    return UsageIndex(sandbox.client("dynamodb"), sandbox.stack.table_name)


def second(moment: datetime) -> datetime:
    # A record's StartTimeEpochSeconds is in whole seconds, and the index dates a call by it.
    return moment.replace(microsecond=0)


def indexer_logs(sandbox: Sandbox) -> list[dict]:
    return [
        json.loads(line)
        for line in sandbox.function_logs.lines
        if line.startswith("{") and '"Call records indexed"' in line
    ]


def test_calls_over_several_days_are_counted_per_username_with_their_last_use(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a", "sip-b"])
    placed: dict[str, list] = {"sip-a": [], "sip-b": []}
    for day in range(3):
        placed["sip-a"] += [dial(sandbox, vc, "sip-a"), dial(sandbox, vc, "sip-a")]
        if day < 2:
            placed["sip-b"].append(dial(sandbox, vc, "sip-b"))
        sandbox.travel(days=1, hours=2)

    drained = sandbox.index_call_records()

    assert (drained.deliveries, drained.succeeded, drained.failed, drained.dead_lettered) == (8, 8, 0, 0)
    calls = usage_index(sandbox).calls(vc)
    assert dict(calls.by_username) == {
        "sip-a": Usage(last_used_at=second(placed["sip-a"][-1].started_at), calls=6),
        "sip-b": Usage(last_used_at=second(placed["sip-b"][-1].started_at), calls=2),
    }
    assert calls.unauthenticated == 0
    state = usage_index(sandbox).state()
    assert state.newest_call_at == second(placed["sip-a"][-1].started_at)
    assert state.covers_since == second(placed["sip-a"][0].started_at)
    # One invocation of the real indexer, through the sandbox's Lambda, as the event source mapping's.
    assert [i.function_name for i in sandbox.invocations] == [sandbox.stack.index_function_name]
    assert sandbox.event_failures == []
    # Its log names counts only: no username, no object key (a key holds a transaction id).
    logged = "\n".join(sandbox.function_logs.lines)
    assert "sip-a" not in logged
    assert "sip-b" not in logged
    assert placed["sip-a"][0].transaction_id not in logged


def test_the_stack_wires_the_queue_to_the_indexer_as_the_template_says(sandbox_factory):
    sandbox = sandbox_factory()
    mapping = sandbox.stack.event_source_mapping(INDEXER)
    assert mapping.function_name == sandbox.stack.index_function_name
    assert mapping.queue_url == sandbox.stack.indexing_queue_url
    assert (mapping.batch_size, mapping.function_response_types) == (100, ("ReportBatchItemFailures",))
    attributes = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.stack.indexing_queue_url, AttributeNames=["All"]
    )["Attributes"]
    dead_letter_arn = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.stack.indexing_dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": MAX_RECEIVES,
    }
    assert attributes["VisibilityTimeout"] == "720"
    # The functions find the CDR bucket the way the default stack does: the account's global settings.
    assert sandbox.stack.parameters["CallRecordsBucket"] == ""
    assert (
        sandbox.client("chime-sdk-voice").get_global_settings()["VoiceConnector"]["CdrBucket"] == CDR_BUCKET
    )


def test_a_batch_gathers_more_than_one_receive_of_ten(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    for _ in range(25):
        dial(sandbox, vc, "sip-a")
    drained = sandbox.index_call_records()
    assert (drained.batches, drained.deliveries, drained.succeeded) == (1, 25, 25)
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 25


def test_the_same_event_delivered_again_counts_once(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    attempt = dial(sandbox, vc, "sip-a")
    url = sandbox.stack.indexing_queue_url
    (event,) = sandbox.queued(url)
    assert event["detail"]["object"]["key"] == attempt.key
    sqs = sandbox.client("sqs")
    for _ in range(2):  # twice more in the same batch
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))

    drained = sandbox.index_call_records()
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))  # and once more, in a later batch
    later = sandbox.index_call_records()

    assert (drained.deliveries, drained.succeeded, later.deliveries, later.succeeded) == (3, 3, 1, 1)
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 1
    assert [(log["indexed"], log["duplicates"]) for log in indexer_logs(sandbox)] == [(1, 2), (0, 1)]


def test_records_indexed_out_of_order_keep_the_newest_call(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    now = sandbox.now()
    newest = dial(sandbox, vc, "sip-a", at=now - timedelta(hours=1))
    sandbox.index_call_records()
    for hours in (30, 5):  # older calls whose records arrive later
        dial(sandbox, vc, "sip-a", at=now - timedelta(hours=hours))
        sandbox.index_call_records()

    assert usage_index(sandbox).calls(vc).by_username["sip-a"] == Usage(second(newest.started_at), 3)
    assert usage_index(sandbox).state().newest_call_at == second(newest.started_at)


def test_a_call_admitted_by_the_allowed_hosts_counts_as_unauthenticated(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    sandbox.phone.call_from_allowed_host(vc)
    sandbox.phone.call_from_allowed_host(vc)
    dial(sandbox, vc, "sip-a")
    sandbox.index_call_records()
    calls = usage_index(sandbox).calls(vc)
    assert calls.unauthenticated == 2
    assert set(calls.by_username) == {"sip-a"}
    assert calls.by_username["sip-a"].calls == 1


def test_a_malformed_record_is_retried_then_dead_lettered_while_good_ones_in_its_batch_are_indexed(
    sandbox_factory,
):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    good = dial(sandbox, vc, "sip-a")
    bad_key, _ = call_record(vc, sandbox.now(), "sip-a")
    sandbox.put_call_record(bad_key, b"<html>not a call detail record</html>")
    dial(sandbox, vc, "sip-a")

    drained = sandbox.index_call_records()

    # The bad one is delivered with the good ones, then alone until its receives are used up.
    assert drained.deliveries == 2 + MAX_RECEIVES
    assert (drained.succeeded, drained.failed, drained.dead_lettered, drained.left) == (2, MAX_RECEIVES, 1, 0)
    assert usage_index(sandbox).calls(vc).by_username["sip-a"] == Usage(
        second(sandbox.chime_backend.voice_connectors[vc].outbound_attempts[-1].at), 2
    )
    assert [event["detail"]["object"]["key"] for event in sandbox.dead_letters()] == [bad_key]
    # What the index reads as failed records (the evidence is stale while it is not 0).
    queue = IndexingQueue(
        sandbox.client("sqs"), sandbox.stack.indexing_queue_url, sandbox.stack.indexing_dead_letter_queue_url
    )
    assert queue.failed_records() == 1
    # The alarm watches that queue's visible messages, and one is enough for it.
    (alarm,) = sandbox.client("cloudwatch").describe_alarms(
        AlarmNames=[sandbox.stack.physical_ids["IndexingDeadLetterAlarm"]]
    )["MetricAlarms"]
    dead_letter_queue = sandbox.stack.indexing_dead_letter_queue_url.rsplit("/", 1)[1]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": dead_letter_queue}]
    visible = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.stack.indexing_dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert (alarm["MetricName"], alarm["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible",
        "GreaterThanOrEqualToThreshold",
    )
    assert int(visible) >= alarm["Threshold"]
    # The log says why, by the error's name only.
    assert {error for log in indexer_logs(sandbox) for error in log["errors"]} == {"MalformedCallRecord"}
    assert good.transaction_id not in "\n".join(sandbox.function_logs.lines)


def test_a_batch_the_function_failed_whole_is_delivered_again_and_counted_once(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    for _ in range(3):
        dial(sandbox, vc, "sip-a")
    sandbox.aws_faults.fail_invocations(INDEXER, ["Sandbox.Timedout"])
    # One count throttled in the retried batch: that message alone comes back.
    sandbox.aws_faults.script(
        "dynamodb", "TransactWriteItems", ["ProvisionedThroughputExceededException"], function=INDEXER
    )

    drained = sandbox.index_call_records()

    assert [i.error_type for i in sandbox.invocations] == ["Sandbox.Timedout", None, None]
    assert (drained.deliveries, drained.failed, drained.succeeded, drained.dead_lettered) == (
        3 + 3 + 1,
        4,
        3,
        0,
    )
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 3


def test_objects_of_other_buckets_and_folders_are_not_counted(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket="someone-elses-bucket")
    s3.put_bucket_notification_configuration(
        Bucket="someone-elses-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    forged_key, forged = call_record(vc, sandbox.now(), "sip-a")
    sandbox.put_call_record(forged_key, forged, bucket="someone-elses-bucket")
    # Beside the CDRs, outside their folder: the rule's prefix keeps them off the queue.
    sandbox.put_call_record(f"Amazon-Chime-Voice-Connector-SDRs/json/{vc}/2026/01/05/x", b"{}")
    sandbox.put_call_record("notes.txt", b"hello")

    drained = sandbox.index_call_records()

    assert (drained.deliveries, drained.succeeded) == (1, 1)  # the other bucket's: read past, not counted
    assert [(log["ignored"], log["indexed"]) for log in indexer_logs(sandbox)] == [(1, 0)]
    assert usage_index(sandbox).calls(vc).by_username == {}
    assert usage_index(sandbox).state() is None


def test_a_named_cdr_bucket_keeps_other_buckets_events_off_the_queue(sandbox_factory):
    sandbox = sandbox_factory(parameters={"CallRecordsBucket": CDR_BUCKET})
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket="someone-elses-bucket")
    s3.put_bucket_notification_configuration(
        Bucket="someone-elses-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    forged_key, forged = call_record(vc, sandbox.now(), "sip-a")
    sandbox.put_call_record(forged_key, forged, bucket="someone-elses-bucket")
    dial(sandbox, vc, "sip-a")

    drained = sandbox.index_call_records()

    assert (drained.deliveries, drained.succeeded) == (1, 1)
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 1


def test_a_backfill_indexes_records_written_without_events_once_beside_live_ones(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    quiet_vc = sandbox.create_voice_connector("pbx-2", ["sip-z"])
    today = sandbox.now().replace(hour=0, minute=0, second=0, microsecond=0)
    # Live: delivered by events and indexed before the backfill.
    for days_ago in (2, 1):
        dial(sandbox, vc, "sip-a", at=today - timedelta(days=days_ago, hours=-10))
    sandbox.index_call_records()
    # Written while the bucket's EventBridge notifications were off: only a backfill finds them.
    sandbox.set_call_record_events(enabled=False)
    for days_ago in (2, 1):
        dial(sandbox, vc, "sip-a", at=today - timedelta(days=days_ago, hours=-11))
    sandbox.phone.call_from_allowed_host(quiet_vc, at=today - timedelta(days=3, hours=-9))
    too_old = dial(sandbox, vc, "sip-a", at=today - timedelta(days=5))
    sandbox.set_call_record_events(enabled=True)
    newest = dial(sandbox, vc, "sip-a")  # live, waiting in the queue when the backfill starts
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 2

    answer, drained = sandbox.backfill_call_records(look_back_days=3)

    assert answer == {"Days": 4, "VoiceConnectors": 2, "CoversSince": (today - timedelta(days=3)).isoformat()}
    assert drained.deliveries == 2 * 4 + 1  # a page per connector and day, and the live event
    assert (drained.failed, drained.dead_lettered) == (0, 0)
    calls = usage_index(sandbox).calls(vc)
    assert calls.by_username["sip-a"] == Usage(second(newest.started_at), 5)  # not the one 5 days back
    assert usage_index(sandbox).calls(quiet_vc).unauthenticated == 1
    state = usage_index(sandbox).state()
    assert (state.backfill_pending, state.covers_since) == (0, today - timedelta(days=3))
    assert too_old.key is not None

    # A second backfill counts nothing twice.
    sandbox.backfill_call_records(look_back_days=3)
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 5
    assert usage_index(sandbox).calls(quiet_vc).unauthenticated == 1


def test_a_wrong_password_fails_authentication_and_leaves_nothing_to_index(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    attempt = sandbox.phone.call(vc, "sip-a", "not-the-password")

    assert not attempt.connected
    assert sandbox.client("s3").list_objects_v2(Bucket=CDR_BUCKET).get("KeyCount") == 0
    assert sandbox.queued(sandbox.stack.indexing_queue_url) == []
    drained = sandbox.index_call_records()
    assert drained.deliveries == 0
    assert sandbox.invocations == []
    assert usage_index(sandbox).state() is None
    failed = sandbox.chime_backend.voice_connectors[vc].failed_authentications
    assert [(item.username, item.at) for item in failed] == [("sip-a", attempt.started_at)]


def test_an_event_the_queue_refuses_is_parked_in_the_dead_letter_queue_not_lost(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    sqs = sandbox.client("sqs")
    url = sandbox.stack.indexing_queue_url
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    (statement,) = policy["Statement"]
    sources = statement["Condition"]["ArnEquals"]
    sources["aws:SourceArn"] = [f"{arn}-another" for arn in sources["aws:SourceArn"]]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})

    dial(sandbox, vc, "sip-a")

    queue_arn = sandbox.stack.event_source_mapping(INDEXER).queue_arn
    rule = sandbox.stack.physical_ids["CallRecordCreatedRule"]
    assert sandbox.event_failures == [FailedDelivery(rule, queue_arn, "AccessDenied")]
    assert sandbox.index_call_records().deliveries == 0
    # The rule's dead-letter queue holds it: the alarm pages and the index reads as stale.
    (parked,) = sandbox.dead_letters()
    assert (parked["source"], parked["detail-type"]) == ("aws.s3", "Object Created")


@pytest.mark.parametrize("look_back_days", [0, 91])
def test_a_backfill_out_of_range_is_refused_before_anything_is_queued(sandbox_factory, look_back_days):
    sandbox = sandbox_factory()
    sandbox.create_voice_connector("pbx-1", ["sip-a"])
    with pytest.raises(FunctionErrored) as raised:
        sandbox.backfill_call_records(look_back_days=look_back_days)
    assert raised.value.error_type == "InvalidInput"
    assert sandbox.queued(sandbox.stack.indexing_queue_url) == []
    assert usage_index(sandbox).state() is None


def test_the_clock_dates_records_placed_without_a_time(sandbox_factory):
    sandbox = sandbox_factory(start=datetime(2026, 6, 30, 23, 0, tzinfo=UTC))
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    sandbox.travel(days=2)
    attempt = dial(sandbox, vc, "sip-a")
    assert f"/{vc}/2026/07/02/" in attempt.key


def test_a_cdr_bucket_set_after_a_refused_backfill_is_found_by_the_same_containers(sandbox_factory):
    """The account sets its CDR bucket after the stack is up, and someone ran the backfill too early."""
    sandbox = sandbox_factory()
    chime = sandbox.client("chime-sdk-voice")
    chime.update_global_settings(VoiceConnector={})
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    with pytest.raises(FunctionErrored) as refused:
        sandbox.backfill_call_records(look_back_days=1)
    assert refused.value.error_type == "InvalidInput"

    chime.update_global_settings(VoiceConnector={"CdrBucket": CDR_BUCKET})
    answer, _ = sandbox.backfill_call_records(look_back_days=1)
    dial(sandbox, vc, "sip-a")
    sandbox.index_call_records()

    assert answer["VoiceConnectors"] == 1
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 1


def test_a_backfilled_day_longer_than_a_page_is_continued_through_the_queue(sandbox_factory, monkeypatch):
    from credential_rotation.adapters import call_record_store

    monkeypatch.setattr(call_record_store, "PAGE_SIZE", 2)  # ListObjectsV2 pages of 2 instead of 1,000
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    today = sandbox.now().replace(hour=0, minute=0, second=0, microsecond=0)
    sandbox.set_call_record_events(enabled=False)
    placed = [dial(sandbox, vc, "sip-a", at=today - timedelta(days=1, hours=-minute)) for minute in range(5)]

    _, drained = sandbox.backfill_call_records(look_back_days=1)

    # The backfill queues a page per day (yesterday, today); yesterday's five records take pages of 2, 2
    # and 1, each queued by the page before it.
    assert drained.deliveries == 2 + 2
    assert usage_index(sandbox).calls(vc).by_username["sip-a"] == Usage(second(placed[-1].started_at), 5)
    assert usage_index(sandbox).state().backfill_pending == 0


def test_a_malformed_record_in_a_backfilled_day_keeps_the_backfill_pending(sandbox_factory):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    yesterday = sandbox.now().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sandbox.set_call_record_events(enabled=False)
    # Listed before the bad record (keys sort by time): counted before the page fails on it.
    dial(sandbox, vc, "sip-a", at=yesterday)
    bad_key, _ = call_record(vc, yesterday + timedelta(hours=1), "sip-a")
    sandbox.put_call_record(bad_key, b"{}")
    sandbox.set_call_record_events(enabled=True)
    dial(sandbox, vc, "sip-a")

    _, drained = sandbox.backfill_call_records(look_back_days=1)

    assert (drained.failed, drained.dead_lettered) == (MAX_RECEIVES, 1)
    (page,) = sandbox.dead_letters()
    assert page["Backfill"]["Prefix"].endswith(f"{vc}/{yesterday:%Y/%m/%d}/")
    # Yesterday is still to index: the index reads as stale until a person fixes the record and redrives.
    assert usage_index(sandbox).state().backfill_pending == 1
    assert usage_index(sandbox).calls(vc).by_username["sip-a"].calls == 2


def test_a_record_that_failed_after_waiting_days_in_the_queue_is_still_retried_and_dead_lettered(
    sandbox_factory,
):
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    bad_key, _ = call_record(vc, sandbox.now(), "sip-a")
    sandbox.put_call_record(bad_key, b"[]")
    sandbox.travel(days=2)  # more than the 12 hours moto measures a visibility change from (see sqs_poller)

    drained = sandbox.index_call_records()

    assert (drained.deliveries, drained.failed, drained.dead_lettered) == (MAX_RECEIVES, MAX_RECEIVES, 1)


@pytest.mark.parametrize(
    "where",
    [
        {"account": "210987654321", "region": ""},
        {"account": "2109", "region": "us-east-1"},
        {"account": "210987654321", "region": "nowhere"},
    ],
    ids=["account-without-region", "not-an-account", "not-a-region"],
)
def test_an_event_whose_account_or_region_is_not_one_is_unreadable_and_counts_nothing(sandbox_factory, where):
    """The account and Region an event came from decide whose index a record counts in and which spoke
    role reads it: an event that does not name both as AWS does is dead-lettered, never guessed."""
    sandbox = sandbox_factory()
    vc = sandbox.create_voice_connector("pbx-1", ["sip-a"])
    dial(sandbox, vc, "sip-a")
    url = sandbox.stack.indexing_queue_url
    (event,) = sandbox.queued(url)
    sandbox.client("sqs").purge_queue(QueueUrl=url)
    sandbox.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(event | where))

    drained = sandbox.index_call_records()

    assert (drained.succeeded, drained.dead_lettered) == (0, 1)
    assert usage_index(sandbox).calls(vc).by_username == {}
    assert {error for log in indexer_logs(sandbox) for error in log["errors"]} == {"UnreadableMessage"}
