"""PlanConnector task: list one connector, date its usernames, judge them, and store the plan."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation import wiring
from credential_rotation.models import ConnectorTask
from credential_rotation.planning import plan_connector
from credential_rotation.task import task

logger = Logger()


@task(logger)
def handler(event: dict, context: LambdaContext) -> dict:
    request = ConnectorTask.parse(event)
    logger.append_keys(voice_connector_id=request.voice_connector_id)
    summary = plan_connector(
        request,
        wiring.voice_connectors(),
        wiring.ledger(),
        wiring.connector_secrets(),
        wiring.run_records(),
        wiring.fingerprints(),
    )
    logger.info(
        "Connector planned",
        extra={
            "reasons": {reason.value: count for reason, count in summary.counts.items()},
            "ledger_problems": summary.ledger_problems,
            "plan": summary.record.key,
        },
    )
    return summary.to_wire()
