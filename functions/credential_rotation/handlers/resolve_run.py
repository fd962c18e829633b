"""ResolveRun task: validate the execution input, apply the stack's defaults, find the voice connectors,
and take the run lock when the run may change them."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.errors import InvalidInput, RunInProgress, TooManyVoiceConnectors
from credential_rotation.domain.models import ResolveRunRequest
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.run_input import refusal_context, resolve_run

logger = Logger()
# What refuses a run before anything is listed; any other error fails the task (and is retried or caught).
REFUSALS = (InvalidInput, TooManyVoiceConnectors, RunInProgress)


@task(logger)
def handler(event: dict, context: LambdaContext) -> dict:
    request = ResolveRunRequest.parse(event)
    settings = get_settings()
    try:
        run = resolve_run(
            raw_input=request.input,
            execution_arn=request.execution_arn,
            started_at=request.started_at,
            settings=settings,
            list_voice_connector_ids=wiring.voice_connectors().voice_connector_ids,
        )
        if not run.dry_run:
            wiring.run_lock().acquire(run.execution_arn, datetime.now(UTC))
    except REFUSALS as refusal:
        # Answered, not raised: the answer replaces the raw input in the run's state (see the ASL).
        trigger, dry_run = refusal_context(request.input, settings.default_dry_run)
        logger.warning("Run refused", extra={"error": type(refusal).__name__})
        return {
            "Refused": {"Error": type(refusal).__name__, "Cause": str(refusal)},
            "Trigger": trigger,
            "DryRun": dry_run,
        }
    logger.info(
        "Run resolved",
        extra={
            "trigger": run.trigger,
            "dry_run": run.dry_run,
            "voice_connectors": len(run.voice_connector_ids),
        },
    )
    return run.to_wire()
