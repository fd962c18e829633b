"""BackfillCallRecords: index the call detail records already in the bucket, back to a look-back.

Invoked by hand once, when evidence is turned on (the README's setup), with ``{"LookBackDays": N}`` or
nothing (the stack's LookBackDays). It only lists the connectors and queues one message per connector and
day; the indexer does the reading, so the backfill has the same retries and dead-letter queue as live
indexing, and a second backfill counts nothing twice.

Fleet mode: ``{"Account": ..., "Region": ...}`` as well backfills that account's bucket (the one its
Chime settings name), through its spoke role in that Region (deployed with CallRecordsBucket), for its
connectors in that Region, into that account's index. Run it once per Region the
account has connectors in; each run moves the account's index back, and it reads as stale until every
day queued is indexed.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.errors import InvalidInput
from credential_rotation.domain.targets import ACCOUNT_ID, VOICE_CONNECTOR_REGIONS, Target
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.indexing import MAX_LOOK_BACK_DAYS, start_backfill

logger = Logger()


@task(logger)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    if not isinstance(event, dict) or set(event) - {"LookBackDays", "Account", "Region"}:
        raise InvalidInput(
            "the backfill takes LookBackDays, and in fleet mode Account and Region, all optional"
        )
    days = event.get("LookBackDays", get_settings().default_look_back_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LOOK_BACK_DAYS:
        raise InvalidInput(f"LookBackDays: must be a whole number from 1 to {MAX_LOOK_BACK_DAYS}")
    target = _target(event)
    bucket = wiring.cdr_bucket() if target is None else wiring.fleet_call_records(target).cdr_bucket()
    if bucket is None:
        raise InvalidInput(
            "no call detail record bucket: set the stack's CallRecordsBucket, or the account's CDR bucket "
            "in the Chime SDK global settings"
        )
    started = start_backfill(
        wiring.voice_connectors(target),
        wiring.usage_index(target.account if target else None),
        wiring.indexing_queue(),
        bucket,
        days,
        datetime.now(UTC),
        target,
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


def _target(event: dict[str, Any]) -> Target | None:
    """The fleet account and Region to backfill (None: this account's own bucket)."""
    account, region = event.get("Account"), event.get("Region")
    if account is None and region is None:
        return None
    if not isinstance(account, str) or not ACCOUNT_ID.fullmatch(account):
        raise InvalidInput("Account: a 12-digit account id, given with Region")
    if not isinstance(region, str) or region not in VOICE_CONNECTOR_REGIONS:
        raise InvalidInput(
            "Region: a Region where Chime SDK Voice Connector is available, given with Account"
        )
    return Target(account, region)
