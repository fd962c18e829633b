"""CheckDeletionLimit task: refuse the whole run, before any deletion, if its plan deletes more than
MaxDeletions or names more stale usernames than one audit event can carry; otherwise name the plans with
work, which are all that ApplyPlans iterates over."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import DeletionLimitRequest
from credential_rotation.runtime.task import task
from credential_rotation.tasks.planning import check_run_limits, plans_with_work

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = DeletionLimitRequest.parse(event)
    limits = check_run_limits(request)
    logger.info(
        "Run limits respected",
        extra={
            "planned": limits.planned,
            "max_deletions": request.max_deletions,
            "largest_audit_event": limits.largest_event,
        },
    )
    return {"PlannedDeletions": limits.planned, "Work": list(plans_with_work(request.plans))}
