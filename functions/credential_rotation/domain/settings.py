"""The functions' configuration: the stack's parameters and resource names, as the template hands them to
every function in its environment (``runtime/config.py`` reads it once per container)."""

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from credential_rotation.domain.pacing import MAX_RATE, MIN_RATE


def _comma_separated(value: object) -> object:
    # CloudFormation hands list parameters to Lambda as one comma-separated string.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaSeparated = Annotated[list[str], BeforeValidator(_comma_separated)]


def _json_or_none(value: object) -> object:
    # A JSON document given as a parameter's text; empty means none. Malformed text is refused by name.
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("is not JSON text") from None
    return value


def _no_ceiling_or_a_rate(value: float) -> float:
    if value and not MIN_RATE <= value <= MAX_RATE:
        raise ValueError(f"must be 0 (no ceiling) or between {MIN_RATE} and {MAX_RATE} calls a second")
    return value


class Settings(BaseModel):
    """Resource names have no default: a function deployed without them must fail loudly."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ledger_table_name: str = Field(alias="LEDGER_TABLE_NAME", min_length=1)
    audit_topic_arn: str = Field(alias="AUDIT_TOPIC_ARN", min_length=1)
    # Pages that ask a person to act (the phone system has not switched; deletions held for evidence).
    alerts_topic_arn: str = Field(alias="ALERTS_TOPIC_ARN", min_length=1)
    # The plans, outcomes and reports of every run (S3 Object Lock).
    audit_bucket_name: str = Field(alias="AUDIT_BUCKET_NAME", min_length=1)
    # The secret whose value keys the fingerprints of usernames in the logs.
    fingerprint_key_arn: str = Field(alias="FINGERPRINT_KEY_ARN", min_length=1)
    default_dry_run: bool = Field(alias="DEFAULT_DRY_RUN")
    default_max_age_days: int = Field(alias="DEFAULT_MAX_AGE_DAYS")
    default_min_keep: int = Field(alias="DEFAULT_MIN_KEEP")
    default_max_deletions: int = Field(alias="DEFAULT_MAX_DELETIONS")
    default_protected_usernames: CommaSeparated = Field(alias="DEFAULT_PROTECTED_USERNAMES")
    default_voice_connector_ids: CommaSeparated = Field(alias="DEFAULT_VOICE_CONNECTOR_IDS")
    max_concurrency: int = Field(alias="MAX_CONCURRENCY", ge=1, le=40)
    # The most Chime calls a second a run makes in one account and Region (0: no ceiling; the pace of calls
    # still slows down on throttling). domain/pacing.py's rates bound it.
    chime_calls_per_second: Annotated[float, AfterValidator(_no_ceiling_or_a_rate)] = Field(
        alias="CHIME_CALLS_PER_SECOND", default=0
    )
    default_rotate: bool = Field(alias="DEFAULT_ROTATE")
    default_rotate_after_days: int = Field(alias="DEFAULT_ROTATE_AFTER_DAYS")
    default_grace_days: int = Field(alias="DEFAULT_GRACE_DAYS")
    default_username_prefix: str = Field(alias="DEFAULT_USERNAME_PREFIX")
    # The functions' IAM policy covers secrets under this prefix only; no execution input can change it.
    secret_name_prefix: str = Field(alias="SECRET_NAME_PREFIX", min_length=1)
    # Empty: Secrets Manager's AWS managed key (aws/secretsmanager).
    secrets_kms_key_id: str = Field(alias="SECRETS_KMS_KEY_ID", default="")
    # Call-record evidence. The CDR bucket: empty means GetGlobalSettings' VoiceConnector.CdrBucket.
    call_records_bucket: str = Field(alias="CALL_RECORDS_BUCKET", default="")
    indexing_queue_url: str = Field(alias="INDEXING_QUEUE_URL", default="")
    indexing_dead_letter_queue_url: str = Field(alias="INDEXING_DEAD_LETTER_QUEUE_URL", default="")
    default_quiet_days: int = Field(alias="DEFAULT_QUIET_DAYS", default=0, ge=0)
    default_retire_when_switched: bool = Field(alias="DEFAULT_RETIRE_WHEN_SWITCHED", default=True)
    evidence_max_lag_hours: int = Field(alias="EVIDENCE_MAX_LAG_HOURS", default=24, ge=1)
    # The rollback watch: minutes to watch a connector after deleting on it (0: off).
    watch_minutes: int = Field(alias="WATCH_MINUTES", default=0, ge=0, le=15)
    default_look_back_days: int = Field(alias="DEFAULT_LOOK_BACK_DAYS", default=30, ge=1)
    # Fleet mode: the external id the spoke roles' trust requires (empty: the trust relies on
    # aws:PrincipalOrgID).
    fleet_external_id: str = Field(alias="FLEET_EXTERNAL_ID", default="")
    # The hub's own account: its call records keep single-account mode's index keys, and another
    # account's records are indexed under that account (adapters/usage_index.py). Empty: every record
    # is taken for this account's, as before fleet mode.
    account_id: str = Field(alias="ACCOUNT_ID", default="", pattern=r"^(\d{12})?$")
    # The FleetTargets parameter: a Targets document as JSON text (empty: a fleet run's input must give one).
    fleet_targets: Annotated[Any, BeforeValidator(_json_or_none)] = Field(alias="FLEET_TARGETS", default=None)
