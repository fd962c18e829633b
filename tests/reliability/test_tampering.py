"""What an attacker with write access to one thing, or an unlucky operator, can do to the current credential
and to a successor, tried against the real state machine: none of it deletes the credential the phone
system uses, and none of it puts or promotes a credential this workflow did not create."""

import json
from datetime import UTC, datetime

import boto3
import pytest

from sandbox.lambda_runtime import current_function
from sandbox.session import Sandbox
from tests.support.sandbox import Fleet, connector
from tests.support.tally import TRIED

ROTATING = {"DryRun": "false", "Rotate": "true", "GraceDays": 7, "RotateAfterDays": 60, "MaxAgeDays": 90}
PLANTED_PASSWORD = "Planted0Planted0Planted0Planted0Planted0"
READ = "before-parameter-build.secrets-manager.GetSecretValue"
GET_OBJECT = "before-parameter-build.s3.GetObject"


def rotated(sandbox: Sandbox) -> tuple[str, str]:
    """A connector whose credential this workflow issued, a year old, beside a newer one a person put:
    with no AWSCURRENT to protect it, the issued one would be stale."""
    vc = sandbox.create_voice_connector("pbx", ["pbx-old"])
    assert sandbox.fire_schedule().status == "SUCCEEDED"
    sandbox.travel(days=100)
    assert sandbox.fire_schedule().status == "SUCCEEDED"  # issues the successor
    issued = sandbox.secret(vc)["AWSCURRENT"]["Username"]
    sandbox.travel(days=10)
    assert sandbox.fire_schedule().status == "SUCCEEDED"  # retires pbx-old
    sandbox.put_credentials(vc, ["pbx-manual"])
    sandbox.travel(days=200)
    sandbox.audit_messages()
    assert sorted(sandbox.usernames(vc)) == sorted([issued, "pbx-manual"])
    return vc, issued


def force_delete(sandbox: Sandbox, vc: str) -> None:
    sandbox.client("secretsmanager").delete_secret(
        SecretId=sandbox.secret_name(vc), ForceDeleteWithoutRecovery=True
    )


def schedule_deletion(sandbox: Sandbox, vc: str) -> None:
    sandbox.client("secretsmanager").delete_secret(SecretId=sandbox.secret_name(vc), RecoveryWindowInDays=7)


def move_current(sandbox: Sandbox, vc: str, secret_string: str) -> None:
    """A new version, and AWSCURRENT moved to it: what anyone with PutSecretValue and
    UpdateSecretVersionStage on the secret can do."""
    secrets = sandbox.client("secretsmanager")
    name = sandbox.secret_name(vc)
    current = sandbox.secret(vc)["AWSCURRENT"]["VersionId"]
    planted = secrets.put_secret_value(SecretId=name, SecretString=secret_string, VersionStages=["planted"])
    secrets.update_secret_version_stage(
        SecretId=name,
        VersionStage="AWSCURRENT",
        MoveToVersionId=planted["VersionId"],
        RemoveFromVersionId=current,
    )


def plant_current(sandbox: Sandbox, vc: str) -> None:
    # It names the person's credential, so that the issued one would look stale.
    value = {"VoiceConnectorId": vc, "Username": "pbx-manual", "Password": PLANTED_PASSWORD}
    move_current(sandbox, vc, json.dumps(value))


def remove_current_by_hand(sandbox: Sandbox, vc: str) -> None:
    issued = sandbox.secret(vc)["AWSCURRENT"]["Username"]
    sandbox.client("chime-sdk-voice").delete_voice_connector_termination_credentials(
        VoiceConnectorId=vc, Usernames=[issued]
    )


def malform_current(sandbox: Sandbox, vc: str) -> None:
    move_current(sandbox, vc, "not json")


