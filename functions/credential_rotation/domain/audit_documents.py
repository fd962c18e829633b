"""The audit trail's two documents as models: the SNS audit event and the S3 report of a run.

audit.py builds them; these models describe them, and the JSON Schemas in schemas/ are generated from
them (``python -m credential_rotation.domain.audit_documents``), so the published schema is never written by
hand. Every event and report the tests see is validated against those files.
"""

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from credential_rotation.domain.evidence import EvidenceState
from credential_rotation.domain.policy import Reason
from credential_rotation.domain.rotation_due import RotationReason
from credential_rotation.domain.unmanaged import Unmanageable
from credential_rotation.domain.watch import WatchVerdict

SCHEMA_VERSION = "2.1"
SCHEMA_BASE = "https://github.com/voice-connector-credential-rotation/schemas"


class Document(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="forbid", frozen=True)


class RunError(Document):
    error: str = Field(description="The error name, as Step Functions names it (e.g. InvalidInput).")
    cause: str = Field(description="What went wrong; never a password, and in the event never a value.")


class ConnectorError(RunError):
    step: str = Field(
        description="The state that failed. Nothing is deleted on a connector whose successor failed."
    )


class Rotation(Document):
    due: bool = Field(description="Whether a successor was due (on a dry run: what a real run would issue).")
    reason: RotationReason


class IssuedInEvent(Document):
    """The successor this run issued, never its password."""

    username: str
    version_id: str = Field(description="The secret version that holds it.")
    issued_at: AwareDatetime
    promoted: bool = Field(
        default=False,
        description="True: AWSCURRENT names it. False: stored and perhaps put on the connector, but a later "
        "step failed (see Error); the next run finishes it.",
    )


class IssuedInReport(IssuedInEvent):
    secret_arn: str


class Policy(Document):
    max_age_days: int = Field(ge=1)
    min_keep: int = Field(ge=1)
    protected_usernames: list[str]
    max_deletions: int = Field(ge=0)
    grace_days: int = Field(ge=0)
    rotate: bool
    rotate_after_days: int = Field(ge=1)
    username_prefix: str
    quiet_days: int = Field(default=0, ge=0, description="0: no call-record evidence.")
    retire_when_switched: bool = False
    evidence_max_lag_hours: int = Field(default=24, ge=1)
    revoke_usernames: list[str] = Field(
        default_factory=list, description="The run's Revoke: usernames or patterns removed now (revoked)."
    )
    revoke_reason: str | None = Field(default=None, description="Why, in the words of the person who ran it.")
    secret_name_prefix: str = Field(description="The stack's; no execution can choose another.")


class ReportLocation(Document):
    bucket: str
    key: str
    version_id: str | None = Field(
        description="The report's object version: Object Lock retains it unchanged."
    )


class EvidenceInEvent(Document):
    state: EvidenceState = Field(
        description="fresh: the call records decided; stale: deletions that depend on them were held "
        "(evidence-stale); no-sip-auth-user: the calls name no username, the timer rules alone judged."
    )
    why: str | None = Field(description="Why the evidence is not fresh; never a value.")


class EvidenceInReport(EvidenceInEvent):
    since: AwareDatetime | None = Field(description="Fresh only: from when on every call is indexed.")
    last_used: dict[str, AwareDatetime] = Field(
        description="Each listed username seen in a call: when its last call started (LastUsedAt)."
    )
    calls: dict[str, int] = Field(description="Each listed username seen in a call: the calls counted.")
    unused: list[str] = Field(
        description="Fresh only: listed usernames never seen in a call since Since (unused-since)."
    )
    switched: list[str] = Field(
        description="Retired before MaxAgeDays: quiet for QuietDays while a younger username calls."
    )
    unauthenticated_calls: int = Field(ge=0, description="Calls admitted without a SipAuthUser.")
    not_switched: list[str] = Field(
        description="Fingerprints of usernames still calling more than GraceDays after this workflow's "
        "successor was issued: the phone system has not switched (the alerts topic was paged)."
    )
    successor_secret: str | None = Field(description="Where the phone team reads the successor (secret ARN).")


class CallCounts(Document):
    attempts: int = Field(ge=0)
    failures: int = Field(ge=0)
    sip_4xx: int = Field(ge=0, alias="Sip4xx")


