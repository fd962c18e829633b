"""DeleteCredentials task: delete one connector's stale usernames that are still present and still stale."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation import wiring
from credential_rotation.models import DeletionRequest
from credential_rotation.redaction import fingerprints
from credential_rotation.retirement import retire_stale
from credential_rotation.run_metrics import counts_retryable_failures
from credential_rotation.tracing import traced

logger = Logger()


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    request = DeletionRequest.parse(event)
    logger.append_keys(voice_connector_id=request.voice_connector_id)
    result = retire_stale(
        request,
        wiring.voice_connectors(),
        wiring.ledger(),
        wiring.connector_secrets(),
        deleted_at=datetime.now(UTC),
    )
    logger.info(
        "Stale credentials deleted",
        extra={
            "deleted": fingerprints(request.voice_connector_id, result.deleted),
            "skipped": fingerprints(request.voice_connector_id, result.skipped),
        },
    )
    return result.to_wire()
