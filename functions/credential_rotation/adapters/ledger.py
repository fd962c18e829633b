"""The DynamoDB ledger: when each username was first seen, since the Chime SDK Voice API keeps no dates, and
which credentials this workflow issued, since the connector's secret alone cannot be trusted to say.

One item per (VoiceConnectorId, Username). A username's life starts when a run first lists it
(State "present", FirstSeenAt); it ends "gone" when a later listing no longer has it, or "deleted" when
this workflow removed it. A username that comes back after its life ended starts a new life: it is most
likely a new credential under an old name, and dating it afresh can only make deletion later.

A successor's life starts earlier, when CreateSecret chooses it (State "issuing", with the secret's
SecretVersionId, IssuedAt and IssuedBy), before anything is stored: so the ledger knows every version this
workflow created, and a pending version it does not know was planted by someone else. The first listing
that shows it dates it ("present"); FinishSecret adds PromotedAt when AWSCURRENT moves to it.

Before the delete step deletes a username it marks it RetiringBy its execution, and RetiringAt the time
that attempt of the step started, so that a deletion whose function died before it could record it is
still known: to a retry of the same step, which reports it, and to a later listing, which ends that life
as "deleted" rather than "gone". A mark lives as long as the step that made it can run
(``MARK_LIFETIME``): a listing that still finds the username after that (the delete did not take effect,
or a person put the username back before its deletion was recorded) starts a new life for it, as for a
username back after its life ended. A mark without RetiringAt, written before marks were dated, counts
as outlived.

A row that is not what this module writes (a missing or unreadable attribute) is reported by what is
wrong with it, never by its values, and left alone: its username is judged as new (kept) until a person
repairs or removes the row. Writes are conditional, so two runs observing at once agree on one date.
"""

from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.adapters.dynamodb_items import date, text
from credential_rotation.domain.ledger_records import (
    DELETED,
    GONE,
    ISSUING,
    PRESENT,
    STATES,
    LedgerProblem,
    LedgerRecord,
    LedgerView,
)

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient

_OPTIONAL_TEXT = ("RetiringBy", "DeletedBy", "SecretVersionId", "IssuedBy")
_OPTIONAL_DATES = ("RetiringAt", "IssuedAt", "PromotedAt")


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()


def parse_row(item: Mapping[str, Any]) -> LedgerRecord | LedgerProblem:
    """One ledger item, or what is wrong with it (the attribute and the fault, never the value)."""
    try:
        username = text(item, "Username")
    except ValueError as error:
        return LedgerProblem(None, str(error))
    try:
        state = text(item, "State")
        if state not in STATES:
            raise ValueError(f"State: not one of {', '.join(sorted(STATES))}")
        first_seen = None if state == ISSUING and "FirstSeenAt" not in item else date(item, "FirstSeenAt")
        optional = {name: text(item, name) if name in item else None for name in _OPTIONAL_TEXT}
        dates = {name: date(item, name) if name in item else None for name in _OPTIONAL_DATES}
    except ValueError as error:
        return LedgerProblem(username, str(error))
    return LedgerRecord(
        username=username,
        state=state,
        first_seen_at=first_seen,
        retiring_by=optional["RetiringBy"],
        retiring_at=dates["RetiringAt"],
        deleted_by=optional["DeletedBy"],
        secret_version_id=optional["SecretVersionId"],
        issued_at=dates["IssuedAt"],
        issued_by=optional["IssuedBy"],
        promoted_at=dates["PromotedAt"],
    )


def fleet_partition(account: str, region: str, voice_connector_id: str) -> str:
    """A fleet run's connector's partition: ``<account>/<Region>/<VoiceConnectorId>``. It cannot collide
    with a single-account connector's (a connector id has no ``/``), with the call-record index's
    partitions (``calls/``, ``call/``, ``call-index``: none starts with a digit) or with the run lock."""
    return f"{account}/{region}/{voice_connector_id}"


