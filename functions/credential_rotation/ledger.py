"""The DynamoDB ledger: when each username was first seen, since the Chime SDK Voice API keeps no dates.

One item per (VoiceConnectorId, Username). A username's life starts when a run first lists it
(State "present", FirstSeenAt), or when this workflow issued it (plus IssuedAt and SecretVersionId);
it ends "gone" when a later listing no longer has it, or "deleted" when this workflow removed it.
Before the delete step deletes a username it marks it RetiringBy its execution, so that a deletion whose
function died before it could record it is still known: to a retry of the same step, which reports it,
and to a later listing, which ends that life as "deleted" rather than "gone".
A username that comes back after its life ended starts a new life: it is most likely a new credential
under an old name, and dating it afresh can only make deletion later, not earlier.
Writes are conditional, so two runs observing the same connector at once agree on one FirstSeenAt.
"""

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PRESENT, GONE, DELETED = "present", "gone", "deleted"


@dataclass(frozen=True)
class LedgerRecord:
    username: str
    first_seen_at: datetime
    state: str
    # The execution whose delete step was about to delete it (set just before the delete call).
    retiring_by: str | None = None
    # The execution that deleted it (state "deleted").
    deleted_by: str | None = None


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()


def _record(item: dict[str, Any]) -> LedgerRecord:
    return LedgerRecord(
        username=item["Username"]["S"],
        first_seen_at=datetime.fromisoformat(item["FirstSeenAt"]["S"]),
        state=item["State"]["S"],
        retiring_by=item.get("RetiringBy", {}).get("S"),
        deleted_by=item.get("DeletedBy", {}).get("S"),
    )


