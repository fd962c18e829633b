"""Observation (tasks/observation.py) over the in-memory ledger, case by case: how a listing dates its
usernames and ends the lives of those gone, and how it agrees with a concurrent writer on one date."""

from datetime import UTC, datetime, timedelta

import pytest

from credential_rotation.adapters.run_lock import LONGEST_TASK
from credential_rotation.domain.ledger_records import (
    DELETED,
    GONE,
    ISSUING,
    MARK_LIFETIME,
    PRESENT,
    LedgerRecord,
)
from credential_rotation.domain.models import ConnectorTask
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.tasks.observation import observe
from credential_rotation.tasks.planning import plan_connector
from tests.support.fakes import (
    FakeConnectorSecrets,
    FakeRunRecords,
    FakeVoiceConnectors,
    FunctionCrashed,
    InMemoryLedger,
    fault,
)

VC = "abcdefghijklmnopqrstuv"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-1"
OTHER_RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:pressed-start"
T0 = datetime(2026, 1, 5, 3, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
WINNER = T0 + timedelta(days=29, hours=23)  # a concurrent run's clock, a little behind this one's
SUCCESSOR = "sip-20260105-k3v9q0zt"


def successor_issuing() -> LedgerRecord:
    return LedgerRecord(SUCCESSOR, ISSUING, None, secret_version_id="v-7", issued_at=T0, issued_by=OTHER_RUN)


@pytest.fixture
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


def test_a_new_username_is_dated_now(ledger):
    observed = observe(ledger, VC, ["pbx-a"], NOW)

    assert observed.first_seen == {"pbx-a": NOW}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", PRESENT, NOW)


def test_a_known_username_keeps_its_date_and_is_not_written(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0))

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    assert observed.first_seen == {"pbx-a": T0}
    assert ledger.writes == []
    assert observed.view.records["pbx-a"].first_seen_at == T0


# A listed username a delete step marked RetiringBy: its date holds while the step may still be running.


def test_a_mark_lives_as_long_as_a_function_may_run():
    # The same bound as the run lock's: the longest function timeout in template.yaml, with room to spare
    # (tests/unit/test_run_lock.py holds the template to it).
    assert MARK_LIFETIME == LONGEST_TASK


@pytest.mark.parametrize(
    "marked_at",
    [
        NOW - timedelta(minutes=1),
        NOW - MARK_LIFETIME,
        NOW + timedelta(minutes=3),  # by a delete step that started after this run did
    ],
    ids=["a-minute-ago", "exactly-its-lifetime-ago", "since-this-run-started"],
)
def test_a_listed_username_with_a_live_mark_keeps_its_date_and_its_mark(ledger, marked_at):
    marked = LedgerRecord("pbx-a", PRESENT, T0, retiring_by=OTHER_RUN, retiring_at=marked_at)
    ledger.plant(VC, marked)

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    # The step may still be deleting it, and its retry must find the mark to report the deletion.
    assert observed.first_seen == {"pbx-a": T0}
    assert ledger.row(VC, "pbx-a") == marked
    assert ledger.writes == []


@pytest.mark.parametrize(
    "marked_at",
    [NOW - MARK_LIFETIME - timedelta(microseconds=1), NOW - timedelta(days=1), None],
    ids=["just-outlived", "a-night-ago", "undated-written-before-marks-were-dated"],
)
def test_a_listed_username_whose_mark_outlived_its_step_starts_a_new_life(ledger, marked_at):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0, retiring_by=OTHER_RUN, retiring_at=marked_at))

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    # The delete did not take effect, or the username came back after it: dated afresh, without the mark,
    # which can only make a deletion later.
    assert observed.first_seen == {"pbx-a": NOW}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", PRESENT, NOW)
    assert [write[0] for write in ledger.writes] == ["start_life"]


@pytest.mark.parametrize(
    "ended",
    [
        LedgerRecord("pbx-a", GONE, T0),
        LedgerRecord("pbx-a", DELETED, T0, retiring_by=RUN, deleted_by=RUN),
    ],
    ids=["gone", "deleted"],
)
def test_a_username_back_after_its_life_ended_starts_a_new_life(ledger, ended):
    ledger.plant(VC, ended)

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    # Most likely a new credential under an old name: dated afresh, which can only make deletion later.
    assert observed.first_seen == {"pbx-a": NOW}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", PRESENT, NOW)


