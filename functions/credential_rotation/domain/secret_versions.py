"""A connector's secret as the task logic sees it: its versions and their stages (no value), and a successor
as its version holds it. A version's SecretString is JSON: ``{"VoiceConnectorId", "Username", "Password",
"IssuedAt"}``; ``parse_successor`` reads one, naming the field that is wrong and never a value. The enrolment
version (a new secret's first, with no credential in it) is the adapter's alone and is never read back.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime

from credential_rotation.domain.errors import MalformedSecret

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"


def secret_name(prefix: str, voice_connector_id: str) -> str:
    return f"{prefix}{voice_connector_id}"


@dataclass(frozen=True)
class StoredCredential:
    """A successor as its secret version holds it (never the enrolment version)."""

    voice_connector_id: str
    username: str
    issued_at: datetime
    version_id: str
    # Never printed: a repr or a log line of this object must not carry the password.
    password: str = field(repr=False)


@dataclass(frozen=True)
class SecretState:
    arn: str
    versions: dict[str, tuple[str, ...]]
    # Scheduled for deletion (DescribeSecret's DeletedDate): its values can no longer be read or written.
    deleted: bool = False

    def labelled(self, stage: str) -> str | None:
        """The version that carries ``stage``, if any."""
        return next((version for version, stages in self.versions.items() if stage in stages), None)

    def unfinished(self) -> str | None:
        """A successor stored by a run that did not finish: AWSPENDING on a version that is not AWSCURRENT."""
        version = self.labelled(PENDING)
        return version if version is not None and CURRENT not in self.versions[version] else None


def parse_successor(secret_string: object, version_id: str) -> StoredCredential:
    def malformed(problem: str) -> MalformedSecret:
        return MalformedSecret(f"secret version {version_id}: {problem}")

    if not isinstance(secret_string, str):
        raise malformed("has no SecretString")
    try:
        value = json.loads(secret_string)
    except ValueError:
        raise malformed("SecretString is not JSON") from None
    if not isinstance(value, dict):
        raise malformed("SecretString is not a JSON object")
    for name in ("VoiceConnectorId", "Username", "Password", "IssuedAt"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise malformed(f"{name}: missing, null or not a non-empty string")
    try:
        issued_at = datetime.fromisoformat(value["IssuedAt"])
    except ValueError:
        raise malformed("IssuedAt: not an ISO 8601 date and time") from None
    if issued_at.utcoffset() is None:
        raise malformed("IssuedAt: has no time zone")
    return StoredCredential(
        voice_connector_id=value["VoiceConnectorId"],
        username=value["Username"],
        issued_at=issued_at,
        version_id=version_id,
        password=value["Password"],
    )
