"""A secret version that is not what this workflow writes is refused by field, never quoting a value."""

import json

import pytest

from credential_rotation.domain.errors import MalformedSecret
from credential_rotation.domain.secret_versions import parse_successor

VALUE = {
    "VoiceConnectorId": "abcdefghijklmnopqrstuv",
    "Username": "sip-20260105-k3v9q0zt",
    "Password": "Pa55wordPa55wordPa55wordPa55wordPa55word",
    "IssuedAt": "2026-01-05T03:00:00+00:00",
}


def test_a_successor_version_is_read():
    stored = parse_successor(json.dumps(VALUE), "v1")

    assert (stored.username, stored.version_id, stored.issued_at.year) == (
        "sip-20260105-k3v9q0zt",
        "v1",
        2026,
    )
    assert VALUE["Password"] not in repr(stored)


@pytest.mark.parametrize(
    ("secret_string", "problem"),
    [
        (None, "has no SecretString"),
        ("sip-20260105-k3v9q0zt:Pa55word", "SecretString is not JSON"),
        (json.dumps(["sip-20260105-k3v9q0zt"]), "SecretString is not a JSON object"),
        (json.dumps(VALUE | {"Username": None}), "Username: missing, null or not a non-empty string"),
        (json.dumps(VALUE | {"Password": 7}), "Password: missing, null or not a non-empty string"),
        (
            json.dumps({k: v for k, v in VALUE.items() if k != "VoiceConnectorId"}),
            "VoiceConnectorId: missing",
        ),
        (json.dumps(VALUE | {"IssuedAt": "soon"}), "IssuedAt: not an ISO 8601 date and time"),
        (json.dumps(VALUE | {"IssuedAt": "2026-01-05T03:00:00"}), "IssuedAt: has no time zone"),
    ],
)
def test_a_malformed_version_is_refused_by_field_without_its_values(secret_string, problem):
    with pytest.raises(MalformedSecret, match=problem) as raised:
        parse_successor(secret_string, "v1")

    assert str(raised.value).startswith("secret version v1: ")
    for value in (VALUE["Username"], VALUE["Password"]):
        assert value not in str(raised.value)
