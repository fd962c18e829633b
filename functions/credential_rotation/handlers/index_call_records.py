"""IndexCallRecords: the indexing queue's consumer (an SQS event source, partial batch responses).

A message is either S3's "Object Created" event for a new call detail record, as EventBridge delivered it
to the queue, or a backfill page (``start_backfill``). Every message that fails is named in
``batchItemFailures``: SQS delivers it again, and after the queue's maxReceiveCount moves it to the
dead-letter queue, whose alarm pages and whose depth holds evidence-based deletions (domain/evidence.py).
The log names counts and error names only: a key holds a transaction id, a record holds phone numbers.
"""

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.runtime import wiring
from credential_rotation.runtime.task import task
from credential_rotation.tasks.indexing import (
    BackfillPage,
    BatchResult,
    ObjectCreated,
    index_backfill_page,
    index_notifications,
)

logger = Logger()


def _message(record: dict[str, Any]) -> ObjectCreated | BackfillPage | None:
    """The message as the task reads it; None when it is neither kind (it fails, and is dead-lettered)."""
    message_id = record["messageId"]
    try:
        body = json.loads(record["body"])
        if "Backfill" in body:
            page = body["Backfill"]
            return BackfillPage(message_id, str(page["Bucket"]), str(page["Prefix"]), page.get("StartAfter"))
        if body.get("source") == "aws.s3" and body.get("detail-type") == "Object Created":
            detail = body["detail"]
            return ObjectCreated(message_id, str(detail["bucket"]["name"]), str(detail["object"]["key"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    messages = [(record["messageId"], _message(record)) for record in event.get("Records", [])]
    result = BatchResult()
    result.failed.extend(message_id for message_id, message in messages if message is None)
    result.errors.extend("UnreadableMessage" for _, message in messages if message is None)
    notifications = [message for _, message in messages if isinstance(message, ObjectCreated)]
    if notifications:
        result = _merge(
            result,
            index_notifications(
                notifications, wiring.call_record_bucket(), wiring.usage_index(), wiring.cdr_bucket(), now
            ),
        )
    for page in (message for _, message in messages if isinstance(message, BackfillPage)):
        try:
            page_result = index_backfill_page(
                page, wiring.call_record_bucket(), wiring.usage_index(), wiring.indexing_queue(), now
            )
        except Exception as error:  # the page is delivered again; the other messages stand
            result.failed.append(page.message_id)
            result.errors.append(type(error).__name__)
            continue
        result = _merge(result, page_result)
    logger.info(
        "Call records indexed",
        extra={
            "messages": len(messages),
            "indexed": result.indexed,
            "duplicates": result.duplicates,
            "ignored": result.ignored,
            "failed": len(result.failed),
            "errors": sorted(set(result.errors)),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in result.failed]}


def _merge(into: BatchResult, other: BatchResult) -> BatchResult:
    into.failed.extend(other.failed)
    into.errors.extend(other.errors)
    into.indexed += other.indexed
    into.duplicates += other.duplicates
    into.ignored += other.ignored
    return into
