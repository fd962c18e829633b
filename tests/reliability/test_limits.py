"""Runs at the limits, end to end: every applying run either publishes an audit event naming every deletion,
or is refused before anything is deleted; its state stays far below Step Functions' 256 KiB; and the run
lock is free when it ends.

The shapes are the extremes the workflow accepts: the most voice connectors one run takes
(run_input.MAX_VOICE_CONNECTORS), usernames as long as the ledger can key (1,024 bytes; the Chime SDK
Voice API documents no limit, and a longer one is kept as unmanaged), and thousands of credentials on one
connector. What each run measured (its largest state, its event) goes to the reliability tally.
"""

import json
from collections.abc import Callable

import pytest

from credential_rotation.domain.unmanaged import MAX_USERNAME_BYTES
from credential_rotation.tasks.audit import MAX_MESSAGE_BYTES
from credential_rotation.tasks.run_input import MAX_VOICE_CONNECTORS
from sandbox.executions import Execution
from sandbox.session import Sandbox
from tests.support.tally import TRIED

# Minutes of runs under coverage: the slow tier, started first.
pytestmark = pytest.mark.slow

STATE_LIMIT = 256 * 1024
# Well below the limit, whatever the shape: the state carries counts and digests, never a username, so it
# grows with the number of connectors only (at most 100 a run) and not with their credentials.
STATE_BUDGET = STATE_LIMIT * 3 // 4


def username(connector: int, credential: int, length: int) -> str:
    return f"trunk-{connector:03d}-{credential:04d}-".ljust(length, "x")


def withheld_errors(sandbox: Sandbox) -> list[str]:
    """What the functions that failed raised, before their decorator withheld its text."""
    return [invocation.withheld for invocation in sandbox.invocations if invocation.withheld]


def fleet(sandbox: Sandbox, connectors: int, credentials: int, length: int) -> list[str]:
    """Connectors whose credentials are all 100 days old but one (the youngest, 10 days old)."""
    ids = [
        sandbox.create_voice_connector(f"pbx-{n}", [username(n, c, length) for c in range(credentials - 1)])
        for n in range(connectors)
    ]
    observing = sandbox.wait(sandbox.start({}), deadline_seconds=900)
    assert observing.status == "SUCCEEDED", withheld_errors(sandbox)
    sandbox.travel(days=90)
    for n, vc in enumerate(ids):
        sandbox.put_credentials(vc, [username(n, credentials - 1, length).replace("x", "y")])
    assert sandbox.wait(sandbox.start({}), deadline_seconds=900).status == "SUCCEEDED"
    sandbox.travel(days=10)
    sandbox.audit_messages()
    return ids


def applying_run(sandbox: Sandbox, shape: str, **overrides: object) -> tuple[Execution, dict]:
    execution = sandbox.wait(
        sandbox.start({"DryRun": False, "GraceDays": 0, "MaxDeletions": 10_000, **overrides}),
        deadline_seconds=900,
    )
    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    event_bytes = len(json.dumps(event, separators=(",", ":")).encode())
    assert event_bytes <= MAX_MESSAGE_BYTES
    assert execution.largest_state_bytes() < STATE_BUDGET
    # No run that ended leaves the lock held.
    assert sandbox.run_lock_free_soon()
    TRIED[f"limits: {shape}: largest state bytes"] = execution.largest_state_bytes()
    TRIED[f"limits: {shape}: event bytes"] = event_bytes
    return execution, event


def every_deletion_is_named(
    sandbox: Sandbox, ids: list[str], before: dict[str, set[str]], event: dict
) -> int:
    deleted = 0
    entries = {entry["VoiceConnectorId"]: entry for entry in event["VoiceConnectors"]}
    for vc in ids:
        removed = before[vc] - set(sandbox.usernames(vc))
        assert removed == set(entries[vc]["Deleted"]), vc
        deleted += len(removed)
    return deleted


Shape = tuple[int, int, int]  # connectors, credentials each, username length
NAMED: dict[str, Shape] = {
    "the run limit of connectors, 10 credentials of 60 characters": (MAX_VOICE_CONNECTORS, 10, 60),
    "usernames as long as the ledger keys them, on 10 connectors": (10, 10, MAX_USERNAME_BYTES),
    "3,000 credentials on one connector, 100 of them stale": (1, 3_000, 60),
}


