"""The delete step (tasks/retirement.py's retire_stale) over the in-memory fakes, case by case: a plan made
by the real planning task, the world changed between planning and deleting, and every way the delete call
and the stores can fail."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from credential_rotation.domain.errors import (
    CurrentCredentialUnverified,
    DeletionOutcomeUnknown,
    RunRecordMismatch,
)
from credential_rotation.domain.ledger_records import DELETED, PRESENT, LedgerRecord
from credential_rotation.domain.models import ConnectorTask, DeletionRequest, OutcomeRecord, RecordRef
from credential_rotation.domain.record_keys import outcome_key
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.tasks import retirement
from credential_rotation.tasks.observation import observe
from credential_rotation.tasks.planning import plan_connector
from credential_rotation.tasks.retirement import DELETE_BATCH, retire_stale
from tests.support.fakes import (
    CHIME_REFUSALS,
    CHIME_SERVER_FAULTS,
    FakeConnectorSecrets,
    FakeRunRecords,
    FakeVoiceConnectors,
    FunctionCrashed,
    InMemoryLedger,
    fault,
)

VC = "abcdefghijklmnopqrstuv"
OTHER_VC = "zyxwvutsrqponmlkjihgfe"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-1"
OTHER_RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:pressed-start"
NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)
DELETED_AT = NOW + timedelta(minutes=5)
LATER = NOW + timedelta(days=1)
OLD = NOW - timedelta(days=120)  # older than MaxAgeDays
YOUNG = NOW - timedelta(days=10)  # younger than MaxAgeDays, older than GraceDays
POLICY = {
    "MaxAgeDays": 90,
    "MinKeep": 1,
    "ProtectedUsernames": [],
    "MaxDeletions": 1_000,
    "GraceDays": 7,
    "Rotate": False,
    "RotateAfterDays": 60,
    "UsernamePrefix": "sip-",
}
FINGERPRINTS = Fingerprints(b"k" * 32)


class World:
    """One connector, its ledger dates, its secret, and the run's records."""

    def __init__(self, dated: dict[str, datetime], **policy: object) -> None:
        self.chime = FakeVoiceConnectors({VC: list(dated)})
        self.ledger = InMemoryLedger()
        for username, seen in dated.items():
            self.ledger.plant(VC, LedgerRecord(username, PRESENT, seen))
        self.secrets = FakeConnectorSecrets()
        self.records = FakeRunRecords()
        self.policy = POLICY | policy

    def task(self, voice_connector_id: str = VC, execution_arn: str = RUN, now: datetime = NOW) -> dict:
        return {
            "VoiceConnectorId": voice_connector_id,
            "Policy": self.policy,
            "Now": now.isoformat(),
            "ExecutionArn": execution_arn,
        }

    def plan(
        self, voice_connector_id: str = VC, execution_arn: str = RUN, now: datetime = NOW
    ) -> DeletionRequest:
        """The real planning task, then the delete step's input as the state machine builds it."""
        task = self.task(voice_connector_id, execution_arn, now)
        summary, _ = plan_connector(
            ConnectorTask.parse(task), self.chime, self.ledger, self.secrets, self.records, FINGERPRINTS
        )
        return DeletionRequest.parse(task | {"Plan": summary.record.to_wire()})

    def retire(self, request: DeletionRequest, started_at: datetime = DELETED_AT):
        return retire_stale(request, self.chime, self.ledger, self.secrets, self.records, started_at)

    def listed(self) -> list[str]:
        return sorted(self.chime.connectors[VC])

    def marked(self) -> set[str]:
        return {
            u for u, r in self.ledger.read(VC).records.items() if r.state == PRESENT and r.retiring_by == RUN
        }

    def state(self, username: str) -> tuple[str, str | None]:
        record = self.ledger.record(VC, username)
        return record.state, record.deleted_by

    def outcome_stored(self) -> bool:
        return outcome_key(RUN, VC) in self.records.objects


