"""Two executions at once on the same connectors: the schedule and a person pressing "Start execution".

Requirement: together they never delete more than one plan allows and never break MinKeep. The run lock
(a lease in the ledger table, taken by ResolveRun for applying runs) refuses the second with
``RunInProgress`` before it lists anything; the delete step's re-listing and re-judging is the second
line of defence, tested here with the lock bypassed.

moto's Step Functions runs each execution on its own thread, so the two runs really are concurrent. A
barrier in the Chime emulator's ListVoiceConnectors (which ResolveRun calls just before it takes the
lease) holds the first run until the second has caught up: the two ResolveRuns then race for the lease
at the same instant, every round, without any sleep.
"""

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import pytest

from credential_rotation.adapters.run_lock import LEASE, LOCK_KEY, RunLock
from sandbox.executions import Execution
from sandbox.session import Sandbox

# Minutes of runs under coverage: the slow tier, started first.
pytestmark = pytest.mark.slow

OLD, YOUNG = 120, 10  # days: older than MaxAgeDays 90 (and the manual 100), younger than both
# What the schedule's policy deletes on a round's connectors: trio's three old ones and mixed's one.
PLANNED = 4
# Each round's connectors: credentials first seen OLD days before the race, and YOUNG days before it.
FLEET = {
    "trio": {"old": ["pbx-o1", "pbx-o2", "pbx-o3"], "young": ["pbx-y1"]},
    # Two old ones first seen the same night: MinKeep 1 cannot choose between them, so both are kept (tied).
    "duo": {"old": ["pbx-d1", "pbx-d2"]},
    "mixed": {"old": ["pbx-m1"], "young": ["pbx-m2", "pbx-m3"]},
    "solo": {"old": ["pbx-s1"]},
    "fresh": {"young": ["pbx-f1", "pbx-f2"]},
    "bare": {},
}
# The person's run: a different policy from the schedule's (MinKeep 1, MaxAgeDays 90).
MANUAL = {"Trigger": "manual", "MinKeep": 2, "MaxAgeDays": 100, "Comment": "pressed Start execution"}
ROUNDS = 10
APPLIED = ("SUCCEEDED", "PARTIAL")


@dataclass
class Tally:
    checks: int = 0
    races: int = 0
    winners: dict[str, int] = field(default_factory=dict)

    def expect(self, condition: bool, message: str) -> None:
        self.checks += 1
        assert condition, message


def sandbox_with(sandbox_factory: Callable[..., Sandbox], **parameters: str) -> Sandbox:
    return sandbox_factory(parameters={"DryRun": "false", **parameters})


def start_scheduled(sandbox: Sandbox) -> str:
    """Start a run as EventBridge Scheduler would (its target, its input), without waiting for it."""
    (name,) = sandbox.stack.schedules
    target = sandbox.client("scheduler").get_schedule(Name=name)["Target"]
    assert json.loads(target["Input"]) == {"Trigger": "schedule"}
    return sandbox.client("stepfunctions").start_execution(
        stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=target["Input"]
    )["executionArn"]


@contextmanager
def rendezvous(sandbox: Sandbox, parties: int = 2) -> Iterator[threading.Barrier]:
    """Hold each ResolveRun at its ListVoiceConnectors call until `parties` of them are there."""
    barrier = threading.Barrier(parties, timeout=60)
    sandbox.chime_backend.faults.before("ListVoiceConnectors", lambda _backend, _params: barrier.wait())
    try:
        yield barrier
    finally:
        sandbox.chime_backend.faults.clear()


def observe(sandbox: Sandbox) -> None:
    """A dry run: dates every username in the ledger and changes nothing."""
    assert sandbox.run({"DryRun": True}).status == "SUCCEEDED"


def seed(sandbox: Sandbox, label: str) -> dict[str, str]:
    """New connectors whose credentials are OLD and YOUNG days old (as dry runs saw them appear)."""
    ids = {
        name: sandbox.create_voice_connector(f"{label}-{name}", spec.get("old", []))
        for name, spec in FLEET.items()
    }
    observe(sandbox)
    sandbox.travel(days=OLD - YOUNG)
    for name, spec in FLEET.items():
        if spec.get("young"):
            sandbox.put_credentials(ids[name], spec["young"])
    observe(sandbox)
    sandbox.travel(days=YOUNG)
    sandbox.audit_messages()
    return ids


