"""CheckDeletionLimit task: refuse the whole run, before any deletion, if its plan deletes more than
MaxDeletions or names more stale usernames than one audit event can carry."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import DeletionLimitRequest
from credential_rotation.runtime.task import task
from credential_rotation.tasks.audit import largest_event_bytes
from credential_rotation.tasks.planning import enforce_run_limits

logger = Logger()


@task(logger)
def handler(event: dict, context: LambdaContext) -> dict:
    request = DeletionLimitRequest.parse(event)
    largest = largest_event_bytes(request.plans, request.policy)
    planned = enforce_run_limits(request.plans, request.max_deletions, largest)
    logger.info(
        "Run limits respected",
        extra={"planned": planned, "max_deletions": request.max_deletions, "largest_audit_event": largest},
    )
    return {"PlannedDeletions": planned}