def two_old_one_young(**policy: object) -> World:
    return World({"pbx-old-1": OLD, "pbx-old-2": OLD - timedelta(days=1), "pbx-new": YOUNG}, **policy)


def test_deletes_the_planned_stale_usernames_and_records_what_it_did():
    world = two_old_one_young()
    request = world.plan()

    summary, outcome = world.retire(request)

    assert world.listed() == ["pbx-new"]
    assert outcome == OutcomeRecord(
        execution_arn=RUN,
        voice_connector_id=VC,
        deleted=("pbx-old-1", "pbx-old-2"),
        skipped=(),
        ledger_updated=True,
    )
    assert (summary.deleted, summary.skipped, summary.ledger_updated) == (2, 0, True)
    # The outcome record is the one the summary's digest names.
    assert world.records.read(summary.outcome, OutcomeRecord, VC, RUN) == outcome
    assert [call.usernames for call in world.chime.delete_calls] == [("pbx-old-1", "pbx-old-2")]
    assert world.state("pbx-old-1") == world.state("pbx-old-2") == (DELETED, RUN)
    assert world.ledger.moments[(VC, "pbx-old-1")] == {"DeletedAt": DELETED_AT}
    assert world.ledger.record(VC, "pbx-new") == LedgerRecord("pbx-new", PRESENT, YOUNG)


def test_a_planned_username_no_longer_listed_is_skipped_not_deleted_nor_marked():
    world = two_old_one_young()
    request = world.plan()
    world.chime.remove_credential(VC, "pbx-old-1")  # a person removed it after planning

    _summary, outcome = world.retire(request)

    assert (outcome.deleted, outcome.skipped) == (("pbx-old-2",), ("pbx-old-1",))
    assert [call.usernames for call in world.chime.delete_calls] == [("pbx-old-2",)]
    # Not this run's deletion: the next listing ends its life as "gone".
    assert world.ledger.record(VC, "pbx-old-1") == LedgerRecord("pbx-old-1", PRESENT, OLD)


def rotated_twice() -> World:
    """pbx-a and pbx-b were issued and promoted by this workflow; AWSCURRENT is pbx-b's version."""
    world = World({"pbx-new": YOUNG})
    world.secrets.enrol(VC, "enrolment")
    for username, seen, version in (("pbx-a", OLD - timedelta(days=80), "v-a"), ("pbx-b", OLD, "v-b")):
        world.chime.set_credential(VC, username, f"password-of-{username}")
        world.ledger.plant(
            VC,
            LedgerRecord(
                username, PRESENT, seen, secret_version_id=version, issued_at=seen, promoted_at=seen
            ),
        )
        world.secrets.plant(VC, "{}", ["AWSCURRENT"], version)
    return world


def test_awscurrent_is_matched_again_at_delete_time():
    world = rotated_twice()
    request = world.plan()
    assert world.records.document(request.plan.key)["Stale"] == ["pbx-a"]
    world.secrets.promote(VC, "v-a")  # an operator rolls AWSCURRENT back after planning

    _summary, outcome = world.retire(request)

    assert (outcome.deleted, outcome.skipped) == ((), ("pbx-a",))
    assert world.chime.delete_calls == []
    assert world.marked() == set()


def force_delete(world: World) -> None:
    del world.secrets.secrets[VC]


def plant_current(world: World) -> None:
    # A version naming the newer credential, so that the issued one would look stale.
    world.secrets.plant(
        VC, json.dumps({"VoiceConnectorId": VC, "Username": "pbx-new"}), ["AWSCURRENT"], "v-x"
    )


def malform_current(world: World) -> None:
    world.secrets.plant(VC, "not json", ["AWSCURRENT"], "v-x")