UNVERIFIABLE = {
    "the secret deleted": (force_delete, "does not exist"),
    "the secret scheduled for deletion": (schedule_deletion, "scheduled for deletion"),
    "AWSCURRENT moved to a planted version": (plant_current, "did not issue"),
    "AWSCURRENT moved to a malformed version": (malform_current, "did not issue"),
    "the current credential removed by hand": (remove_current_by_hand, "not on the voice connector"),
}


@pytest.mark.parametrize("tamper", sorted(UNVERIFIABLE))
def test_a_current_credential_that_cannot_be_verified_stops_its_connector_and_deletes_nothing(
    tamper, audit_schema, sandbox_factory
):
    sandbox = sandbox_factory(parameters=ROTATING)
    vc, issued = rotated(sandbox)
    other = sandbox.create_voice_connector("sbc", ["sbc-a"])
    change, problem = UNVERIFIABLE[tamper]
    change(sandbox, vc)
    before = sorted(sandbox.usernames(vc))

    execution = sandbox.run({"Rotate": False})

    (event,) = sandbox.audit_events()
    audit_schema.validate(event)
    entry = connector(event, vc)
    assert (entry["Error"]["Error"], entry["Error"]["Step"]) == (
        "CurrentCredentialUnverified",
        "PlanConnector",
    )
    assert problem in entry["Error"]["Cause"]
    assert issued not in entry["Error"]["Cause"]
    assert (entry["Stale"], entry["Deleted"]) == ([], [])
    assert sorted(sandbox.usernames(vc)) == before
    assert connector(event, other)["Error"] is None
    # It pages: the run fails, and the alerts rule says so.
    assert (execution.status, execution.error) == ("FAILED", "PartiallyFailed")
    assert any("PartiallyFailed" in alert for alert in sandbox.alerts())
    TRIED["tampering: current credential"] += 1


def test_without_the_ledgers_check_the_live_credential_would_have_been_deleted(audit_schema, sandbox_factory):
    """The same connector, nothing tampered: the issued credential is AWSCURRENT, so it is kept and the
    person's newer one is what MinKeep keeps. (So the tests above would delete it, were the check gone.)"""
    sandbox = sandbox_factory(parameters=ROTATING)
    vc, issued = rotated(sandbox)

    sandbox.run({"Rotate": False})

    (event,) = sandbox.audit_events()
    entry = connector(event, vc)
    assert entry["Current"] == issued
    assert sandbox.report(event)["VoiceConnectors"][0]["Reasons"][issued] == "current"


def plant_pending(sandbox: Sandbox, vc: str, username: str, voice_connector_id: str | None = None) -> str:
    """What anyone with secretsmanager:PutSecretValue on the secret can do."""
    return sandbox.client("secretsmanager").put_secret_value(
        SecretId=sandbox.secret_name(vc),
        SecretString=json.dumps(
            {
                "VoiceConnectorId": voice_connector_id or vc,
                "Username": username,
                "Password": PLANTED_PASSWORD,
                "IssuedAt": datetime.now(UTC).isoformat(),
            }
        ),
        VersionStages=["AWSPENDING"],
    )["VersionId"]