def test_a_successor_being_issued_is_dated_when_first_listed_and_keeps_what_it_was_issued_as(ledger):
    ledger.plant(VC, successor_issuing())

    observed = observe(ledger, VC, [SUCCESSOR], NOW)

    assert observed.first_seen == {SUCCESSOR: NOW}
    row = ledger.record(VC, SUCCESSOR)
    assert (row.state, row.first_seen_at) == (PRESENT, NOW)
    assert (row.secret_version_id, row.issued_at, row.issued_by) == ("v-7", T0, OTHER_RUN)


def test_a_successor_being_issued_and_not_listed_yet_is_left_alone(ledger):
    ledger.plant(VC, successor_issuing())
    ledger.plant(VC, LedgerRecord("pbx-gone", GONE, T0))

    observe(ledger, VC, ["pbx-a"], NOW)

    assert ledger.row(VC, SUCCESSOR) == successor_issuing()
    assert ledger.row(VC, "pbx-gone") == LedgerRecord("pbx-gone", GONE, T0)
    assert [write[2] for write in ledger.writes] == ["pbx-a"]


def test_a_present_username_missing_from_the_listing_is_gone(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0))
    ledger.plant(VC, LedgerRecord("pbx-b", PRESENT, T0))

    observed = observe(ledger, VC, ["pbx-b"], NOW)

    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", GONE, T0)
    assert ledger.moments[(VC, "pbx-a")] == {"GoneAt": NOW}
    assert observed.first_seen == {"pbx-b": T0}


def test_a_missing_username_marked_retiring_is_deleted_by_the_execution_that_marked_it(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0, retiring_by=OTHER_RUN))

    observe(ledger, VC, [], NOW)

    assert ledger.row(VC, "pbx-a") == LedgerRecord(
        "pbx-a", DELETED, T0, retiring_by=OTHER_RUN, deleted_by=OTHER_RUN
    )
    assert ledger.moments[(VC, "pbx-a")] == {"DeletedAt": NOW}


def test_a_malformed_rows_username_gets_no_date_and_its_row_is_left_alone(ledger):
    ledger.plant_problem(VC, "pbx-broken")
    ledger.plant_problem(VC, "pbx-broken-unlisted")
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0))

    observed = observe(ledger, VC, ["pbx-broken", "pbx-a"], NOW)

    # Judged as new by the policy (no date), never dated over, and reported by what is wrong.
    assert observed.first_seen == {"pbx-a": T0}
    assert [problem.username for problem in observed.view.problems] == ["pbx-broken", "pbx-broken-unlisted"]
    assert ledger.writes == []


def test_the_observation_carries_the_ledger_as_read_before_its_writes(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0))

    observed = observe(ledger, VC, ["pbx-b"], NOW)

    assert observed.view.records == {"pbx-a": LedgerRecord("pbx-a", PRESENT, T0)}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", GONE, T0)


# Races: another run writes between this one's read and its conditional write.


def another_run_dates(ledger: InMemoryLedger, when: datetime):
    def concurrently(vc_id: str, username: str) -> None:
        record = ledger.read(vc_id).records.get(username)
        assert ledger.start_life(vc_id, username, when, record)

    return concurrently


def test_losing_the_race_to_date_a_new_username_takes_the_winners_date(ledger):
    ledger.before_write("start_life", another_run_dates(ledger, WINNER))

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    assert observed.first_seen == {"pbx-a": WINNER}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", PRESENT, WINNER)


def test_losing_the_race_to_start_a_new_life_takes_the_winners_date(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", GONE, T0))
    ledger.before_write("start_life", another_run_dates(ledger, WINNER))

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    assert observed.first_seen == {"pbx-a": WINNER}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", PRESENT, WINNER)


def test_losing_the_race_to_restart_a_life_after_an_outlived_mark_takes_the_winners_date(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0, retiring_by=OTHER_RUN, retiring_at=T0))
    ledger.before_write("start_life", another_run_dates(ledger, WINNER))

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    assert observed.first_seen == {"pbx-a": WINNER}
    assert ledger.row(VC, "pbx-a") == LedgerRecord("pbx-a", PRESENT, WINNER)


