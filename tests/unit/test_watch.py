"""The rollback watch: the verdict from a connector's calls, which connectors are watched, and the restore
of what the run deleted (only what this workflow issued and still holds), over the fakes."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credential_rotation.domain.ledger_records import PRESENT, LedgerRecord
from credential_rotation.domain.models import RestoreRecord, RestoreRequest, WatchRequest
from credential_rotation.domain.watch import CallCounts, WatchVerdict, judge_watch
from credential_rotation.tasks.alerting import BROKEN, page_for
from credential_rotation.tasks.audit import build_event, build_report
from credential_rotation.tasks.watching import restore_deleted, select_watched, watch_connector
from tests.support.fakes import (
    FakeConnectorHealth,
    FakeConnectorSecrets,
    FakeRunRecords,
    FakeVoiceConnectors,
    InMemoryLedger,
    fault,
)
from tests.support.issuing import issue_successor

VC = "abcdefghijklmnopqrstuv"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-9"
NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)
POLICY = {
    "MaxAgeDays": 90,
    "MinKeep": 1,
    "ProtectedUsernames": [],
    "MaxDeletions": 20,
    "GraceDays": 7,
    "Rotate": True,
    "RotateAfterDays": 60,
    "UsernamePrefix": "sip-",
}


# The verdict


@pytest.mark.parametrize(
    ("watched", "baseline", "verdict", "signals"),
    [
        (CallCounts(20, 0, 0), CallCounts(1000, 10, 5), WatchVerdict.HEALTHY, ()),
        (
            CallCounts(20, 12, 12),
            CallCounts(1000, 10, 5),
            WatchVerdict.BROKEN,
            ("outbound-failures", "sip-4xx"),
        ),
        (CallCounts(20, 12, 0), CallCounts(1000, 10, 5), WatchVerdict.BROKEN, ("outbound-failures",)),
        # Two failures are not a page, whatever the share.
        (CallCounts(2, 2, 2), CallCounts(1000, 0, 0), WatchVerdict.HEALTHY, ()),
        # A connector that always fails a third of its calls is doing what it always does.
        (CallCounts(30, 10, 0), CallCounts(3000, 1000, 0), WatchVerdict.HEALTHY, ()),
        # A new connector with no baseline: the rise is against zero.
        (CallCounts(10, 5, 0), CallCounts(0, 0, 0), WatchVerdict.BROKEN, ("outbound-failures",)),
        (CallCounts(0, 0, 0), CallCounts(1000, 10, 5), WatchVerdict.QUIET, ()),
    ],
)
def test_a_deletion_breaks_a_connector_when_failures_rise_against_its_own_baseline(
    watched, baseline, verdict, signals
):
    judgement = judge_watch(watched, baseline)
    assert (judgement.verdict, judgement.signals) == (verdict, signals)


def test_only_connectors_the_run_deleted_on_are_watched_and_no_wait_without_them():
    changes = [
        {"VoiceConnectorId": "a" * 22, "Deletion": {"Deleted": 2, "Skipped": 0}},
        {"VoiceConnectorId": "b" * 22, "Deletion": {"Deleted": 0, "Skipped": 1}},
        # The delete step failed: it may have deleted before it did.
        {"VoiceConnectorId": "c" * 22, "Deletion": {"Deleted": 0, "Skipped": 0}, "Step": "DeleteCredentials"},
        {"VoiceConnectorId": "d" * 22, "Deletion": {"Deleted": 0, "Skipped": 0}, "Step": "SetSecret"},
    ]
    selection = select_watched(changes, 600)
    assert (selection.watch_seconds, selection.voice_connector_ids) == (600, ("a" * 22, "c" * 22))
    assert select_watched(changes[1:2], 600).watch_seconds == 0


def test_the_window_is_the_wait_and_the_baseline_the_week_before_it():
    health = FakeConnectorHealth()
    for minute in range(0, 7 * 24 * 60, 30):  # a call every half hour for a week, one in fifty failing
        health.record(VC, NOW - timedelta(days=7, minutes=-minute), failed=minute % 1500 == 0)
    for minute in range(10):
        health.record(VC, NOW + timedelta(minutes=minute), failed=True, sip_4xx=True)
    request = WatchRequest.parse(
        {
            "VoiceConnectorId": VC,
            "Policy": POLICY,
            "Now": NOW.isoformat(),
            "ExecutionArn": RUN,
            "WatchSeconds": 600,
        }
    )
    result = watch_connector(request, health, NOW + timedelta(minutes=10))
    assert result.verdict is WatchVerdict.BROKEN
    assert (result.watched.attempts, result.watched.failures) == (10, 10)
    assert result.baseline.attempts == 336


# The restore


class World:
    """A connector whose first credential this workflow issued, then replaced, then deleted in RUN."""

    def __init__(self) -> None:
        self.chime = FakeVoiceConnectors({VC: ["pbx-manual"]})
        self.ledger = InMemoryLedger()
        self.ledger.plant(VC, LedgerRecord("pbx-manual", PRESENT, NOW - timedelta(days=400)))
        self.secrets = FakeConnectorSecrets()
        self.records = FakeRunRecords()
        self.first = self.issue("first", NOW - timedelta(days=100))
        self.second = self.issue("second", NOW - timedelta(days=30))
        self.delete(["pbx-manual", self.first])

    def issue(self, name: str, at: datetime) -> str:
        task = {
            "VoiceConnectorId": VC,
            "Policy": POLICY,
            "Now": at.isoformat(),
            "ExecutionArn": f"{RUN}-{name}",
        }
        successor = issue_successor(task, self.secrets, self.ledger, self.chime, at)
        # A listing dates it, as PlanConnector's would.
        self.ledger.date_successor(VC, self.ledger.read(VC).records[successor.username], at)
        return successor.username

    def delete(self, usernames: list[str]) -> None:
        marked = self.ledger.mark_retiring(VC, usernames, RUN, NOW)
        self.chime.delete(VC, marked, on_refused=lambda: None)
        self.ledger.mark_deleted(VC, marked, NOW, RUN)

    def restore(self) -> tuple[Any, RestoreRecord]:
        request = RestoreRequest.parse(
            {
                "VoiceConnectorId": VC,
                "Policy": POLICY,
                "Now": NOW.isoformat(),
                "ExecutionArn": RUN,
                "Step": "RestoreDeleted",
            }
        )
        return restore_deleted(request, self.ledger, self.secrets, self.chime, self.records)


def test_a_broken_deletion_puts_back_what_this_workflow_issued_with_its_own_password():
    world = World()
    summary, record = world.restore()
    assert record.restored == (world.first,)
    # Not issued here: no value to put back; a person must.
    assert record.not_restorable == ("pbx-manual",)
    assert (summary.restored, summary.not_restorable) == (1, 1)
    assert world.first in world.chime.connectors[VC]
    stored = next(
        world.secrets.value(VC, version)
        for version in world.secrets.stages(VC).values()
        if world.secrets.value(VC, version).get("Username") == world.first
    )
    assert world.chime.holds(VC, world.first, stored["Password"])
    assert world.records.read(summary.record, RestoreRecord, VC, RUN) == record


def test_a_restore_retried_finds_it_back_and_puts_nothing_twice():
    world = World()
    world.restore()
    puts = len(world.chime.put_calls)
    _, again = world.restore()
    assert (again.restored, again.already_listed) == ((), (world.first,))
    assert len(world.chime.put_calls) == puts


def test_a_version_that_no_longer_holds_what_was_issued_is_not_put_back():
    world = World()
    version = world.ledger.read(VC).records[world.first].secret_version_id
    world.secrets.fail_next("read", fault("ResourceNotFoundException"))
    _, record = world.restore()
    assert world.first in record.not_restorable
    assert world.first not in world.chime.connectors[VC]
    assert version is not None


def test_another_secrets_manager_failure_fails_the_restore_for_the_state_machine_to_retry():
    world = World()
    world.secrets.fail_next("read", fault("InternalServiceError"))
    with pytest.raises(Exception, match="InternalServiceError") as failed:
        world.restore()
    assert type(failed.value).__name__ == "InternalServiceError"


# The audit and the page


def test_the_report_names_what_was_put_back_the_event_counts_it_and_the_page_says_broken():
    world = World()
    summary, _ = world.restore()
    watch = {
        "VoiceConnectorId": VC,
        "Watch": {
            "VoiceConnectorId": VC,
            "Verdict": "broken",
            "Signals": ["outbound-failures"],
            "Watched": {"Attempts": 10, "Failures": 9, "Sip4xx": 9},
            "Baseline": {"Attempts": 300, "Failures": 3, "Sip4xx": 1},
            "Restore": summary.to_wire(),
        },
    }
    state = {
        "ExecutionArn": RUN,
        "StartedAt": NOW.isoformat(),
        "Run": {"Trigger": "schedule", "DryRun": False, "Policy": POLICY, "VoiceConnectorIds": [VC]},
        "Plans": [{"VoiceConnectorId": VC, "Counts": {}, "StaleCount": 0, "Rotation": None}],
        "Changes": [],
        "Watches": [watch],
    }
    report = build_report(state, world.records, NOW, False, "p/")
    (entry,) = report["VoiceConnectors"]
    assert entry["Watch"]["Restored"] == [world.first]
    assert entry["Watch"]["NotRestorable"] == ["pbx-manual"]
    (event_entry,) = build_event(report, None)["VoiceConnectors"]
    assert event_entry["Watch"] == {
        "Verdict": "broken",
        "Signals": ["outbound-failures"],
        "Restored": 1,
        "NotRestorable": 1,
        "Error": None,
    }
    subject, message = page_for(report)
    assert subject == BROKEN
    assert message["Broken"] == [
        {
            "VoiceConnectorId": VC,
            "Verdict": "broken",
            "Signals": ["outbound-failures"],
            "Restored": 1,
            "NotRestorable": 1,
            "Error": None,
        }
    ]
