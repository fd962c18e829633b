"""The Chime SDK Voice adapter: the only module that calls the voice connector API.

Errors are not caught here: botocore raises the modelled exceptions (ThrottledClientException,
NotFoundException, ...), whose class names become the Step Functions error names the retry policy matches.
Deciding whether a failed delete may still have deleted is this module's business too: only the service's
answer knows, and only a refusal (4xx) proves nothing happened.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.adapters.chime_pace import ChimePace
from credential_rotation.domain.errors import ChimeRateLimited, DeletionOutcomeUnknown

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

# ListVoiceConnectors' largest page in the service model.
PAGE_SIZE = 100


class VoiceConnectorCredentials:
    """``pace``: the account and Region's pace every call books a slot on (``adapters/chime_pace.py``);
    without one, each call is made once, at once."""

    def __init__(self, client: "ChimeSDKVoiceClient", pace: ChimePace | None = None) -> None:
        self._client = client
        self._pace = pace

    def _paced[T](self, send: Callable[[], T]) -> T:
        return send() if self._pace is None else self._pace.call(send)

    def voice_connector_ids(self) -> Iterator[str]:
        """Every voice connector of the account and region, across all pages."""
        request: dict[str, Any] = {"MaxResults": PAGE_SIZE}
        while True:
            page = self._paced(lambda: self._client.list_voice_connectors(**request))
            for connector in page.get("VoiceConnectors", []):
                yield connector["VoiceConnectorId"]
            if not page.get("NextToken"):
                return
            request["NextToken"] = page["NextToken"]

    def call_record_bucket(self) -> str | None:
        """GetGlobalSettings' VoiceConnector.CdrBucket: where Chime writes the account's call records."""
        settings = self._paced(lambda: self._client.get_global_settings()).get("VoiceConnector") or {}
        return settings.get("CdrBucket") or None

    def usernames(self, voice_connector_id: str) -> tuple[str, ...]:
        response = self._paced(
            lambda: self._client.list_voice_connector_termination_credentials(
                VoiceConnectorId=voice_connector_id
            )
        )
        return tuple(response.get("Usernames", []))

    def put(self, voice_connector_id: str, username: str, password: str) -> None:
        """Add one credential; putting a username that exists sets its password (idempotent for a retry)."""
        self._paced(
            lambda: self._client.put_voice_connector_termination_credentials(
                VoiceConnectorId=voice_connector_id,
                Credentials=[{"Username": username, "Password": password}],
            )
        )

    def delete(
        self, voice_connector_id: str, usernames: Sequence[str], on_refused: Callable[[], object]
    ) -> None:
        """One call for the list. When the service refused it (``proves_nothing_deleted``), ``on_refused``
        runs and the service's error is raised again as botocore raised it, so the state machine's Retry
        still matches its name; any other service error may have come after the deletion took effect and
        is raised untouched. A call whose answer never came (the connection closed, timed out or failed in
        any other way below the service) raises DeletionOutcomeUnknown, which the state machine retries
        like a server fault: the service may have acted on it."""
        if not usernames:
            raise ValueError("usernames must not be empty: the API would be called for nothing")
        try:
            # A throttle proves nothing was deleted: the pace tries it again before it is called refused.
            self._paced(
                lambda: self._client.delete_voice_connector_termination_credentials(
                    VoiceConnectorId=voice_connector_id, Usernames=list(usernames)
                )
            )
        except ClientError as error:
            if proves_nothing_deleted(error):
                on_refused()
            raise
        except ChimeRateLimited:
            on_refused()  # no slot came in time: the delete was never called
            raise
        except BotoCoreError as error:
            raise DeletionOutcomeUnknown(
                f"the delete call's answer was lost ({type(error).__name__}): the service may have deleted, "
                "so the usernames stay marked and the step is retried to find out"
            ) from error


def proves_nothing_deleted(error: ClientError) -> bool:
    """Whether the service's answer to a delete proves it deleted nothing: a refusal or a throttle (4xx).
    A server fault (5xx), or an answer without a status, may have come after the delete took effect."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and 400 <= status < 500
