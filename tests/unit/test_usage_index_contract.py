"""The call-record index's contract, run against the in-memory fake and against the real adapter over moto's
DynamoDB (the ledger's table, as template.yaml creates it): counts once per transaction, dates only
forward, the watermark and the backfill's pending days; and the index's rows never read as credentials."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from credential_rotation.adapters.ledger import CredentialLedger
from credential_rotation.adapters.usage_index import INDEX, UsageIndex, usage_partition
from credential_rotation.domain.call_records import CallRecord
from credential_rotation.domain.errors import MalformedIndexRow
from credential_rotation.ports import UsageIndex as UsageIndexPort
from tests.support.aws import create_ledger_table
from tests.support.fakes import InMemoryUsageIndex

TABLE = "ledger"
VC = "abcdef1ghij2klmno3pqr4"
OTHER_VC = "zyxwvutsrqponmlkjihgf0"
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 5, 3, 3, tzinfo=UTC)


def call(username: str | None, at: datetime = T0, tx: str = "tx-1", vc_id: str = VC) -> CallRecord:
    return CallRecord(voice_connector_id=vc_id, transaction_id=tx, started_at=at, sip_auth_user=username)


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_ledger_table(client, TABLE)
    return client


@pytest.fixture(params=["in-memory", "dynamodb"])
def index(request) -> UsageIndexPort:
    if request.param == "in-memory":
        return InMemoryUsageIndex()
    return UsageIndex(request.getfixturevalue("dynamodb"), TABLE)


def usage(index, vc_id=VC):
    return {name: (u.calls, u.last_used_at) for name, u in index.calls(vc_id).by_username.items()}


def test_an_empty_index_has_no_state_and_no_calls(index):
    assert index.state() is None
    assert usage(index) == {}
    assert index.calls(VC).unauthenticated == 0


def test_a_transaction_counts_once(index):
    assert index.count(call("pbx", tx="a"), NOW) is True
    assert index.count(call("pbx", tx="a"), NOW) is False
    assert index.count(call("pbx", tx="b"), NOW) is True
    # The same transaction id on another connector is another call.
    assert index.count(call("pbx", tx="a", vc_id=OTHER_VC), NOW) is True
    assert usage(index) == {"pbx": (2, T0)}
    assert usage(index, OTHER_VC) == {"pbx": (1, T0)}


def test_calls_without_a_username_count_per_connector(index):
    index.count(call(None, tx="a"), NOW)
    index.count(call(None, tx="b"), NOW)
    index.count(call(None, tx="b"), NOW)
    assert index.calls(VC).unauthenticated == 2
    assert usage(index) == {}


def test_dates_only_move_forward(index):
    late, early = call("pbx", T0 + timedelta(hours=3), "late"), call("pbx", T0, "early")
    for record in (late, early):
        index.count(record, NOW)
    index.advance([late], NOW)
    index.advance([early], NOW)
    assert usage(index) == {"pbx": (2, T0 + timedelta(hours=3))}
    state = index.state()
    assert state.newest_call_at == T0 + timedelta(hours=3)
    assert state.indexed_at == NOW
    assert state.covers_since == T0 + timedelta(hours=3)  # the first batch's oldest call; never moved since


def test_a_backfill_is_pending_until_each_day_is_finished_and_covers_back_to_its_start(index):
    index.advance([call("pbx", T0)], NOW)
    index.begin_backfill(["day-1", "day-2"], T0 - timedelta(days=30))
    assert (index.state().backfill_pending, index.state().covers_since) == (2, T0 - timedelta(days=30))
    index.finish_backfill_day("day-1")
    index.finish_backfill_day("day-1")
    assert index.state().backfill_pending == 1
    index.finish_backfill_day("day-2")
    assert index.state().backfill_pending == 0
    # A shorter backfill never narrows what a longer one covered, but its days are pending all the same.
    index.begin_backfill(["day-3"], T0 - timedelta(days=2))
    assert (index.state().backfill_pending, index.state().covers_since) == (1, T0 - timedelta(days=30))


def test_the_index_rows_are_never_read_as_credentials(dynamodb):
    index = UsageIndex(dynamodb, TABLE)
    index.count(call("pbx"), NOW)
    index.count(call(None, tx="b"), NOW)
    index.advance([call("pbx")], NOW)
    view = CredentialLedger(dynamodb, TABLE).read(VC)
    assert (view.records, view.problems) == ({}, ())


@pytest.mark.parametrize(
    ("partition", "sort", "attribute", "value"),
    [
        ("usage", "pbx", "LastUsedAt", {"S": "yesterday"}),
        ("usage", "pbx", "LastUsedAt", {"S": "2026-05-01T09:00:00"}),
        ("usage", "pbx", "Calls", {"N": "-1"}),
        ("usage", "pbx", "Calls", {"S": "3"}),
        ("index", VC, "Unauthenticated", {"S": "many"}),
    ],
)
def test_a_row_the_indexer_did_not_write_is_a_named_error_without_its_value(
    dynamodb, partition, sort, attribute, value
):
    index = UsageIndex(dynamodb, TABLE)
    index.count(call("pbx"), NOW)
    index.count(call(None, tx="b"), NOW)
    key = usage_partition(VC) if partition == "usage" else INDEX
    dynamodb.update_item(
        TableName=TABLE,
        Key={"VoiceConnectorId": {"S": key}, "Username": {"S": sort}},
        UpdateExpression="SET #a = :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": value},
    )
    with pytest.raises(MalformedIndexRow, match=attribute) as raised:
        index.calls(VC)
    assert value["S" if "S" in value else "N"] not in str(raised.value)


FLEET_ACCOUNT = "210987654321"
OTHER_ACCOUNT = "111122223333"


def test_each_accounts_index_is_its_own_calls_watermark_and_backfill(dynamodb):
    """Fleet mode: an account's records never count for the hub's own index or another account's, and an
    account whose records stopped keeps its own, older, watermark."""
    hub, fleet, other = (UsageIndex(dynamodb, TABLE, scope) for scope in ("", FLEET_ACCOUNT, OTHER_ACCOUNT))
    hub.count(call("hub-user", tx="h"), NOW)
    hub.advance([call("hub-user", tx="h", at=T0 + timedelta(days=1))], NOW)
    fleet.count(call("pbx", tx="f"), NOW)
    fleet.count(call(None, tx="g"), NOW)
    fleet.advance([call("pbx", tx="f")], NOW)
    fleet.begin_backfill(["day"], T0 - timedelta(days=5))

    assert usage(hub) == {"hub-user": (1, T0 + timedelta(days=1))}
    assert usage(fleet) == {"pbx": (1, T0)}
    assert (fleet.calls(VC).unauthenticated, hub.calls(VC).unauthenticated) == (1, 0)
    assert (usage(other), other.state()) == ({}, None)
    assert hub.state().newest_call_at == T0 + timedelta(days=1)
    assert fleet.state().newest_call_at == T0
    assert (hub.state().backfill_pending, fleet.state().backfill_pending) == (0, 1)
    # The same transaction id in another account is another call.
    assert other.count(call("pbx", tx="f"), NOW) is True


@pytest.mark.parametrize("scope", ["12345", "abcdefghijkl", "123456789012/x"])
def test_a_scope_is_an_account_id_or_nothing(dynamodb, scope):
    with pytest.raises(ValueError, match="scope"):
        UsageIndex(dynamodb, TABLE, scope)
