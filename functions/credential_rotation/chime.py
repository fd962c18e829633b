"""The Chime SDK Voice adapter: the only module that calls the voice connector API.

Errors are not caught here: botocore raises the modelled exceptions (ThrottledClientException,
NotFoundException, ...), whose class names become the Step Functions error names the retry policy matches.
"""

from collections.abc import Iterator, Sequence
from typing import Any

# ListVoiceConnectors' largest page in the service model.
PAGE_SIZE = 100


class VoiceConnectorCredentials:
    def __init__(self, client: Any) -> None:
        self._client = client

    def voice_connector_ids(self) -> Iterator[str]:
        """Every voice connector of the account and region, across all pages."""
        request: dict[str, Any] = {"MaxResults": PAGE_SIZE}
        while True:
            page = self._client.list_voice_connectors(**request)
            for connector in page.get("VoiceConnectors", []):
                yield connector["VoiceConnectorId"]
            if not page.get("NextToken"):
                return
            request["NextToken"] = page["NextToken"]

    def usernames(self, voice_connector_id: str) -> tuple[str, ...]:
        response = self._client.list_voice_connector_termination_credentials(
            VoiceConnectorId=voice_connector_id
        )
        return tuple(response.get("Usernames", []))

    def put(self, voice_connector_id: str, username: str, password: str) -> None:
        """Add one credential; putting a username that exists sets its password (idempotent for a retry)."""
        self._client.put_voice_connector_termination_credentials(
            VoiceConnectorId=voice_connector_id, Credentials=[{"Username": username, "Password": password}]
        )

    def delete(self, voice_connector_id: str, usernames: Sequence[str]) -> None:
        """One call for the whole list: the API takes a list, and one call keeps the change atomic."""
        if not usernames:
            raise ValueError("usernames must not be empty: the API would be called for nothing")
        self._client.delete_voice_connector_termination_credentials(
            VoiceConnectorId=voice_connector_id, Usernames=list(usernames)
        )