UNVERIFIABLE = {
    "the secret deleted": (force_delete, "does not exist"),
    "the secret scheduled for deletion": (lambda world: world.secrets.schedule_deletion(VC), "scheduled"),
    "AWSCURRENT moved to a planted version": (plant_current, "did not issue"),
    "AWSCURRENT moved to a malformed version": (malform_current, "did not issue"),
    "the current credential removed by hand": (
        lambda world: world.chime.remove_credential(VC, "pbx-b"),
        "not on the voice connector",
    ),
}


@pytest.mark.parametrize("tamper", sorted(UNVERIFIABLE))
def test_a_current_credential_that_cannot_be_verified_at_delete_time_stops_the_step(tamper):
    world = rotated_twice()
    request = world.plan()
    change, problem = UNVERIFIABLE[tamper]
    change(world)
    listed = world.listed()

    with pytest.raises(CurrentCredentialUnverified) as raised:
        world.retire(request)

    assert problem in str(raised.value)
    assert not any(username in str(raised.value) for username in ("pbx-a", "pbx-b", "pbx-new"))
    assert world.chime.delete_calls == []
    assert world.ledger.writes == []
    assert world.listed() == listed


def test_neither_planning_nor_deleting_reads_a_secrets_value():
    world = rotated_twice()
    request = world.plan()

    _summary, outcome = world.retire(request)

    assert outcome.deleted == ("pbx-a",)
    assert world.secrets.reads == []


# Bad data: what cannot be managed is kept, and the rest is judged as usual.


def test_usernames_the_ledger_cannot_key_are_never_deleted_and_the_rest_is():
    world = two_old_one_young()
    unmanageable = ["", "x" * 1_025, "pbx-\ud800"]
    for username in unmanageable:
        world.chime.set_credential(VC, username, "pw")
    request = world.plan()

    _summary, outcome = world.retire(request)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert sorted(world.chime.connectors[VC]) == sorted(["pbx-new", *unmanageable])
    assert not any(set(call.usernames) & set(unmanageable) for call in world.chime.delete_calls)
    assert not any(username in world.ledger.read(VC).records for username in unmanageable)


def test_a_malformed_ledger_rows_username_is_kept_and_the_rest_is_judged():
    world = two_old_one_young()
    world.chime.set_credential(VC, "pbx-broken", "pw")
    world.ledger.plant_problem(VC, "pbx-broken")
    request = world.plan()

    _summary, outcome = world.retire(request)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert world.listed() == ["pbx-broken", "pbx-new"]
    assert world.ledger.read(VC).unreadable == {"pbx-broken"}  # left as it was, for a person to repair


def test_a_malformed_secret_on_a_connector_never_rotated_changes_nothing():
    world = two_old_one_young()
    world.secrets.enrol(VC, "by-hand")
    world.secrets.plant(VC, "{not json", ["AWSCURRENT"], "by-hand-2")
    request = world.plan()

    _summary, outcome = world.retire(request)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert world.secrets.reads == []


def test_min_keep_is_checked_again_on_the_fresh_listing():
    world = two_old_one_young()
    request = world.plan()
    world.chime.remove_credential(VC, "pbx-new")  # a person removed the young one after planning

    _summary, outcome = world.retire(request)

    # The two old ones are now the youngest, first seen... on different nights: the younger is kept.
    assert (outcome.deleted, outcome.skipped) == (("pbx-old-2",), ("pbx-old-1",))
    assert world.listed() == ["pbx-old-1"]


def test_min_keep_never_tosses_a_coin_on_the_fresh_listing():
    world = World({"pbx-old-1": OLD, "pbx-old-2": OLD, "pbx-new": YOUNG})
    request = world.plan()
    world.chime.remove_credential(VC, "pbx-new")

    summary, outcome = world.retire(request)

    assert (outcome.deleted, outcome.skipped) == ((), ("pbx-old-1", "pbx-old-2"))
    assert world.chime.delete_calls == []
    assert summary.ledger_updated is True


