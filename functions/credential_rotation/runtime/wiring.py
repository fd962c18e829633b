"""Builds the adapters over real boto3 clients: lazily, once per Lambda container, never at import."""

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.adapters.alert_topic import AlertTopic
from credential_rotation.adapters.audit_topic import AuditTopic
from credential_rotation.adapters.call_record_store import CallRecordBucket
from credential_rotation.adapters.chime import VoiceConnectorCredentials
from credential_rotation.adapters.chime_pace import ChimePace, Clock, SystemClock
from credential_rotation.adapters.connector_health import ConnectorCallMetrics
from credential_rotation.adapters.fleet_records import FleetRecords
from credential_rotation.adapters.indexing_queue import IndexingQueue
from credential_rotation.adapters.ledger import CredentialLedger
from credential_rotation.adapters.organizations import OrganizationAccountsAdapter
from credential_rotation.adapters.pace_table import PaceTable
from credential_rotation.adapters.run_lock import RunLock
from credential_rotation.adapters.run_metrics import count_absorbed_throttle
from credential_rotation.adapters.run_records import RunRecords
from credential_rotation.adapters.secret_store import ConnectorSecrets
from credential_rotation.adapters.usage_index import UsageIndex
from credential_rotation.domain.errors import SpokeRoleUnavailable
from credential_rotation.domain.fleet import target_name
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.domain.targets import Target
from credential_rotation.runtime.config import get_settings
from credential_rotation.tasks.evidence_reading import EvidenceReader

# One attempt per call: Step Functions owns the retry policy, so every retry shows in the execution
# history. (botocore's default "standard" mode would silently retry 5xx, and it never retries Chime's 429.)
CHIME_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1})
# Secrets Manager, DynamoDB, S3 and SNS keep the SDK's standard retries (throttling and 5xx, three
# attempts), written out so that no default decides it. What outlasts them fails the task, and the state
# machine's Retry or Catch takes over.
AWS_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3})
# boto3's default session is not thread-safe while it builds clients (clients are, once built). Lambda
# runs one invocation at a time per container; the offline sandbox runs a Map's invocations on threads,
# and builds its own clients through here too.
_BUILDING = threading.Lock()


def client(service: str, config: Config) -> Any:
    """A new boto3 client of the default session, built under a lock. Typed where it is assigned, with
    the boto3 stubs of its service (mypy_boto3_*)."""
    build: Any = boto3.client
    with _BUILDING:
        return build(service, config=config)


def voice_connectors(target: Target | None = None) -> VoiceConnectorCredentials:
    """This account's connectors, or (fleet mode) the target account's, through its spoke role."""
    return _local_voice_connectors() if target is None else _spoke(target).voice_connectors


def ledger(target: Target | None = None) -> CredentialLedger:
    """The hub's ledger; a fleet run's connector's rows under its account and Region."""
    if target is None:
        return _local_ledger()
    return _scoped_ledger(target)


def connector_secrets(target: Target | None = None) -> ConnectorSecrets:
    """Successor secrets live beside their connector: in the target account and Region in fleet mode."""
    return _local_connector_secrets() if target is None else _spoke(target).connector_secrets


@cache
def _local_voice_connectors() -> VoiceConnectorCredentials:
    chime = client("chime-sdk-voice", CHIME_CLIENT_CONFIG)
    return VoiceConnectorCredentials(chime, _pace(f"{LOCAL_PACE_SCOPE}/{chime.meta.region_name}"))


# The pace of Chime calls is the account and Region's (adapters/chime_pace.py): single-account mode's under
# this scope, each fleet target's under its own "<account>/<Region>".
LOCAL_PACE_SCOPE = "this-account"
# What the pace waits by: the system's clock on AWS; the offline sandbox sets one that does not sleep.
pace_clock: Clock = SystemClock()


def _pace(scope: str) -> ChimePace:
    ceiling = get_settings().chime_calls_per_second or None
    return ChimePace(_pace_table(), scope, pace_clock, on_throttle=count_absorbed_throttle, ceiling=ceiling)