def retire(sandbox: Sandbox, ids: dict[str, str]) -> None:
    chime = sandbox.client("chime-sdk-voice")
    for voice_connector_id in ids.values():
        chime.delete_voice_connector(VoiceConnectorId=voice_connector_id)


def listing(sandbox: Sandbox, ids: dict[str, str]) -> dict[str, set[str]]:
    return {vc: set(sandbox.usernames(vc)) for vc in ids.values()}


def lock_item(sandbox: Sandbox) -> dict[str, Any] | None:
    key = {"VoiceConnectorId": {"S": LOCK_KEY}, "Username": {"S": LOCK_KEY}}
    return (
        sandbox.client("dynamodb")
        .get_item(TableName=sandbox.stack.table_name, Key=key, ConsistentRead=True)
        .get("Item")
    )


def leave_lock_behind(sandbox: Sandbox, holder: str) -> None:
    """The lease as an execution that was aborted after ResolveRun would have left it."""
    now = sandbox.now()
    sandbox.client("dynamodb").put_item(
        TableName=sandbox.stack.table_name,
        Item={
            "VoiceConnectorId": {"S": LOCK_KEY},
            "Username": {"S": LOCK_KEY},
            "HeldBy": {"S": holder},
            "ExpiresAt": {"S": (now + LEASE).astimezone(UTC).isoformat(timespec="microseconds")},
        },
    )


def race(sandbox: Sandbox, first_scheduled: bool, manual: dict[str, Any]) -> tuple[list[Execution], dict]:
    """Start the scheduled and the manual run back to back, wait for both; their executions and events."""
    start_manual = lambda: sandbox.start(manual)  # noqa: E731
    starters = [lambda: start_scheduled(sandbox), start_manual]
    if not first_scheduled:
        starters.reverse()
    with rendezvous(sandbox):
        arns = [start() for start in starters]
        executions = [sandbox.wait(arn) for arn in arns]
    events = {event["ExecutionArn"]: event for event in sandbox.audit_events()}
    assert sorted(events) == sorted(arns), "each run publishes exactly one audit event"
    return executions, events


def stale(event: dict) -> dict[str, set[str]]:
    return {entry["VoiceConnectorId"]: set(entry["Stale"]) for entry in event["VoiceConnectors"]}


def deleted(event: dict) -> dict[str, set[str]]:
    return {entry["VoiceConnectorId"]: set(entry["Deleted"]) for entry in event["VoiceConnectors"]}


def check_refused(tally: Tally, loser: Execution, event: dict, winner_arn: str) -> None:
    tally.expect(loser.status == "FAILED", f"the second run was not refused: {loser.status}")
    tally.expect(loser.error == "RunInProgress", f"refused with {loser.error}, not RunInProgress")
    tally.expect(event["Outcome"] == "FAILED", f"loser's outcome {event['Outcome']}")
    tally.expect((event["Error"] or {}).get("Error") == "RunInProgress", f"loser's error {event['Error']}")
    tally.expect(winner_arn in event["Error"]["Cause"], "the refusal does not name the run holding the lease")
    tally.expect(event["VoiceConnectors"] == [], "the refused run planned or changed connectors")
    tally.expect(event["DryRun"] is False, "the refused run is reported as a dry run")
    # Refused before it listed anything: after ResolveRun, straight to the audit.
    states = loser.states_entered()
    tally.expect(
        states
        == [
            "CaptureExecution",
            "ResolveRun",
            "RunRefused",
            "Refused",
            "PublishAudit",
            "ReportOutcome",
            "RunFailed",
        ],
        f"the refused run went on: {states}",
    )


def check_connectors(
    tally: Tally,
    sandbox: Sandbox,
    before: dict[str, set[str]],
    after: dict[str, set[str]],
    events: list[dict],
    plan: dict,
) -> None:
    """Whatever ran: deletions within `plan` (one run's audit event), MinKeep held, at most one successor."""
    min_keep = plan["Policy"]["MinKeep"]
    planned, reported = stale(plan), {vc: set() for vc in before}
    for event in events:
        for vc, usernames in deleted(event).items():
            reported[vc] |= usernames
    for vc in before:
        removed, added = before[vc] - after[vc], after[vc] - before[vc]
        tally.expect(removed <= planned.get(vc, set()), f"{vc}: deleted {removed} beyond the plan")
        tally.expect(removed == reported[vc], f"{vc}: deleted {removed}, the audit says {reported[vc]}")
        tally.expect(
            len(after[vc]) >= min(min_keep, len(before[vc])), f"{vc}: {after[vc]} breaks MinKeep {min_keep}"
        )
        tally.expect(bool(after[vc]) or not before[vc], f"{vc} was left with no credential")
        tally.expect(len(added) <= 1, f"{vc}: more than one successor appeared: {added}")
        issued = [
            version["Username"]
            for version in sandbox.secret(vc).get("Versions", {}).values()
            if version["Username"] is not None
        ]
        tally.expect(len(issued) <= 1, f"{vc}: more than one successor minted: {issued}")
        tally.expect(added == set(issued), f"{vc}: {added} appeared, the secret names {issued}")