PLANTS = {
    "a username of its own": {"username": "attacker"},
    "the issued username format": {"username": "sip-20260105-abcd1234"},
    "another connector's id": {
        "username": "sip-20260105-abcd1234",
        "voice_connector_id": "zzzzzzzzzzzzzzzzzzzzzz",
    },
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_a_planted_successor_is_neither_put_nor_promoted_and_pages(plant, audit_schema, sandbox_factory):
    sandbox = sandbox_factory(parameters=ROTATING)
    vc, _ = rotated(sandbox)
    before = sorted(sandbox.usernames(vc))
    current_version = sandbox.secret(vc)["AWSCURRENT"]["VersionId"]
    planted = plant_pending(sandbox, vc, **PLANTS[plant])
    sandbox.chime_backend.calls.clear()

    execution = sandbox.fire_schedule()

    (event,) = sandbox.audit_events()
    audit_schema.validate(event)
    entry = connector(event, vc)
    assert entry["Rotation"] == {"Due": True, "Reason": "resume-pending-successor"}
    assert (entry["Error"]["Error"], entry["Error"]["Step"]) == ("UntrustedSuccessor", "CreateSecret")
    assert planted in entry["Error"]["Cause"]
    assert (entry["Issued"], entry["Deleted"]) == (None, [])
    # Nothing put, nothing promoted, nothing deleted.
    assert sorted(sandbox.usernames(vc)) == before
    secret = sandbox.secret(vc)
    assert secret["AWSCURRENT"]["VersionId"] == current_version
    assert secret["AWSPENDING"]["VersionId"] == planted
    assert execution.status == "FAILED"
    assert any("FAILED" in alert for alert in sandbox.alerts())
    calls = [call.operation for call in sandbox.chime_backend.calls]
    assert "PutVoiceConnectorTerminationCredentials" not in calls
    TRIED["tampering: planted successors"] += 1


def test_only_the_issuing_function_reads_credential_secrets(audit_schema, sandbox_factory):
    """The list and delete steps learn AWSCURRENT from the secret's stages and the ledger: over a whole
    rotation (issue, grace, retire) no other function reads a credential secret's value."""
    readers: list[tuple[str | None, str]] = []

    def record(params: dict, **_: object) -> None:
        readers.append((current_function(), params["SecretId"]))

    sandbox = sandbox_factory(parameters=ROTATING)
    # The functions build their clients after this: they carry the hook.
    events = boto3._get_default_session().events
    events.register(READ, record, unique_id="test-readers")
    try:
        vc, _ = rotated(sandbox)
    finally:
        events.unregister(READ, unique_id="test-readers")
    credential_secret = sandbox.secret_name(vc)
    fingerprint_key = sandbox.stack.fingerprint_key_arn

    by_functions = [(function, secret) for function, secret in readers if function is not None]
    assert {function for function, secret in by_functions if secret == credential_secret} == {
        "rotation-IssueSuccessorFunction"
    }
    assert {secret for _, secret in by_functions} <= {credential_secret, fingerprint_key}
    assert any(secret == fingerprint_key for _, secret in by_functions)


def test_a_plan_rewritten_in_the_audit_bucket_deletes_nothing(audit_schema, sandbox_factory):
    """Someone with write access to the bucket rewrites a connector's plan between planning and deleting,
    to add the credential the phone system uses: the delete step finds the digest differs and deletes
    nothing on that connector."""
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    s3 = sandbox.client("s3")
    rewritten = []

    def rewrite(params: dict, **_: object) -> None:
        if current_function() == "rotation-DeleteCredentialsFunction" and "/plans/" in params["Key"]:
            plan = json.loads(s3.get_object(Bucket=params["Bucket"], Key=params["Key"])["Body"].read())
            plan["Stale"] = ["sip-new", "sip-old"]
            s3.put_object(Bucket=params["Bucket"], Key=params["Key"], Body=json.dumps(plan).encode())
            rewritten.append(params["Key"])

    # Registered before the functions build their clients, which copy the hooks they find.
    events = boto3._get_default_session().events
    events.register(GET_OBJECT, rewrite, unique_id="test-rewrite")
    try:
        fleet = Fleet(sandbox)
        fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
        vc = fleet.ids["pbx"]
        execution = sandbox.fire_schedule()
    finally:
        events.unregister(GET_OBJECT, unique_id="test-rewrite")

    assert rewritten
    (event,) = sandbox.audit_events()
    audit_schema.validate(event)
    entry = connector(event, vc)
    assert (entry["Error"]["Error"], entry["Error"]["Step"]) == ("RunRecordMismatch", "DeleteCredentials")
    assert sorted(sandbox.usernames(vc)) == ["sip-new", "sip-old"]
    assert execution.status == "FAILED"