def test_a_credential_added_since_planning_counts_toward_min_keep_as_new():
    world = World(
        {"pbx-old-1": OLD - timedelta(days=80), "pbx-old-2": OLD, "pbx-new-1": YOUNG, "pbx-new-2": YOUNG},
        MinKeep=2,
    )
    request = world.plan()
    assert world.records.document(request.plan.key)["Stale"] == ["pbx-old-1", "pbx-old-2"]
    world.chime.remove_credential(VC, "pbx-new-1")
    world.chime.remove_credential(VC, "pbx-new-2")
    world.chime.set_credential(VC, "pbx-fresh", "pw")  # not in the ledger: dated now, so the youngest

    _summary, outcome = world.retire(request)

    # MinKeep 2 keeps pbx-fresh and pbx-old-2 now; only the oldest goes.
    assert (outcome.deleted, outcome.skipped) == (("pbx-old-1",), ("pbx-old-2",))
    assert world.listed() == ["pbx-fresh", "pbx-old-2"]


# A function that dies, and the step's retry.


@pytest.mark.parametrize("took_effect", [True, False], ids=["after-the-delete", "before-the-service"])
def test_a_crash_at_the_delete_call_leaves_the_marks_and_the_retry_reports_every_deletion(took_effect):
    world = two_old_one_young()
    request = world.plan()
    world.chime.crash_next_delete(took_effect=took_effect)

    with pytest.raises(FunctionCrashed):
        world.retire(request)

    assert world.marked() == {"pbx-old-1", "pbx-old-2"}
    assert {world.ledger.record(VC, username).retiring_at for username in world.marked()} == {DELETED_AT}
    assert not world.outcome_stored()

    _summary, outcome = world.retire(request, started_at=LATER)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert world.listed() == ["pbx-new"]
    # After the delete took effect, the retry deletes nothing again: it reports what it finds gone.
    assert len(world.chime.delete_calls) == (1 if took_effect else 2)
    assert world.state("pbx-old-1") == world.state("pbx-old-2") == (DELETED, RUN)


@pytest.mark.parametrize("took_effect", [True, False], ids=["after-the-delete", "before-the-service"])
def test_a_dry_run_planning_beside_the_steps_retry_leaves_its_marks(took_effect):
    world = two_old_one_young()
    request = world.plan()
    world.chime.crash_next_delete(took_effect=took_effect)
    with pytest.raises(FunctionCrashed):
        world.retire(request)

    # A dry run takes no lock: its planning may list the connector while the step is being retried.
    world.plan(execution_arn=OTHER_RUN, now=DELETED_AT + timedelta(minutes=2))
    _summary, outcome = world.retire(request, started_at=DELETED_AT + timedelta(minutes=3))

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert world.listed() == ["pbx-new"]
    assert world.state("pbx-old-1") == world.state("pbx-old-2") == (DELETED, RUN)


def test_a_crash_after_the_delete_with_no_retry_is_recorded_by_the_next_listing():
    world = two_old_one_young()
    request = world.plan()
    world.chime.crash_next_delete(took_effect=True)
    with pytest.raises(FunctionCrashed):
        world.retire(request)

    observe(world.ledger, VC, world.chime.usernames(VC), LATER)  # the next night's planning

    assert world.state("pbx-old-1") == world.state("pbx-old-2") == (DELETED, RUN)
    assert world.ledger.moments[(VC, "pbx-old-1")] == {"DeletedAt": LATER}


@pytest.mark.parametrize("method", ["mark_deleted", "put"])
def test_a_crash_after_the_deletion_was_recorded_is_reported_by_the_retry(method):
    """The DynamoDB UpdateItem timeout after the record, and the outcome record's S3 PutObject failing."""
    world = two_old_one_young()
    request = world.plan()
    if method == "mark_deleted":
        world.ledger.fail_next("mark_deleted", FunctionCrashed("timed out"), after=True)
        expected: type[BaseException] = FunctionCrashed
    else:
        world.records.fail_next("put", fault("InternalError"))
        expected = Exception

    with pytest.raises(expected) as raised:
        world.retire(request)
    if method == "put":
        assert type(raised.value).__name__ == "InternalError"
    assert world.state("pbx-old-1") == (DELETED, RUN)

    summary, outcome = world.retire(request, started_at=LATER)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert summary.ledger_updated is True
    assert len(world.chime.delete_calls) == 1


