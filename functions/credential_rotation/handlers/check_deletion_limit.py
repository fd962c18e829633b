"""CheckDeletionLimit task: refuse the whole run, before any deletion, if its plan is too large."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.models import DeletionLimitRequest
from credential_rotation.planning import enforce_deletion_limit
from credential_rotation.run_metrics import counts_retryable_failures
from credential_rotation.tracing import traced

logger = Logger()


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    request = DeletionLimitRequest.parse(event)
    planned = enforce_deletion_limit(request.plans, request.max_deletions)
    logger.info(
        "Deletion limit respected", extra={"planned": planned, "max_deletions": request.max_deletions}
    )
    return {"PlannedDeletions": planned}
