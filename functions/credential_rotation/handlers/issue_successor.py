"""IssueSuccessor tasks: one function for the four steps of issuing, as a Secrets Manager rotation function
is one function for its four steps. The state machine names the step. The rollback watch's restore
("RestoreDeleted") runs here too: it is the one function that reads a credential's value."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import IssueRequest, RestoreRequest
from credential_rotation.runtime import wiring
from credential_rotation.runtime.task import task
from credential_rotation.tasks.issuing import issue_step
from credential_rotation.tasks.watching import restore_deleted

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("Step") == "RestoreDeleted":
        return _restore(RestoreRequest.parse(event))
    request = IssueRequest.parse(event)
    vc_id = request.voice_connector_id
    logger.append_keys(voice_connector_id=vc_id, step=request.step)
    successor = issue_step(
        request,
        wiring.connector_secrets(request.target),
        wiring.ledger(request.target),
        wiring.voice_connectors(request.target),
        datetime.now(UTC),
    )
    logger.info(
        "Successor step done",
        extra={
            "successor": wiring.fingerprints().of(vc_id, successor.username),
            "version_id": successor.version_id,
        },
    )
    return successor.to_wire()


def _restore(request: RestoreRequest) -> dict[str, Any]:
    vc_id = request.voice_connector_id
    logger.append_keys(voice_connector_id=vc_id, step=request.step)
    summary, record = restore_deleted(
        request,
        wiring.ledger(request.target),
        wiring.connector_secrets(request.target),
        wiring.voice_connectors(request.target),
        wiring.run_records(),
    )
    fingerprints = wiring.fingerprints()
    logger.warning(
        "Deleted credentials restored",
        extra={
            "restored": fingerprints.of_all(vc_id, record.restored),
            "not_restorable": fingerprints.of_all(vc_id, record.not_restorable),
            "restore": summary.record.key,
        },
    )
    return summary.to_wire()
