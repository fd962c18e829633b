"""FleetRun tasks: a fleet run's own steps, named by the state machine (``Step``), as IssueSuccessor's
four steps are: ResolveFleet (input, Targets, discovery, lock), RecordResult (what a child workflow ended
with), CheckFleetLimits (the fleet's plans against MaxDeletions and MaxDeletionsPerAccount) and
SelectWatched (the connectors the run deleted on, for the rollback watch)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.errors import MalformedTaskInput
from credential_rotation.domain.fleet import FleetRun
from credential_rotation.domain.models import ResolveRunRequest
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.fleet import check_fleet_limits, record_result, start_fleet_run
from credential_rotation.tasks.fleet_watch import WATCH_PHASE, select_fleet_watched
from credential_rotation.tasks.starting import Refusal

logger = Logger()
PHASES = ("plan", "apply", WATCH_PHASE)


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = event.get("Step") if isinstance(event, dict) else None
    logger.append_keys(step=step)
    if step == "ResolveFleet":
        return _resolve(
            ResolveRunRequest.parse({key: value for key, value in event.items() if key != "Step"})
        )
    if step == "CheckFleetLimits":
        checked = check_fleet_limits(FleetRun.parse(event.get("Run")), wiring.fleet_records())
        logger.info(
            "Fleet plans checked", extra={"planned": checked.planned, "to_apply": checked.items.count}
        )
        return checked.to_wire()
    if step == "SelectWatched":
        selection = select_fleet_watched(FleetRun.parse(event.get("Run")), wiring.fleet_records())
        logger.info(
            "Deletions to watch", extra={"voice_connectors": selection.items.count if selection.items else 0}
        )
        return selection.to_wire()
    if step == "RecordResult":
        return _record(event)
    raise MalformedTaskInput(
        "FleetRun task input: Step: must be ResolveFleet, CheckFleetLimits, SelectWatched or RecordResult"
    )


def _resolve(request: ResolveRunRequest) -> dict[str, Any]:
    answer = start_fleet_run(
        request,
        get_settings(),
        wiring.organization(),
        wiring.voice_connectors,
        wiring.fleet_records(),
        wiring.run_lock(),
        datetime.now(UTC),
    )
    if isinstance(answer, Refusal):
        logger.warning("Fleet run refused", extra={"error": answer.error})
    else:
        logger.info(
            "Fleet run resolved",
            extra={
                "dry_run": answer.run.dry_run,
                "targets": answer.run.targets,
                "targets_failed": answer.targets_failed,
                "voice_connectors": answer.items.count,
            },
        )
    return answer.to_wire()


def _record(event: dict[str, Any]) -> dict[str, Any]:
    phase, result, execution_arn = event.get("Phase"), event.get("Result"), event.get("ExecutionArn")
    if phase not in PHASES or not isinstance(result, dict) or not isinstance(execution_arn, str):
        raise MalformedTaskInput(
            "FleetRun task input: Phase (plan, apply or watch), Result (an object) and ExecutionArn: required"
        )
    ref = record_result(execution_arn, phase, result, wiring.fleet_records())
    # The Map's own result stays small: the record's key, not the connector's change.
    return {"Recorded": ref.key}
