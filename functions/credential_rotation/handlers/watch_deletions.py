"""WatchDeletions tasks: which connectors a run deleted on (Step "Select"), and, after the wait, whether a
deletion broke one (Step "Check"). Reads metrics only: putting a credential back is the issuing
function's (Step "RestoreDeleted" there), the one function that reads credentials' values. In fleet mode
Check reads the metrics in the connector's account and Region, through its spoke role."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.errors import MalformedTaskInput
from credential_rotation.domain.models import WatchRequest, WatchSelectRequest
from credential_rotation.runtime import wiring
from credential_rotation.runtime.task import task
from credential_rotation.tasks.watching import select_watched, watch_connector

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = event.get("Step") if isinstance(event, dict) else None
    if step == "Select":
        request = WatchSelectRequest.parse({key: value for key, value in event.items() if key != "Step"})
        selection = select_watched(request.changes, request.watch_seconds)
        logger.info("Deletions to watch", extra={"voice_connectors": len(selection.voice_connector_ids)})
        return selection.to_wire()
    if step == "Check":
        check = WatchRequest.parse({key: value for key, value in event.items() if key != "Step"})
        logger.append_keys(voice_connector_id=check.voice_connector_id)
        result = watch_connector(check, wiring.connector_health(check.target), datetime.now(UTC))
        logger.info(
            "Connector watched",
            extra={
                "verdict": result.verdict.value,
                "signals": list(result.signals),
                "watched": result.watched.to_wire(),
            },
        )
        return result.to_wire()
    raise MalformedTaskInput("WatchDeletions task input: Step: must be Select or Check")
