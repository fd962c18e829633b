"""PublishAudit's task logic (tasks/publishing.py) over fakes: the report is written before the event that
points to it, the lock is given back before the publish, and nothing after the publish fails the task (a
retried task would publish a second audit event)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from credential_rotation.domain.errors import MalformedTaskInput
from credential_rotation.tasks.publishing import publish_run
from tests.support.fakes import FakeAuditPublisher, FakeRunLock, FakeRunRecords, fault

STARTED = "2026-04-15T03:00:00+00:00"
FINISHED = datetime(2026, 4, 15, 3, 5, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:rotation:run-1"
POLICY = {
    "MaxAgeDays": 90,
    "MinKeep": 1,
    "ProtectedUsernames": [],
    "MaxDeletions": 10,
    "GraceDays": 7,
    "Rotate": False,
    "RotateAfterDays": 60,
    "UsernamePrefix": "sip-",
}


def resolved(dry_run: bool, **extra: Any) -> dict[str, Any]:
    """The run's state as PublishAudit receives it, for a run resolved with no connectors."""
    run = {"Trigger": "schedule", "DryRun": dry_run, "Policy": POLICY, "VoiceConnectorIds": []}
    return {"ExecutionArn": ARN, "StartedAt": STARTED, "Run": run, "Plans": [], "Changes": []} | extra


def refused() -> dict[str, Any]:
    cause = "MaxAgeDays: Input should be a valid integer"
    refusal = {"Refused": {"Error": "InvalidInput", "Cause": cause}, "Trigger": "manual", "DryRun": False}
    return {"ExecutionArn": ARN, "StartedAt": STARTED, "Refusal": refusal}


class World:
    def __init__(self) -> None:
        self.records, self.lock, self.topic = FakeRunRecords(), FakeRunLock(), FakeAuditPublisher()
        self.metrics: list[dict[str, Any]] = []
        self.metrics_error: Exception | None = None
        self.lock.acquire(ARN, FINISHED)

    def emit(self, report: Any) -> None:
        if self.metrics_error is not None:
            raise self.metrics_error
        self.metrics.append(dict(report))

    def publish(self, state: dict[str, Any]):
        return publish_run(
            state, self.records, self.lock, self.topic, self.emit, FINISHED, True, "chime-voice-connector/"
        )


def test_a_run_is_reported_in_the_bucket_then_published_pointing_to_it_and_its_lock_released():
    world = World()

    published = world.publish(resolved(dry_run=False))

    (event,) = world.topic.events
    assert published.report_key == "reports/2026/04/15/run-1.json"
    assert event["Report"]["Key"] == published.report_key
    assert world.records.reports[published.report_key]["ExecutionArn"] == ARN
    assert (published.outcome, published.error, published.cause) == ("SUCCEEDED", None, None)
    assert published.message_id == "message-1"
    assert world.lock.held_by is None
    assert [report["Outcome"] for report in world.metrics] == ["SUCCEEDED"]


def test_a_dry_run_leaves_the_lock_alone():
    world = World()

    world.publish(resolved(dry_run=True))

    # A resolved dry run takes no lease; the one held here is another story, and stays.
    assert world.lock.held_by == ARN


def test_a_refused_run_is_published_as_failed_with_its_refusal_and_gives_back_any_lease():
    world = World()

    published = world.publish(refused())

    (event,) = world.topic.events
    assert (event["Outcome"], event["Error"]["Error"]) == ("FAILED", "InvalidInput")
    assert published.error == "InvalidInput"
    assert published.cause is not None
    assert '"Outcome":"FAILED"' in published.cause
    assert world.lock.held_by is None


def test_a_lock_that_cannot_be_released_does_not_stop_the_publish():
    world = World()
    world.lock.fail_next("release", fault("ProvisionedThroughputExceededException"))

    published = world.publish(resolved(dry_run=False))

    assert len(world.topic.events) == 1
    assert published.lock_not_released == "ProvisionedThroughputExceededException"
    assert world.lock.held_by == ARN  # ReleaseRunLock ends it when the execution ends


def test_metrics_that_cannot_be_emitted_do_not_fail_the_task_after_the_publish():
    world = World()
    world.metrics_error = ValueError("a value that must not be repeated")

    published = world.publish(resolved(dry_run=False))

    assert len(world.topic.events) == 1
    assert published.metrics_not_emitted == "ValueError"


def test_a_failed_publish_fails_the_task_after_the_report_is_written_and_the_lock_released():
    world = World()
    world.topic.fail_next("publish", fault("InternalErrorException"))

    with pytest.raises(Exception, match="InternalErrorException"):
        world.publish(resolved(dry_run=False))

    assert world.topic.events == []
    assert world.records.reports["reports/2026/04/15/run-1.json"]["Outcome"] == "SUCCEEDED"
    assert world.lock.held_by is None
    assert world.metrics == []


@pytest.mark.parametrize("missing", ["ExecutionArn", "StartedAt"])
def test_a_state_without_its_execution_is_a_defect_of_the_state_machine_and_writes_nothing(missing):
    world = World()
    state = resolved(dry_run=False)
    del state[missing]

    with pytest.raises(MalformedTaskInput, match=missing):
        world.publish(state)

    assert world.topic.events == []
    assert world.lock.held_by == ARN
