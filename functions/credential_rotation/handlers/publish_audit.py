"""PublishAudit task: build the run's audit event and publish it to SNS, whatever the outcome."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation import wiring
from credential_rotation.audit import build_event, execution_failure, fit_for_sns
from credential_rotation.config import get_settings
from credential_rotation.run_metrics import counts_retryable_failures, publish_run_metrics
from credential_rotation.tracing import traced

logger = Logger()


def _release_run_lock(execution_arn: str) -> None:
    # Every change of the run is behind it by now. A failure to release must not fail the publish (a retry
    # would publish twice): the lease expires on its own.
    try:
        wiring.run_lock().release(execution_arn)
    except (BotoCoreError, ClientError) as error:
        logger.warning("Run lock not released; it expires with its lease", extra={"error": str(error)})


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    whole = build_event(event, datetime.now(UTC), get_settings().default_dry_run)
    audit_event = fit_for_sns(whole)
    # Any run but a resolved dry run may hold the lease: one whose ResolveRun result was lost after it took
    # the lease too. Releasing a lease this execution does not hold changes nothing.
    if not (event.get("Run") or {}).get("DryRun"):
        _release_run_lock(audit_event["ExecutionArn"])
    message_id = wiring.audit_topic().publish(audit_event)
    # After the publish, and never failing the task: a failed task is retried, and would publish twice.
    try:
        publish_run_metrics(whole)
    except Exception:  # numbers are not worth a second audit event
        logger.exception("Run metrics not emitted")
    error, cause = execution_failure(audit_event)
    logger.info(
        "Audit event published",
        extra={"outcome": audit_event["Outcome"], "message_id": message_id, "error": error},
    )
    return {"Event": audit_event, "Outcome": audit_event["Outcome"], "Error": error, "Cause": cause}