def test_a_restart_that_loses_to_a_delete_step_marking_it_afresh_leaves_the_mark_and_takes_its_date(ledger):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0, retiring_by=OTHER_RUN, retiring_at=T0))
    fresh_mark = LedgerRecord("pbx-a", PRESENT, T0, retiring_by=RUN, retiring_at=NOW)

    def a_delete_step_marks_it(vc_id: str, username: str) -> None:
        assert ledger.mark_retiring(vc_id, [username], RUN, NOW) == (username,)

    ledger.before_write("start_life", a_delete_step_marks_it)

    observed = observe(ledger, VC, ["pbx-a"], NOW)

    # The step judged it by its old date and is deleting it: the mark stays for its retry to find.
    assert observed.first_seen == {"pbx-a": T0}
    assert ledger.row(VC, "pbx-a") == fresh_mark


@pytest.mark.parametrize("winner", ["another-listing", "finish-secret"])
def test_losing_the_race_to_date_a_successor_takes_the_winners_date(ledger, winner):
    ledger.plant(VC, successor_issuing())

    def concurrently(vc_id: str, username: str) -> None:
        if winner == "another-listing":
            assert ledger.date_successor(vc_id, successor_issuing(), WINNER)
        else:
            ledger.record_promoted(vc_id, username, verified_at=WINNER, promoted_at=WINNER)

    ledger.before_write("date_successor", concurrently)

    observed = observe(ledger, VC, [SUCCESSOR], NOW)

    assert observed.first_seen == {SUCCESSOR: WINNER}
    assert ledger.record(VC, SUCCESSOR).first_seen_at == WINNER


@pytest.mark.parametrize(
    ("race", "untrustworthy"),
    [
        ("start_life", "malformed"),
        ("start_life", "issuing-undated"),
        ("date_successor", "malformed"),
    ],
)
def test_losing_a_race_to_a_row_that_cannot_be_trusted_dates_it_now(ledger, race, untrustworthy):
    if race == "date_successor":
        ledger.plant(VC, successor_issuing())
    username = SUCCESSOR if race == "date_successor" else "pbx-a"

    winners_row = []

    def concurrently(vc_id: str, name: str) -> None:
        ledger.rows.pop((vc_id, name), None)
        if untrustworthy == "malformed":
            ledger.plant_problem(vc_id, name, state=GONE)
        else:
            # A CreateSecret that drew this very name (a person put it meanwhile): chosen, not dated.
            assert ledger.record_issuing(vc_id, name, "v-9", WINNER, OTHER_RUN)
        winners_row.append(ledger.row(vc_id, name))

    ledger.before_write(race, concurrently)

    observed = observe(ledger, VC, [username], NOW)

    # Now: later than any date the winner could have meant, so it can only make a deletion later.
    assert observed.first_seen == {username: NOW}
    # And the winner's row is left as it wrote it.
    assert [ledger.row(VC, username)] == winners_row


@pytest.mark.parametrize("winner", ["another-run-ended-it", "a-new-life-began"])
def test_an_end_of_life_that_loses_a_race_leaves_the_winners_row(ledger, winner):
    ledger.plant(VC, LedgerRecord("pbx-a", PRESENT, T0))
    expected = (
        LedgerRecord("pbx-a", GONE, T0)
        if winner == "another-run-ended-it"
        else LedgerRecord("pbx-a", PRESENT, WINNER)
    )

    def concurrently(vc_id: str, username: str) -> None:
        ledger.end_life(vc_id, LedgerRecord(username, PRESENT, T0), WINNER)
        if winner == "a-new-life-began":
            assert ledger.start_life(vc_id, username, WINNER, LedgerRecord(username, GONE, T0))

    ledger.before_write("end_life", concurrently)

    observe(ledger, VC, [], NOW)

    assert ledger.row(VC, "pbx-a") == expected
    assert ledger.moments[(VC, "pbx-a")] == {"GoneAt": WINNER}  # this run's end wrote nothing


# The ledger failing (PlanConnector's DynamoDB Query and PutItem faults): the store's error, by name.


def test_a_ledger_read_that_fails_raises_the_stores_error_and_writes_nothing(ledger):
    ledger.fail_next("read", fault("ProvisionedThroughputExceededException"))

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        observe(ledger, VC, ["pbx-a"], NOW)

    assert type(raised.value).__name__ == "ProvisionedThroughputExceededException"
    assert ledger.rows == {}


