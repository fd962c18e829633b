"""The rollback watch over the sandbox: after a run deletes, the state machine waits WatchMinutes (virtual
time) while the phone system goes on calling; a deletion that broke the connector's calls is undone for
what this workflow issued, and pages; a healthy connector is left as it is."""

import json
from datetime import timedelta

import pytest

VERY_OLD = "pbx-manual"
# The calls placed during the wait start this far into it: the watch's window ends when its check runs,
# a moment of real time after the wait's virtual end, so a call at the wait's very first instant could
# fall just before the window (it did, once, on a loaded CI machine).
INTO_THE_WAIT = timedelta(seconds=30)


def rotate(**more):
    return {"DryRun": False, "Rotate": True, "RotateAfterDays": 1, "GraceDays": 0, "MaxAgeDays": 1} | more


def setup(sandbox_factory, watch_minutes="10"):
    """A connector whose PBX uses a credential this workflow issued (A); a later successor (B) is issued
    and A becomes deletable. Returns the sandbox, the connector, A with its password, and B."""
    sandbox = sandbox_factory(parameters={"WatchMinutes": watch_minutes})
    connector = sandbox.create_voice_connector("pbx", [VERY_OLD])
    sandbox.run(rotate(MaxAgeDays=365))  # dates the manual credential
    sandbox.travel(days=2)
    sandbox.run(rotate(MaxAgeDays=365))  # issues A
    a = sandbox.secret(connector)["AWSCURRENT"]
    # The PBX switches to A and calls with it, a few calls a day: its baseline.
    for day in range(3):
        for hour in range(4):
            sandbox.phone.call(
                connector, a["Username"], a["Password"], at=sandbox.now() + timedelta(days=day, hours=hour)
            )
    sandbox.travel(days=3)
    sandbox.run(rotate(MaxAgeDays=365))  # issues B; A becomes AWSPREVIOUS, the PBX still uses it
    b = sandbox.secret(connector)["AWSCURRENT"]
    assert a["Username"] != b["Username"]
    sandbox.travel(days=2)
    return sandbox, connector, a, b


def test_a_deletion_that_breaks_the_pbx_is_undone_from_the_secret_and_pages(sandbox_factory):
    sandbox, connector, a, _ = setup(sandbox_factory)

    def pbx_keeps_calling_with_a(seconds):
        for minute in range(5):
            sandbox.phone.call(
                connector,
                a["Username"],
                a["Password"],
                at=sandbox.now() + INTO_THE_WAIT + timedelta(minutes=minute),
            )

    sandbox.state_waits.during.append(pbx_keeps_calling_with_a)
    sandbox.alerts()
    execution = sandbox.run(rotate())
    assert execution.status == "SUCCEEDED", execution.error
    assert sandbox.state_waits.waited == [600]

    # A is back, with its own password: the PBX's next call authenticates.
    assert a["Username"] in sandbox.usernames(connector)
    assert sandbox.phone.call(connector, a["Username"], a["Password"]).connected
    # The credential a person put there was deleted too, and is not this workflow's to put back.
    assert VERY_OLD not in sandbox.usernames(connector)
    (event,) = sandbox.audit_events()[-1:]
    (entry,) = event["VoiceConnectors"]
    assert entry["Watch"] == {
        "Verdict": "broken",
        "Signals": ["outbound-failures", "sip-4xx"],
        "Restored": 1,
        "NotRestorable": 1,
        "Error": None,
    }
    (reported,) = sandbox.report(event)["VoiceConnectors"]
    assert reported["Watch"]["Restored"] == [a["Username"]]
    assert reported["Watch"]["NotRestorable"] == [VERY_OLD]
    assert reported["Watch"]["Watched"] == {"Attempts": 5, "Failures": 5, "Sip4xx": 5}
    pages = [json.loads(message) for message in sandbox.alerts()]
    (page,) = [page for page in pages if page.get("Broken")]
    assert page["Broken"][0]["VoiceConnectorId"] == connector
    assert a["Username"] not in json.dumps(page)


def test_a_healthy_connector_keeps_what_was_deleted_deleted(sandbox_factory):
    sandbox, connector, a, b = setup(sandbox_factory)

    def pbx_calls_with_b(seconds):
        for minute in range(5):
            sandbox.phone.call(
                connector,
                b["Username"],
                b["Password"],
                at=sandbox.now() + INTO_THE_WAIT + timedelta(minutes=minute),
            )

    sandbox.state_waits.during.append(pbx_calls_with_b)
    execution = sandbox.run(rotate())
    assert execution.status == "SUCCEEDED", execution.error
    assert a["Username"] not in sandbox.usernames(connector)
    (entry,) = sandbox.audit_events()[-1]["VoiceConnectors"]
    assert (entry["Watch"]["Verdict"], entry["Watch"]["Restored"]) == ("healthy", 0)


@pytest.mark.parametrize("deletes", [True, False])
def test_no_wait_without_a_deletion_or_with_the_watch_off(sandbox_factory, deletes):
    sandbox, connector, a, _ = setup(sandbox_factory, watch_minutes="0" if deletes else "10")
    execution = sandbox.run(rotate() if deletes else rotate(MaxAgeDays=365))
    assert execution.status == "SUCCEEDED", execution.error
    assert sandbox.state_waits.waited == []
    assert "WaitAfterDeleting" not in execution.states_entered()
    assert (a["Username"] in sandbox.usernames(connector)) is not deletes
