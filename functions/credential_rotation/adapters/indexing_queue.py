"""The indexing queue (SQS): backfill pages sent to it, and the depth of its dead-letter queue."""

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from credential_rotation.domain.targets import Target

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# SendMessageBatch's largest batch.
BATCH = 10


class IndexingQueue:
    def __init__(self, client: "SQSClient", queue_url: str, dead_letter_queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url

    def send_backfill(
        self, bucket: str, prefixes: Sequence[tuple[str, str | None]], target: Target | None = None
    ) -> None:
        # A fleet account's pages name it: the indexer reads them through its spoke role, into its index.
        where = {"Account": target.account, "Region": target.region} if target else {}
        for start in range(0, len(prefixes), BATCH):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(number),
                    "MessageBody": json.dumps(
                        {"Backfill": {"Bucket": bucket, "Prefix": prefix, "StartAfter": start_after} | where}
                    ),
                }
                for number, (prefix, start_after) in enumerate(prefixes[start : start + BATCH])
            ]
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if response.get("Failed"):
                codes = sorted({failure["Code"] for failure in response["Failed"]})
                raise RuntimeError(
                    f"SQS refused {len(response['Failed'])} backfill messages: {', '.join(codes)}"
                )

    def failed_records(self) -> int:
        attributes = self._client.get_queue_attributes(
            QueueUrl=self._dead_letter_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )
