"""Delete a connector's stale usernames, after checking the plan still holds."""

from contextlib import suppress
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.ledger import DELETED, PRESENT, CredentialLedger
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
    again against that listing and AWSCURRENT read again from the secret, in one call. Each is marked in
    the ledger just before, so that a crash between the delete and its record loses no deletion.
    """
    vc_id = request.voice_connector_id
    fresh = chime.usernames(vc_id)
    records = ledger.records(vc_id)
    # A previous attempt of this very step that died after its delete call: what it marked (or even
    # recorded as deleted) and what is now gone, it deleted. Reporting it here keeps every deletion in
    # the run's audit event.
    deleted_earlier = {
        username
        for username, record in records.items()
        if username in request.stale
        and username not in fresh
        and (
            (record.state == PRESENT and record.retiring_by == request.execution_arn)
            or (record.state == DELETED and record.deleted_by == request.execution_arn)
        )
    }
    current, _ = secrets.staged_usernames(secret_name(request.policy.secret_name_prefix, vc_id))
    confirmed = confirm_deletions(
        planned_stale=request.stale,
        fresh_usernames=fresh,
        first_seen={u: record.first_seen_at for u, record in records.items() if record.state == PRESENT},
        now=request.now,
        settings=request.policy.settings(),
        current=current,
    )
    marked = ledger.mark_retiring(vc_id, confirmed, request.execution_arn) if confirmed else ()
    if marked:
        try:
            chime.delete(vc_id, marked)
        except ClientError as error:
            # Refused or throttled (4xx): nothing was deleted, so take the marks back, as far as the ledger
            # lets us. A server fault (5xx) or a lost connection may have deleted: those marks stay, so that
            # a retry that finds the usernames gone reports the deletion.
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) < 500:
                with suppress(BotoCoreError, ClientError):
                    ledger.unmark_retiring(vc_id, marked, request.execution_arn)
            raise
    deleted = tuple(sorted(deleted_earlier | set(marked)))
    ledger_updated = True
    if deleted:
        try:
            ledger.mark_deleted(vc_id, deleted, deleted_at, request.execution_arn)
        except (BotoCoreError, ClientError):
            # The deletion happened and must reach the audit event; failing the task here would hide
            # it. The next run's listing marks these usernames deleted in the ledger all the same.
            ledger_updated = False
    return DeletionResult(
        voice_connector_id=vc_id,
        deleted=deleted,
        skipped=tuple(sorted(set(request.stale) - set(deleted))),
        ledger_updated=ledger_updated,
    )
