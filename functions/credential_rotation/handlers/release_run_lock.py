"""ReleaseRunLock: when an execution of the state machine ends, whatever its status, its run lock (if it
still holds it) ends once no function of that execution can still be running.

PublishAudit releases the lock on every path that reaches it. This function, started by an EventBridge
rule on the execution's status change, covers the ends that never reach it: TIMED_OUT, ABORTED, and a
run that failed before or inside PublishAudit. Without it the lease would block every applying run for up
to 70 minutes; with it, for at most run_lock.LONGEST_TASK after the end.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import ExecutionEnded
from credential_rotation.runtime import wiring
from credential_rotation.runtime.task import task

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ended = ExecutionEnded.parse(event)
    shortened = wiring.run_lock().end_with(
        ended.detail.execution_arn, ended.detail.stop_date or datetime.now(UTC)
    )
    logger.info(
        "Execution ended",
        extra={
            "status": ended.detail.status,
            "execution": ended.detail.execution_arn,
            "lease_shortened": shortened,
        },
    )
    return {"LeaseShortened": shortened}