def with_stale_share(shape: Shape) -> Callable[[Sandbox], list[str]]:
    connectors, credentials, length = shape
    if credentials < 1_000:
        return lambda sandbox: fleet(sandbox, connectors, credentials, length)

    def mostly_young(sandbox: Sandbox) -> list[str]:
        # 100 old ones, then the rest added after them: thousands listed, 100 to delete.
        vc = sandbox.create_voice_connector("pbx", [username(0, c, length) for c in range(100)])
        assert sandbox.wait(sandbox.start({}), deadline_seconds=900).status == "SUCCEEDED"
        sandbox.travel(days=100)
        sandbox.put_credentials(vc, [username(1, c, length) for c in range(credentials - 100)])
        assert sandbox.wait(sandbox.start({}), deadline_seconds=900).status == "SUCCEEDED"
        sandbox.travel(days=10)
        sandbox.audit_messages()
        return [vc]

    return mostly_young


@pytest.mark.parametrize("shape", sorted(NAMED), ids=sorted(NAMED))
def test_a_run_at_the_limits_names_every_deletion_in_its_audit_event(shape, audit_schema, sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    ids = with_stale_share(NAMED[shape])(sandbox)
    before = {vc: set(sandbox.usernames(vc)) for vc in ids}

    execution, event = applying_run(sandbox, shape)

    assert execution.status == "SUCCEEDED", (execution.error, (execution.cause or "")[:500])
    audit_schema.validate(event)
    deleted = every_deletion_is_named(sandbox, ids, before, event)
    assert deleted > 0
    assert all(sandbox.usernames(vc) for vc in ids)
    TRIED["limits: deletions named"] += deleted


REFUSED: dict[str, Shape] = {
    "the run limit of connectors, 10 usernames as long as the ledger keys them": (
        MAX_VOICE_CONNECTORS,
        10,
        MAX_USERNAME_BYTES,
    ),
    "3,000 stale credentials on one connector": (1, 3_000, 60),
}


@pytest.mark.parametrize("shape", sorted(REFUSED), ids=sorted(REFUSED))
def test_a_run_whose_deletions_could_not_all_be_named_is_refused_before_deleting(
    shape, audit_schema, sandbox_factory
):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    ids = fleet(sandbox, *REFUSED[shape])
    before = {vc: set(sandbox.usernames(vc)) for vc in ids}

    execution, event = applying_run(sandbox, shape)

    assert (execution.status, execution.error) == ("FAILED", "AuditLimitExceeded")
    audit_schema.validate(event)
    assert event["Error"]["Error"] == "AuditLimitExceeded"
    assert {vc: set(sandbox.usernames(vc)) for vc in ids} == before
    assert sandbox.chime_backend.calls
    assert not [call for call in sandbox.chime_backend.calls if call.operation.startswith("Delete")]
    # The report has every stale username; the event too, unless they did not fit (it says so).
    report = sandbox.report(event)
    assert sum(len(entry["Stale"]) for entry in report["VoiceConnectors"]) == sum(
        len(b) - 1 for b in before.values()
    )
    for entry, whole in zip(event["VoiceConnectors"], report["VoiceConnectors"], strict=True):
        assert entry["Deleted"] == []
        assert entry["Stale"] == whole["Stale"] or (entry["StaleOmitted"] and entry["Stale"] == [])
    TRIED["limits: refused before deleting"] += 1


def test_the_largest_state_a_run_can_have_every_connector_issuing_and_failing_after_it(
    audit_schema, sandbox_factory
):
    """Per connector the state holds at most a plan summary, a successor and an error: this run has all
    three on each of the most connectors a run takes, and the longest error message a task lets out."""
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    ids = fleet(sandbox, MAX_VOICE_CONNECTORS, 3, 60)
    sandbox.travel(days=60)  # due a successor too
    sandbox.aws_faults.script(
        "chime-sdk-voice",
        "DeleteVoiceConnectorTerminationCredentials",
        ["BadRequestException"] * len(ids),
    )
    before = {vc: set(sandbox.usernames(vc)) for vc in ids}

    execution, event = applying_run(sandbox, "every connector issuing, then failing", Rotate=True)

    assert (execution.status, execution.error) == ("FAILED", "ConnectorsFailed")
    audit_schema.validate(event)
    for entry in event["VoiceConnectors"]:
        assert entry["Issued"] is not None, (entry, withheld_errors(sandbox))
        assert entry["Issued"]["Promoted"] is True
        assert entry["Error"]["Step"] == "DeleteCredentials"
        assert entry["Unconfirmed"] == entry["Stale"]
        assert len(entry["Stale"]) == 2
        assert set(entry["Stale"]) < before[entry["VoiceConnectorId"]]