class CredentialLedger:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def records(self, voice_connector_id: str) -> dict[str, LedgerRecord]:
        records: dict[str, LedgerRecord] = {}
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "VoiceConnectorId = :id",
            "ExpressionAttributeValues": {":id": {"S": voice_connector_id}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", []):
                record = _record(item)
                records[record.username] = record
            if "LastEvaluatedKey" not in page:
                return records
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def observe(
        self, voice_connector_id: str, usernames: Iterable[str], now: datetime
    ) -> dict[str, datetime]:
        """Record a listing: date the usernames seen for the first time, mark the missing ones gone.

        Returns the FirstSeenAt of every listed username.
        """
        records = self.records(voice_connector_id)
        listed = set(usernames)
        first_seen: dict[str, datetime] = {}
        for username in sorted(listed):
            record = records.get(username)
            if record is not None and record.state == PRESENT:
                first_seen[username] = record.first_seen_at
            else:
                first_seen[username] = self._start_life(voice_connector_id, username, now, record)
        for username, record in records.items():
            if record.state == PRESENT and username not in listed:
                self._mark_gone(voice_connector_id, record, now)
        return first_seen

    def mark_retiring(
        self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str
    ) -> tuple[str, ...]:
        """Written before the delete call: the one record of a deletion that a crash could otherwise hide.

        Returns the usernames marked. One whose life already ended (another run deleted it a moment ago)
        is left out, and so is not deleted again.
        """
        marked = []
        for username in usernames:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(voice_connector_id, username),
                    UpdateExpression="SET RetiringBy = :by",
                    ConditionExpression="#state = :present",
                    ExpressionAttributeNames={"#state": "State"},
                    ExpressionAttributeValues={":by": {"S": execution_arn}, ":present": {"S": PRESENT}},
                )
            except self._client.exceptions.ConditionalCheckFailedException:
                continue
            marked.append(username)
        return tuple(marked)

    def unmark_retiring(self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str) -> None:
        """The delete call failed: the marks must not later blame this execution for a person's removal."""
        for username in usernames:
            with suppress(self._client.exceptions.ConditionalCheckFailedException):
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(voice_connector_id, username),
                    UpdateExpression="REMOVE RetiringBy",
                    ConditionExpression="RetiringBy = :by",
                    ExpressionAttributeValues={":by": {"S": execution_arn}},
                )

    def mark_deleted(
        self, voice_connector_id: str, usernames: Iterable[str], deleted_at: datetime, execution_arn: str
    ) -> None:
        for username in usernames:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(voice_connector_id, username),
                UpdateExpression="SET #state = :deleted, DeletedAt = :at, DeletedBy = :by",
                ExpressionAttributeNames={"#state": "State"},
                ExpressionAttributeValues={
                    ":deleted": {"S": DELETED},
                    ":at": {"S": _timestamp(deleted_at)},
                    ":by": {"S": execution_arn},
                },
            )

    def record_issued(
        self,
        voice_connector_id: str,
        username: str,
        verified_at: datetime,
        issued_at: datetime,
        execution_arn: str,
        secret_version_id: str,
    ) -> None:
        """Record a successor proven on the connector at ``verified_at``.

        A listing that saw it first (a run that stopped before finishing it) keeps its earlier date: the
        credential has existed on the connector since then.
        """
        self._client.update_item(
            TableName=self._table,
            Key=self._key(voice_connector_id, username),
            UpdateExpression=(
                "SET #state = :present, FirstSeenAt = if_not_exists(FirstSeenAt, :verified), "
                "IssuedAt = :issued, IssuedBy = :by, SecretVersionId = :version"
            ),
            ExpressionAttributeNames={"#state": "State"},
            ExpressionAttributeValues={
                ":present": {"S": PRESENT},
                ":verified": {"S": _timestamp(verified_at)},
                ":issued": {"S": _timestamp(issued_at)},
                ":by": {"S": execution_arn},
                ":version": {"S": secret_version_id},
            },
        )

    def _start_life(
        self, voice_connector_id: str, username: str, now: datetime, previous: LedgerRecord | None
    ) -> datetime:
        if previous is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(Username)"}
        else:
            condition = {
                "ConditionExpression": "#state = :previous_state AND FirstSeenAt = :previous_first_seen",
                "ExpressionAttributeNames": {"#state": "State"},
                "ExpressionAttributeValues": {
                    ":previous_state": {"S": previous.state},
                    ":previous_first_seen": {"S": _timestamp(previous.first_seen_at)},
                },
            }
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(voice_connector_id, username),
                    "FirstSeenAt": {"S": _timestamp(now)},
                    "State": {"S": PRESENT},
                },
                **condition,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            # Another run dated it first: its date stands.
            return self._current(voice_connector_id, username).first_seen_at
        return now

    def _mark_gone(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> None:
        if record.retiring_by:
            # A delete step marked it and then died: it was deleted by that execution, not by a person.
            update = "SET #state = :deleted, DeletedAt = :now, DeletedBy = :by"
            values = {":deleted": {"S": DELETED}, ":by": {"S": record.retiring_by}}
        else:
            update, values = "SET #state = :gone, GoneAt = :now", {":gone": {"S": GONE}}
        # A failed condition means a concurrent run already ended this life, or started a new one.
        with suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=self._key(voice_connector_id, record.username),
                UpdateExpression=update,
                ConditionExpression="#state = :present AND FirstSeenAt = :first_seen",
                ExpressionAttributeNames={"#state": "State"},
                ExpressionAttributeValues={
                    **values,
                    ":now": {"S": _timestamp(now)},
                    ":present": {"S": PRESENT},
                    ":first_seen": {"S": _timestamp(record.first_seen_at)},
                },
            )

    def _current(self, voice_connector_id: str, username: str) -> LedgerRecord:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(voice_connector_id, username), ConsistentRead=True
        )["Item"]
        return _record(item)

    @staticmethod
    def _key(voice_connector_id: str, username: str) -> dict[str, dict[str, str]]:
        return {"VoiceConnectorId": {"S": voice_connector_id}, "Username": {"S": username}}
