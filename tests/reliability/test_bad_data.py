"""Bad data from the API, the ledger or a secret never disables a connector and never deletes: what the
workflow cannot manage is kept and named (by fingerprint, or by what is wrong with it), and the rest of
the connector is judged as usual. Against the real state machine."""

import json

from tests.support.sandbox import Fleet, connector

EMPTY, LONG, NOT_UTF8 = "", "x" * 1_025, "pbx-\ud800"
LONGEST = "y" * 1_024  # the longest username the ledger can key: managed like any other


def test_usernames_the_ledger_cannot_key_are_kept_and_named_and_the_rest_is_judged(
    audit_schema, report_schema, sandbox_factory
):
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    fleet = Fleet(sandbox)
    fleet.age({"pbx": {"old": ["sip-old", LONGEST], "young": ["sip-new"]}})
    vc = fleet.ids["pbx"]
    # What the service may list: it documents no length or character limit (the emulator's own put
    # refuses an empty username, so they are set as a listing would return them).
    credentials = sandbox.chime_backend.voice_connectors[vc].credentials
    for username in (EMPTY, LONG, NOT_UTF8):
        credentials[username] = "pw"

    for _ in range(2):  # the same on every night: nothing is left half done
        execution = sandbox.fire_schedule()

        assert execution.status == "SUCCEEDED", execution.error
        (event,) = sandbox.audit_events()
        audit_schema.validate(event)
        entry = connector(event, vc)
        assert entry["Counts"]["unmanaged"] == 3
        report = connector(sandbox.report(event), vc)
        report_schema.validate(sandbox.report(event))
        fingerprints = sandbox.fingerprints()
        assert sorted(report["Unmanaged"], key=lambda item: item["Why"]) == [
            {"Fingerprint": fingerprints.of(vc, EMPTY), "Why": "empty"},
            {"Fingerprint": fingerprints.of(vc, LONG), "Why": "longer-than-1024-bytes"},
            {"Fingerprint": fingerprints.of(vc, NOT_UTF8), "Why": "not-utf-8-encodable"},
        ]
        assert set(sandbox.usernames(vc)) >= {EMPTY, LONG, NOT_UTF8, "sip-new"}
    # The first night deleted the old ones, the longest keyable one among them.
    assert sorted(sandbox.usernames(vc), key=len) == sorted([EMPTY, "sip-new", "pbx-\ud800", LONG], key=len)


def test_a_malformed_ledger_row_is_reported_by_what_is_wrong_and_its_username_kept_as_new(
    audit_schema, sandbox_factory
):
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    fleet = Fleet(sandbox)
    fleet.age({"pbx": {"old": ["sip-old", "sip-broken"], "young": ["sip-new"]}})
    vc = fleet.ids["pbx"]
    dynamodb = sandbox.client("dynamodb")
    dynamodb.put_item(
        TableName=sandbox.stack.table_name,
        Item={
            "VoiceConnectorId": {"S": vc},
            "Username": {"S": "sip-broken"},
            "State": {"S": "present"},
            "FirstSeenAt": {"S": "last tuesday"},
        },
    )

    for _ in range(2):
        execution = sandbox.fire_schedule()

        assert execution.status == "SUCCEEDED", execution.error
        (event,) = sandbox.audit_events()
        audit_schema.validate(event)
        assert connector(event, vc)["LedgerProblems"] == 1
        report = connector(sandbox.report(event), vc)
        assert report["LedgerProblems"] == [
            {"Username": "sip-broken", "Problem": "FirstSeenAt: not an ISO 8601 date and time"}
        ]
        assert report["Reasons"]["sip-broken"] == "new"
        assert "last tuesday" not in json.dumps(sandbox.report(event))
    # The rest of the connector was judged: the old one went, the broken one stays until repaired.
    assert sorted(sandbox.usernames(vc)) == ["sip-broken", "sip-new"]
    # Nobody rewrote the row: it is evidence for the person who repairs it.
    row = dynamodb.get_item(
        TableName=sandbox.stack.table_name,
        Key={"VoiceConnectorId": {"S": vc}, "Username": {"S": "sip-broken"}},
    )["Item"]
    assert row["FirstSeenAt"]["S"] == "last tuesday"


def test_a_malformed_secret_on_a_connector_never_rotated_changes_nothing(audit_schema, sandbox_factory):
    """Listing and deleting never read a secret's value: a secret a person wrote by hand, unreadable or
    naming a credential, neither fails the connector nor protects a credential."""
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    fleet = Fleet(sandbox)
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
    vc = fleet.ids["pbx"]
    sandbox.client("secretsmanager").create_secret(Name=sandbox.secret_name(vc), SecretString="{not json")

    execution = sandbox.fire_schedule()

    assert execution.status == "SUCCEEDED", execution.error
    (event,) = sandbox.audit_events()
    assert (connector(event, vc)["Deleted"], connector(event, vc)["Current"]) == (["sip-old"], None)
