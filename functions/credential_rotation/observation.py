"""List a connector's usernames, date them in the ledger, and read which ones its secret names."""

from datetime import datetime

from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.ledger import CredentialLedger
from credential_rotation.models import Credential, Listing
from credential_rotation.secret_store import ConnectorSecrets, secret_name


def observe_connector(
    voice_connector_id: str,
    now: datetime,
    secret_name_prefix: str,
    chime: VoiceConnectorCredentials,
    ledger: CredentialLedger,
    secrets: ConnectorSecrets,
) -> Listing:
    usernames = chime.usernames(voice_connector_id)
    # Recording is observation, not change: a dry run records first-seen dates too.
    first_seen = ledger.observe(voice_connector_id, usernames, now)
    current, pending = secrets.staged_usernames(secret_name(secret_name_prefix, voice_connector_id))
    return Listing(
        voice_connector_id=voice_connector_id,
        credentials=tuple(
            Credential(username=username, first_seen_at=first_seen[username])
            for username in sorted(first_seen)
        ),
        current=current,
        pending=pending,
    )
