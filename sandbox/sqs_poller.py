"""Lambda's SQS poller for an event source mapping, run on demand: the queue is drained into the function
in batches, as Lambda would deliver them, through the sandbox's Lambda (so every invocation, its logs and
any injected fault are the sandbox's as for any other invocation).

What Lambda does and the poller does too:
- a batch is up to BatchSize messages, gathered by receiving (ten at most per ReceiveMessage) until the
  batch is full or the queue has nothing visible; the batching window only bounds how long Lambda waits
  for more, and offline there is no more to wait for;
- each message is received with the queue's visibility timeout, and counts a receive;
- with ReportBatchItemFailures, the messages named in ``batchItemFailures`` stay on the queue and the
  others are deleted; an answer that is not a valid partial batch response, or a function error, fails
  the whole batch; without it, any function error fails the whole batch;
- a failed message comes back for another delivery and, once the queue's RedrivePolicy maxReceiveCount
  receives are used, moto's SQS moves it to the dead-letter queue at the next receive, as SQS does.

What differs, and why: Lambda leaves a failed message invisible until its visibility timeout (12 minutes
for the indexing queue) ends. The poller makes it visible again at once (ChangeMessageVisibility 0)
rather than move the sandbox's clock, which every test reads. moto refuses that change for a message
sent more than 12 hours before (it measures the 12-hour limit from the send, SQS from the receive), so
such a message is made visible through moto's backend instead.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from sandbox.stack import EventSourceMapping

# moto's ReceiveMessage returns at most this many, as SQS does.
RECEIVE_MAX = 10
# A drain that has not emptied the queue after this many batches is stuck (a queue without a redrive
# policy whose messages keep failing): it stops and says so.
MAX_BATCHES = 1_000


@dataclass
class Drained:
    """What one drain did. A message delivered three times counts three deliveries."""

    batches: int = 0
    deliveries: int = 0
    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    # Messages still on the queue when the drain stopped (failing ones, with no redrive policy to end it).
    left: int = 0


class FunctionErrored(Exception):
    """The function answered with an error (a whole batch failed): its Lambda error type."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


class SqsPoller:
    def __init__(self, mapping: EventSourceMapping, sqs: Any, lambda_client: Any, region: str) -> None:
        self._mapping = mapping
        self._sqs = sqs
        self._lambda = lambda_client
        self._region = region
        attributes = sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
        self._redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None

    def drain(self) -> Drained:
        """Deliver batches until the queue has nothing visible left."""
        drained = Drained()
        if not self._mapping.enabled:
            return drained
        dead_letters_before = self._dead_letters()
        while drained.batches < MAX_BATCHES:
            batch = self._receive_batch()
            if not batch:
                break
            drained.batches += 1
            drained.deliveries += len(batch)
            failed_ids = self._invoke(batch)
            succeeded = [message for message in batch if message["MessageId"] not in failed_ids]
            failed = [message for message in batch if message["MessageId"] in failed_ids]
            self._delete(succeeded)
            drained.succeeded += len(succeeded)
            drained.failed += len(failed)
            if failed:
                if self._redrive is None and not succeeded:
                    # Nothing ends a failing message's deliveries on a queue without a dead-letter queue.
                    self._make_visible(failed)
                    break
                self._make_visible(failed)
        drained.dead_lettered = self._dead_letters() - dead_letters_before
        drained.left = self._depth()
        return drained

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < self._mapping.batch_size:
            received = self._sqs.receive_message(
                QueueUrl=self._mapping.queue_url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self._mapping.batch_size - len(batch)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            batch += received
        return batch

    def _event(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda hands the function: one record per message."""
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self._mapping.queue_arn,
                    "awsRegion": self._region,
                }
                for message in batch
            ]
        }

    def _invoke(self, batch: list[dict[str, Any]]) -> set[str]:
        """The message ids that failed: those the function names, or all of them."""
        every_id = {message["MessageId"] for message in batch}
        response = self._lambda.invoke(
            FunctionName=self._mapping.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(self._event(batch)).encode(),
        )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            return every_id
        if "ReportBatchItemFailures" not in self._mapping.function_response_types:
            return set()
        return _reported_failures(payload, every_id)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), RECEIVE_MAX):
            chunk = messages[start : start + RECEIVE_MAX]
            response = self._sqs.delete_message_batch(
                QueueUrl=self._mapping.queue_url,
                Entries=[
                    {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                    for number, message in enumerate(chunk)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused to delete {len(response['Failed'])} delivered messages")

    def _make_visible(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self._mapping.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "InvalidParameterValue":
                    raise
                self._backend_queue().change_message_visibility_for(message["ReceiptHandle"])
        # moto shows a message again once its clock has passed the millisecond it was made visible at.
        time.sleep(0.002)

    def _backend_queue(self) -> "_MotoQueue":
        arn = parse_arn(self._mapping.queue_arn)
        return _MotoQueue(sqs_backends[arn.account][arn.region].queues[arn.resource_id])

    def _depth(self) -> int:
        return _depth(self._sqs, self._mapping.queue_url)

    def _dead_letters(self) -> int:
        if self._redrive is None:
            return 0
        arn = parse_arn(self._redrive["deadLetterTargetArn"])
        url = self._sqs.get_queue_url(QueueName=arn.resource_id, QueueOwnerAWSAccountId=arn.account)[
            "QueueUrl"
        ]
        return _depth(self._sqs, url)


class _MotoQueue:
    """moto's queue, for the one change its API refuses wrongly (see the module's docstring)."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def change_message_visibility_for(self, receipt_handle: str) -> None:
        for message in self._queue._messages:
            if message.had_receipt_handle(receipt_handle):
                message.change_visibility(0)
                self._queue.pending_messages.discard(message)
                return
        raise KeyError("no message had this receipt handle")


def _depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _reported_failures(payload: bytes, every_id: set[str]) -> set[str]:
    """A partial batch response, as Lambda reads it: ``{"batchItemFailures": [{"itemIdentifier": id}]}``.
    Lambda's documented reading: an empty or null answer or list, all succeeded; an answer that is not
    such an object, or an identifier that is missing, empty or not in the batch, fails the whole batch."""
    try:
        answer = json.loads(payload) if payload else None
    except ValueError:
        return every_id
    if answer is None:
        return set()
    if not isinstance(answer, dict):
        return every_id
    failures = answer.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return every_id
    named = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in every_id:
            return every_id
        named.add(identifier)
    return named