# The delete call's answers.


@pytest.mark.parametrize("error", CHIME_REFUSALS)
def test_a_refused_delete_takes_its_marks_back_and_raises_the_services_error(error):
    world = two_old_one_young()
    request = world.plan()
    world.chime.refuse_next_delete(error)

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.retire(request)

    assert type(raised.value).__name__ == error
    assert world.marked() == set()
    assert world.ledger.record(VC, "pbx-old-1") == LedgerRecord("pbx-old-1", PRESENT, OLD)
    assert world.listed() == ["pbx-new", "pbx-old-1", "pbx-old-2"]
    assert not world.outcome_stored()


def test_a_refused_delete_whose_marks_cannot_be_taken_back_still_raises_the_services_error():
    world = two_old_one_young()
    request = world.plan()
    world.chime.refuse_next_delete("ThrottledClientException")
    world.ledger.fail_next("unmark_retiring", fault("InternalServerError"))

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.retire(request)

    assert type(raised.value).__name__ == "ThrottledClientException"
    assert ("unmark_retiring", "InternalServerError") in world.ledger.faults.fired
    # The throttle is retried: the retry marks again, deletes and reports.
    _summary, outcome = world.retire(request)
    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")


@pytest.mark.parametrize("error", CHIME_SERVER_FAULTS)
@pytest.mark.parametrize("took_effect", [True, False], ids=["after-the-delete", "before-the-delete"])
def test_a_server_fault_leaves_the_marks_of_what_is_gone_and_the_retry_reports_the_deletion(
    error, took_effect
):
    world = two_old_one_young()
    request = world.plan()
    world.chime.fail_next_delete(error, took_effect=took_effect)

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.retire(request)

    assert type(raised.value).__name__ == error
    # Marked and gone: deleted, for the retry to report. Marked and still listed: not deleted, unmarked.
    assert world.marked() == ({"pbx-old-1", "pbx-old-2"} if took_effect else set())
    assert world.listed() == (["pbx-new"] if took_effect else ["pbx-new", "pbx-old-1", "pbx-old-2"])

    _summary, outcome = world.retire(request, started_at=LATER)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert world.listed() == ["pbx-new"]
    assert world.state("pbx-old-1") == (DELETED, RUN)


@pytest.mark.parametrize("took_effect", [True, False], ids=["after-the-delete", "before-the-service"])
def test_a_lost_answer_leaves_the_marks_of_what_is_gone_and_the_retry_reports_the_deletion(took_effect):
    world = two_old_one_young()
    request = world.plan()
    world.chime.lose_next_delete(took_effect=took_effect)

    with pytest.raises(DeletionOutcomeUnknown):
        world.retire(request)

    assert world.marked() == ({"pbx-old-1", "pbx-old-2"} if took_effect else set())

    summary, outcome = world.retire(request, started_at=LATER)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert summary.deleted == 2


# Batches.


def many_stale(count: int) -> World:
    dated = {f"pbx-old-{index:03}": OLD for index in range(count)}
    return World(dated | {"pbx-new": YOUNG})


def test_deletions_go_in_batches_each_marked_just_before_its_own_call():
    world = many_stale(2 * DELETE_BATCH + 50)
    request = world.plan()
    marked_at_each_call = []
    for _ in range(3):
        world.chime.before_delete(lambda vc_id, batch: marked_at_each_call.append((batch, world.marked())))

    summary, _outcome = world.retire(request)

    assert [len(call.usernames) for call in world.chime.delete_calls] == [DELETE_BATCH, DELETE_BATCH, 50]
    so_far: set[str] = set()
    for batch, marked in marked_at_each_call:
        so_far |= set(batch)
        assert marked == so_far  # this batch and the ones before it; none after it
    assert summary.deleted == 2 * DELETE_BATCH + 50
    assert world.listed() == ["pbx-new"]


def test_a_refusal_mid_way_keeps_the_earlier_batches_for_the_retry_to_report():
    world = many_stale(2 * DELETE_BATCH + 50)
    request = world.plan()
    calls = []

    def refuse_the_second(vc_id: str, batch: tuple[str, ...]) -> None:
        calls.append(batch)
        if len(calls) == 2:
            world.chime.refuse_next_delete("ThrottledClientException")

    world.chime.before_delete(refuse_the_second)
    world.chime.before_delete(refuse_the_second)

    with pytest.raises(Exception, match="ThrottledClientException"):
        world.retire(request)

    first, second = (set(batch) for batch in calls)
    assert world.marked() == first  # the first batch was deleted, its marks stay; the second's went back
    assert not first & set(world.listed())
    assert second <= set(world.listed())

    summary, _outcome = world.retire(request)

    assert summary.deleted == 2 * DELETE_BATCH + 50
    assert world.listed() == ["pbx-new"]


def test_a_batch_size_of_its_own_is_respected(monkeypatch):
    monkeypatch.setattr(retirement, "DELETE_BATCH", 1)
    world = two_old_one_young()
    request = world.plan()

    world.retire(request)

    assert [call.usernames for call in world.chime.delete_calls] == [("pbx-old-1",), ("pbx-old-2",)]


# The ledger after the delete.


def test_a_ledger_failure_after_the_delete_does_not_hide_the_deletion():
    world = two_old_one_young()
    request = world.plan()
    world.ledger.fail_next("mark_deleted", fault("InternalServerError"))

    summary, outcome = world.retire(request)

    assert outcome.deleted == ("pbx-old-1", "pbx-old-2")
    assert (summary.ledger_updated, outcome.ledger_updated) == (False, False)
    assert world.records.read(summary.outcome, OutcomeRecord, VC, RUN) == outcome
    # The marks stay, and the next listing records the deletions as this execution's.
    assert world.marked() == {"pbx-old-1", "pbx-old-2"}
    observe(world.ledger, VC, world.chime.usernames(VC), LATER)
    assert world.state("pbx-old-1") == world.state("pbx-old-2") == (DELETED, RUN)


def test_a_username_put_back_after_a_deletion_the_ledger_missed_is_not_deleted_again_at_once():
    world = two_old_one_young()
    world.ledger.fail_next("mark_deleted", fault("InternalServerError"))
    world.retire(world.plan())
    world.chime.set_credential(VC, "pbx-old-1", "the-same-password")  # the phone system needed it

    next_night = world.task(execution_arn=OTHER_RUN) | {"Now": LATER.isoformat()}
    _summary, plan = plan_connector(
        ConnectorTask.parse(next_night), world.chime, world.ledger, world.secrets, world.records, FINGERPRINTS
    )

    # As when the deletion was recorded: back after its life ended, it starts a new one.
    assert plan.reasons["pbx-old-1"] == "new"
    assert world.ledger.record(VC, "pbx-old-1") == LedgerRecord("pbx-old-1", PRESENT, LATER)
    # The one not put back is recorded as this execution's deletion, from its mark.
    assert world.state("pbx-old-2") == (DELETED, RUN)


