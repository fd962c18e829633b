"""Issuing successors in the sandbox: the happy path, dry run, the connector without credentials, and a
fault at every step of issuing and retiring followed by a re-run that converges."""

import re

import pytest

from tests.support.rotation_watch import RotationWatch
from tests.support.sandbox import THROTTLES_PAST_EVERY_RETRY

PUT = "PutVoiceConnectorTerminationCredentials"
LIST = "ListVoiceConnectorTerminationCredentials"
DELETE = "DeleteVoiceConnectorTerminationCredentials"
ROTATING = {"DryRun": "false", "Rotate": "true", "GraceDays": 7, "RotateAfterDays": 60, "MaxAgeDays": 90}


@pytest.fixture
def watch(sandbox_factory):
    return RotationWatch(sandbox_factory(parameters=ROTATING))


def due_connector(watch: RotationWatch, usernames: list[str] = ("pbx-old",)) -> str:
    """A connector whose only credential is 100 days old: due a successor, and stale once it has one."""
    connector_id = watch.add_connector("pbx", list(usernames))
    watch.run()
    watch.sandbox.travel(days=100)
    return connector_id


def test_a_due_connector_gets_a_successor_and_its_predecessor_goes_after_the_grace(watch, audit_schema):
    vc = due_connector(watch)

    execution, event = watch.run()

    audit_schema.validate(event)
    entry = watch.entry(event, vc)
    issued = entry["Issued"]
    assert entry["Rotation"] == {"Due": True, "Reason": "youngest-older-than-rotate-after-days"}
    assert re.fullmatch(r"sip-\d{8}-[a-z0-9]{8}", issued["Username"])
    assert issued["Promoted"] is True
    assert "Password" not in issued
    assert [state for state in execution.states_entered() if state.endswith("Secret")] == [
        "CreateSecret",
        "SetSecret",
        "TestSecret",
        "FinishSecret",
    ]
    secret = watch.sandbox.secret(vc)
    assert secret["AWSCURRENT"]["Username"] == issued["Username"]
    assert secret["AWSCURRENT"]["VersionId"] == issued["VersionId"]
    assert "AWSPENDING" not in secret
    # The password on the connector is the one in AWSCURRENT, which the phone system reads.
    connector = watch.sandbox.chime_backend.voice_connectors[vc]
    assert connector.credentials[issued["Username"]] == secret["AWSCURRENT"]["Password"]
    assert re.fullmatch(r"[A-Za-z0-9]{40}", secret["AWSCURRENT"]["Password"])
    assert watch.sandbox.usernames(vc) == ["pbx-old", issued["Username"]]

    reasons = []
    for _ in range(8):
        watch.sandbox.travel(days=1)
        _, event = watch.run()
        reasons.append(watch.reasons(vc).get("pbx-old"))
    # Kept for six nights while the successor settles, deleted on the seventh night after it was issued.
    assert reasons == ["in-grace"] * 6 + ["stale", None]
    assert watch.sandbox.usernames(vc) == [issued["Username"]]
    watch.issued_once()


def test_a_dry_run_reports_the_rotation_it_would_do_and_creates_nothing(watch, audit_schema):
    vc = due_connector(watch)
    watch.sandbox.chime_backend.calls.clear()

    _, event = watch.run({"DryRun": True})

    audit_schema.validate(event)
    entry = watch.entry(event, vc)
    assert entry["Rotation"]["Due"] is True
    assert entry["Issued"] is None
    assert watch.sandbox.secret(vc) == {}
    assert [call for call in watch.sandbox.chime_backend.calls if call.operation == PUT] == []
    assert watch.sandbox.usernames(vc) == ["pbx-old"]


def test_rotation_off_only_cleans_up(watch):
    vc = due_connector(watch)

    _, event = watch.run({"Rotate": False})

    assert watch.entry(event, vc)["Rotation"] == {"Due": False, "Reason": "rotation-off"}
    assert watch.sandbox.secret(vc) == {}
    # Without a younger credential the old one stays: grace needs a successor that has settled.
    assert watch.sandbox.usernames(vc) == ["pbx-old"]


def test_a_connector_without_credentials_is_never_enrolled(watch):
    vc = watch.add_connector("open", [])
    watch.sandbox.travel(days=100)

    _, event = watch.run()

    assert watch.entry(event, vc)["Rotation"] == {"Due": False, "Reason": "no-credentials"}
    assert watch.sandbox.usernames(vc) == []
    assert watch.sandbox.secret(vc) == {}


def test_the_credential_awscurrent_names_is_never_deleted(watch):
    vc = due_connector(watch)
    _, event = watch.run()
    successor = watch.entry(event, vc)["Issued"]["Username"]
    # A person puts a newer credential by hand; a year later the issued one is the oldest, and still current.
    watch.put("pbx", ["pbx-manual"])
    watch.sandbox.travel(days=365)

    _, event = watch.run({"Rotate": False})

    assert watch.entry(event, vc)["Current"] == successor
    assert watch.reasons(vc)[successor] == "current"
    assert successor in watch.sandbox.usernames(vc)


