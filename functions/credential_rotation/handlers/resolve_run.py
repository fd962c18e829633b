"""ResolveRun task: validate the execution input, apply the stack's defaults, find the voice connectors,
and take the run lock when the run may change them."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation import wiring
from credential_rotation.config import get_settings
from credential_rotation.models import ResolveRunRequest
from credential_rotation.run_input import resolve_run
from credential_rotation.run_metrics import counts_retryable_failures
from credential_rotation.tracing import traced

logger = Logger()


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    request = ResolveRunRequest.parse(event)
    run = resolve_run(
        raw_input=request.input,
        execution_arn=request.execution_arn,
        started_at=request.started_at,
        settings=get_settings(),
        list_voice_connector_ids=wiring.voice_connectors().voice_connector_ids,
    )
    if not run.dry_run:
        wiring.run_lock().acquire(run.execution_arn, datetime.now(UTC))
    logger.info(
        "Run resolved",
        extra={
            "trigger": run.trigger,
            "dry_run": run.dry_run,
            "voice_connectors": len(run.voice_connector_ids),
        },
    )
    return run.to_wire()
