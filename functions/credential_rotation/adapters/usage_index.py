"""The call-record index, in the ledger's table (DynamoDB), beside the connectors' rows and never among them.

The ledger keys a connector's usernames under its VoiceConnectorId; the index uses partition keys no
voice connector id can take (ids are 21-22 letters and digits, or a UUID, never with a "/" or a "-"
prefix like these), so ``adapters/ledger.py`` never reads an index row as a credential:

- ``calls/<vcId>``, one row per username: ``Calls`` (how many calls authenticated with it) and
  ``LastUsedAt`` (the newest one's start);
- ``call-index``, one row per connector (``<vcId>``): ``Unauthenticated`` (calls without SipAuthUser)
  and ``NewestCallAt``; and the row ``watermark``: ``NewestCallAt``, ``IndexedAt``, ``CoversSince``,
  and ``BackfillPending`` (the days a backfill has still to index, as a string set);
- ``call/<vcId>``, one row per transaction id counted, expiring (``ExpiresAt``, the table's TTL) after
  ``SEEN_FOR``: what makes a duplicate delivery count nothing.

Fleet mode (docs/fleet.md) indexes another account's records in the same partitions, each key under the
account's id: ``calls/<account>/<vcId>``, ``call/<account>/<vcId>``, and in ``call-index`` the rows
``<account>/<vcId>`` and ``<account>/watermark``. Each account's records come from its own bucket and
reach the hub on their own path, so each has its own watermark: an account whose records stopped coming
is stale on its own, not hidden behind another's fresh ones. The hub's own account keeps the unscoped
keys, so single-account mode reads exactly what it read before.

Counting is one transaction (the transaction's row and the count), so a call is counted exactly when its
transaction row is written. Dates only move forward (conditional on the stored one being older), so the
order records arrive in does not matter. Dates are stored as UTC ISO 8601 with microseconds, one format,
so that DynamoDB's string comparison is the order of time.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from credential_rotation.adapters.dynamodb_items import count, date, text
from credential_rotation.domain.call_records import CallRecord
from credential_rotation.domain.errors import MalformedIndexRow
from credential_rotation.domain.evidence import ConnectorCalls, IndexState, Usage
from credential_rotation.domain.targets import ACCOUNT_ID

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient

INDEX = "call-index"
WATERMARK = "watermark"
# How long a counted transaction is remembered: longer than SQS keeps a message (14 days) and than the
# longest backfill look-back, so that any redelivery or re-backfill within it counts nothing.
SEEN_FOR = timedelta(days=120)


def usage_partition(voice_connector_id: str, scope: str = "") -> str:
    return f"calls/{_scoped(scope, voice_connector_id)}"


def seen_partition(voice_connector_id: str, scope: str = "") -> str:
    return f"call/{_scoped(scope, voice_connector_id)}"


def _scoped(scope: str, name: str) -> str:
    return f"{scope}/{name}" if scope else name


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _key(partition: str, sort: str) -> dict[str, Any]:
    return {"VoiceConnectorId": {"S": partition}, "Username": {"S": sort}}


class UsageIndex:
    """The index of one account's records: the hub's own (``scope`` empty) or, in fleet mode, the account
    whose id is ``scope``."""

    def __init__(self, client: "DynamoDBClient", table_name: str, scope: str = "") -> None:
        if scope and not ACCOUNT_ID.fullmatch(scope):
            raise ValueError("scope: an account id (12 digits), or empty for this account")
        self._client = client
        self._table = table_name
        self._scope = scope
        self._watermark = _key(INDEX, _scoped(scope, WATERMARK))

    def count(self, call: CallRecord, indexed_at: datetime) -> bool:
        values: dict[str, Any] = {":one": {"N": "1"}}
        if call.sip_auth_user is not None:
            counter = _key(usage_partition(call.voice_connector_id, self._scope), call.sip_auth_user)
            # A username's row is dated from its first count on; ``advance`` moves the date forward.
            update = "ADD Calls :one SET LastUsedAt = if_not_exists(LastUsedAt, :at)"
            values[":at"] = {"S": stamp(call.started_at)}
        else:
            counter = _key(INDEX, _scoped(self._scope, call.voice_connector_id))
            update = "ADD Unauthenticated :one"
        expires = int((indexed_at + SEEN_FOR).timestamp())
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _key(
                                seen_partition(call.voice_connector_id, self._scope), call.transaction_id
                            )
                            | {"ExpiresAt": {"N": str(expires)}},
                            "ConditionExpression": "attribute_not_exists(Username)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": counter,
                            "UpdateExpression": update,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as error:
            if _duplicate(error):
                return False
            raise
        return True

    def advance(self, calls: Sequence[CallRecord], indexed_at: datetime) -> None:
        if not calls:
            return
        newest_by_username: dict[tuple[str, str], datetime] = {}
        newest_by_connector: dict[str, datetime] = {}
        for call in calls:
            if call.sip_auth_user is not None:
                key = (call.voice_connector_id, call.sip_auth_user)
                newest_by_username[key] = max(call.started_at, newest_by_username.get(key, call.started_at))
            vc_id = call.voice_connector_id
            newest_by_connector[vc_id] = max(call.started_at, newest_by_connector.get(vc_id, call.started_at))
        for (vc_id, username), newest in sorted(newest_by_username.items()):
            self._move_forward(_key(usage_partition(vc_id, self._scope), username), "LastUsedAt", newest)
        for vc_id, newest in sorted(newest_by_connector.items()):
            self._move_forward(_key(INDEX, _scoped(self._scope, vc_id)), "NewestCallAt", newest)
        oldest = min(call.started_at for call in calls)
        self._client.update_item(
            TableName=self._table,
            Key=self._watermark,
            UpdateExpression="SET IndexedAt = :now, CoversSince = if_not_exists(CoversSince, :oldest)",
            ExpressionAttributeValues={":now": {"S": stamp(indexed_at)}, ":oldest": {"S": stamp(oldest)}},
        )
        self._move_forward(self._watermark, "NewestCallAt", max(newest_by_connector.values()))

    def _move_forward(self, key: Mapping[str, Any], attribute: str, moment: datetime) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #at = :at",
                ConditionExpression="attribute_not_exists(#at) OR #at < :at",
                ExpressionAttributeNames={"#at": attribute},
                ExpressionAttributeValues={":at": {"S": stamp(moment)}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # A newer date is already there: a record delivered late, or twice.

    def calls(self, voice_connector_id: str) -> ConnectorCalls:
        by_username: dict[str, Usage] = {}
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "VoiceConnectorId = :id",
            "ExpressionAttributeValues": {":id": {"S": usage_partition(voice_connector_id, self._scope)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", []):
                username = _text(item, "Username")
                by_username[username] = Usage(
                    last_used_at=_date(item, "LastUsedAt"), calls=_number(item, "Calls")
                )
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        row = self._client.get_item(
            TableName=self._table,
            Key=_key(INDEX, _scoped(self._scope, voice_connector_id)),
            ConsistentRead=True,
        ).get("Item")
        unauthenticated = _number(row, "Unauthenticated") if row and "Unauthenticated" in row else 0
        return ConnectorCalls(by_username=by_username, unauthenticated=unauthenticated)

    def state(self) -> IndexState | None:
        row = self._client.get_item(TableName=self._table, Key=self._watermark, ConsistentRead=True).get(
            "Item"
        )
        if row is None:
            return None
        pending = row.get("BackfillPending", {})
        if pending and set(pending) != {"SS"}:
            raise MalformedIndexRow("the index's watermark row: BackfillPending is not a string set")
        return IndexState(
            newest_call_at=_date(row, "NewestCallAt") if "NewestCallAt" in row else None,
            indexed_at=_date(row, "IndexedAt") if "IndexedAt" in row else None,
            covers_since=_date(row, "CoversSince") if "CoversSince" in row else None,
            backfill_pending=len(pending.get("SS", ())),
        )

    def begin_backfill(self, days: Iterable[str], covers_since: datetime) -> None:
        days = sorted(set(days))
        values: dict[str, Any] = {":since": {"S": stamp(covers_since)}}
        update = "SET CoversSince = :since"
        if days:
            update += " ADD BackfillPending :days"
            values[":days"] = {"SS": days}
        # The index covers the look-back only once every day is in: until then BackfillPending holds it
        # stale. CoversSince only moves back: a shorter backfill never narrows what a longer one covered.
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._watermark,
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(CoversSince) OR CoversSince > :since",
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            if days:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._watermark,
                    UpdateExpression="ADD BackfillPending :days",
                    ExpressionAttributeValues={":days": {"SS": days}},
                )

    def finish_backfill_day(self, day: str) -> None:
        # Removing a member that is not there is not an error: a day finished twice is finished.
        self._client.update_item(
            TableName=self._table,
            Key=self._watermark,
            UpdateExpression="DELETE BackfillPending :day",
            ExpressionAttributeValues={":day": {"SS": [day]}},
        )


def _duplicate(error: ClientError) -> bool:
    """Whether a cancelled transaction was cancelled by its first item's condition: counted before."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    return bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"


def _read[T](read: Callable[[Mapping[str, Any], str], T], item: Mapping[str, Any] | None, name: str) -> T:
    """One attribute of an index row (adapters/dynamodb_items.py); what is wrong is a MalformedIndexRow."""
    try:
        return read(item or {}, name)
    except ValueError as error:
        raise MalformedIndexRow(f"a call-index row's {error}") from None


def _text(item: Mapping[str, Any] | None, name: str) -> str:
    return _read(text, item, name)


def _number(item: Mapping[str, Any] | None, name: str) -> int:
    return _read(count, item, name)


def _date(item: Mapping[str, Any] | None, name: str) -> datetime:
    return _read(date, item, name)