FAULTS = {
    # step: (what goes wrong, how to inject it)
    "CreateSecret": [
        (
            "throttled beyond the SDK's retries",
            lambda s: s.aws_faults.script("secrets-manager", "PutSecretValue", ["ThrottlingException"]),
        ),
        (
            "crash after the version was stored",
            lambda s: s.aws_faults.crash_after("secrets-manager", "PutSecretValue"),
        ),
    ],
    # Throttling and server faults beyond the retry budget on the put (SetSecret) and on
    # UpdateSecretVersionStage (FinishSecret) are in tests/reliability/test_faults.py's matrix, with the
    # same bursts and the same convergence checked.
    "SetSecret": [
        ("crash after the put took effect", lambda s: s.aws_faults.crash_after("chime-sdk-voice", PUT)),
    ],
    "TestSecret": [
        (
            "the listing is refused",
            # Listed before it: by the test's own look at the connector, by PlanConnector, and by
            # CreateSecret (which draws a username the connector does not have).
            lambda s: s.chime_backend.faults.script(LIST, [None, None, None, "ForbiddenException"]),
        ),
    ],
    "FinishSecret": [
        (
            "crash after AWSCURRENT moved",
            lambda s: s.aws_faults.crash_after("secrets-manager", "UpdateSecretVersionStage"),
        ),
        ("crash after the ledger write", lambda s: s.aws_faults.crash_after("dynamodb", "UpdateItem")),
    ],
}
CASES = [(step, name, inject) for step, faults in FAULTS.items() for name, inject in faults]


@pytest.mark.parametrize(
    ("step", "fault", "inject"), CASES, ids=[f"{step}: {name}" for step, name, _ in CASES]
)
def test_a_fault_while_issuing_deletes_nothing_and_a_rerun_converges(
    watch, audit_schema, step, fault, inject
):
    vc = due_connector(watch, ["pbx-old", "pbx-older"])
    inject(watch.sandbox)

    execution, event = watch.run()

    audit_schema.validate(event)
    assert execution.status == "FAILED"
    assert (event["Outcome"], event["Error"]) == ("FAILED", None)
    entry = watch.entry(event, vc)
    assert entry["Error"]["Step"] == step
    assert entry["Deleted"] == []
    assert {"pbx-old", "pbx-older"} <= set(watch.sandbox.usernames(vc))

    watch.sandbox.aws_faults.clear()
    watch.sandbox.chime_backend.faults.clear()
    watch.sandbox.travel(days=1)
    execution, event = watch.run()
    assert execution.status == "SUCCEEDED", event
    # One successor, whichever run finished it; AWSCURRENT names it and it is on the connector.
    successors = [u for u in watch.sandbox.usernames(vc) if u not in ("pbx-old", "pbx-older")]
    assert len(successors) == 1
    assert watch.sandbox.secret(vc)["AWSCURRENT"]["Username"] == successors[0]

    watch.sandbox.travel(days=8)
    watch.run()
    assert watch.sandbox.usernames(vc) == successors
    watch.issued_once()


RETIRE_FAULTS = [
    (
        "throttled beyond the retry budget",
        lambda s: s.chime_backend.faults.script(
            DELETE, ["ThrottledClientException"] * THROTTLES_PAST_EVERY_RETRY
        ),
    ),
    ("crash after the delete took effect", lambda s: s.aws_faults.crash_after("chime-sdk-voice", DELETE)),
    ("crash after the ledger write", lambda s: s.aws_faults.crash_after("dynamodb", "UpdateItem")),
]


@pytest.mark.parametrize(("fault", "inject"), RETIRE_FAULTS, ids=[name for name, _ in RETIRE_FAULTS])
def test_a_fault_while_retiring_is_reported_and_a_rerun_converges(watch, audit_schema, fault, inject):
    vc = due_connector(watch)
    _, event = watch.run()
    successor = watch.entry(event, vc)["Issued"]["Username"]
    watch.sandbox.travel(days=8)
    inject(watch.sandbox)

    execution, event = watch.run()

    audit_schema.validate(event)
    entry = watch.entry(event, vc)
    if fault.startswith("crash"):
        # The step is retried; the retry finds the username it had marked gone and reports the deletion.
        assert execution.status == "SUCCEEDED"
        assert (entry["Deleted"], entry["Error"]) == (["pbx-old"], None)
        assert watch.sandbox.usernames(vc) == [successor]
    else:
        assert execution.status == "FAILED"
        assert entry["Error"]["Step"] == "DeleteCredentials"
        # The delete step failed: what it may have deleted is named as unconfirmed (here nothing was).
        assert (entry["Stale"], entry["Deleted"], entry["Unconfirmed"]) == (["pbx-old"], [], ["pbx-old"])
        assert "pbx-old" in watch.sandbox.usernames(vc)

    watch.sandbox.aws_faults.clear()
    watch.sandbox.chime_backend.faults.clear()
    watch.sandbox.travel(days=1)
    execution, _ = watch.run()
    assert execution.status == "SUCCEEDED"
    assert watch.sandbox.usernames(vc) == [successor]