class CredentialLedger:
    def __init__(
        self, client: "DynamoDBClient", table_name: str, account: str | None = None, region: str | None = None
    ) -> None:
        """``account`` and ``region`` (fleet mode) scope every connector's rows to that account and Region;
        without them the rows are keyed by the connector's id alone, as single-account mode always has."""
        self._client = client
        self._table = table_name
        self._scope = (account, region) if account is not None and region is not None else None

    def _partition(self, voice_connector_id: str) -> str:
        if self._scope is None:
            return voice_connector_id
        return fleet_partition(*self._scope, voice_connector_id)

    def read(self, voice_connector_id: str) -> LedgerView:
        records: dict[str, LedgerRecord] = {}
        problems: list[LedgerProblem] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "VoiceConnectorId = :id",
            "ExpressionAttributeValues": {":id": {"S": self._partition(voice_connector_id)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            for item in page.get("Items", []):
                parsed = parse_row(item)
                if isinstance(parsed, LedgerProblem):
                    problems.append(parsed)
                else:
                    records[parsed.username] = parsed
            if "LastEvaluatedKey" not in page:
                return LedgerView(records, tuple(problems))
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_issuing(
        self, voice_connector_id: str, username: str, secret_version_id: str, issued_at: datetime, by: str
    ) -> bool:
        """Written by CreateSecret before the secret's version is stored. False when the username already
        has a row (the caller chooses another): a successor is always a username new to the ledger."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(voice_connector_id, username),
                    "State": {"S": ISSUING},
                    "SecretVersionId": {"S": secret_version_id},
                    "IssuedAt": {"S": _timestamp(issued_at)},
                    "IssuedBy": {"S": by},
                },
                ConditionExpression="attribute_not_exists(Username)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def record_promoted(
        self, voice_connector_id: str, username: str, verified_at: datetime, promoted_at: datetime
    ) -> None:
        """AWSCURRENT moved to a successor proven on the connector at ``verified_at``.

        A listing that saw it first (a run that stopped before finishing it) keeps its earlier date: the
        credential has existed on the connector since then.
        """
        self._client.update_item(
            TableName=self._table,
            Key=self._key(voice_connector_id, username),
            UpdateExpression=(
                "SET #state = :present, FirstSeenAt = if_not_exists(FirstSeenAt, :verified), "
                "PromotedAt = :promoted"
            ),
            ConditionExpression="attribute_exists(SecretVersionId)",
            ExpressionAttributeNames={"#state": "State"},
            ExpressionAttributeValues={
                ":present": {"S": PRESENT},
                ":verified": {"S": _timestamp(verified_at)},
                ":promoted": {"S": _timestamp(promoted_at)},
            },
        )

    def mark_retiring(
        self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str, at: datetime
    ) -> tuple[str, ...]:
        """Written before the delete call: the one record of a deletion that a crash could otherwise hide.
        ``at`` is when this attempt of the delete step started: the mark is live for MARK_LIFETIME after.

        Returns the usernames marked. One whose life already ended (another run deleted it a moment ago)
        is left out, and so is not deleted again.
        """
        marked = []
        for username in usernames:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(voice_connector_id, username),
                    UpdateExpression="SET RetiringBy = :by, RetiringAt = :at",
                    ConditionExpression="#state = :present",
                    ExpressionAttributeNames={"#state": "State"},
                    ExpressionAttributeValues={
                        ":by": {"S": execution_arn},
                        ":at": {"S": _timestamp(at)},
                        ":present": {"S": PRESENT},
                    },
                )
            except self._client.exceptions.ConditionalCheckFailedException:
                continue
            marked.append(username)
        return tuple(marked)

    def unmark_retiring(self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str) -> bool:
        """The delete call was refused: the marks must not blame this execution for a person's removal.

        Best effort, and whether every mark was taken back: a mark left behind only blames this execution
        for a removal a person makes before the next listing (a listing that still finds the username once
        the mark has outlived its step dates it afresh, without the mark), and the error the caller must
        raise is the delete's, not this one's.
        """
        try:
            for username in usernames:
                with suppress(self._client.exceptions.ConditionalCheckFailedException):
                    self._client.update_item(
                        TableName=self._table,
                        Key=self._key(voice_connector_id, username),
                        UpdateExpression="REMOVE RetiringBy, RetiringAt",
                        ConditionExpression="RetiringBy = :by",
                        ExpressionAttributeValues={":by": {"S": execution_arn}},
                    )
        except (BotoCoreError, ClientError):
            return False
        return True

    def mark_deleted(
        self, voice_connector_id: str, usernames: Iterable[str], deleted_at: datetime, execution_arn: str
    ) -> bool:
        """Best effort, and whether every deletion was recorded: the deletion happened and must reach the
        audit event, which a failed task would hide. The next listing marks what is left as deleted by
        this execution all the same (the marks say who)."""
        try:
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
        except (BotoCoreError, ClientError):
            return False
        return True

    def start_life(
        self, voice_connector_id: str, username: str, now: datetime, previous: LedgerRecord | None
    ) -> bool:
        """Date a listed username ``now``, on condition that its row is still ``previous`` (or absent):
        its state, its date and its mark, so that a delete step marking it afresh meanwhile keeps its
        mark. False when another writer changed the row first: its date stands."""
        if previous is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(Username)"}
        else:
            values = {
                ":previous_state": {"S": previous.state},
                ":previous_first_seen": {"S": _timestamp(previous.first_seen_at or now)},
            }
            clauses = ["#state = :previous_state", "FirstSeenAt = :previous_first_seen"]
            for name, value in (
                ("RetiringBy", previous.retiring_by),
                ("RetiringAt", None if previous.retiring_at is None else _timestamp(previous.retiring_at)),
            ):
                if value is None:
                    clauses.append(f"attribute_not_exists({name})")
                else:
                    clauses.append(f"{name} = :previous_{name}")
                    values[f":previous_{name}"] = {"S": value}
            condition = {
                "ConditionExpression": " AND ".join(clauses),
                "ExpressionAttributeNames": {"#state": "State"},
                "ExpressionAttributeValues": values,
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
            return False
        return True

    def date_successor(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> bool:
        """A successor CreateSecret chose is on the connector: dated ``now`` while its row is still
        "issuing", keeping what it was issued as (its version, issue date and issuer). False when
        FinishSecret or another run dated it first."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(voice_connector_id, record.username),
                UpdateExpression="SET #state = :present, FirstSeenAt = :now",
                ConditionExpression="#state = :issuing",
                ExpressionAttributeNames={"#state": "State"},
                ExpressionAttributeValues={
                    ":present": {"S": PRESENT},
                    ":issuing": {"S": ISSUING},
                    ":now": {"S": _timestamp(now)},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def end_life(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> None:
        """A "present" username the listing no longer has: "deleted" by the execution that marked it
        retiring, "gone" otherwise; left alone when the row changed since ``record`` was read."""
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
                    ":first_seen": {"S": _timestamp(record.first_seen_at or now)},
                },
            )

    def first_seen(self, voice_connector_id: str, username: str) -> datetime | None:
        """The date a concurrent writer gave the username; None if its row is not one to trust."""
        item = self._client.get_item(
            TableName=self._table, Key=self._key(voice_connector_id, username), ConsistentRead=True
        ).get("Item", {})
        record = parse_row(item)
        if isinstance(record, LedgerRecord) and record.first_seen_at is not None:
            return record.first_seen_at
        return None

    def _key(self, voice_connector_id: str, username: str) -> dict[str, dict[str, str]]:
        return {"VoiceConnectorId": {"S": self._partition(voice_connector_id)}, "Username": {"S": username}}
