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

Before the delete step deletes a username it marks it RetiringBy its execution, so that a deletion whose
function died before it could record it is still known: to a retry of the same step, which reports it,
and to a later listing, which ends that life as "deleted" rather than "gone".

A row that is not what this module writes (a missing or unreadable attribute) is reported by what is
wrong with it, never by its values, and left alone: its username is judged as new (kept) until a person
repairs or removes the row. Writes are conditional, so two runs observing at once agree on one date.
"""

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PRESENT, GONE, DELETED, ISSUING = "present", "gone", "deleted", "issuing"
STATES = frozenset({PRESENT, GONE, DELETED, ISSUING})
_OPTIONAL_TEXT = ("RetiringBy", "DeletedBy", "SecretVersionId", "IssuedBy")
_OPTIONAL_DATES = ("IssuedAt", "PromotedAt")


@dataclass(frozen=True)
class LedgerRecord:
    username: str
    state: str
    # None only while "issuing": chosen by CreateSecret, not yet seen on the connector.
    first_seen_at: datetime | None
    # The execution whose delete step was about to delete it (set just before the delete call).
    retiring_by: str | None = None
    # The execution that deleted it (state "deleted").
    deleted_by: str | None = None
    # Set for a successor this workflow issued: the secret version that holds it.
    secret_version_id: str | None = None
    issued_at: datetime | None = None
    issued_by: str | None = None
    # When AWSCURRENT moved to it.
    promoted_at: datetime | None = None


@dataclass(frozen=True)
class LedgerProblem:
    """A row the ledger cannot read: which username (when that much is readable) and what is wrong."""

    username: str | None
    problem: str


@dataclass(frozen=True)
class LedgerView:
    records: dict[str, LedgerRecord]
    problems: tuple[LedgerProblem, ...] = ()

    @property
    def unreadable(self) -> frozenset[str]:
        """Usernames whose row is malformed: judged as new, never dated over, never marked."""
        return frozenset(problem.username for problem in self.problems if problem.username is not None)

    def first_seen(self) -> dict[str, datetime]:
        """The date of every username whose life is current."""
        return {
            username: record.first_seen_at
            for username, record in self.records.items()
            if record.state == PRESENT and record.first_seen_at is not None
        }

    def by_version(self) -> dict[str, LedgerRecord]:
        """The successors this workflow created, by the secret version that holds each."""
        return {
            record.secret_version_id: record
            for record in self.records.values()
            if record.secret_version_id is not None
        }

    @property
    def promoted_any(self) -> bool:
        """Whether this workflow ever moved the connector's AWSCURRENT to a credential it issued."""
        return any(record.promoted_at is not None for record in self.records.values())


@dataclass(frozen=True)
class Observation:
    """A listing recorded: the first-seen date of every listed username the ledger can date."""

    first_seen: dict[str, datetime]
    view: LedgerView


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, dict) or set(value) != {"S"} or not isinstance(value["S"], str):
        raise ValueError(f"{name}: {'missing' if value is None else 'not a string'}")
    return value["S"]


def _date(item: Mapping[str, Any], name: str) -> datetime:
    text = _text(item, name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: not an ISO 8601 date and time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"{name}: has no time zone")
    return moment


def parse_row(item: Mapping[str, Any]) -> LedgerRecord | LedgerProblem:
    """One ledger item, or what is wrong with it (the attribute and the fault, never the value)."""
    try:
        username = _text(item, "Username")
    except ValueError as error:
        return LedgerProblem(None, str(error))
    try:
        state = _text(item, "State")
        if state not in STATES:
            raise ValueError(f"State: not one of {', '.join(sorted(STATES))}")
        first_seen = None if state == ISSUING and "FirstSeenAt" not in item else _date(item, "FirstSeenAt")
        optional = {name: _text(item, name) if name in item else None for name in _OPTIONAL_TEXT}
        dates = {name: _date(item, name) if name in item else None for name in _OPTIONAL_DATES}
    except ValueError as error:
        return LedgerProblem(username, str(error))
    return LedgerRecord(
        username=username,
        state=state,
        first_seen_at=first_seen,
        retiring_by=optional["RetiringBy"],
        deleted_by=optional["DeletedBy"],
        secret_version_id=optional["SecretVersionId"],
        issued_at=dates["IssuedAt"],
        issued_by=optional["IssuedBy"],
        promoted_at=dates["PromotedAt"],
    )


class CredentialLedger:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self, voice_connector_id: str) -> LedgerView:
        records: dict[str, LedgerRecord] = {}
        problems: list[LedgerProblem] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "VoiceConnectorId = :id",
            "ExpressionAttributeValues": {":id": {"S": voice_connector_id}},
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

    def observe(self, voice_connector_id: str, usernames: Iterable[str], now: datetime) -> Observation:
        """Record a listing: date the usernames seen for the first time, mark the missing ones gone.

        ``usernames`` must all be keyable (see unmanaged.py). A username whose row is malformed is left
        alone and gets no date: the policy judges it as new.
        """
        view = self.read(voice_connector_id)
        listed = set(usernames)
        first_seen: dict[str, datetime] = {}
        for username in sorted(listed - view.unreadable):
            record = view.records.get(username)
            if record is not None and record.state == PRESENT and record.first_seen_at is not None:
                first_seen[username] = record.first_seen_at
            elif record is not None and record.state == ISSUING:
                first_seen[username] = self._first_sighting_of_successor(voice_connector_id, record, now)
            else:
                first_seen[username] = self._start_life(voice_connector_id, username, now, record)
        for username, record in view.records.items():
            if record.state == PRESENT and username not in listed:
                self._mark_gone(voice_connector_id, record, now)
        return Observation(first_seen=first_seen, view=view)

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
        """The delete call was refused: the marks must not blame this execution for a person's removal."""
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
                    ":previous_first_seen": {"S": _timestamp(previous.first_seen_at or now)},
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
            return self._first_seen(voice_connector_id, username, now)
        return now

    def _first_sighting_of_successor(
        self, voice_connector_id: str, record: LedgerRecord, now: datetime
    ) -> datetime:
        """A successor CreateSecret chose is on the connector: it is dated now, and keeps what it was issued
        as (its version, issue date and issuer)."""
        with suppress(self._client.exceptions.ConditionalCheckFailedException):
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
            return now
        # FinishSecret or another run dated it first: its date stands.
        return self._first_seen(voice_connector_id, record.username, now)

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
                    ":first_seen": {"S": _timestamp(record.first_seen_at or now)},
                },
            )

    def _first_seen(self, voice_connector_id: str, username: str, now: datetime) -> datetime:
        """The date a concurrent writer gave the username; ``now`` if its row is not one to trust."""
        item = self._client.get_item(
            TableName=self._table, Key=self._key(voice_connector_id, username), ConsistentRead=True
        ).get("Item", {})
        record = parse_row(item)
        if isinstance(record, LedgerRecord) and record.first_seen_at is not None:
            return record.first_seen_at
        return now

    @staticmethod
    def _key(voice_connector_id: str, username: str) -> dict[str, dict[str, str]]:
        return {"VoiceConnectorId": {"S": voice_connector_id}, "Username": {"S": username}}
