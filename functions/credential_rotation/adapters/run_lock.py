"""One applying run at a time: a lease in the ledger table, taken before anything is listed.

The schedule and a person pressing "Start execution" can start two runs at the same instant. Each would
plan from the same listing, each could issue a successor, and their deletions together could exceed what
either plan allows. So a run that may change connectors (DryRun false) first takes the lease, with a
conditional write that only one execution can win; the other is refused with ``RunInProgress`` before it
lists anything. A dry run changes nothing and takes no lease.

PublishAudit releases the lease once every change of the run is behind it. An execution can also end
without reaching it (aborted, timed out, failed outside every Catch): then ReleaseRunLock, started by
EventBridge when the execution ends, shortens the lease to end when no function of that execution can
still be running. Step Functions does not stop a Lambda invocation already under way, so a delete step
of an aborted run may go on for up to its own timeout; a new run must not start beside it. Were even that
never to come, the lease expires on its own after the execution timeout plus a function's timeout. The
delete step's re-listing stays as the second line of defence.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from credential_rotation.domain.errors import RunInProgress

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_dynamodb import DynamoDBClient

# The lock's item: "#" is outside every voice connector id's alphabet, so no ledger query can meet it,
# and the functions' IAM conditions (dynamodb:LeadingKeys) allow them this key and no other.
LOCK_KEY = "#run-lock"
# statemachine/rotation.asl.json TimeoutSeconds (3,600) plus the longest function timeout (300 s), with
# room to spare; a test holds the two files to it.
LEASE = timedelta(minutes=70)
# How long a function of an execution that has ended may still run: the longest function timeout in
# template.yaml (300 s), with room to spare; a test holds the template to it.
LONGEST_TASK = timedelta(minutes=6)


def _utc(moment: datetime) -> str:
    # One format (UTC, microseconds) so that the condition's string comparison orders times correctly.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class RunLock:
    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self._client = client
        self._table = table_name

    def acquire(self, execution_arn: str, now: datetime) -> None:
        """Take the lease, or raise RunInProgress naming the execution that holds it.

        Taking it again from the same execution succeeds: a retried task must not lock itself out.
        """
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(),
                    "HeldBy": {"S": execution_arn},
                    "ExpiresAt": {"S": _utc(now + LEASE)},
                },
                ConditionExpression=(
                    "attribute_not_exists(VoiceConnectorId) OR ExpiresAt < :now OR HeldBy = :me"
                ),
                ExpressionAttributeValues={":now": {"S": _utc(now)}, ":me": {"S": execution_arn}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            holder = self._client.get_item(TableName=self._table, Key=self._key(), ConsistentRead=True)
            item = holder.get("Item", {})
            raise RunInProgress(
                f"execution {item.get('HeldBy', {}).get('S', 'unknown')} is applying changes until it "
                f"ends (its lease expires at {item.get('ExpiresAt', {}).get('S', 'unknown')}); "
                "this run changed nothing"
            ) from None

    def release(self, execution_arn: str) -> bool:
        """Give the lease back if this execution holds it; a lease already taken over is left alone.
        Whether this call released it."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(),
                ConditionExpression="HeldBy = :me",
                ExpressionAttributeValues={":me": {"S": execution_arn}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def end_with(self, execution_arn: str, ended_at: datetime) -> bool:
        """The execution ended at ``ended_at``: if it holds the lease, the lease now ends when the last
        function it may have started has stopped. Whether this call shortened it."""
        expires = _utc(ended_at + LONGEST_TASK)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(),
                UpdateExpression="SET ExpiresAt = :expires",
                ConditionExpression="HeldBy = :me AND ExpiresAt > :expires",
                ExpressionAttributeValues={":me": {"S": execution_arn}, ":expires": {"S": expires}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @staticmethod
    def _key() -> dict[str, dict[str, str]]:
        return {"VoiceConnectorId": {"S": LOCK_KEY}, "Username": {"S": LOCK_KEY}}
