"""Encryption at rest, for every topic, table and queue the stack can create (SAM's own included, in every
combination of conditions), and for the secrets, which the functions create at run time.

Each check walks every resource of its type, so a topic or queue added later is covered without a change
here; a type that has no resource yet passes, and the counts test says which types were actually seen.
"""

import json
import os
from collections.abc import Callable, Mapping
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from credential_rotation.secret_store import ConnectorSecrets
from sandbox.session import Sandbox
from tests.security.cloudformation import SECRETS_KEY_ARN, describe, resources_of_type


def topic_encrypted(properties: Mapping[str, Any]) -> bool:
    return bool(properties.get("KmsMasterKeyId"))


def table_encrypted(properties: Mapping[str, Any]) -> bool:
    # DynamoDB encrypts every table with an AWS owned key anyway; SSEEnabled true asks for a KMS key
    # (the AWS managed aws/dynamodb, or KMSMasterKeyId), whose use CloudTrail records.
    return properties.get("SSESpecification", {}).get("SSEEnabled") is True


def queue_encrypted(properties: Mapping[str, Any]) -> bool:
    # SQS-managed SSE is on by default for new queues but may be switched off: say it explicitly.
    return bool(properties.get("KmsMasterKeyId")) or properties.get("SqsManagedSseEnabled") is True


ENCRYPTED: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "AWS::SNS::Topic": topic_encrypted,
    "AWS::DynamoDB::Table": table_encrypted,
    "AWS::SQS::Queue": queue_encrypted,
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


def test_the_checks_saw_the_stacks_topic_table_and_queue(every_deployment):
    """Guards the test above against passing on nothing: the audit topic and the ledger exist today."""
    seen = {
        resource_type
        for deployment in every_deployment
        for resource_type in ENCRYPTED
        for _ in resources_of_type(deployment.template, resource_type)
    }
    assert {"AWS::SNS::Topic", "AWS::DynamoDB::Table"} <= seen


@pytest.mark.parametrize(
    ("resource_type", "properties"),
    [
        ("AWS::SNS::Topic", {"DisplayName": "plain"}),
        ("AWS::DynamoDB::Table", {"SSESpecification": {"SSEEnabled": False}}),
        ("AWS::DynamoDB::Table", {}),
        ("AWS::SQS::Queue", {"SqsManagedSseEnabled": False}),
        ("AWS::SQS::Queue", {}),
    ],
)
def test_the_checks_reject_an_unencrypted_resource(resource_type, properties):
    assert not ENCRYPTED[resource_type](properties)


def test_every_topic_key_is_a_key_of_this_stack_that_rotates(every_deployment):
    """A topic key given as a Ref to this template's AWS::KMS::Key, whose rotation is on; the AWS managed
    alias/aws/sns cannot be granted to EventBridge or CloudWatch, and it is not ours to audit."""
    for deployment in every_deployment:
        resources = deployment.template["Resources"]
        for logical_id, properties in resources_of_type(deployment.template, "AWS::SNS::Topic"):
            key = properties["KmsMasterKeyId"]
            target = key.get("Ref", key.get("Fn::GetAtt", [None])[0]) if isinstance(key, dict) else None
            assert resources.get(target, {}).get("Type") == "AWS::KMS::Key", (logical_id, key)
            assert resources[target]["Properties"].get("EnableKeyRotation") is True, target


# Secrets Manager always encrypts: with the customer managed key when SecretsKmsKeyArn is set, otherwise
# with the AWS managed key aws/secretsmanager. The functions create the secrets, so the code is what to test.


@pytest.fixture
def secretsmanager():
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    with mock.patch.dict(os.environ, environment), mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_a_secret_is_created_with_the_customer_managed_key_when_one_is_set(secretsmanager):
    key_arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    secrets = ConnectorSecrets(secretsmanager, key_arn)

    secrets.enrol("chime-voice-connector/termination/vc1", "vc1", "token-0000000000000000000000000001")

    assert (
        secretsmanager.describe_secret(SecretId="chime-voice-connector/termination/vc1")["KmsKeyId"]
        == key_arn
    )


@pytest.mark.parametrize("key", [None, ""])
def test_a_secret_uses_the_aws_managed_key_when_none_is_set(secretsmanager, key):
    ConnectorSecrets(secretsmanager, key).enrol(
        "chime-voice-connector/termination/vc1", "vc1", "token-0000000000000000000000000001"
    )

    described = secretsmanager.describe_secret(SecretId="chime-voice-connector/termination/vc1")
    # No KmsKeyId in DescribeSecret means aws/secretsmanager, the AWS managed key.
    assert "KmsKeyId" not in described


def test_the_deployed_functions_create_secrets_with_the_stacks_key_parameter():
    """The whole path: template parameter, function environment, settings, adapter, CreateSecret.

    moto does not check that the key exists, so the parameter can name one in the shape AWS accepts."""
    with Sandbox(parameters={"SecretsKmsKeyArn": SECRETS_KEY_ARN}) as sandbox:
        connector_id = sandbox.create_voice_connector("pbx", ["sip-old"])
        sandbox.fire_schedule()
        sandbox.travel(days=120)
        execution = sandbox.run({"DryRun": False, "Rotate": True})
        assert execution.status == "SUCCEEDED", execution
        secrets = sandbox.client("secretsmanager")
        described = secrets.describe_secret(SecretId=f"chime-voice-connector/termination/{connector_id}")
        stored = json.loads(
            secrets.get_secret_value(SecretId=described["ARN"], VersionStage="AWSCURRENT")["SecretString"]
        )

    assert described["KmsKeyId"] == SECRETS_KEY_ARN
    assert stored["Username"]  # a successor was really issued into that secret
