"""BackfillCallRecords: index the call detail records already in the bucket, back to a look-back.

Invoked by hand once, when evidence is turned on (the README's setup), with ``{"LookBackDays": N}`` or
nothing (the stack's LookBackDays). It only lists the connectors and queues one message per connector and
day; the indexer does the reading, so the backfill has the same retries and dead-letter queue as live
indexing, and a second backfill counts nothing twice.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.errors import InvalidInput
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.indexing import MAX_LOOK_BACK_DAYS, start_backfill

logger = Logger()


@task(logger)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    if not isinstance(event, dict) or set(event) - {"LookBackDays"}:
        raise InvalidInput("the backfill takes one optional field, LookBackDays")
    days = event.get("LookBackDays", get_settings().default_look_back_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LOOK_BACK_DAYS:
        raise InvalidInput(f"LookBackDays: must be a whole number from 1 to {MAX_LOOK_BACK_DAYS}")
    bucket = wiring.cdr_bucket()
    if bucket is None:
        raise InvalidInput(
            "no call detail record bucket: set the stack's CallRecordsBucket, or the account's CDR bucket "
            "in the Chime SDK global settings"
        )
    started = start_backfill(
        wiring.voice_connectors(),
        wiring.usage_index(),
        wiring.indexing_queue(),
        bucket,
        days,
        datetime.now(UTC),
    )
    logger.info(
        "Backfill queued",
        extra={"days": started.days, "voice_connectors": started.voice_connectors},
    )
    return {
        "Days": started.days,
        "VoiceConnectors": started.voice_connectors,
        "CoversSince": started.covers_since.isoformat(),
    }
