"""Where an account and Region's pace of Chime calls is kept: one item of the ledger table per pace.

Every write is conditional on the version read, so concurrent workers never lose each other's booking: the
one that loses reads again and books after the winner. The item's key starts with "#", outside every voice
connector id's alphabet, so no ledger query meets it (as for the run lock). ``ExpiresAt`` is the table's
time to live: DynamoDB removes a lapsed pace on its own, and the reader ignores one it has not removed yet.
"""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from credential_rotation.domain.pacing import FORGET_AFTER, MalformedPace, Pace

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient

PACE_KEY = "#pace"
logger = Logger(child=True)


class PaceTable:
    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self, scope: str) -> tuple[Pace | None, bool]:
        """The scope's pace (None: none in force), and whether an item exists to be overwritten. A malformed
        item reads as no pace: it only ever sets a speed, never what is deleted, so it is replaced by the
        next throttle's pace instead of stopping every call; the warning names it."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="VoiceConnectorId = :pace AND Username = :scope",
            ExpressionAttributeValues={":pace": {"S": PACE_KEY}, ":scope": {"S": scope}},
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return None, False
        try:
            return _parse(items[0]), True
        except (MalformedPace, KeyError, TypeError, ValueError) as error:
            logger.warning(
                "The pace record is malformed and is ignored until the next throttle replaces it",
                extra={"error": "MalformedPace", "scope": scope, "reason": str(error)},
            )
            return None, True

    def write(self, scope: str, pace: Pace, read: Pace | None, existed: bool) -> bool:
        """Write ``pace`` if the item is still the one read; whether it was."""
        if read is not None:
            condition: dict[str, Any] = {
                "ConditionExpression": "Version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(read.version)}},
            }
        elif existed:
            condition = {}  # a malformed item: replaced whatever it holds
        else:
            condition = {"ConditionExpression": "attribute_not_exists(VoiceConnectorId)"}
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "VoiceConnectorId": {"S": PACE_KEY},
                    "Username": {"S": scope},
                    "Rate": {"N": repr(pace.rate)},
                    "NextAt": {"N": repr(pace.next_at)},
                    "Epoch": {"N": str(pace.epoch)},
                    "SlowedAt": {"N": repr(pace.slowed_at)},
                    "Version": {"N": str(pace.version)},
                    "ExpiresAt": {"N": str(int(pace.slowed_at + FORGET_AFTER))},
                },
                **condition,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _parse(item: dict[str, Any]) -> Pace:
    return Pace(
        rate=float(item["Rate"]["N"]),
        next_at=float(item["NextAt"]["N"]),
        epoch=int(item["Epoch"]["N"]),
        slowed_at=float(item["SlowedAt"]["N"]),
        version=int(item["Version"]["N"]),
    )
