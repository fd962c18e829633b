"""The evidence in the tasks, over the fakes: planning reads the index and keeps what the phone system still
uses, notices when it has not switched to the successor, retires the predecessor once it has; the delete
step re-reads the evidence; a stale or unreadable index holds deletions; PublishAudit pages."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credential_rotation.domain.call_records import CallRecord
from credential_rotation.domain.ledger_records import PRESENT, LedgerRecord
from credential_rotation.domain.models import ConnectorTask, DeletionRequest, Policy
from credential_rotation.domain.policy import Reason
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.tasks.alerting import EVIDENCE_STALE, NOT_SWITCHED
from credential_rotation.tasks.evidence_reading import EvidenceReader
from credential_rotation.tasks.planning import plan_connector
from credential_rotation.tasks.publishing import publish_run
from credential_rotation.tasks.retirement import retire_stale
from tests.support.fakes import (
    FakeAlertPager,
    FakeAuditPublisher,
    FakeConnectorSecrets,
    FakeIndexingQueue,
    FakeRunLock,
    FakeRunRecords,
    FakeVoiceConnectors,
    InMemoryLedger,
    InMemoryUsageIndex,
)
from tests.support.issuing import issue_successor

VC = "abcdefghijklmnopqrstuv"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-{}"
ISSUED = datetime(2026, 3, 1, 3, tzinfo=UTC)
PREDECESSOR = "pbx-trunk"
POLICY = {
    "MaxAgeDays": 90,
    "MinKeep": 1,
    "ProtectedUsernames": [],
    "MaxDeletions": 20,
    "GraceDays": 7,
    "Rotate": True,
    "RotateAfterDays": 30,
    "UsernamePrefix": "sip-",
    "QuietDays": 14,
    "RetireWhenSwitched": True,
    "EvidenceMaxLagHours": 24,
}
FINGERPRINTS = Fingerprints(b"k" * 32)


class World:
    """One connector with an old credential the PBX uses, a successor issued on ISSUED, and the index."""

    def __init__(self, predecessor_first_seen: datetime = ISSUED - timedelta(days=40)) -> None:
        self.chime = FakeVoiceConnectors({VC: [PREDECESSOR]})
        self.ledger = InMemoryLedger()
        self.ledger.plant(VC, LedgerRecord(PREDECESSOR, PRESENT, predecessor_first_seen))
        self.secrets = FakeConnectorSecrets()
        self.records = FakeRunRecords()
        self.index = InMemoryUsageIndex()
        self.queue = FakeIndexingQueue()
        self.reader = EvidenceReader(self.index, self.queue)
        self.runs = 0
        self.successor = self._issue()

    def _issue(self) -> str:
        task = {
            "VoiceConnectorId": VC,
            "Policy": POLICY,
            "Now": ISSUED.isoformat(),
            "ExecutionArn": RUN.format(0),
        }
        return issue_successor(task, self.secrets, self.ledger, self.chime, ISSUED).username

    def call(self, username: str | None, at: datetime) -> None:
        """A call the index has counted (as the indexer does it: count, then advance)."""
        record = CallRecord(VC, f"tx-{at.isoformat()}-{username}", at, username)
        self.index.count(record, at)
        self.index.advance([record], at)

    def plan(self, now: datetime, **policy: Any):
        self.runs += 1
        task = ConnectorTask.parse(
            {
                "VoiceConnectorId": VC,
                "Policy": POLICY | policy,
                "Now": now.isoformat(),
                "ExecutionArn": RUN.format(self.runs),
            }
        )
        summary, record = plan_connector(
            task, self.chime, self.ledger, self.secrets, self.records, FINGERPRINTS, self.reader
        )
        return task, summary, record

    def delete(self, task: ConnectorTask, summary) -> tuple[str, ...]:
        request = DeletionRequest.parse(task.to_wire() | {"Plan": summary.record.to_wire()})
        _, outcome = retire_stale(
            request, self.chime, self.ledger, self.secrets, self.records, task.now, self.reader
        )
        return outcome.deleted

    def publish(self, task: ConnectorTask, summary) -> FakeAlertPager:
        pager = FakeAlertPager()
        run = {
            "Trigger": "schedule",
            "DryRun": False,
            "Policy": task.policy.to_wire(),
            "VoiceConnectorIds": [VC],
        }
        state = {
            "ExecutionArn": task.execution_arn,
            "StartedAt": task.now.isoformat(),
            "Run": run,
            "Plans": [summary.to_wire()],
            "Changes": [],
        }
        lock = FakeRunLock()
        publish_run(
            state, self.records, lock, FakeAuditPublisher(), lambda report: None, task.now, True, "p/", pager
        )
        return pager


def days_after_issue(days: float) -> datetime:
    return ISSUED + timedelta(days=days)


def test_the_predecessor_still_calling_after_grace_is_kept_in_use_and_pages_not_switched():
    world = World()
    for day in range(0, 10):
        world.call(PREDECESSOR, days_after_issue(day))
    task, summary, plan = world.plan(days_after_issue(10))
    assert plan.reasons[PREDECESSOR] is Reason.IN_USE
    assert plan.evidence.not_switched == (FINGERPRINTS.of(VC, PREDECESSOR),)
    assert plan.evidence.successor_secret == world.secrets.state(VC).arn
    assert plan.evidence.last_used[PREDECESSOR] == days_after_issue(9)
    ((subject, message),) = world.publish(task, summary).pages
    assert subject == NOT_SWITCHED
    assert message["NotSwitched"] == [
        {
            "VoiceConnectorId": VC,
            "StillCalling": [FINGERPRINTS.of(VC, PREDECESSOR)],
            "StillCallingCount": 1,
            "SuccessorSecret": world.secrets.state(VC).arn,
        }
    ]
    assert PREDECESSOR not in str(message)


def test_within_grace_the_predecessor_calling_is_expected_and_pages_nothing():
    world = World()
    world.call(PREDECESSOR, days_after_issue(5))
    task, summary, plan = world.plan(days_after_issue(6))
    assert plan.evidence.not_switched == ()
    assert world.publish(task, summary).pages == []


def test_once_the_pbx_switches_the_quiet_predecessor_is_retired_before_max_age():
    world = World()
    world.call(PREDECESSOR, days_after_issue(2))
    for day in range(3, 20):
        world.call(world.successor, days_after_issue(day))
    # The predecessor is 40 + 20 days old: young under MaxAgeDays 90, but quiet for 18 days.
    task, summary, plan = world.plan(days_after_issue(20))
    assert plan.reasons[PREDECESSOR] is Reason.STALE
    assert plan.evidence.switched == (PREDECESSOR,)
    assert world.delete(task, summary) == (PREDECESSOR,)
    assert world.chime.connectors[VC] == [world.successor]


def test_a_call_indexed_between_planning_and_deleting_keeps_the_username():
    # Old enough that the timer alone would delete it: only the evidence read again keeps it.
    world = World(predecessor_first_seen=ISSUED - timedelta(days=200))
    world.call(PREDECESSOR, days_after_issue(2))
    world.call(world.successor, days_after_issue(19))
    task, summary, plan = world.plan(days_after_issue(20))
    assert plan.stale == (PREDECESSOR,)
    world.call(PREDECESSOR, days_after_issue(20) + timedelta(minutes=3))
    assert world.delete(task, summary) == ()
    assert PREDECESSOR in world.chime.connectors[VC]


@pytest.mark.parametrize(
    ("breakage", "why"),
    [
        ("lag", "hours allowed"),
        ("dead letters", "failed to index"),
        ("unreadable row", "not an ISO 8601"),
        ("backfilling", "backfill"),
    ],
)
def test_stale_evidence_holds_the_deletion_and_pages(breakage, why):
    world = World(predecessor_first_seen=ISSUED - timedelta(days=200))
    world.call(world.successor, days_after_issue(10))
    now = days_after_issue(11)
    if breakage == "lag":
        now = days_after_issue(12)
    elif breakage == "dead letters":
        world.queue.dead_letters = 2
    elif breakage == "unreadable row":
        world.index.unreadable.add(VC)
    else:
        world.index.begin_backfill(["a-day"], ISSUED - timedelta(days=30))
    task, summary, plan = world.plan(now)
    assert plan.reasons[PREDECESSOR] is Reason.EVIDENCE_STALE
    assert why in plan.evidence.why
    assert world.delete(task, summary) == ()
    ((subject, message),) = world.publish(task, summary).pages
    assert subject == EVIDENCE_STALE
    assert message["EvidenceStale"][0]["Held"] == 1


def test_the_same_connector_without_evidence_deletes_by_the_timer():
    world = World(predecessor_first_seen=ISSUED - timedelta(days=200))
    task, summary, plan = world.plan(days_after_issue(11), QuietDays=0)
    assert plan.evidence is None
    assert world.delete(task, summary) == (PREDECESSOR,)


def test_a_connector_whose_calls_carry_no_username_is_reported_without_evidence_not_unused():
    world = World(predecessor_first_seen=ISSUED - timedelta(days=200))
    for hour in range(5):
        world.call(None, days_after_issue(10) + timedelta(hours=hour))
    _, _, plan = world.plan(days_after_issue(10.5))
    assert plan.evidence.state == "no-sip-auth-user"
    assert plan.evidence.unused == ()
    assert plan.evidence.unauthenticated_calls == 5
    # The timer alone judges it.
    assert plan.reasons[PREDECESSOR] is Reason.STALE


def test_usernames_never_seen_in_a_call_are_reported_unused_since_the_index_began():
    world = World()
    world.call(world.successor, days_after_issue(10))
    world.index.begin_backfill([], ISSUED - timedelta(days=30))
    _, _, plan = world.plan(days_after_issue(10.5))
    assert plan.evidence.unused == (PREDECESSOR,)
    assert plan.evidence.since == ISSUED - timedelta(days=30)
    assert plan.evidence.calls == {world.successor: 1}


def test_policy_defaults_keep_documents_written_before_evidence_readable():
    old = {
        key: value
        for key, value in POLICY.items()
        if key not in ("QuietDays", "RetireWhenSwitched", "EvidenceMaxLagHours")
    }
    assert Policy.model_validate(old).quiet_days == 0
