"""PublishAudit task: write the run's full report to the audit bucket and publish its audit event to SNS,
whatever the outcome."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.adapters.run_metrics import publish_run_metrics
from credential_rotation.domain.errors import MalformedTaskInput
from credential_rotation.domain.record_keys import report_key
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.audit import build_event, build_report, execution_failure, execution_summary

logger = Logger()


def _release_run_lock(execution_arn: str) -> None:
    # Every change of the run is behind it by now. A failure to release must not fail the publish (a retry
    # would publish twice): the ReleaseRunLock function releases it when the execution ends.
    try:
        wiring.run_lock().release(execution_arn)
    except (BotoCoreError, ClientError) as error:
        logger.warning(
            "Run lock not released here; released when the run ends", extra={"error": type(error).__name__}
        )


@task(logger)
def handler(event: dict, context: LambdaContext) -> dict:
    if not isinstance(event.get("ExecutionArn"), str) or not isinstance(event.get("StartedAt"), str):
        raise MalformedTaskInput("PublishAudit task input: ExecutionArn and StartedAt: required strings")
    settings = get_settings()
    records = wiring.run_records()
    report = build_report(
        event, records, datetime.now(UTC), settings.default_dry_run, settings.secret_name_prefix
    )
    location = records.put_report(report_key(event["ExecutionArn"], event["StartedAt"]), report)
    audit_event = build_event(report, location.to_wire())
    # Any run but a resolved dry run may hold the lease: one whose ResolveRun result was lost after it took
    # the lease too. Releasing a lease this execution does not hold changes nothing.
    if not (event.get("Run") or {}).get("DryRun"):
        _release_run_lock(audit_event["ExecutionArn"])
    message_id = wiring.audit_topic().publish(audit_event)
    # After the publish, and never failing the task: a failed task is retried, and would publish twice.
    try:
        publish_run_metrics(report)
    except Exception as error:  # numbers are not worth a second audit event
        logger.error("Run metrics not emitted", extra={"error": type(error).__name__})
    summary = execution_summary(audit_event, message_id)
    error, cause = execution_failure(summary, audit_event["Error"])
    logger.info(
        "Audit event published",
        extra={
            "outcome": audit_event["Outcome"],
            "message_id": message_id,
            "report": location.key,
            "error": error,
        },
    )
    return {"Outcome": audit_event["Outcome"], "Error": error, "Cause": cause, "Summary": summary}
