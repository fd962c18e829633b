"""The run lock against moto's DynamoDB, and its lease held to the state machine's and functions' timeouts."""

import json
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from cfnlint.decode import cfn_yaml

from credential_rotation.adapters.run_lock import LEASE, LOCK_KEY, LONGEST_TASK, RunLock
from credential_rotation.domain.errors import RunInProgress
from sandbox.template import REPOSITORY
from tests.support.aws import create_ledger_table

TABLE = "ledger"
REGION = "us-east-1"
HOLDER = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-2026-03-01"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:rotation:pressed-start"
T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
# Ledger rows beside the lock, so that a message naming one would show.
USERNAMES = ("sip-20260101-k3v9q0zt", "break-glass")


@pytest.fixture
def dynamodb(mocked_aws):
    client = boto3.client("dynamodb", region_name=REGION)
    create_ledger_table(client, TABLE)
    for username in USERNAMES:
        client.put_item(
            TableName=TABLE,
            Item={"VoiceConnectorId": {"S": "abcdefghijklmnopqrstuv"}, "Username": {"S": username}},
        )
    return client


@pytest.fixture
def lock(dynamodb) -> RunLock:
    return RunLock(dynamodb, TABLE)


def holder(dynamodb) -> dict[str, str] | None:
    item = dynamodb.get_item(
        TableName=TABLE,
        Key={"VoiceConnectorId": {"S": LOCK_KEY}, "Username": {"S": LOCK_KEY}},
        ConsistentRead=True,
    ).get("Item")
    return None if item is None else {"HeldBy": item["HeldBy"]["S"], "ExpiresAt": item["ExpiresAt"]["S"]}


def test_acquire_takes_the_lease_for_lease_time(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    assert holder(dynamodb) == {
        "HeldBy": HOLDER,
        "ExpiresAt": (T0 + LEASE).isoformat(timespec="microseconds"),
    }
    assert dynamodb.scan(TableName=TABLE)["Count"] == len(USERNAMES) + 1  # the ledger rows untouched


def test_a_second_execution_is_refused_with_the_holder_named(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    with pytest.raises(RunInProgress) as refused:
        lock.acquire(OTHER, T0 + timedelta(seconds=1))

    message = str(refused.value)
    assert HOLDER in message
    assert (T0 + LEASE).isoformat(timespec="microseconds") in message
    assert OTHER not in message
    assert not any(username in message for username in USERNAMES)
    assert holder(dynamodb)["HeldBy"] == HOLDER


def test_the_holder_takes_it_again_and_its_lease_is_renewed(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    lock.acquire(HOLDER, T0 + timedelta(minutes=5))  # a retried ResolveRun

    assert holder(dynamodb) == {
        "HeldBy": HOLDER,
        "ExpiresAt": (T0 + timedelta(minutes=5) + LEASE).isoformat(timespec="microseconds"),
    }


def test_a_lease_is_good_until_it_expires_and_then_taken_over(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    with pytest.raises(RunInProgress):
        lock.acquire(OTHER, T0 + LEASE - timedelta(seconds=1))
    with pytest.raises(RunInProgress):
        lock.acquire(OTHER, T0 + LEASE)
    lock.acquire(OTHER, T0 + LEASE + timedelta(microseconds=1))

    assert holder(dynamodb)["HeldBy"] == OTHER
    # The old holder, back after its lease ran out (an execution that outlived it), is refused in turn.
    with pytest.raises(RunInProgress, match="pressed-start"):
        lock.acquire(HOLDER, T0 + LEASE + timedelta(seconds=1))


def test_times_in_any_zone_compare_as_instants(lock, dynamodb):
    # The same instants, written in a zone whose clock reads later than UTC's: a string comparison of
    # unnormalised times would call the lease expired at once.
    ahead = timezone(timedelta(hours=5))
    lock.acquire(HOLDER, T0)

    with pytest.raises(RunInProgress):
        lock.acquire(OTHER, (T0 + timedelta(minutes=1)).astimezone(ahead))
    lock.acquire(OTHER, (T0 + LEASE + timedelta(seconds=1)).astimezone(ahead))

    assert holder(dynamodb)["HeldBy"] == OTHER


def test_release_by_the_holder_frees_it_for_the_next_run(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    lock.release(HOLDER)

    assert holder(dynamodb) is None
    lock.acquire(OTHER, T0 + timedelta(minutes=1))
    assert holder(dynamodb)["HeldBy"] == OTHER


def test_release_by_another_execution_leaves_the_lock(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    lock.release(OTHER)  # e.g. the refused run, or one whose lease was taken over

    assert holder(dynamodb)["HeldBy"] == HOLDER
    with pytest.raises(RunInProgress):
        lock.acquire(OTHER, T0 + timedelta(minutes=1))


def test_releasing_twice_or_when_nothing_is_held_is_harmless(lock, dynamodb):
    lock.release(HOLDER)
    lock.acquire(HOLDER, T0)

    lock.release(HOLDER)
    lock.release(HOLDER)

    assert holder(dynamodb) is None
    assert dynamodb.scan(TableName=TABLE)["Count"] == len(USERNAMES)


def test_an_ended_execution_keeps_the_lease_only_while_its_functions_may_still_run(lock, dynamodb):
    lock.acquire(HOLDER, T0)
    ended = T0 + timedelta(minutes=10)

    assert lock.end_with(HOLDER, ended) is True

    assert holder(dynamodb) == {
        "HeldBy": HOLDER,
        "ExpiresAt": (ended + LONGEST_TASK).isoformat(timespec="microseconds"),
    }
    with pytest.raises(RunInProgress):
        lock.acquire(OTHER, ended + LONGEST_TASK - timedelta(seconds=1))
    lock.acquire(OTHER, ended + LONGEST_TASK + timedelta(microseconds=1))


def test_another_executions_end_leaves_the_lease_alone(lock, dynamodb):
    lock.acquire(HOLDER, T0)

    assert lock.end_with(OTHER, T0) is False

    assert holder(dynamodb)["ExpiresAt"] == (T0 + LEASE).isoformat(timespec="microseconds")


def test_an_end_never_lengthens_a_lease(lock, dynamodb):
    """A late or repeated event (EventBridge delivers at least once) must not extend the lease."""
    lock.acquire(HOLDER, T0)
    lock.end_with(HOLDER, T0 + timedelta(minutes=10))

    assert lock.end_with(HOLDER, T0 + timedelta(hours=2)) is False

    expected = T0 + timedelta(minutes=10) + LONGEST_TASK
    assert holder(dynamodb)["ExpiresAt"] == expected.isoformat(timespec="microseconds")


def test_the_lease_outlasts_an_execution_and_its_last_function():
    """An execution ends at the ASL's TimeoutSeconds, but a function it invoked runs on up to its own
    timeout: only after both may the lease run out."""
    template = cfn_yaml.load(str(REPOSITORY / "template.yaml"))
    function_timeouts = [template["Globals"]["Function"]["Timeout"]] + [
        resource["Properties"]["Timeout"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function" and "Timeout" in resource.get("Properties", {})
    ]

    # Both state machines take the same lock: single-account mode's and fleet mode's.
    for name in ("rotation.asl.json", "fleet.asl.json"):
        asl = json.loads((REPOSITORY / "statemachine" / name).read_text())
        assert asl["TimeoutSeconds"] > 0
        assert timedelta(seconds=asl["TimeoutSeconds"] + max(function_timeouts)) <= LEASE
    # After the execution's end, its longest function may still run: the shortened lease covers it.
    assert timedelta(seconds=max(function_timeouts)) <= LONGEST_TASK
