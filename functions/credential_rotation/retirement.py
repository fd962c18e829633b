"""Delete a connector's stale usernames, after checking the plan still holds."""

from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.ledger import CredentialLedger
from credential_rotation.models import DeletionRequest, DeletionResult
from credential_rotation.policy import confirm_deletions
from credential_rotation.secret_store import ConnectorSecrets, secret_name


def retire_stale(
    request: DeletionRequest,
    chime: VoiceConnectorCredentials,
    ledger: CredentialLedger,
    secrets: ConnectorSecrets,
    deleted_at: datetime,
) -> DeletionResult:
    """Re-list first: between planning and now a person or another run may have changed the connector.

    Only usernames still present and still stale on the fresh listing are deleted, with MinKeep checked
    again against that listing and AWSCURRENT read again from the secret, in one call.
    """
    vc_id = request.voice_connector_id
    fresh = chime.usernames(vc_id)
    current, _ = secrets.staged_usernames(secret_name(request.policy.secret_name_prefix, vc_id))
    confirmed = confirm_deletions(
        planned_stale=request.stale,
        fresh_usernames=fresh,
        first_seen=ledger.first_seen(vc_id),
        now=request.now,
        settings=request.policy.settings(),
        current=current,
    )
    ledger_updated = True
    if confirmed:
        chime.delete(vc_id, confirmed)
        try:
            ledger.mark_deleted(vc_id, confirmed, deleted_at, request.execution_arn)
        except (BotoCoreError, ClientError):
            # The deletion happened and must reach the audit event; failing the task here would hide
            # it. The next run's listing marks these usernames gone in the ledger all the same.
            ledger_updated = False
    return DeletionResult(
        voice_connector_id=vc_id,
        deleted=confirmed,
        skipped=tuple(sorted(set(request.stale) - set(confirmed))),
        ledger_updated=ledger_updated,
    )