class WatchInEvent(Document):
    verdict: WatchVerdict | None = Field(
        description="healthy, broken (outbound failures or SIP 4xx rose: a restore was tried) or quiet "
        "(no outbound call in the window); null when the watch itself failed."
    )
    signals: list[str] = Field(description="What rose: outbound-failures, sip-4xx.")
    restored: int = Field(ge=0, description="Deleted usernames put back from their secret version.")
    not_restorable: int = Field(ge=0, description="Deleted, broken, and not this workflow's to put back.")
    error: str | None = Field(description="The name of the error that stopped the watch or the restore.")


class WatchInReport(Document):
    verdict: WatchVerdict | None
    signals: list[str]
    watched: CallCounts | None = Field(description="Outbound calls in the watch window.")
    baseline: CallCounts | None = Field(description="Outbound calls in the week before it.")
    restored: list[str]
    not_restorable: list[str]
    error: ConnectorError | None


class ConnectorInEvent(Document):
    voice_connector_id: str
    current: str | None = Field(
        description="The username AWSCURRENT names, matched through the ledger; never deleted."
    )
    counts: dict[Reason, int] = Field(
        description="How many usernames got each reason (the report names them)."
    )
    stale: list[str] = Field(description="Usernames the policy selected for deletion.")
    deleted: list[str] = Field(description="Usernames actually removed; empty on a dry run.")
    unconfirmed: list[str] = Field(
        description="The delete step failed: any of these may be gone (the next run's listing tells)."
    )
    rotation: Rotation | None = Field(description="Null when the connector's planning failed.")
    issued: IssuedInEvent | None
    ledger_problems: int = Field(ge=0, description="Ledger rows that cannot be read (the report names them).")
    error: ConnectorError | None
    evidence: EvidenceInEvent | None = Field(
        default=None, description="What the call records said; null when the run used no evidence."
    )
    watch: WatchInEvent | None = Field(
        default=None, description="The rollback watch on this connector; null when it was not watched."
    )
    stale_omitted: bool = Field(
        default=False,
        description="Only in a run refused at its limits, which deleted nothing: Stale was too long to carry",
    )


class Unmanaged(Document):
    fingerprint: str = Field(description="HMAC fingerprint of the username, as the logs show it.")
    why: Unmanageable


class LedgerProblem(Document):
    username: str | None
    problem: str = Field(description="Which attribute is wrong and how; never its value.")


class ConnectorInReport(ConnectorInEvent):
    reasons: dict[str, Reason] = Field(description="Every managed username listed, with its reason.")
    skipped: list[str] = Field(
        description="Stale, but gone or no longer stale when the delete step re-listed."
    )
    unmanaged: list[Unmanaged] = Field(description="Credentials the ledger cannot key: kept, never judged.")
    ledger_problems: list[LedgerProblem]  # type: ignore[assignment]
    ledger_updated: bool = Field(
        description="False: the deletions are not in the ledger yet; the next listing records them."
    )
    issued: IssuedInReport | None
    evidence: EvidenceInReport | None = Field(
        default=None, description="What the call records said; null when the run used no evidence."
    )
    watch: WatchInReport | None = Field(  # type: ignore[assignment]
        default=None, description="The rollback watch on this connector; null when it was not watched."
    )


class Run(Document):
    schema_version: Literal["2.1"]
    execution_arn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")
    trigger: Literal["schedule", "manual"]
    dry_run: bool = Field(description="True: the run judged and reported, and changed nothing.")
    outcome: Literal["SUCCEEDED", "PARTIAL", "FAILED"]
    started_at: AwareDatetime
    finished_at: AwareDatetime
    policy: Policy | None = Field(description="Null when the input was refused before it could be resolved.")
    error: RunError | None = Field(description="Why the whole run failed or was refused.")


class AuditEvent(Run):
    """The SNS message every run publishes, whatever its outcome; at most 240 KiB. Message attributes
    Outcome, DryRun and Trigger repeat those fields for subscription filters."""

    report: ReportLocation | None = Field(description="Where the run's full report is.")
    voice_connectors: list[ConnectorInEvent]


class AuditReport(Run):
    """The full record of a run, in the audit bucket under Object Lock: every username's reason."""

    voice_connectors: list[ConnectorInReport]


def schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    generated = model.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/{name}-{SCHEMA_VERSION}.json",
    } | generated


SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "audit-event.schema.json": (AuditEvent, "audit-event"),
    "audit-report.schema.json": (AuditReport, "audit-report"),
}


def write_schemas(folder: Path) -> None:
    for file_name, (model, name) in SCHEMAS.items():
        (folder / file_name).write_text(json.dumps(schema(model, name), indent=2) + "\n")


if __name__ == "__main__":
    write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("schemas"))
