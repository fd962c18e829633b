"""Reading a call detail record: the documented key layout and fields, and every way an object can fail to
be one (each a MalformedCallRecord that names the field, never a value)."""

import json
from datetime import UTC, datetime

import pytest

from credential_rotation.domain.call_records import (
    MAX_RECORD_BYTES,
    is_call_record_key,
    parse_key,
    parse_record,
)
from credential_rotation.domain.errors import MalformedCallRecord
from tests.support.call_records import cdr

VC = "abcdef1ghij2klmno3pqr4"
AT = datetime(2026, 3, 1, 17, 10, 0, 20_000, tzinfo=UTC)
DOCUMENTED_KEY = (
    "Amazon-Chime-Voice-Connector-CDRs/json/abcdef1ghij2klmno3pqr4/2019/03/01/"
    "17.10.00.020_123abc4d-efg5-6789-h012-j3456789k012"
)


def test_the_documented_example_key_is_read():
    where = parse_key(DOCUMENTED_KEY)
    assert where.voice_connector_id == VC
    assert where.transaction_id == "123abc4d-efg5-6789-h012-j3456789k012"
    assert where.started_at == datetime(2019, 3, 1, 17, 10, 0, 20_000, tzinfo=UTC)


def test_a_record_yields_connector_username_time_and_transaction_only():
    key, body = cdr(VC, AT, "pbx-user", transaction_id="tx-1")
    call = parse_record(key, body)
    assert (call.voice_connector_id, call.sip_auth_user, call.transaction_id) == (VC, "pbx-user", "tx-1")
    # Whole seconds from the body (StartTimeEpochSeconds), as documented.
    assert call.started_at == AT.replace(microsecond=0)
    assert not any("+1206" in str(value) for value in vars(call).values())


@pytest.mark.parametrize("absent", [None, ""])
def test_a_call_admitted_without_a_credential_has_no_username(absent):
    key, body = cdr(VC, AT, None, SipAuthUser=absent) if absent == "" else cdr(VC, AT, None)
    assert parse_record(key, body).sip_auth_user is None


def test_without_a_start_time_the_key_dates_the_call():
    key, body = cdr(VC, AT, "u", StartTimeEpochSeconds=None)
    assert parse_record(key, body).started_at == AT


@pytest.mark.parametrize(
    "key",
    [
        "Amazon-Chime-Voice-Connector-SDRs/json/abcdef1ghij2klmno3pqr4/2019/03/01/17.10.00.020_tx",
        "Amazon-Chime-Voice-Connector-CDRs/json/abcdef1ghij2klmno3pqr4/2019/03/01/",
        "Amazon-Chime-Voice-Connector-CDRs/json/NOT-A-CONNECTOR/2019/03/01/17.10.00.020_tx",
        "Amazon-Chime-Voice-Connector-CDRs/json/abcdef1ghij2klmno3pqr4/2019/3/01/17.10.00.020_tx",
        "Amazon-Chime-Voice-Connector-CDRs/json/abcdef1ghij2klmno3pqr4/2019/03/01/17.10.00.020_tx/extra",
        "Amazon-Chime-Voice-Connector-CDRs/json/abcdef1ghij2klmno3pqr4/2019/02/30/17.10.00.020_tx",
        "Amazon-Chime-Voice-Connector-CDRs/json/abcdef1ghij2klmno3pqr4/2019/03/01/25.10.00.020_tx",
    ],
)
def test_a_key_outside_the_documented_layout_is_refused(key):
    with pytest.raises(MalformedCallRecord):
        parse_key(key)


def test_only_the_cdr_folder_is_ours_to_index():
    assert is_call_record_key(DOCUMENTED_KEY)
    assert not is_call_record_key("Amazon-Chime-Voice-Connector-SDRs/json/x")
    assert not is_call_record_key("uploads/Amazon-Chime-Voice-Connector-CDRs/json/x")


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"VoiceConnectorId": "zzzzzzzzzzzzzzzzzzzzzz"}, "VoiceConnectorId: differs"),
        ({"VoiceConnectorId": None}, "VoiceConnectorId: missing"),
        ({"TransactionId": "another"}, "TransactionId: differs"),
        ({"TransactionId": 7}, "TransactionId: not a string"),
        ({"SipAuthUser": ["pbx-user"]}, "SipAuthUser: not a string"),
        ({"SipAuthUser": "u" * 1_025}, "SipAuthUser: longer than"),
        ({"StartTimeEpochSeconds": "yesterday"}, "StartTimeEpochSeconds: not a number"),
        ({"StartTimeEpochSeconds": True}, "StartTimeEpochSeconds: not a number"),
        ({"StartTimeEpochSeconds": 10**20}, "StartTimeEpochSeconds: out of range"),
        ({"StartTimeEpochSeconds": 0}, "more than a day from the object key's time"),
    ],
)
def test_a_body_that_disagrees_with_its_key_or_the_documented_fields_is_refused(overrides, names):
    key, body = cdr(VC, AT, "pbx-user", transaction_id="tx-1")
    document = json.loads(body) | overrides
    document = {name: value for name, value in document.items() if value is not None}
    with pytest.raises(MalformedCallRecord, match=names) as refused:
        parse_record(key, json.dumps(document).encode())
    assert "pbx-user" not in str(refused.value)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b" " * (MAX_RECORD_BYTES + 1), "larger than"),
    ],
)
def test_an_object_that_is_not_a_record_is_refused(body, names):
    key, _ = cdr(VC, AT, "u", transaction_id="tx-1")
    with pytest.raises(MalformedCallRecord, match=names):
        parse_record(key, body)


def test_in_fleet_mode_a_record_must_be_of_the_account_whose_bucket_holds_it():
    key, body = cdr(VC, AT, "pbx-user", AwsAccountId="210987654321")
    assert parse_record(key, body, account="210987654321").sip_auth_user == "pbx-user"
    with pytest.raises(MalformedCallRecord, match="AwsAccountId: differs from the account"):
        parse_record(key, body, account="111122223333")
    key, body = cdr(VC, AT, "pbx-user", AwsAccountId=None)
    with pytest.raises(MalformedCallRecord, match="AwsAccountId: missing"):
        parse_record(key, body, account="210987654321")
    # This account's own records are read as before, whatever they say.
    assert parse_record(key, body).sip_auth_user == "pbx-user"
