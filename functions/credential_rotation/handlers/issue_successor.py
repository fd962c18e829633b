"""IssueSuccessor tasks: one function for the four steps of issuing, as a Secrets Manager rotation function
is one function for its four steps. The state machine names the step."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation import issuing, wiring
from credential_rotation.models import IssueRequest
from credential_rotation.redaction import fingerprint
from credential_rotation.run_metrics import counts_retryable_failures
from credential_rotation.tracing import traced

logger = Logger()


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict | None:
    request = IssueRequest.parse(event)
    vc_id = request.voice_connector_id
    logger.append_keys(voice_connector_id=vc_id, step=request.step)
    match request.step:
        case "CreateSecret":
            successor = issuing.create_secret(request, wiring.connector_secrets(), datetime.now(UTC))
        case "SetSecret":
            issuing.set_secret(request, wiring.connector_secrets(), wiring.voice_connectors())
            successor = request.successor
        case "TestSecret":
            issuing.test_secret(request, wiring.voice_connectors())
            successor = request.successor
        case "FinishSecret":
            successor = issuing.finish_secret(
                request, wiring.connector_secrets(), wiring.ledger(), datetime.now(UTC)
            )
    logger.info(
        "Successor step done",
        extra={"successor": fingerprint(vc_id, successor.username), "version_id": successor.version_id},
    )
    return successor.to_wire()
