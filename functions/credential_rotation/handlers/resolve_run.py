"""ResolveRun task: validate the execution input, apply the stack's defaults, find the voice connectors,
and take the run lock when the run may change them; or answer why the run is refused."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import ResolveRunRequest
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.starting import Refusal, start_run

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = start_run(
        ResolveRunRequest.parse(event),
        get_settings(),
        wiring.voice_connectors(),
        wiring.run_lock(),
        datetime.now(UTC),
    )
    if isinstance(answer, Refusal):
        logger.warning("Run refused", extra={"error": answer.error})
    else:
        logger.info(
            "Run resolved",
            extra={
                "trigger": answer.trigger,
                "dry_run": answer.dry_run,
                "voice_connectors": len(answer.voice_connector_ids),
            },
        )
    return answer.to_wire()
