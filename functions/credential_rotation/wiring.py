"""Builds the adapters over real boto3 clients: lazily, once per Lambda container, never at import."""

from functools import cache

import boto3
from botocore.config import Config

from credential_rotation.audit_topic import AuditTopic
from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.config import get_settings
from credential_rotation.ledger import CredentialLedger
from credential_rotation.redaction import Fingerprints
from credential_rotation.run_lock import RunLock
from credential_rotation.run_records import RunRecords
from credential_rotation.secret_store import ConnectorSecrets

# One attempt per call: Step Functions owns the retry policy, so every retry shows in the execution
# history. (botocore's default "standard" mode would silently retry 5xx, and it never retries Chime's 429.)
CHIME_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1})
# Secrets Manager, DynamoDB, S3 and SNS keep the SDK's standard retries (throttling and 5xx, three
# attempts), written out so that no default decides it. What outlasts them fails the task, and the state
# machine's Retry or Catch takes over.
AWS_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3})


@cache
def voice_connectors() -> VoiceConnectorCredentials:
    return VoiceConnectorCredentials(boto3.client("chime-sdk-voice", config=CHIME_CLIENT_CONFIG))


@cache
def ledger() -> CredentialLedger:
    return CredentialLedger(
        boto3.client("dynamodb", config=AWS_CLIENT_CONFIG), get_settings().ledger_table_name
    )


@cache
def run_lock() -> RunLock:
    return RunLock(boto3.client("dynamodb", config=AWS_CLIENT_CONFIG), get_settings().ledger_table_name)


@cache
def connector_secrets() -> ConnectorSecrets:
    settings = get_settings()
    return ConnectorSecrets(
        boto3.client("secretsmanager", config=AWS_CLIENT_CONFIG),
        settings.secret_name_prefix,
        settings.secrets_kms_key_id,
    )


@cache
def run_records() -> RunRecords:
    return RunRecords(boto3.client("s3", config=AWS_CLIENT_CONFIG), get_settings().audit_bucket_name)


@cache
def audit_topic() -> AuditTopic:
    return AuditTopic(boto3.client("sns", config=AWS_CLIENT_CONFIG), get_settings().audit_topic_arn)


@cache
def fingerprints() -> Fingerprints:
    """Keyed with the stack's fingerprint key, read once per container and never logged."""
    secret = boto3.client("secretsmanager", config=AWS_CLIENT_CONFIG).get_secret_value(
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
        fingerprints,
        get_settings,
    ):
        factory.cache_clear()
