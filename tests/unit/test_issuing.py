"""Issuing a successor (tasks/issuing.py: CreateSecret, SetSecret, TestSecret, FinishSecret) over the
in-memory fakes, case by case: the fresh path, every retry and resumption, every pending version that
must not be trusted, and each fault the reliability suite injects into the issuing function."""

import json
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from credential_rotation.domain.errors import (
    MalformedSecret,
    MalformedTaskInput,
    SuccessorNotListed,
    UntrustedSuccessor,
)
from credential_rotation.domain.ledger_records import GONE, ISSUING, PRESENT, LedgerRecord
from credential_rotation.domain.models import IssueRequest, Successor
from credential_rotation.domain.successor import SUFFIX_ALPHABET
from credential_rotation.tasks import issuing
from credential_rotation.tasks.issuing import (
    ISSUED_PASSWORD,
    MAX_DRAWS,
    create_secret,
    finish_secret,
    set_secret,
    version_token,
)
from credential_rotation.tasks.observation import observe
from tests.support.fakes import (
    FakeConnectorSecrets,
    FakeVoiceConnectors,
    FunctionCrashed,
    InMemoryLedger,
    fault,
)

VC = "abcdefghijklmnopqrstuv"
OTHER_VC = "zyxwvutsrqponmlkjihgfe"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-1"
OTHER_RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-0"
NOW = datetime(2026, 3, 1, 3, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
OLD = NOW - timedelta(days=100)
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
TOKEN = version_token(RUN, VC)
ENROLMENT = version_token(RUN, VC, "enrolment")
GOOD_PASSWORD = "Abcdefghij0123456789Abcdefghij0123456789"


class Draws:
    """A ``choice`` that spells these username suffixes, one per draw, and draws passwords from a seeded
    generator: so a test knows which usernames CreateSecret will try."""

    def __init__(self, *suffixes: str, seed: int = 7) -> None:
        self._suffixes = list(suffixes)
        self._characters: list[str] = []
        self._random = random.Random(seed)

    def __call__(self, alphabet: Sequence[str]) -> str:
        if alphabet == SUFFIX_ALPHABET:
            if not self._characters:
                self._characters = list(self._suffixes.pop(0))
            return self._characters.pop(0)
        return self._random.choice(alphabet)


def username(suffix: str) -> str:
    return f"sip-20260301-{suffix}"


class World:
    def __init__(self, listed: Sequence[str] = ("pbx-old",)) -> None:
        self.chime = FakeVoiceConnectors({VC: list(listed)})
        self.ledger = InMemoryLedger()
        for name in listed:
            self.ledger.plant(VC, LedgerRecord(name, PRESENT, OLD))
        self.secrets = FakeConnectorSecrets()

    def request(
        self, step: str, successor: Successor | None = None, execution_arn: str = RUN
    ) -> IssueRequest:
        wire = {
            "VoiceConnectorId": VC,
            "Policy": POLICY,
            "Now": NOW.isoformat(),
            "ExecutionArn": execution_arn,
            "Step": step,
        }
        if successor is not None:
            wire["Successor"] = successor.to_wire()
        return IssueRequest.parse(wire)

    def create(self, now: datetime = NOW, choice: Draws | None = None, execution_arn: str = RUN) -> Successor:
        return create_secret(
            self.request("CreateSecret", execution_arn=execution_arn),
            self.secrets,
            self.ledger,
            self.chime,
            now,
            choice or Draws("k3v9q0zt"),
        )

    def set(self, successor: Successor) -> None:
        set_secret(self.request("SetSecret", successor), self.secrets, self.ledger, self.chime)

    def test(self, successor: Successor) -> None:
        issuing.test_secret(self.request("TestSecret", successor), self.chime)

    def finish(self, successor: Successor, now: datetime = LATER) -> Successor:
        return finish_secret(self.request("FinishSecret", successor), self.secrets, self.ledger, now)

    def issue(self, now: datetime = NOW, choice: Draws | None = None, execution_arn: str = RUN) -> Successor:
        successor = self.create(now, choice, execution_arn)
        self.set(successor)
        self.test(successor)
        return self.finish(successor, now + timedelta(minutes=1))

    def rows(self) -> dict[str, LedgerRecord]:
        return self.ledger.read(VC).records


# CreateSecret


def test_a_fresh_successor_is_recorded_in_the_ledger_and_stored_as_awspending():
    world = World()

    successor = world.create(choice=Draws("k3v9q0zt"))

    state = world.secrets.state(VC)
    assert successor == Successor(
        username=username("k3v9q0zt"), secret_arn=state.arn, version_id=TOKEN, issued_at=NOW
    )
    # A new secret's first version is AWSCURRENT and holds no credential; the successor waits in AWSPENDING.
    assert world.secrets.stages(VC) == {"AWSCURRENT": ENROLMENT, "AWSPENDING": TOKEN}
    assert world.secrets.value(VC, ENROLMENT)["Username"] is None
    assert world.rows()[username("k3v9q0zt")] == LedgerRecord(
        username("k3v9q0zt"), ISSUING, None, secret_version_id=TOKEN, issued_at=NOW, issued_by=RUN
    )
    stored = world.secrets.read(VC, TOKEN)
    assert (stored.voice_connector_id, stored.username, stored.issued_at) == (VC, username("k3v9q0zt"), NOW)
    assert ISSUED_PASSWORD.fullmatch(stored.password)
    assert world.chime.put_calls == []  # nothing on the connector before SetSecret


def test_the_ledger_records_the_successor_before_it_is_stored():
    world = World()
    world.secrets.fail_next("store_pending", fault("InternalServiceError"))

    with pytest.raises(Exception, match="InternalServiceError"):
        world.create()

    # A version stored but never recorded would look planted; a record never stored is harmless.
    assert world.rows()[username("k3v9q0zt")].state == ISSUING
    assert "AWSPENDING" not in world.secrets.stages(VC)


def test_a_retried_create_secret_finds_the_version_it_stored():
    world = World()
    first = world.create(choice=Draws("k3v9q0zt"))

    again = world.create(now=LATER, choice=Draws("zzzzzzzz"))

    assert again == first
    assert [row.username for row in world.rows().values() if row.secret_version_id] == [username("k3v9q0zt")]
    assert set(world.secrets.state(VC).versions) == {ENROLMENT, TOKEN}


@pytest.mark.parametrize("after", [False, True], ids=["before-the-store", "after-the-store"])
def test_a_create_secret_that_died_around_the_store_reuses_the_recorded_username(after):
    world = World()
    world.secrets.fail_next("store_pending", FunctionCrashed("timed out"), after=after)
    with pytest.raises(FunctionCrashed):
        world.create(choice=Draws("k3v9q0zt"))

    successor = world.create(now=LATER, choice=Draws("zzzzzzzz"))

    # The recorded username and its issue date, not a second draw nor the retry's clock.
    assert (successor.username, successor.issued_at, successor.version_id) == (
        username("k3v9q0zt"),
        NOW,
        TOKEN,
    )
    assert world.secrets.read(VC, TOKEN).issued_at == NOW
    assert username("zzzzzzzz") not in world.rows()
    world.set(successor)  # and it is trusted
    assert world.chime.put_calls == [(VC, username("k3v9q0zt"))]


def test_an_interrupted_runs_successor_is_finished_not_replaced():
    world = World()
    left = world.create(execution_arn=OTHER_RUN, choice=Draws("k3v9q0zt"))  # that run stopped here

    resumed = world.create(choice=Draws("zzzzzzzz"))

    assert resumed == left
    assert resumed.version_id == version_token(OTHER_RUN, VC)
    assert TOKEN not in world.secrets.state(VC).versions
    assert sorted(world.rows()) == ["pbx-old", username("k3v9q0zt")]
    world.set(resumed)
    world.test(resumed)
    assert world.finish(resumed).promoted is True
    assert world.secrets.stages(VC)["AWSCURRENT"] == version_token(OTHER_RUN, VC)


def test_a_secret_scheduled_for_deletion_gets_no_successor():
    world = World()
    world.secrets.enrol(VC, "someone-elses")
    world.secrets.schedule_deletion(VC)

    with pytest.raises(UntrustedSuccessor, match="scheduled for deletion"):
        world.create()

    assert world.ledger.writes == []
    assert list(world.secrets.secrets[VC].versions) == ["someone-elses"]


def test_a_username_that_already_exists_is_drawn_again():
    world = World(["pbx-old", username("aaaaaaaa")])  # on the connector
    world.ledger.plant(VC, LedgerRecord(username("bbbbbbbb"), GONE, OLD))  # seen by the ledger

    successor = world.create(choice=Draws("aaaaaaaa", "bbbbbbbb", "cccccccc"))

    assert successor.username == username("cccccccc")
    # The listed one is never tried in the ledger; the known one's row is left as it was.
    assert world.ledger.writes == [("record_issuing", VC, username("cccccccc"))]
    assert world.rows()[username("bbbbbbbb")] == LedgerRecord(username("bbbbbbbb"), GONE, OLD)


def test_a_username_another_writer_records_first_is_drawn_again():
    world = World()

    def a_listing_dates_it(vc_id: str, name: str) -> None:  # a person put that very name a moment ago
        assert world.ledger.start_life(vc_id, name, NOW, None)

    world.ledger.before_write("record_issuing", a_listing_dates_it)

    successor = world.create(choice=Draws("aaaaaaaa", "cccccccc"))

    assert successor.username == username("cccccccc")
    assert world.rows()[username("aaaaaaaa")] == LedgerRecord(username("aaaaaaaa"), PRESENT, NOW)


def test_when_every_draw_exists_nothing_is_recorded_or_stored():
    taken = [f"{index}" * 8 for index in range(MAX_DRAWS)]
    world = World(["pbx-old", *(username(suffix) for suffix in taken)])

    with pytest.raises(UntrustedSuccessor, match=f"in {MAX_DRAWS} tries") as raised:
        world.create(choice=Draws(*taken, "cccccccc"))

    assert "sip-" not in str(raised.value)
    assert world.ledger.writes == []
    assert world.secrets.stages(VC) == {"AWSCURRENT": ENROLMENT}


# Pending versions this workflow did not create, or not as it created them.

PLANTED = "v-planted"
PLANTED_USERNAME = username("p1anted0")


def plant_pending(world: World, content: dict | str, record: LedgerRecord | None) -> None:
    """A pending successor: a version (as anyone with PutSecretValue can write one) and, unless None, the
    ledger row that names it."""
    world.secrets.enrol(VC, "enrolled-earlier")
    secret_string = content if isinstance(content, str) else json.dumps(content)
    world.secrets.plant(VC, secret_string, ["AWSPENDING"], PLANTED)
    if record is not None:
        world.ledger.plant(VC, record)


def recorded(**change: object) -> LedgerRecord:
    base = LedgerRecord(
        PLANTED_USERNAME, ISSUING, None, secret_version_id=PLANTED, issued_at=OLD, issued_by=OTHER_RUN
    )
    return replace(base, **change)


def content(**change: object) -> dict:
    return {
        "VoiceConnectorId": VC,
        "Username": PLANTED_USERNAME,
        "Password": GOOD_PASSWORD,
        "IssuedAt": OLD.isoformat(),
    } | change


UNTRUSTED = {
    "not-in-the-ledger": (content(), None, "the ledger has no record"),
    "another-username": (content(Username=username("0ther0ne")), recorded(), "username is not the one"),
    "another-connector": (content(VoiceConnectorId=OTHER_VC), recorded(), "names another voice connector"),
    "not-the-issued-username-format": (
        content(Username="attacker"),
        recorded(username="attacker"),
        "username does not have the issued format",
    ),
    "not-the-issued-password-format": (content(Password="pw"), recorded(), "password does not have"),
    "another-issue-date": (content(IssuedAt=NOW.isoformat()), recorded(), "issue date is not the one"),
    "recorded-as-gone": (content(), recorded(state=GONE, first_seen_at=OLD), "as gone or deleted"),
}


def test_a_pending_successor_as_this_workflow_created_it_is_resumed():
    """The control for the cases below: with nothing changed, the planted pair is trusted."""
    world = World()
    plant_pending(world, content(), recorded())

    successor = world.create()

    assert (successor.version_id, successor.username) == (PLANTED, PLANTED_USERNAME)


@pytest.mark.parametrize("case", sorted(UNTRUSTED))
def test_an_untrusted_pending_successor_is_refused_and_nothing_is_put_or_promoted(case):
    value, record, problem = UNTRUSTED[case]
    world = World()
    plant_pending(world, value, record)
    stages = world.secrets.stages(VC)
    rows = world.rows()

    with pytest.raises(UntrustedSuccessor) as raised:
        world.create()

    message = str(raised.value)
    assert problem in message
    assert PLANTED in message  # the version, for the person who must remove it
    assert not any(secret in message for secret in (PLANTED_USERNAME, "attacker", GOOD_PASSWORD))
    assert world.chime.put_calls == []
    assert world.secrets.stages(VC) == stages
    assert world.rows() == rows


@pytest.mark.parametrize("case", sorted(UNTRUSTED))
def test_set_secret_refuses_an_untrusted_version_the_state_names(case):
    value, record, problem = UNTRUSTED[case]
    world = World()
    plant_pending(world, value, record)
    forged = Successor(username=PLANTED_USERNAME, secret_arn="arn", version_id=PLANTED, issued_at=OLD)

    with pytest.raises(UntrustedSuccessor, match=problem):
        world.set(forged)

    assert world.chime.put_calls == []


def test_a_pending_version_that_is_not_a_successor_document_is_refused():
    world = World()
    plant_pending(world, "not json", recorded())

    with pytest.raises(MalformedSecret, match="not JSON"):
        world.create()

    assert world.chime.put_calls == []


def test_a_version_stored_under_this_runs_token_by_someone_else_is_refused():
    """The run recorded its successor and died before storing it; someone stored another value under the
    same ClientRequestToken. The retry finds the version and checks it against the record."""
    world = World()
    world.secrets.fail_next("store_pending", FunctionCrashed("timed out"))
    with pytest.raises(FunctionCrashed):
        world.create(choice=Draws("k3v9q0zt"))
    world.secrets.plant(VC, json.dumps(content(Username=username("0ther0ne"))), ["AWSPENDING"], TOKEN)

    with pytest.raises(UntrustedSuccessor, match="username is not the one the ledger recorded"):
        world.create()

    assert world.chime.put_calls == []


# SetSecret, TestSecret, FinishSecret


def test_set_secret_puts_the_stored_credential_on_the_connector():
    world = World()
    successor = world.create()

    world.set(successor)

    stored = world.secrets.read(VC, TOKEN)
    assert world.chime.holds(VC, successor.username, stored.password)
    assert "pbx-old" in world.chime.connectors[VC]


def test_test_secret_fails_when_the_successor_is_not_listed():
    world = World()
    successor = world.create()
    world.set(successor)
    world.chime.remove_credential(VC, successor.username)  # the put did not stick, or a person removed it

    with pytest.raises(SuccessorNotListed) as raised:
        world.test(successor)

    assert successor.username not in str(raised.value)
    assert world.secrets.stages(VC)["AWSCURRENT"] == ENROLMENT


def test_finish_secret_promotes_the_successor_and_records_it():
    world = World()
    successor = world.create()
    world.set(successor)
    world.test(successor)

    finished = world.finish(successor, now=LATER)

    assert finished == successor.model_copy(update={"promoted": True})
    assert world.secrets.stages(VC) == {"AWSCURRENT": TOKEN, "AWSPREVIOUS": ENROLMENT}
    assert world.rows()[successor.username] == LedgerRecord(
        successor.username,
        PRESENT,
        LATER,
        secret_version_id=TOKEN,
        issued_at=NOW,
        issued_by=RUN,
        promoted_at=LATER,
    )


def test_a_successor_a_listing_dated_first_keeps_that_date_when_promoted():
    world = World()
    successor = world.create()
    world.set(successor)
    listed_at = NOW + timedelta(minutes=1)
    observe(world.ledger, VC, world.chime.usernames(VC), listed_at)  # a dry run lists it meanwhile

    world.finish(successor, now=LATER)

    row = world.rows()[successor.username]
    assert (row.first_seen_at, row.promoted_at) == (listed_at, LATER)


def test_a_second_rotation_moves_awsprevious_to_the_first_successor():
    world = World()
    first = world.issue(choice=Draws("aaaaaaaa"))
    second = world.issue(now=NOW + timedelta(days=70), choice=Draws("bbbbbbbb"), execution_arn=OTHER_RUN)

    assert world.secrets.stages(VC) == {"AWSCURRENT": second.version_id, "AWSPREVIOUS": first.version_id}
    assert second.username == "sip-20260510-bbbbbbbb"


@pytest.mark.parametrize("step", ["SetSecret", "TestSecret", "FinishSecret"])
def test_a_step_after_create_secret_needs_the_successor(step):
    world = World()
    request = world.request(step)
    call = {
        "SetSecret": lambda: set_secret(request, world.secrets, world.ledger, world.chime),
        "TestSecret": lambda: issuing.test_secret(request, world.chime),
        "FinishSecret": lambda: finish_secret(request, world.secrets, world.ledger, NOW),
    }[step]

    with pytest.raises(MalformedTaskInput, match=f"Successor: required for {step}"):
        call()


# The reliability suite's IssueSuccessor faults: each leaves by its name, and the retry converges.


@pytest.mark.parametrize("error", ["ThrottlingException", "InternalServiceError"])
def test_create_secret_failing_to_create_the_secret_records_nothing(error):
    world = World()
    world.secrets.fail_next("enrol", fault(error))

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.create()

    assert type(raised.value).__name__ == error
    assert world.ledger.writes == []
    assert world.create().version_id == TOKEN  # the retry


def test_create_secret_failing_to_list_the_connector_records_and_stores_nothing():
    world = World()
    world.chime.fail_next("usernames", fault("ThrottledClientException"))

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.create()

    assert type(raised.value).__name__ == "ThrottledClientException"
    assert world.ledger.writes == []
    assert "AWSPENDING" not in world.secrets.stages(VC)
    assert world.create().username == username("k3v9q0zt")  # the retry


def test_create_secret_dying_after_the_secret_was_created_is_retried():
    world = World()
    world.secrets.fail_next("enrol", FunctionCrashed("timed out"), after=True)
    with pytest.raises(FunctionCrashed):
        world.create()

    successor = world.create()

    assert world.secrets.stages(VC) == {"AWSCURRENT": ENROLMENT, "AWSPENDING": successor.version_id}


def test_set_secret_failing_to_read_the_version_puts_nothing():
    world = World()
    successor = world.create()
    world.secrets.fail_next("read", fault("InternalServiceError"))

    with pytest.raises(Exception, match="InternalServiceError"):
        world.set(successor)

    assert world.chime.put_calls == []


@pytest.mark.parametrize(
    ("error", "after"),
    [
        (fault("ThrottledClientException"), False),
        (fault("ServiceFailureException"), False),
        (FunctionCrashed("timed out"), True),
    ],
    ids=["throttled", "server-fault", "timed-out-after-the-put"],
)
def test_a_failed_put_is_retried_and_puts_the_same_credential(error, after):
    world = World()
    successor = world.create()
    world.chime.fail_next("put", error, after=after)

    with pytest.raises(type(error)):
        world.set(successor)
    world.set(successor)

    assert world.chime.holds(VC, successor.username, world.secrets.read(VC, TOKEN).password)
    assert world.chime.connectors[VC].count(successor.username) == 1


def test_test_secret_raises_the_listings_error_by_name():
    world = World()
    successor = world.create()
    world.set(successor)
    world.chime.fail_next("usernames", fault("ThrottledClientException"))

    with pytest.raises(Exception) as raised:  # noqa: PT011 (its name is what the state machine matches)
        world.test(successor)

    assert type(raised.value).__name__ == "ThrottledClientException"


@pytest.mark.parametrize(
    ("where", "error", "after"),
    [
        ("secrets.promote", fault("InternalServiceError"), False),
        ("secrets.promote", FunctionCrashed("timed out"), True),
        ("ledger.record_promoted", fault("InternalServerError"), False),
        ("ledger.record_promoted", FunctionCrashed("timed out"), True),
    ],
    ids=["promote-fails", "promote-timed-out-after", "record-fails", "record-timed-out-after"],
)
def test_finish_secret_interrupted_anywhere_converges_on_retry(where, error, after):
    world = World()
    successor = world.create()
    world.set(successor)
    world.test(successor)
    fake, method = where.split(".")
    getattr(world, fake).fail_next(method, error, after=after)

    with pytest.raises(type(error)):
        world.finish(successor, now=LATER)
    promoted_meanwhile = world.secrets.stages(VC)["AWSCURRENT"] == TOKEN
    assert promoted_meanwhile == (where == "ledger.record_promoted" or after)

    world.finish(successor, now=LATER + timedelta(minutes=1))

    assert world.secrets.stages(VC) == {"AWSCURRENT": TOKEN, "AWSPREVIOUS": ENROLMENT}
    row = world.rows()[successor.username]
    assert row.state == PRESENT
    assert row.promoted_at is not None
