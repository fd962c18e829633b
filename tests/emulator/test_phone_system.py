"""The emulator's global settings and the phone system: calls through a voice connector are authenticated
as termination authenticates them, and an admitted call leaves the call detail record Chime documents."""

import json
from datetime import UTC, datetime

import boto3
import pytest

from credential_rotation.adapters.chime import VoiceConnectorCredentials
from credential_rotation.domain.call_records import parse_record
from sandbox.chime_emulator import AUTHENTICATED, AUTHENTICATION_FAILED
from sandbox.phone_system import PhoneSystem
from tests.support.sandbox import new_connector

BUCKET = "chime-cdrs-example"
AT = datetime(2026, 3, 1, 17, 10, 0, 20_000, tzinfo=UTC)
DOCUMENTED_FIELDS = {
    "AwsAccountId",
    "TransactionId",
    "CallId",
    "VoiceConnectorId",
    "Status",
    "StatusMessage",
    "SipAuthUser",
    "BillableDurationSeconds",
    "BillableDurationMinutes",
    "SchemaVersion",
    "SourcePhoneNumber",
    "SourceCountry",
    "DestinationPhoneNumber",
    "DestinationCountry",
    "UsageType",
    "ServiceCode",
    "Direction",
    "StartTimeEpochSeconds",
    "EndTimeEpochSeconds",
    "Region",
    "Streaming",
}


@pytest.fixture
def s3(emulated_chime):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def phone(backend, s3, chime):
    chime.update_global_settings(VoiceConnector={"CdrBucket": BUCKET})
    return PhoneSystem(backend, s3)


def objects(s3) -> dict[str, dict]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        item["Key"]: json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for item in listed
    }


def test_global_settings_hold_the_cdr_bucket_the_adapter_reads(chime):
    assert "CdrBucket" not in chime.get_global_settings().get("VoiceConnector", {})
    assert VoiceConnectorCredentials(chime).call_record_bucket() is None
    response = chime.update_global_settings(VoiceConnector={"CdrBucket": BUCKET})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert chime.get_global_settings()["VoiceConnector"] == {"CdrBucket": BUCKET}
    assert VoiceConnectorCredentials(chime).call_record_bucket() == BUCKET
    chime.update_global_settings(VoiceConnector={})
    assert VoiceConnectorCredentials(chime).call_record_bucket() is None


@pytest.mark.parametrize("bucket", ["Upper-Case", "a", "dotted.name", "xn--punycode", "name-s3alias"])
def test_a_cdr_bucket_that_is_not_a_bucket_name_is_refused(chime, bucket):
    with pytest.raises(chime.exceptions.BadRequestException):
        chime.update_global_settings(VoiceConnector={"CdrBucket": bucket})


def test_an_authenticated_call_leaves_the_documented_record(chime, phone, s3, backend):
    connector_id = new_connector(chime, ["pbx-a", "pbx-b"])
    attempt = phone.call(connector_id, "pbx-b", "secret-pbx-b", at=AT)
    assert attempt.connected
    (key,) = objects(s3)
    assert key == (
        f"Amazon-Chime-Voice-Connector-CDRs/json/{connector_id}/2026/03/01/17.10.00.020_{attempt.transaction_id}"
    )
    record = objects(s3)[key]
    assert set(record) == DOCUMENTED_FIELDS
    assert record["SipAuthUser"] == "pbx-b"
    assert record["VoiceConnectorId"] == connector_id
    assert record["TransactionId"] == attempt.transaction_id
    assert record["StartTimeEpochSeconds"] == int(AT.timestamp())
    assert record["Direction"] == "Outbound"
    # The application's parser reads what the phone system writes, each written from the documentation.
    parsed = parse_record(key, s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert (parsed.voice_connector_id, parsed.sip_auth_user) == (connector_id, "pbx-b")
    assert backend.voice_connectors[connector_id].outbound_attempts[-1].outcome == AUTHENTICATED


@pytest.mark.parametrize(
    ("username", "password"),
    [("pbx-a", "wrong"), ("pbx-a", "secret-pbx-b"), ("nobody", "secret-pbx-a"), ("pbx-a", "")],
)
def test_a_call_that_fails_authentication_writes_no_record_and_counts_for_its_connector(
    chime, phone, s3, backend, username, password
):
    connector_id = new_connector(chime, ["pbx-a", "pbx-b"])
    other_id = new_connector(chime, ["pbx-a"])
    attempt = phone.call(connector_id, username, password, at=AT)
    assert not attempt.connected
    assert attempt.key is None
    assert objects(s3) == {}
    failed = backend.voice_connectors[connector_id].failed_authentications
    assert [(item.username, item.outcome, item.at) for item in failed] == [
        (username, AUTHENTICATION_FAILED, AT)
    ]
    assert backend.voice_connectors[other_id].failed_authentications == []
    if password:
        assert password not in repr(backend.voice_connectors[connector_id])


def test_a_deleted_credential_no_longer_authenticates(chime, phone, backend):
    connector_id = new_connector(chime, ["pbx-a", "pbx-b"])
    assert phone.call(connector_id, "pbx-a", "secret-pbx-a").connected
    chime.delete_voice_connector_termination_credentials(VoiceConnectorId=connector_id, Usernames=["pbx-a"])
    assert not phone.call(connector_id, "pbx-a", "secret-pbx-a").connected
    assert [attempt.outcome for attempt in backend.voice_connectors[connector_id].outbound_attempts] == [
        AUTHENTICATED,
        AUTHENTICATION_FAILED,
    ]


def test_calls_admitted_without_digest_authentication_carry_no_sip_auth_user(chime, phone, s3):
    with_credentials = new_connector(chime, ["pbx-a"])
    without_credentials = new_connector(chime)
    by_host = phone.call_from_allowed_host(with_credentials, at=AT)
    # A connector without credentials asks for none: what the phone system offers is not used.
    unasked = phone.call(without_credentials, "pbx-a", "anything", at=AT)
    assert by_host.connected
    assert unasked.connected
    records = objects(s3)
    assert set(records) == {by_host.key, unasked.key}
    assert all("SipAuthUser" not in record for record in records.values())


def test_without_a_cdr_bucket_calls_connect_and_nothing_is_written(chime, backend, s3):
    phone = PhoneSystem(backend, s3)
    connector_id = new_connector(chime, ["pbx-a"])
    attempt = phone.call(connector_id, "pbx-a", "secret-pbx-a")
    assert attempt.connected
    assert attempt.key is None
    assert objects(s3) == {}


def test_calls_are_dated_by_the_clock_unless_a_time_is_given(chime, phone, s3):
    connector_id = new_connector(chime, ["pbx-a"])
    before = datetime.now(UTC)
    now_call = phone.call(connector_id, "pbx-a", "secret-pbx-a")
    assert before <= now_call.started_at <= datetime.now(UTC)
    given = phone.call(connector_id, "pbx-a", "secret-pbx-a", at=AT)
    assert given.started_at == AT
    assert "/2026/03/01/17.10.00.020_" in given.key


def test_an_unknown_connector_takes_no_call(phone):
    with pytest.raises(Exception, match="not found"):
        phone.call("abcdefghijklmnopqrstu", "pbx-a", "secret-pbx-a")