def test_a_ledger_write_that_fails_raises_the_stores_error(ledger):
    ledger.fail_next("start_life", fault("InternalServerError"), skip=1)

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        observe(ledger, VC, ["pbx-a", "pbx-b", "pbx-c"], NOW)

    assert type(raised.value).__name__ == "InternalServerError"
    # What was dated before the fault stays dated; a retry dates the rest and keeps the first's date.
    assert list(ledger.read(VC).records) == ["pbx-a"]
    assert observe(ledger, VC, ["pbx-a", "pbx-b", "pbx-c"], NOW + timedelta(minutes=1)).first_seen == {
        "pbx-a": NOW,
        "pbx-b": NOW + timedelta(minutes=1),
        "pbx-c": NOW + timedelta(minutes=1),
    }


# PlanConnector around the observation (the reliability suite's PlanConnector faults): whichever call
# fails, the error leaves by its name, and the retry dates and judges exactly as a run without the fault.

TASK = {
    "VoiceConnectorId": VC,
    "Policy": {
        "MaxAgeDays": 90,
        "MinKeep": 1,
        "ProtectedUsernames": [],
        "MaxDeletions": 20,
        "GraceDays": 7,
        "Rotate": True,
        "RotateAfterDays": 60,
        "UsernamePrefix": "sip-",
    },
    "Now": NOW.isoformat(),
    "ExecutionArn": RUN,
}


def planning_world() -> tuple[FakeVoiceConnectors, InMemoryLedger, FakeConnectorSecrets, FakeRunRecords]:
    chime = FakeVoiceConnectors({VC: ["pbx-old", "pbx-gone-and-back", "pbx-new"]})
    ledger = InMemoryLedger()
    ledger.plant(VC, LedgerRecord("pbx-old", PRESENT, T0 - timedelta(days=100)))
    ledger.plant(VC, LedgerRecord("pbx-gone-and-back", GONE, T0 - timedelta(days=100)))
    ledger.plant(VC, LedgerRecord("pbx-new", PRESENT, T0))  # a settled successor: pbx-old is stale
    ledger.plant(VC, LedgerRecord("pbx-left", PRESENT, T0))
    return chime, ledger, FakeConnectorSecrets(), FakeRunRecords()


def plan(world: tuple[FakeVoiceConnectors, InMemoryLedger, FakeConnectorSecrets, FakeRunRecords]):
    chime, ledger, secrets, records = world
    return plan_connector(ConnectorTask.parse(TASK), chime, ledger, secrets, records, Fingerprints(b"k" * 32))


@pytest.mark.parametrize(
    ("where", "error", "after"),
    [
        ("chime.usernames", fault("ThrottledClientException"), False),
        ("chime.usernames", fault("ServiceFailureException"), False),
        ("chime.usernames", FunctionCrashed("timed out"), True),
        ("ledger.read", fault("ProvisionedThroughputExceededException"), False),
        ("ledger.read", fault("InternalServerError"), False),
        ("ledger.read", FunctionCrashed("timed out"), True),
        ("ledger.start_life", fault("InternalServerError"), False),
        ("ledger.end_life", fault("InternalServerError"), False),
        ("secrets.state", fault("ThrottlingException"), False),
        ("secrets.state", fault("InternalServiceError"), False),
        ("records.put", fault("InternalError"), False),
        ("records.put", FunctionCrashed("timed out"), True),
    ],
    ids=lambda value: (
        ("after-the-call" if value else "before")
        if isinstance(value, bool)
        else (value if isinstance(value, str) else type(value).__name__)
    ),
)
def test_planning_retried_after_a_failure_dates_and_judges_as_an_undisturbed_run(where, error, after):
    undisturbed = planning_world()
    expected, expected_record = plan(undisturbed)
    world = planning_world()
    fake, method = where.split(".")
    {"chime": world[0], "ledger": world[1], "secrets": world[2], "records": world[3]}[fake].fail_next(
        method, error, after=after
    )

    with pytest.raises(type(error)):
        plan(world)
    summary, record = plan(world)

    # The same plan, byte for byte (its digest), and the same ledger.
    assert (summary, record) == (expected, expected_record)
    assert world[1].rows == undisturbed[1].rows
    assert record.stale == ("pbx-old",)
