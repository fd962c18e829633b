"""FindStale task: apply the staleness policy to one connector's dated listing."""

from collections import Counter

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.models import FindStaleRequest
from credential_rotation.planning import plan_connector
from credential_rotation.redaction import fingerprints
from credential_rotation.run_metrics import counts_retryable_failures
from credential_rotation.tracing import traced

logger = Logger()


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    request = FindStaleRequest.parse(event)
    logger.append_keys(voice_connector_id=request.voice_connector_id)
    plan = plan_connector(request)
    logger.info(
        "Connector judged",
        extra={
            "reasons": dict(Counter(reason.value for reason in plan.reasons.values())),
            "stale": fingerprints(request.voice_connector_id, plan.stale),
        },
    )
    return plan.to_wire()
