"""The Secrets Manager adapter: one secret per voice connector, its versions labelled with the stages of
Secrets Manager's rotation contract.

AWSPENDING is a successor stored but not yet proven on the connector; AWSCURRENT is the credential the
phone system should use; AWSPREVIOUS is the one it replaced. A version's SecretString is JSON:
``{"VoiceConnectorId", "Username", "Password", "IssuedAt"}``.

A new secret starts with an enrolment version whose Username is null: Secrets Manager labels a secret's
first version AWSCURRENT whatever the caller asks, and a successor must not be AWSCURRENT before it is on
the connector.
"""

import json
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"


def secret_name(prefix: str, voice_connector_id: str) -> str:
    return f"{prefix}{voice_connector_id}"


@dataclass(frozen=True)
class StoredCredential:
    voice_connector_id: str
    username: str | None
    issued_at: datetime | None
    version_id: str
    # Never printed: a repr or a log line of this object must not carry the password.
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SecretState:
    arn: str
    versions: dict[str, tuple[str, ...]]

    def labelled(self, stage: str) -> str | None:
        """The version that carries ``stage``, if any."""
        return next((version for version, stages in self.versions.items() if stage in stages), None)

    def unfinished(self) -> str | None:
        """A successor stored by a run that did not finish: AWSPENDING on a version that is not AWSCURRENT."""
        version = self.labelled(PENDING)
        return version if version is not None and CURRENT not in self.versions[version] else None


class ConnectorSecrets:
    def __init__(self, client: Any, kms_key_id: str | None = None) -> None:
        self._client = client
        self._kms_key_id = kms_key_id or None

    def state(self, name: str) -> SecretState | None:
        """The secret's versions and their stages, or None when the secret does not exist."""
        try:
            described = self._client.describe_secret(SecretId=name)
        except self._client.exceptions.ResourceNotFoundException:
            return None
        versions = {
            version: tuple(stages) for version, stages in described.get("VersionIdsToStages", {}).items()
        }
        return SecretState(arn=described["ARN"], versions=versions)

    def read(self, name: str, version_id: str) -> StoredCredential:
        response = self._client.get_secret_value(SecretId=name, VersionId=version_id)
        value = json.loads(response["SecretString"])
        issued_at = value.get("IssuedAt")
        return StoredCredential(
            voice_connector_id=value["VoiceConnectorId"],
            username=value.get("Username"),
            issued_at=datetime.fromisoformat(issued_at) if issued_at else None,
            version_id=response["VersionId"],
            password=value.get("Password"),
        )

    def staged_usernames(self, name: str) -> tuple[str | None, str | None]:
        """The usernames AWSCURRENT and an unfinished successor name, each None when there is none."""
        state = self.state(name)
        if state is None:
            return None, None
        versions = (state.labelled(CURRENT), state.unfinished())
        current, pending = (self.read(name, version).username if version else None for version in versions)
        return current, pending

    def enrol(self, name: str, voice_connector_id: str, token: str) -> None:
        """Create the connector's secret with its enrolment version; an existing secret is left alone."""
        request: dict[str, Any] = {
            "Name": name,
            "Description": f"SIP termination credential of voice connector {voice_connector_id}",
            "ClientRequestToken": token,
            "SecretString": _value(voice_connector_id, None, None, None),
        }
        if self._kms_key_id:
            request["KmsKeyId"] = self._kms_key_id
        # A concurrent or earlier attempt created it: that is the state this call wants.
        with suppress(self._client.exceptions.ResourceExistsException):
            self._client.create_secret(**request)

    def store_pending(
        self,
        name: str,
        token: str,
        voice_connector_id: str,
        username: str,
        password: str,
        issued_at: datetime,
    ) -> str:
        """A new AWSPENDING version; the same token with the same value is a no-op, as a retry needs."""
        response = self._client.put_secret_value(
            SecretId=name,
            ClientRequestToken=token,
            SecretString=_value(voice_connector_id, username, password, issued_at),
            VersionStages=[PENDING],
        )
        return response["VersionId"]

    def promote(self, name: str, version_id: str) -> None:
        """Move AWSCURRENT to ``version_id`` (Secrets Manager moves AWSPREVIOUS to the version it leaves)
        and take AWSPENDING off it. Each move is skipped when already done, so a retry converges."""
        state = self.state(name)
        if state is None or version_id not in state.versions:
            raise ValueError("the successor's version is not in the connector's secret")
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


def _value(
    voice_connector_id: str, username: str | None, password: str | None, issued_at: datetime | None
) -> str:
    return json.dumps(
        {
            "VoiceConnectorId": voice_connector_id,
            "Username": username,
            "Password": password,
            "IssuedAt": issued_at.isoformat() if issued_at else None,
        }
    )
