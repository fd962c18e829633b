"""Encryption at rest, for every topic, table, queue, bucket and secret the stack can create (SAM's own
included, in every combination of conditions), and for the connectors' secrets, which the functions create
at run time.

Each check walks every resource of its type, so a topic or queue added later is covered without a change
here; a type that has no resource yet passes, and the counts test says which types were actually seen.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import pytest

from credential_rotation.adapters.secret_store import ConnectorSecrets
from tests.security.cloudformation import SECRETS_KEY_ARN, describe, resources_of_type

PREFIX = "chime-voice-connector/termination/"


def topic_encrypted(properties: Mapping[str, Any]) -> bool:
    return bool(properties.get("KmsMasterKeyId"))


def table_encrypted(properties: Mapping[str, Any]) -> bool:
    # DynamoDB encrypts every table with an AWS owned key anyway; SSEEnabled true asks for a KMS key
    # (the AWS managed aws/dynamodb, or KMSMasterKeyId), whose use CloudTrail records.
    return properties.get("SSESpecification", {}).get("SSEEnabled") is True


def queue_encrypted(properties: Mapping[str, Any]) -> bool:
    # SQS-managed SSE is on by default for new queues but may be switched off: say it explicitly.
    return bool(properties.get("KmsMasterKeyId")) or properties.get("SqsManagedSseEnabled") is True


def bucket_encrypted(properties: Mapping[str, Any]) -> bool:
    # S3 encrypts every new object with its own keys (SSE-S3) anyway; SSE-KMS with a named key makes each
    # use of the key a CloudTrail record and lets the key policy decide who reads the audit trail.
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    return bool(rules) and all(
        rule.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse")
        and rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID")
        for rule in rules
    )


def secret_encrypted(properties: Mapping[str, Any]) -> bool:
    # Secrets Manager encrypts every value (with aws/secretsmanager when no KmsKeyId is given). A value
    # written into the template would sit in plain text in the template and the stack's history: the
    # value is generated, never given.
    return "SecretString" not in properties and "GenerateSecretString" in properties


ENCRYPTED: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "AWS::SNS::Topic": topic_encrypted,
    "AWS::DynamoDB::Table": table_encrypted,
    "AWS::SQS::Queue": queue_encrypted,
    "AWS::S3::Bucket": bucket_encrypted,
    "AWS::SecretsManager::Secret": secret_encrypted,
    # CloudFormation's own DynamoDB global table type, should the ledger ever become one.
    "AWS::DynamoDB::GlobalTable": lambda properties: (
        properties.get("SSESpecification", {}).get("SSEEnabled") is True
    ),
}


@pytest.mark.parametrize("resource_type", sorted(ENCRYPTED))
def test_every_resource_that_stores_data_is_encrypted(every_deployment, resource_type):
    unencrypted = {}
    for deployment in every_deployment:
        for logical_id, properties in resources_of_type(deployment.template, resource_type):
            if not ENCRYPTED[resource_type](properties):
                unencrypted.setdefault(logical_id, f"{describe(properties)}  [{deployment.label}]")
    assert not unencrypted, unencrypted


def test_the_checks_saw_the_stacks_topics_table_queue_bucket_and_secret(every_deployment):
    """Guards the test above against passing on nothing: these exist today."""
    seen = {
        resource_type
        for deployment in every_deployment
        for resource_type in ENCRYPTED
        for _ in resources_of_type(deployment.template, resource_type)
    }
    assert {
        "AWS::SNS::Topic",
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
    } <= seen


@pytest.mark.parametrize(
    ("resource_type", "properties"),
    [
        ("AWS::SNS::Topic", {"DisplayName": "plain"}),
        ("AWS::DynamoDB::Table", {"SSESpecification": {"SSEEnabled": False}}),
        ("AWS::DynamoDB::Table", {}),
        ("AWS::SQS::Queue", {"SqsManagedSseEnabled": False}),
        ("AWS::SQS::Queue", {}),
        ("AWS::S3::Bucket", {}),
        (
            "AWS::S3::Bucket",
            {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                }
            },
        ),
        (
            "AWS::S3::Bucket",
            {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}
                    ]
                }
            },
        ),
        ("AWS::SecretsManager::Secret", {"SecretString": "in plain text in the template"}),
        ("AWS::SecretsManager::Secret", {}),
    ],
)
def test_the_checks_reject_an_unencrypted_resource(resource_type, properties):
    assert not ENCRYPTED[resource_type](properties)


def topic_key(properties: Mapping[str, Any]) -> Any:
    return properties["KmsMasterKeyId"]


def bucket_keys(properties: Mapping[str, Any]) -> list[Any]:
    return [
        rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]


@pytest.mark.parametrize(
    ("resource_type", "keys"),
    [("AWS::SNS::Topic", lambda properties: [topic_key(properties)]), ("AWS::S3::Bucket", bucket_keys)],
)
def test_every_topic_and_bucket_key_is_a_key_of_this_stack_that_rotates(
    every_deployment, resource_type, keys
):
    """A key given as a Ref or GetAtt of this template's AWS::KMS::Key, whose rotation is on; the AWS
    managed alias/aws/sns cannot be granted to EventBridge or CloudWatch, and an AWS managed key is not
    ours to audit."""
    for deployment in every_deployment:
        resources = deployment.template["Resources"]
        for logical_id, properties in resources_of_type(deployment.template, resource_type):
            for key in keys(properties):
                target = key.get("Ref", key.get("Fn::GetAtt", [None])[0]) if isinstance(key, dict) else None
                assert resources.get(target, {}).get("Type") == "AWS::KMS::Key", (logical_id, key)
                assert resources[target]["Properties"].get("EnableKeyRotation") is True, target


def test_the_audit_trail_is_encrypted_with_the_audit_key_in_the_topic_and_the_bucket(every_deployment):
    """The audit events and the reports behind them under one key, with S3 Bucket Keys (fewer KMS calls)."""
    for deployment in every_deployment:
        resources = deployment.template["Resources"]
        assert resources["AuditTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AuditKey"}
        (rule,) = resources["AuditBucket"]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ]
        assert rule == {
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": ["AuditKey", "Arn"]},
            },
            "BucketKeyEnabled": True,
        }


def test_the_fingerprint_key_is_generated_and_kept_by_secrets_manager(every_deployment):
    """Its value is generated by CloudFormation and held, encrypted, by Secrets Manager under its AWS
    managed key: it appears in no template, parameter or output. (Checked here only: the sandbox's deployment
    of it reads these same properties.)"""
    for deployment in every_deployment:
        properties = deployment.template["Resources"]["FingerprintKey"]["Properties"]
        assert "SecretString" not in properties
        assert "KmsKeyId" not in properties  # aws/secretsmanager
        generated = properties["GenerateSecretString"]
        assert generated["PasswordLength"] >= 32
        outputs = deployment.template.get("Outputs", {})
        assert outputs["FingerprintKeyArn"]["Value"] == {"Ref": "FingerprintKey"}


# Secrets Manager always encrypts: with the customer managed key when SecretsKmsKeyArn is set, otherwise
# with the AWS managed key aws/secretsmanager. The functions create the secrets, so the code is what to test.


@pytest.fixture
def secretsmanager(mocked_aws):
    return boto3.client("secretsmanager", region_name="us-east-1")


def test_a_secret_is_created_with_the_customer_managed_key_when_one_is_set(secretsmanager):
    key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    secrets = ConnectorSecrets(secretsmanager, PREFIX, key_arn)

    secrets.enrol("vc1", "token-0000000000000000000000000001")

    assert secretsmanager.describe_secret(SecretId=f"{PREFIX}vc1")["KmsKeyId"] == key_arn


@pytest.mark.parametrize("key", [None, ""])
def test_a_secret_uses_the_aws_managed_key_when_none_is_set(secretsmanager, key):
    ConnectorSecrets(secretsmanager, PREFIX, key).enrol("vc1", "token-0000000000000000000000000001")

    described = secretsmanager.describe_secret(SecretId=f"{PREFIX}vc1")
    # No KmsKeyId in DescribeSecret means aws/secretsmanager, the AWS managed key.
    assert "KmsKeyId" not in described


def test_the_deployed_functions_create_secrets_with_the_stacks_key_parameter(sandbox_factory):
    """The whole path: template parameter, function environment, settings, adapter, CreateSecret.

    moto does not check that the key exists, so the parameter can name one in the shape AWS accepts."""
    sandbox = sandbox_factory(parameters={"SecretsKmsKeyArn": SECRETS_KEY_ARN})
    connector_id = sandbox.create_voice_connector("pbx", ["sip-old"])
    sandbox.fire_schedule()
    sandbox.travel(days=120)
    execution = sandbox.run({"DryRun": False, "Rotate": True})
    assert execution.status == "SUCCEEDED", execution
    secrets = sandbox.client("secretsmanager")
    described = secrets.describe_secret(SecretId=sandbox.secret_name(connector_id))
    stored = json.loads(
        secrets.get_secret_value(SecretId=described["ARN"], VersionStage="AWSCURRENT")["SecretString"]
    )

    assert described["KmsKeyId"] == SECRETS_KEY_ARN
    assert stored["Username"]  # a successor was really issued into that secret


def test_the_deployed_audit_bucket_encrypts_and_locks_each_report_it_keeps(sandbox_factory):
    """A run's report, as the audit event names it: encrypted with the stack's audit key and locked in
    governance mode for ReportRetentionDays, on a versioned bucket that blocks all public access."""
    sandbox = sandbox_factory(parameters={"ReportRetentionDays": 30})
    sandbox.create_voice_connector("pbx", ["sip-old"])
    execution = sandbox.run({"DryRun": True})
    assert execution.status == "SUCCEEDED", execution
    (event,) = sandbox.audit_events()
    location = event["Report"]
    s3 = sandbox.client("s3")
    report = s3.head_object(Bucket=location["Bucket"], Key=location["Key"], VersionId=location["VersionId"])
    key_arn = sandbox.client("kms").describe_key(KeyId=sandbox.stack.physical_ids["AuditKey"])["KeyMetadata"]
    bucket = sandbox.stack.audit_bucket
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    versioning = s3.get_bucket_versioning(Bucket=bucket)["Status"]
    public = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]

    assert location["Bucket"] == bucket
    assert (report["ServerSideEncryption"], report["SSEKMSKeyId"]) == ("aws:kms", key_arn["Arn"])
    assert report["ObjectLockMode"] == "GOVERNANCE"
    assert (report["ObjectLockRetainUntilDate"] - report["LastModified"]).days == 30
    (rule,) = encryption["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key_arn["Arn"]
    assert rule["BucketKeyEnabled"] is True
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    assert versioning == "Enabled"
    assert public == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