@cache
def _pace_table() -> PaceTable:
    """In the hub's ledger table, in fleet mode too: the pace is shared by the hub's workers."""
    return PaceTable(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def _local_ledger() -> CredentialLedger:
    return CredentialLedger(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def _scoped_ledger(target: Target) -> CredentialLedger:
    return CredentialLedger(
        client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name, target.account, target.region
    )


@cache
def run_lock() -> RunLock:
    return RunLock(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def _local_connector_secrets() -> ConnectorSecrets:
    settings = get_settings()
    return ConnectorSecrets(
        client("secretsmanager", AWS_CLIENT_CONFIG),
        settings.secret_name_prefix,
        settings.secrets_kms_key_id,
    )


# Fleet mode: the spoke role's credentials last an hour (STS's default). A container reuses them while
# they have more than a task's longest run left (Lambda's 15 minutes, with a margin), then assumes again.
SPOKE_SESSION_SECONDS = 3600
SPOKE_RENEW_MARGIN = timedelta(minutes=20)
SPOKE_SESSION_NAME = "voice-connector-credential-rotation"


@dataclass(frozen=True)
class _SpokeAdapters:
    expires: datetime
    voice_connectors: VoiceConnectorCredentials
    connector_secrets: ConnectorSecrets
    # The rollback watch: the connector's metrics are published in its own account and Region. Built with
    # the others, though only WatchDeletions uses it: one client more per target and container (10 to 25 ms
    # measured here), for adapters that stay one immutable set per session.
    connector_health: ConnectorCallMetrics
    # The account's call-record bucket, which only that account may own (fleet evidence).
    call_records: CallRecordBucket


@dataclass(frozen=True)
class FleetCallRecords:
    """Where a fleet account's call detail records are read: its bucket, through its spoke role."""

    records: CallRecordBucket
    voice_connectors: VoiceConnectorCredentials

    def cdr_bucket(self) -> str | None:
        """The account's CDR bucket as its Chime settings name it: its evidence comes from no other."""
        return self.voice_connectors.call_record_bucket()


_SPOKES: dict[Target, _SpokeAdapters] = {}


def _spoke(target: Target) -> _SpokeAdapters:
    with _BUILDING:
        adapters = _SPOKES.get(target)
    if adapters is not None and adapters.expires - datetime.now(UTC) > SPOKE_RENEW_MARGIN:
        return adapters
    session = _assume_spoke_role(target)
    build: Any = session.client
    pace = _pace(target_name(target))  # the hub's table: built outside the lock, which client() takes itself
    with _BUILDING:
        adapters = _SpokeAdapters(
            expires=datetime.now(UTC) + timedelta(seconds=SPOKE_SESSION_SECONDS),
            voice_connectors=VoiceConnectorCredentials(
                build("chime-sdk-voice", config=CHIME_CLIENT_CONFIG), pace
            ),
            # The spoke's secrets use the account's AWS managed key: the hub's key is not the spoke's.
            connector_secrets=ConnectorSecrets(
                build("secretsmanager", config=AWS_CLIENT_CONFIG), get_settings().secret_name_prefix, ""
            ),
            connector_health=ConnectorCallMetrics(build("cloudwatch", config=AWS_CLIENT_CONFIG)),
            call_records=CallRecordBucket(build("s3", config=AWS_CLIENT_CONFIG), owner=target.account),
        )
        _SPOKES[target] = adapters
    return adapters


def _assume_spoke_role(target: Target) -> boto3.Session:
    settings = get_settings()
    sts = client("sts", AWS_CLIENT_CONFIG)
    # A role can be assumed only within the hub's own partition.
    role_arn = target.role_arn(sts.meta.partition)
    request: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": SPOKE_SESSION_NAME,
        "DurationSeconds": SPOKE_SESSION_SECONDS,
    }
    if settings.fleet_external_id:
        request["ExternalId"] = settings.fleet_external_id
    try:
        credentials = sts.assume_role(**request)["Credentials"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "an error")
        raise SpokeRoleUnavailable(
            f"the spoke role {role_arn} could not be assumed ({code}): deploy fleet/spoke.yaml in account "
            f"{target.account}, Region {target.region}, with a trust that names this hub"
        ) from None
    except BotoCoreError as error:
        raise SpokeRoleUnavailable(
            f"the spoke role {role_arn} could not be assumed (STS failed with {type(error).__name__})"
        ) from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=target.region,
    )


@cache
def run_records() -> RunRecords:
    return RunRecords(client("s3", AWS_CLIENT_CONFIG), get_settings().audit_bucket_name)


@cache
def fleet_records() -> FleetRecords:
    return FleetRecords(client("s3", AWS_CLIENT_CONFIG), get_settings().audit_bucket_name)


@cache
def organization() -> OrganizationAccountsAdapter:
    """Organizations, as the hub's account sees it (the management account or a delegated administrator)."""
    return OrganizationAccountsAdapter(client("organizations", AWS_CLIENT_CONFIG))


@cache
def audit_topic() -> AuditTopic:
    return AuditTopic(client("sns", AWS_CLIENT_CONFIG), get_settings().audit_topic_arn)


def account_id() -> str:
    """The hub's own account ("" when the stack does not say: then every record is taken for its own)."""
    return get_settings().account_id


def usage_index(account: str | None = None) -> UsageIndex:
    """This account's call-record index, or (fleet mode) another account's."""
    return _usage_index("" if account in (None, "", account_id()) else str(account))


@cache
def _usage_index(scope: str) -> UsageIndex:
    return UsageIndex(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name, scope)


def fleet_call_records(target: Target) -> FleetCallRecords:
    spoke = _spoke(target)
    return FleetCallRecords(spoke.call_records, spoke.voice_connectors)


@cache
def call_record_bucket() -> CallRecordBucket:
    return CallRecordBucket(client("s3", AWS_CLIENT_CONFIG))


@cache
def indexing_queue() -> IndexingQueue:
    settings = get_settings()
    return IndexingQueue(
        client("sqs", AWS_CLIENT_CONFIG), settings.indexing_queue_url, settings.indexing_dead_letter_queue_url
    )


def evidence_reader(target: Target | None = None) -> EvidenceReader:
    """A connector's evidence: from this account's index, or (fleet mode) from the target account's."""
    return EvidenceReader(usage_index(None if target is None else target.account), indexing_queue())


def cdr_bucket() -> str | None:
    """The stack's CallRecordsBucket, else the account's CDR bucket as Chime reports it (read once found).

    "None set" is not kept: the account may set its bucket at any time, and a container that kept the
    answer would refuse every backfill and ignore every record until it was recycled."""
    bucket = _found_cdr_bucket()
    if bucket is None:
        _found_cdr_bucket.cache_clear()
    return bucket


@cache
def _found_cdr_bucket() -> str | None:
    return get_settings().call_records_bucket or _local_voice_connectors().call_record_bucket()


@cache
def alert_topic() -> AlertTopic:
    return AlertTopic(client("sns", AWS_CLIENT_CONFIG), get_settings().alerts_topic_arn)


def connector_health(target: Target | None = None) -> ConnectorCallMetrics:
    """This account's connector metrics, or (fleet mode) the target account's, through its spoke role."""
    return _local_connector_health() if target is None else _spoke(target).connector_health


@cache
def _local_connector_health() -> ConnectorCallMetrics:
    return ConnectorCallMetrics(client("cloudwatch", AWS_CLIENT_CONFIG))


@cache
def fingerprints() -> Fingerprints:
    """Keyed with the stack's fingerprint key, read once per container and never logged."""
    secret = client("secretsmanager", AWS_CLIENT_CONFIG).get_secret_value(
        SecretId=get_settings().fingerprint_key_arn
    )
    return Fingerprints(secret["SecretString"].encode())


def reset() -> None:
    """Forget the clients and settings, as a new container would (the offline sandbox redeploys)."""
    for factory in (
        _local_voice_connectors,
        _pace_table,
        _local_ledger,
        _scoped_ledger,
        run_lock,
        _local_connector_secrets,
        run_records,
        fleet_records,
        organization,
        audit_topic,
        alert_topic,
        _local_connector_health,
        fingerprints,
        _usage_index,
        call_record_bucket,
        indexing_queue,
        _found_cdr_bucket,
        get_settings,
    ):
        factory.cache_clear()
    with _BUILDING:
        _SPOKES.clear()