@pytest.mark.parametrize("rotate", [False, True], ids=["cleanup", "rotate"])
def test_the_schedule_and_a_person_at_once_apply_one_plan(rotate, sandbox_factory):
    tally = Tally()
    sandbox = sandbox_with(sandbox_factory, Rotate=str(rotate).lower(), RotateAfterDays="60")
    ids: dict[str, str] = {}
    for round_number in range(ROUNDS):
        retire(sandbox, ids)
        ids = seed(sandbox, f"r{round_number}")
        before = listing(sandbox, ids)
        first_scheduled = round_number % 2 == 0

        executions, events = race(sandbox, first_scheduled, MANUAL)

        after = listing(sandbox, ids)
        applied = [execution for execution in executions if events[execution.arn]["Outcome"] in APPLIED]
        tally.expect(len(applied) == 1, f"round {round_number}: {len(applied)} runs applied")
        (winner,) = applied
        (loser,) = [execution for execution in executions if execution is not winner]
        plan = events[winner.arn]
        tally.expect(winner.status == "SUCCEEDED", f"the winner ended {winner.status}: {winner.error}")
        check_refused(tally, loser, events[loser.arn], winner.arn)
        tally.expect(deleted(events[loser.arn]) == {}, "the refused run deleted")
        # The winner deleted its plan's Stale, all of it (nothing changed under it), and nothing else.
        tally.expect(deleted(plan) == stale(plan), "the winner's deletions differ from its plan")
        check_connectors(tally, sandbox, before, after, list(events.values()), plan)
        if rotate:
            due = {ids["duo"], ids["solo"]}
            issued = {entry["VoiceConnectorId"] for entry in plan["VoiceConnectors"] if entry["Issued"]}
            tally.expect(issued == due, f"successors on {issued}, due on {due}")
        tally.expect(lock_item(sandbox) is None, "the lease outlived the runs")
        tally.races += 1
        trigger = plan["Trigger"]
        tally.winners[trigger] = tally.winners.get(trigger, 0) + 1
        sandbox.travel(days=3)
    assert tally.races == ROUNDS
    print(f"\nraces: {tally.races}, won by {tally.winners}, checks: {tally.checks}")


def test_a_dry_run_beside_an_applying_run_is_not_refused(sandbox_factory):
    tally = Tally()
    sandbox = sandbox_with(sandbox_factory)
    ids = seed(sandbox, "dry")
    before = listing(sandbox, ids)
    with rendezvous(sandbox):
        applying = start_scheduled(sandbox)
        dry = sandbox.start({"DryRun": True, "MinKeep": 2})
        applying_run, dry_run = sandbox.wait(applying), sandbox.wait(dry)
    events = {event["ExecutionArn"]: event for event in sandbox.audit_events()}

    tally.expect(applying_run.status == "SUCCEEDED", f"applying run: {applying_run.error}")
    tally.expect(dry_run.status == "SUCCEEDED", f"dry run: {dry_run.error}")
    tally.expect(events[dry]["DryRun"] is True, "not a dry run")
    tally.expect(not any(deleted(events[dry]).values()), "the dry run deleted")
    tally.expect(any(stale(events[dry]).values()), "the dry run planned nothing: no test")
    check_connectors(tally, sandbox, before, listing(sandbox, ids), list(events.values()), events[applying])

    # Nor while another execution holds the lease.
    leave_lock_behind(sandbox, "arn:aws:states:us-east-1:123456789012:execution:rotation:applying")
    tally.expect(sandbox.run({"DryRun": True}).status == "SUCCEEDED", "a dry run waited for the lease")
    tally.expect(lock_item(sandbox)["HeldBy"]["S"].endswith(":applying"), "a dry run touched the lease")


