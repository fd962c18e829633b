"""The pace of Chime calls over moto's DynamoDB and the emulator (adapters/chime_pace.py, pace_table.py).

What each test holds: a run that is never throttled writes no pace; a throttled call is made again on the
next slot of the shared pace and goes through; a throttle that outlasts the tries is the service's own
error, for the state machine's Retry; no slot within the budget is ChimeRateLimited with nothing booked and
nothing called, and a delete refused so unmarks; the pace's writes are conditional on the version read; a
malformed or lapsed pace record is read as none.
"""

import boto3
import pytest

from credential_rotation.adapters.chime import VoiceConnectorCredentials
from credential_rotation.adapters.chime_pace import BUDGET_SECONDS, TRIES, ChimePace
from credential_rotation.adapters.pace_table import PACE_KEY, PaceTable
from credential_rotation.domain.errors import ChimeRateLimited
from credential_rotation.domain.pacing import FORGET_AFTER, INITIAL_RATE, Pace
from tests.support.aws import create_ledger_table

TABLE = "ledger"
SCOPE = "111111111111/us-east-1"
LIST = "ListVoiceConnectorTerminationCredentials"
DELETE = "DeleteVoiceConnectorTerminationCredentials"
START = 1_800_000_000.0


class ManualClock:
    def __init__(self) -> None:
        self.at = START
        self.waits: list[float] = []

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.at += seconds


@pytest.fixture
def dynamodb(mocked_aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_ledger_table(client, TABLE)
    return client


@pytest.fixture
def table(dynamodb):
    return PaceTable(dynamodb, TABLE)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def connector(chime):
    connector_id = chime.create_voice_connector(Name="pbx", RequireEncryption=True)["VoiceConnector"][
        "VoiceConnectorId"
    ]
    chime.put_voice_connector_termination_credentials(
        VoiceConnectorId=connector_id, Credentials=[{"Username": "sip-old", "Password": "x" * 16}]
    )
    return connector_id


def paced(chime, table, clock) -> tuple[VoiceConnectorCredentials, ChimePace]:
    pace = ChimePace(table, SCOPE, clock)
    return VoiceConnectorCredentials(chime, pace), pace


def test_calls_never_throttled_write_no_pace_and_never_wait(chime, backend, table, clock, connector):
    credentials, pace = paced(chime, table, clock)

    for _ in range(5):
        assert credentials.usernames(connector) == ("sip-old",)

    assert table.read(SCOPE) == (None, False)
    assert clock.waits == []
    assert pace.throttles == 0


def test_a_throttled_call_is_made_again_on_the_next_slot_and_goes_through(
    chime, backend, table, clock, connector
):
    backend.faults.script(LIST, ["ThrottledClientException"] * 3)
    credentials, pace = paced(chime, table, clock)

    assert credentials.usernames(connector) == ("sip-old",)

    assert pace.throttles == 3
    outcomes = [call.outcome for call in backend.calls if call.operation == LIST]
    assert outcomes == ["ThrottledClientException"] * 3 + ["ok"]
    written, _ = table.read(SCOPE)
    assert written is not None
    assert written.rate < INITIAL_RATE
    assert len(clock.waits) == 3
    assert all(wait > 0 for wait in clock.waits)


def test_a_throttle_that_outlasts_the_tries_is_the_services_own_error(
    chime, backend, table, clock, connector
):
    backend.faults.script(LIST, ["ThrottledClientException"] * TRIES)
    credentials, _ = paced(chime, table, clock)

    with pytest.raises(chime.exceptions.ThrottledClientException):
        credentials.usernames(connector)
    assert sum(call.operation == LIST for call in backend.calls) == TRIES


def queue_beyond_budget(table: PaceTable) -> Pace:
    far = Pace(rate=1.0, next_at=START + BUDGET_SECONDS + 5, epoch=2, slowed_at=START, version=4)
    assert table.write(SCOPE, far, None, False)
    return far


def test_no_slot_within_the_budget_calls_nothing_and_books_nothing(chime, backend, table, clock, connector):
    far = queue_beyond_budget(table)
    credentials, _ = paced(chime, table, clock)

    with pytest.raises(ChimeRateLimited, match="budget: nothing was called"):
        credentials.usernames(connector)

    assert not [call for call in backend.calls if call.operation == LIST]
    assert table.read(SCOPE) == (far, True)  # a slot booked and left unused would be lost to every worker
    assert clock.waits == []


def test_a_delete_that_found_no_slot_is_reported_refused(chime, backend, table, clock, connector):
    queue_beyond_budget(table)
    credentials, _ = paced(chime, table, clock)
    refused = []

    with pytest.raises(ChimeRateLimited):
        credentials.delete(connector, ["sip-old"], on_refused=lambda: refused.append(True))

    assert refused == [True]  # the usernames are unmarked: nothing was deleted
    assert not [call for call in backend.calls if call.operation == DELETE]


def test_a_pace_write_is_lost_to_any_write_since_it_was_read(table):
    first = Pace(rate=2.0, next_at=START, epoch=1, slowed_at=START, version=1)
    assert table.write(SCOPE, first, None, False)
    assert not table.write(SCOPE, first, None, False)  # another worker created it meanwhile

    second = Pace(rate=2.0, next_at=START + 0.5, epoch=1, slowed_at=START, version=2)
    assert table.write(SCOPE, second, first, True)
    stale = Pace(rate=3.0, next_at=START + 0.3, epoch=1, slowed_at=START, version=2)
    assert not table.write(SCOPE, stale, first, True)  # read version 1; version 2 is there now
    assert table.read(SCOPE) == (second, True)


def test_a_malformed_pace_record_reads_as_none_and_is_replaced(dynamodb, table):
    dynamodb.put_item(
        TableName=TABLE,
        Item={"VoiceConnectorId": {"S": PACE_KEY}, "Username": {"S": SCOPE}, "Rate": {"N": "-4"}},
    )

    assert table.read(SCOPE) == (None, True)
    replacement = Pace(rate=2.0, next_at=START, epoch=1, slowed_at=START, version=1)
    assert table.write(SCOPE, replacement, None, True)
    assert table.read(SCOPE) == (replacement, True)


def test_a_pace_is_kept_with_an_expiry_for_the_tables_time_to_live(dynamodb, table):
    pace = Pace(rate=2.0, next_at=START, epoch=1, slowed_at=START, version=1)
    table.write(SCOPE, pace, None, False)

    item = dynamodb.get_item(
        TableName=TABLE, Key={"VoiceConnectorId": {"S": PACE_KEY}, "Username": {"S": SCOPE}}
    )
    assert int(item["Item"]["ExpiresAt"]["N"]) == int(START + FORGET_AFTER)


def test_a_ceiling_spaces_every_call_from_the_first(chime, backend, table, clock, connector):
    pace = ChimePace(table, SCOPE, clock, ceiling=2.0)
    credentials = VoiceConnectorCredentials(chime, pace)

    for _ in range(4):
        credentials.usernames(connector)

    assert clock.waits == [0.5, 0.5, 0.5]
    written, _ = table.read(SCOPE)
    assert written is not None
    assert written.rate == 2.0
