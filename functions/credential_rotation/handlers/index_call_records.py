"""IndexCallRecords: the indexing queue's consumer (an SQS event source, partial batch responses).

A message is either S3's "Object Created" event for a new call detail record, as EventBridge delivered it
to the queue, or a backfill page (``start_backfill``). Every message that fails is named in
``batchItemFailures``: SQS delivers it again, and after the queue's maxReceiveCount moves it to the
dead-letter queue, whose alarm pages and whose depth holds evidence-based deletions (domain/evidence.py).
The log names counts and error names only: a key holds a transaction id, a record holds phone numbers.

In fleet mode a notification from another account (forwarded by its spoke, docs/fleet.md) is read through
that account's spoke role in the event's Region and indexed under that account; the hub's own notifications
go exactly as in single-account mode.
"""

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.targets import ACCOUNT_ID, Target
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

# A Region's name as EventBridge gives it (the bucket's Region; it names the spoke role read through).
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


def _message(record: dict[str, Any]) -> ObjectCreated | BackfillPage | None:
    """The message as the task reads it; None when it is neither kind (it fails, and is dead-lettered)."""
    message_id = record["messageId"]
    try:
        body = json.loads(record["body"])
        if "Backfill" in body:
            page = body["Backfill"]
            account, region = _where(page.get("Account", ""), page.get("Region", ""))
            return BackfillPage(
                message_id,
                str(page["Bucket"]),
                str(page["Prefix"]),
                page.get("StartAfter"),
                Target(account, region) if account else None,
            )
        if body.get("source") == "aws.s3" and body.get("detail-type") == "Object Created":
            detail = body["detail"]
            account, region = _where(body.get("account", ""), body.get("region", ""))
            return ObjectCreated(
                message_id, str(detail["bucket"]["name"]), str(detail["object"]["key"]), account, region
            )
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _where(account: object, region: object) -> tuple[str, str]:
    """An account and Region, both or neither; ValueError when not what AWS names them."""
    if not isinstance(account, str) or not isinstance(region, str) or bool(account) != bool(region):
        raise ValueError("account and Region: both or neither")
    if account and not (ACCOUNT_ID.fullmatch(account) and _REGION.fullmatch(region)):
        raise ValueError("account and Region: not an account id and a Region")
    return account, region


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    messages = [(record["messageId"], _message(record)) for record in event.get("Records", [])]
    result = BatchResult()
    result.failed.extend(message_id for message_id, message in messages if message is None)
    result.errors.extend("UnreadableMessage" for _, message in messages if message is None)
    own, fleet = _by_account([message for _, message in messages if isinstance(message, ObjectCreated)])
    if own:
        result = _merge(
            result,
            index_notifications(
                own, wiring.call_record_bucket(), wiring.usage_index(), wiring.cdr_bucket(), now
            ),
        )
    for target, notifications in sorted(fleet.items()):
        result = _merge(result, _index_fleet_account(target, notifications, now))
    for page in (message for _, message in messages if isinstance(message, BackfillPage)):
        where = page.target  # a fleet account's page is read through its spoke role, into its index
        try:
            page_result = index_backfill_page(
                page,
                wiring.fleet_call_records(where).records if where else wiring.call_record_bucket(),
                wiring.usage_index(where.account if where else None),
                wiring.indexing_queue(),
                now,
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


def _by_account(
    notifications: list[ObjectCreated],
) -> tuple[list[ObjectCreated], dict[Target, list[ObjectCreated]]]:
    """This account's notifications, and each other account's by the Region its bucket sent them from."""
    this_account = wiring.account_id()
    own: list[ObjectCreated] = []
    fleet: dict[Target, list[ObjectCreated]] = defaultdict(list)
    for notification in notifications:
        if not this_account or notification.account in ("", this_account):
            own.append(notification)
        else:
            fleet[Target(notification.account, notification.region)].append(notification)
    return own, fleet


def _index_fleet_account(target: Target, notifications: list[ObjectCreated], now: datetime) -> BatchResult:
    try:
        source = wiring.fleet_call_records(target)
        bucket = source.cdr_bucket()
    except Exception as error:  # no spoke there, or its trust does not name this hub: retried, then parked
        return BatchResult(
            failed=[notification.message_id for notification in notifications],
            errors=[type(error).__name__],
        )
    return index_notifications(
        notifications, source.records, wiring.usage_index(target.account), bucket, now, target.account
    )


def _merge(into: BatchResult, other: BatchResult) -> BatchResult:
    into.failed.extend(other.failed)
    into.errors.extend(other.errors)
    into.indexed += other.indexed
    into.duplicates += other.duplicates
    into.ignored += other.ignored
    return into