def test_a_refused_delete_whose_marks_stayed_is_dated_afresh_the_next_night_and_kept():
    world = two_old_one_young()
    world.chime.refuse_next_delete("ForbiddenException")
    world.ledger.fail_next("unmark_retiring", fault("InternalServerError"))
    with pytest.raises(Exception, match="ForbiddenException"):
        world.retire(world.plan())
    assert world.marked() == {"pbx-old-1", "pbx-old-2"}  # nothing was deleted, and the marks stayed

    request = world.plan(execution_arn=OTHER_RUN, now=LATER)
    _summary, outcome = world.retire(request, started_at=LATER + timedelta(minutes=5))

    # Still listed a night after the step that marked them: not deleted by it. Each starts a new life,
    # dated the next night, so none is deleted on its old date, bypassing MaxAge and grace.
    assert world.records.document(request.plan.key)["Stale"] == []
    assert (outcome.deleted, outcome.skipped) == ((), ())
    assert len(world.chime.delete_calls) == 1  # the one refused the night before
    assert world.listed() == ["pbx-new", "pbx-old-1", "pbx-old-2"]
    for username in ("pbx-old-1", "pbx-old-2"):
        assert world.ledger.record(VC, username) == LedgerRecord(username, PRESENT, LATER)


def test_nothing_left_to_delete_calls_nothing_and_writes_nothing():
    world = two_old_one_young()
    request = world.plan()
    world.chime.remove_credential(VC, "pbx-old-1")
    world.chime.remove_credential(VC, "pbx-old-2")

    _summary, outcome = world.retire(request)

    assert (outcome.deleted, outcome.skipped, outcome.ledger_updated) == (
        (),
        ("pbx-old-1", "pbx-old-2"),
        True,
    )
    assert world.chime.delete_calls == []
    assert world.ledger.writes == []


# Other runs and people.


def test_a_username_another_run_deleted_between_listing_and_marking_is_not_deleted_again():
    world = two_old_one_young()
    request = world.plan()

    def another_run_deletes_it(vc_id: str, username: str) -> None:
        world.chime.remove_credential(vc_id, username)
        world.ledger.mark_deleted(vc_id, [username], NOW, OTHER_RUN)

    world.ledger.before_write("mark_retiring", another_run_deletes_it)  # before the first: pbx-old-1

    _summary, outcome = world.retire(request)

    assert [call.usernames for call in world.chime.delete_calls] == [("pbx-old-2",)]
    assert (outcome.deleted, outcome.skipped) == (("pbx-old-2",), ("pbx-old-1",))
    assert world.state("pbx-old-1") == (DELETED, OTHER_RUN)


@pytest.mark.parametrize(
    "row",
    [
        LedgerRecord("pbx-old-1", PRESENT, OLD, retiring_by=OTHER_RUN),
        LedgerRecord("pbx-old-1", DELETED, OLD, deleted_by=OTHER_RUN),
    ],
    ids=["marked", "deleted"],
)
def test_another_executions_deletion_is_not_reported_as_this_ones(row):
    world = two_old_one_young()
    request = world.plan()
    world.chime.remove_credential(VC, "pbx-old-1")
    world.ledger.plant(VC, row)

    _summary, outcome = world.retire(request)

    assert (outcome.deleted, outcome.skipped) == (("pbx-old-2",), ("pbx-old-1",))


# The plan as the delete step reads it back.


def test_a_plan_rewritten_in_the_bucket_deletes_nothing():
    world = two_old_one_young()
    request = world.plan()
    world.records.tamper(
        request.plan.key, lambda plan: plan.update(Stale=["pbx-new", "pbx-old-1", "pbx-old-2"])
    )

    with pytest.raises(RunRecordMismatch) as raised:
        world.retire(request)

    assert "SHA-256" in str(raised.value)
    assert "pbx-" not in str(raised.value)  # a message names the record, never a username
    assert world.chime.delete_calls == []
    assert world.ledger.writes == []
    assert world.listed() == ["pbx-new", "pbx-old-1", "pbx-old-2"]


