"""The Secrets Manager adapter: one secret per voice connector, its versions labelled with the stages of
Secrets Manager's rotation contract.

AWSPENDING is a successor stored but not yet proven on the connector; AWSCURRENT is the credential the
phone system should use; AWSPREVIOUS is the one it replaced. A version's SecretString is JSON:
``{"VoiceConnectorId", "Username", "Password", "IssuedAt"}``.

A new secret starts with an enrolment version whose Username is null: Secrets Manager labels a secret's
first version AWSCURRENT whatever the caller asks, and a successor must not be AWSCURRENT before it is on
the connector. No step ever reads the enrolment version back: ``read`` reads successors only.

Only the issuing step reads or writes values. Listing and deleting need to know which credential
AWSCURRENT is, and learn it from ``state`` (version ids and stages, no value) and the ledger, which
records the version id of every successor this workflow created.
"""

import json
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from credential_rotation.domain.errors import UntrustedSuccessor
from credential_rotation.domain.secret_versions import (
    CURRENT,
    PENDING,
    SecretState,
    StoredCredential,
    parse_successor,
    secret_name,
)

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_secretsmanager import SecretsManagerClient


class ConnectorSecrets:
    """The connectors' secrets, each named ``<prefix><voice connector id>``. The prefix is the stack's:
    the functions' IAM policy covers secrets under it and no other."""

    def __init__(self, client: "SecretsManagerClient", prefix: str, kms_key_id: str | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._kms_key_id = kms_key_id or None

    def name(self, voice_connector_id: str) -> str:
        return secret_name(self._prefix, voice_connector_id)

    def state(self, voice_connector_id: str) -> SecretState | None:
        """The secret's versions and their stages, or None when the secret does not exist."""
        try:
            described = self._client.describe_secret(SecretId=self.name(voice_connector_id))
        except self._client.exceptions.ResourceNotFoundException:
            return None
        versions = {
            version: tuple(stages) for version, stages in described.get("VersionIdsToStages", {}).items()
        }
        return SecretState(arn=described["ARN"], versions=versions, deleted="DeletedDate" in described)

    def read(self, voice_connector_id: str, version_id: str) -> StoredCredential:
        """A successor's version; MalformedSecret names the field that is wrong, never a value."""
        response = self._client.get_secret_value(SecretId=self.name(voice_connector_id), VersionId=version_id)
        return parse_successor(response.get("SecretString"), version_id)

    def enrol(self, voice_connector_id: str, token: str) -> None:
        """Create the connector's secret with its enrolment version; an existing secret is left alone."""
        request: dict[str, Any] = {
            "Name": self.name(voice_connector_id),
            "Description": f"SIP termination credential of voice connector {voice_connector_id}",
            "ClientRequestToken": token,
            "SecretString": _enrolment_value(voice_connector_id),
        }
        if self._kms_key_id:
            request["KmsKeyId"] = self._kms_key_id
        # A concurrent or earlier attempt created it: that is the state this call wants.
        with suppress(self._client.exceptions.ResourceExistsException):
            self._client.create_secret(**request)

    def store_pending(
        self, voice_connector_id: str, token: str, username: str, password: str, issued_at: datetime
    ) -> str:
        """A new AWSPENDING version; the same token with the same value is a no-op, as a retry needs."""
        response = self._client.put_secret_value(
            SecretId=self.name(voice_connector_id),
            ClientRequestToken=token,
            SecretString=_successor_value(voice_connector_id, username, password, issued_at),
            VersionStages=[PENDING],
        )
        return response["VersionId"]

    def promote(self, voice_connector_id: str, version_id: str) -> None:
        """Move AWSCURRENT to ``version_id`` (Secrets Manager moves AWSPREVIOUS to the version it leaves)
        and take AWSPENDING off it. Each move is skipped when already done, so a retry converges."""
        name = self.name(voice_connector_id)
        state = self.state(voice_connector_id)
        if state is None or version_id not in state.versions:
            raise UntrustedSuccessor("the successor's version is no longer in the connector's secret")
        current = state.labelled(CURRENT)
        if current != version_id:
            move: dict[str, Any] = {"SecretId": name, "VersionStage": CURRENT, "MoveToVersionId": version_id}
            if current is not None:
                move["RemoveFromVersionId"] = current
            self._client.update_secret_version_stage(**move)
        if PENDING in state.versions[version_id]:
            self._client.update_secret_version_stage(
                SecretId=name, VersionStage=PENDING, RemoveFromVersionId=version_id
            )


def _enrolment_value(voice_connector_id: str) -> str:
    """The first version of a new secret: it names the connector and holds no credential."""
    return json.dumps(
        {"VoiceConnectorId": voice_connector_id, "Username": None, "Password": None, "IssuedAt": None}
    )


def _successor_value(voice_connector_id: str, username: str, password: str, issued_at: datetime) -> str:
    return json.dumps(
        {
            "VoiceConnectorId": voice_connector_id,
            "Username": username,
            "Password": password,
            "IssuedAt": issued_at.isoformat(),
        }
    )