@pytest.mark.parametrize(
    ("first_input", "first_status", "first_error"),
    [
        ({"Trigger": "manual"}, "SUCCEEDED", None),
        # Refused at the deletion limit, after the lease was taken: the lease goes all the same.
        ({"MaxDeletions": 1}, "FAILED", "DeletionLimitExceeded"),
    ],
    ids=["after-a-run-that-applied", "after-a-run-refused-at-the-limit"],
)
def test_the_lease_is_released_after_a_run_and_the_next_run_proceeds(
    first_input, first_status, first_error, sandbox_factory
):
    sandbox = sandbox_with(sandbox_factory)
    ids = seed(sandbox, "release")
    first = sandbox.run(first_input)
    assert (first.status, first.error) == (first_status, first_error)
    assert lock_item(sandbox) is None
    before = listing(sandbox, ids)

    second = sandbox.run({"Trigger": "manual"})

    (_, event) = sandbox.audit_events()
    assert second.status == "SUCCEEDED", second.error
    assert event["ExecutionArn"] == second.arn
    # The run refused at the limit changed nothing, so the second run did the work.
    assert sum(len(entry["Deleted"]) for entry in event["VoiceConnectors"]) == (PLANNED if first_error else 0)
    assert (listing(sandbox, ids) == before) is (first_error is None)
    assert lock_item(sandbox) is None


def test_an_expired_lease_left_behind_does_not_block(sandbox_factory):
    aborted = "arn:aws:states:us-east-1:123456789012:execution:rotation:aborted-run"
    sandbox = sandbox_with(sandbox_factory)
    ids = seed(sandbox, "expired")
    leave_lock_behind(sandbox, aborted)
    before = listing(sandbox, ids)

    # While the lease runs, an applying run is refused and names the holder...
    sandbox.travel(minutes=69)
    refused = sandbox.run({"Trigger": "manual"})
    (event,) = sandbox.audit_events()
    assert (refused.status, refused.error) == ("FAILED", "RunInProgress")
    assert aborted in event["Error"]["Cause"]
    assert listing(sandbox, ids) == before
    assert lock_item(sandbox)["HeldBy"]["S"] == aborted

    # ...and once it has expired, the run takes it over, applies, and releases it.
    sandbox.travel(minutes=2)
    execution = sandbox.fire_schedule()
    (event,) = sandbox.audit_events()
    assert execution.status == "SUCCEEDED", execution.error
    assert sum(len(entry["Deleted"]) for entry in event["VoiceConnectors"]) == PLANNED
    assert listing(sandbox, ids) != before
    assert lock_item(sandbox) is None


def test_without_the_lock_the_delete_step_still_keeps_two_runs_within_one_plan(monkeypatch, sandbox_factory):
    """Second line of defence: the lock bypassed, two applying runs with one policy race through every
    step; the delete step re-lists and re-judges, so they never delete beyond one plan nor break MinKeep."""
    monkeypatch.setattr(RunLock, "acquire", lambda self, execution_arn, now: None)
    tally = Tally()
    rounds = 5
    failed_steps: Counter[tuple[str, str]] = Counter()
    sandbox = sandbox_with(sandbox_factory)
    ids: dict[str, str] = {}
    for round_number in range(rounds):
        retire(sandbox, ids)
        ids = seed(sandbox, f"bypass{round_number}")
        before = listing(sandbox, ids)

        executions, events = race(sandbox, round_number % 2 == 0, {"Trigger": "manual"})

        after = listing(sandbox, ids)
        for execution in executions:
            # Both applied: the lock really was out of the way.
            tally.expect("ApplyPlans" in execution.states_entered(), f"{execution.arn} did not apply")
            # A run may lose the ledger's conditional mark to the other run's deletion: that connector
            # fails in DeleteCredentials before its delete call, having deleted nothing (fail-safe).
            for entry in events[execution.arn]["VoiceConnectors"]:
                if entry["Error"]:
                    failed_steps[entry["Error"]["Step"], entry["Error"]["Error"]] += 1
                    tally.expect(entry["Error"]["Step"] == "DeleteCredentials", f"failed: {entry['Error']}")
                    tally.expect(entry["Deleted"] == [], "a failed delete step reports deletions")
        plans = list(events.values())
        tally.expect(stale(plans[0]) == stale(plans[1]), "one policy, one listing: two different plans")
        for plan in plans:
            check_connectors(tally, sandbox, before, after, plans, plan)
        tally.races += 1
        sandbox.travel(days=3)
    assert tally.races == rounds
    print(
        f"\nraces without the lock: {tally.races}, checks: {tally.checks}, connector failures: {failed_steps}"
    )
