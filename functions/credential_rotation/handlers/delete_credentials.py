"""DeleteCredentials task: delete one connector's stale usernames that are still present and still stale."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import DeletionRequest
from credential_rotation.domain.redaction import logged_fingerprints
from credential_rotation.runtime import wiring
from credential_rotation.runtime.task import task
from credential_rotation.tasks.retirement import retire_stale

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = DeletionRequest.parse(event)
    logger.append_keys(voice_connector_id=request.voice_connector_id)
    summary, outcome = retire_stale(
        request,
        wiring.voice_connectors(request.target),
        wiring.ledger(request.target),
        wiring.connector_secrets(request.target),
        wiring.run_records(),
        started_at=datetime.now(UTC),
        evidence_reader=wiring.evidence_reader(request.target),
    )
    fingerprints = wiring.fingerprints()
    logger.info(
        "Stale credentials deleted",
        extra={
            "deleted": logged_fingerprints(fingerprints, request.voice_connector_id, outcome.deleted),
            "skipped": logged_fingerprints(fingerprints, request.voice_connector_id, outcome.skipped),
            "outcome": summary.outcome.key,
        },
    )
    return summary.to_wire()
