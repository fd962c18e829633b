"""Builds the adapters over real boto3 clients: lazily, once per Lambda container, never at import."""

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from credential_rotation.adapters.alert_topic import AlertTopic
from credential_rotation.adapters.audit_topic import AuditTopic
from credential_rotation.adapters.call_record_store import CallRecordBucket
from credential_rotation.adapters.chime import VoiceConnectorCredentials
from credential_rotation.adapters.connector_health import ConnectorCallMetrics
from credential_rotation.adapters.indexing_queue import IndexingQueue
from credential_rotation.adapters.ledger import CredentialLedger
from credential_rotation.adapters.run_lock import RunLock
from credential_rotation.adapters.run_records import RunRecords
from credential_rotation.adapters.secret_store import ConnectorSecrets
from credential_rotation.adapters.usage_index import UsageIndex
from credential_rotation.domain.redaction import Fingerprints
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


@cache
def voice_connectors() -> VoiceConnectorCredentials:
    return VoiceConnectorCredentials(client("chime-sdk-voice", CHIME_CLIENT_CONFIG))


@cache
def ledger() -> CredentialLedger:
    return CredentialLedger(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def run_lock() -> RunLock:
    return RunLock(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def connector_secrets() -> ConnectorSecrets:
    settings = get_settings()
    return ConnectorSecrets(
        client("secretsmanager", AWS_CLIENT_CONFIG),
        settings.secret_name_prefix,
        settings.secrets_kms_key_id,
    )


@cache
def run_records() -> RunRecords:
    return RunRecords(client("s3", AWS_CLIENT_CONFIG), get_settings().audit_bucket_name)


@cache
def audit_topic() -> AuditTopic:
    return AuditTopic(client("sns", AWS_CLIENT_CONFIG), get_settings().audit_topic_arn)


@cache
def usage_index() -> UsageIndex:
    return UsageIndex(client("dynamodb", AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def call_record_bucket() -> CallRecordBucket:
    return CallRecordBucket(client("s3", AWS_CLIENT_CONFIG))


@cache
def indexing_queue() -> IndexingQueue:
    settings = get_settings()
    return IndexingQueue(
        client("sqs", AWS_CLIENT_CONFIG), settings.indexing_queue_url, settings.indexing_dead_letter_queue_url
    )


def evidence_reader() -> EvidenceReader:
    return EvidenceReader(usage_index(), indexing_queue())


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
    return get_settings().call_records_bucket or voice_connectors().call_record_bucket()


@cache
def alert_topic() -> AlertTopic:
    return AlertTopic(client("sns", AWS_CLIENT_CONFIG), get_settings().alerts_topic_arn)


@cache
def connector_health() -> ConnectorCallMetrics:
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
        voice_connectors,
        ledger,
        run_lock,
        connector_secrets,
        run_records,
        audit_topic,
        alert_topic,
        connector_health,
        fingerprints,
        usage_index,
        call_record_bucket,
        indexing_queue,
        _found_cdr_bucket,
        get_settings,
    ):
        factory.cache_clear()
