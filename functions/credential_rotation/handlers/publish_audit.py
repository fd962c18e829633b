"""PublishAudit task: build the run's audit event and publish it to SNS, whatever the outcome."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation import wiring
from credential_rotation.audit import build_event, execution_failure
from credential_rotation.config import get_settings

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    audit_event = build_event(event, datetime.now(UTC), get_settings().default_dry_run)
    message_id = wiring.audit_topic().publish(audit_event)
    error, cause = execution_failure(audit_event)
    logger.info(
        "Audit event published",
        extra={"outcome": audit_event["Outcome"], "message_id": message_id, "error": error},
    )
    return {"Event": audit_event, "Outcome": audit_event["Outcome"], "Error": error, "Cause": cause}
