"""PlanConnector task: list one connector, date its usernames, judge them, and store the plan."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.domain.models import ConnectorTask
from credential_rotation.domain.redaction import MAX_LOGGED_FINGERPRINTS, logged_fingerprints
from credential_rotation.runtime import wiring
from credential_rotation.runtime.task import task
from credential_rotation.tasks.planning import plan_connector

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ConnectorTask.parse(event)
    logger.append_keys(voice_connector_id=request.voice_connector_id)
    fingerprints = wiring.fingerprints()
    summary, plan = plan_connector(
        request,
        wiring.voice_connectors(request.target),
        wiring.ledger(request.target),
        wiring.connector_secrets(request.target),
        wiring.run_records(),
        fingerprints,
        wiring.evidence_reader(request.target),
    )
    logger.info(
        "Connector planned",
        extra={
            "reasons": {reason.value: count for reason, count in summary.counts.items()},
            "stale": logged_fingerprints(fingerprints, request.voice_connector_id, plan.stale),
            "unmanaged": [entry.fingerprint for entry in plan.unmanaged[:MAX_LOGGED_FINGERPRINTS]],
            "ledger_problems": [
                problem.problem for problem in plan.ledger_problems[:MAX_LOGGED_FINGERPRINTS]
            ],
            "evidence": plan.evidence.state.value if plan.evidence else "off",
            "plan": summary.record.key,
        },
    )
    return summary.to_wire()
