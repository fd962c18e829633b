"""List a connector's usernames and record them in the ledger, which dates them."""

from datetime import datetime

from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.ledger import CredentialLedger
from credential_rotation.models import Credential, Listing


def observe_connector(
    voice_connector_id: str, now: datetime, chime: VoiceConnectorCredentials, ledger: CredentialLedger
) -> Listing:
    usernames = chime.usernames(voice_connector_id)
    # Recording is observation, not change: a dry run records first-seen dates too.
    first_seen = ledger.observe(voice_connector_id, usernames, now)
    return Listing(
        voice_connector_id=voice_connector_id,
        credentials=tuple(
            Credential(username=username, first_seen_at=first_seen[username])
            for username in sorted(first_seen)
        ),
    )