@pytest.mark.parametrize("whose", ["another-connector", "another-run", "not-a-plan"])
def test_a_record_that_is_not_this_runs_plan_of_this_connector_deletes_nothing(whose):
    world = two_old_one_young()
    world.chime.add_connector(OTHER_VC, ["pbx-old-1", "pbx-new"])
    world.ledger.plant(OTHER_VC, LedgerRecord("pbx-old-1", PRESENT, OLD))
    world.ledger.plant(OTHER_VC, LedgerRecord("pbx-new", PRESENT, YOUNG))
    request = world.plan()
    match whose:
        case "another-connector":
            ref = world.plan(voice_connector_id=OTHER_VC).plan
        case "another-run":
            ref = world.plan(execution_arn=OTHER_RUN).plan
        case _:
            outcome = OutcomeRecord(
                execution_arn=RUN, voice_connector_id=VC, deleted=(), skipped=(), ledger_updated=True
            )
            ref = world.records.put("runs/nightly-1/outcomes/x.json", outcome.to_wire())
    forged = request.model_copy(update={"plan": ref})
    writes_before = list(world.ledger.writes)

    with pytest.raises(RunRecordMismatch):
        world.retire(forged)

    assert world.chime.delete_calls == []
    assert world.ledger.writes == writes_before


def test_a_plan_missing_from_the_bucket_raises_and_deletes_nothing():
    world = two_old_one_young()
    request = world.plan()
    missing = request.model_copy(update={"plan": RecordRef(key="runs/none.json", sha256="0" * 64)})

    with pytest.raises(Exception, match="NoSuchKey"):
        world.retire(missing)

    assert world.chime.delete_calls == []


# Each call the step makes, failing (the reliability suite's DeleteCredentials faults): the error leaves
# by its name, nothing is deleted, and nothing is marked that a later step would misread.


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("records.read", "InternalError"),  # S3 GetObject
        ("chime.usernames", "ThrottledClientException"),  # ListVoiceConnectorTerminationCredentials
        ("ledger.read", "ProvisionedThroughputExceededException"),  # DynamoDB Query
        ("secrets.state", "InternalServiceError"),  # Secrets Manager DescribeSecret
        ("ledger.mark_retiring", "InternalServerError"),  # DynamoDB UpdateItem, the first one
    ],
)
def test_a_failing_call_before_the_delete_deletes_nothing(where, error):
    world = two_old_one_young()
    request = world.plan()
    writes_before = list(world.ledger.writes)
    fake, method = where.split(".")
    getattr(world, fake).fail_next(method, fault(error))

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.retire(request)

    assert type(raised.value).__name__ == error
    assert world.chime.delete_calls == []
    assert world.ledger.writes == writes_before
    assert world.listed() == ["pbx-new", "pbx-old-1", "pbx-old-2"]


def test_a_server_fault_whose_relisting_fails_leaves_every_mark_and_raises_the_deletes_error():
    world = two_old_one_young()
    request = world.plan()
    world.chime.fail_next_delete("ServiceFailureException", took_effect=False)
    # The step's own listing passes; the one after the failed delete does not.
    world.chime.fail_next("usernames", fault("ServiceUnavailableException"), skip=1)

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.retire(request)

    assert type(raised.value).__name__ == "ServiceFailureException"
    assert world.marked() == {"pbx-old-1", "pbx-old-2"}


def test_a_delete_that_never_takes_effect_leaves_no_mark_so_the_next_night_deletes_on_the_old_date():
    world = two_old_one_young()
    request = world.plan()
    for _ in range(4):  # the state machine's attempts, each a server fault
        world.chime.fail_next_delete("ServiceFailureException", took_effect=False)
        with pytest.raises(Exception):  # noqa: PT011, B017 (its name is what the state machine matches)
            world.retire(request)

    next_night = world.task(execution_arn=OTHER_RUN) | {"Now": LATER.isoformat()}
    _summary, plan = plan_connector(
        ConnectorTask.parse(next_night), world.chime, world.ledger, world.secrets, world.records, FINGERPRINTS
    )

    assert plan.reasons["pbx-old-1"] == plan.reasons["pbx-old-2"] == "stale"
