"""Evidence and revoke through the real state machine: the phone system's calls, indexed, keep a credential
it uses, a stale index holds deletions and pages, and a revoke of a connector's last credential issues a
successor first when Rotate is on and leaves it for a person when not."""

import json
from datetime import timedelta

import pytest

OLD = "sip-old"
NEW = "sip-new"


def calls(sandbox, connector, username, count=3):
    password = sandbox.chime_backend.voice_connectors[connector].credentials[username]
    for hour in range(count):
        assert sandbox.phone.call(
            connector, username, password, at=sandbox.now() - timedelta(hours=hour + 1)
        ).connected
    sandbox.index_call_records()


def applying(**more):
    return {"DryRun": False, "MaxAgeDays": 30, "GraceDays": 7} | more


def reasons(sandbox, execution_event, connector):
    (entry,) = [
        entry
        for entry in sandbox.report(execution_event)["VoiceConnectors"]
        if entry["VoiceConnectorId"] == connector
    ]
    return entry


def two_credentials(sandbox_factory):
    """OLD dated 60 days ago, NEW 20: by the timer OLD is stale."""
    sandbox = sandbox_factory()
    connector = sandbox.create_voice_connector("pbx", [OLD])
    sandbox.run({"DryRun": True})
    sandbox.travel(days=40)
    sandbox.put_credentials(connector, [NEW])
    sandbox.run({"DryRun": True})
    sandbox.travel(days=20)
    return sandbox, connector


def test_a_credential_the_pbx_still_uses_is_kept_in_use_whatever_its_age(sandbox_factory):
    sandbox, connector = two_credentials(sandbox_factory)
    calls(sandbox, connector, NEW)
    calls(sandbox, connector, OLD)  # a second trunk still uses the old one
    execution = sandbox.run(applying(QuietDays=14))
    assert execution.status == "SUCCEEDED", execution.error
    assert set(sandbox.usernames(connector)) == {OLD, NEW}
    entry = reasons(sandbox, sandbox.audit_events()[-1], connector)
    assert entry["Reasons"][OLD] == "in-use"
    assert entry["Evidence"]["State"] == "fresh"
    assert set(entry["Evidence"]["LastUsed"]) == {OLD, NEW}

    # The same connector judged by the timer alone loses it.
    execution = sandbox.run(applying())
    assert execution.status == "SUCCEEDED", execution.error
    assert sandbox.usernames(connector) == [NEW]


def test_a_stale_index_holds_the_deletion_and_pages(sandbox_factory):
    sandbox, connector = two_credentials(sandbox_factory)
    calls(sandbox, connector, NEW)
    sandbox.travel(days=2)  # no call for two days: the index lags more than EvidenceMaxLagHours (24)
    sandbox.alerts()
    execution = sandbox.run(applying(QuietDays=14))
    assert execution.status == "SUCCEEDED", execution.error
    assert set(sandbox.usernames(connector)) == {OLD, NEW}
    entry = reasons(sandbox, sandbox.audit_events()[-1], connector)
    assert entry["Reasons"][OLD] == "evidence-stale"
    assert "hours allowed" in entry["Evidence"]["Why"]
    pages = [json.loads(message) for message in sandbox.alerts()]
    assert [page["EvidenceStale"][0]["Held"] for page in pages if page.get("EvidenceStale")] == [1]


@pytest.mark.parametrize("rotate", [True, False])
def test_revoking_a_connectors_last_credential(sandbox_factory, rotate):
    sandbox = sandbox_factory()
    connector = sandbox.create_voice_connector("pbx", ["leaked"])
    sandbox.alerts()
    execution = sandbox.run(
        {"Revoke": {"Usernames": ["leaked"], "Reason": "in a public ticket"}, "Rotate": rotate}
    )
    assert execution.status == "SUCCEEDED", execution.error
    left = sandbox.usernames(connector)
    if rotate:
        # A successor first, then the revoked one: never a connector without a credential.
        (successor,) = left
        assert successor.startswith("sip-")
        assert sandbox.secret(connector)["AWSCURRENT"]["Username"] == successor
    else:
        assert left == ["leaked"]
    entry = reasons(sandbox, sandbox.audit_events()[-1], connector)
    assert entry["Reasons"]["leaked"] == ("revoked" if rotate else "revoke-blocked")
    pages = [json.loads(message) for message in sandbox.alerts()]
    (revoke,) = [page["Revoke"] for page in pages if page.get("Revoke")]
    assert revoke["VoiceConnectors"] == [
        {
            "VoiceConnectorId": connector,
            "Removed": 1 if rotate else 0,
            "NotRemoved": 0,
            "KeptAsLastCredential": 0 if rotate else 1,
            "Error": None,
        }
    ]
