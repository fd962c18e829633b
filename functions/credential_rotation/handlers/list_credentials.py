"""ListCredentials task: list one connector's usernames, date them in the ledger, read its secret's stages."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation import wiring
from credential_rotation.models import ConnectorTask
from credential_rotation.observation import observe_connector
from credential_rotation.redaction import fingerprints
from credential_rotation.run_metrics import counts_retryable_failures
from credential_rotation.tracing import traced

logger = Logger()


@traced
@counts_retryable_failures
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: LambdaContext) -> dict:
    task = ConnectorTask.parse(event)
    logger.append_keys(voice_connector_id=task.voice_connector_id)
    listing = observe_connector(
        task.voice_connector_id,
        task.now,
        task.policy.secret_name_prefix,
        wiring.voice_connectors(),
        wiring.ledger(),
        wiring.connector_secrets(),
    )
    usernames = [credential.username for credential in listing.credentials]
    logger.info("Credentials listed", extra={"usernames": fingerprints(task.voice_connector_id, usernames)})
    return listing.to_wire()
