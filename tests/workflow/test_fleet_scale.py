"""Fleet mode at scale, offline: one applying fleet run over 1,000 voice connectors in 20 accounts and 3
Regions (about 17 per account and Region), and the same test over 60 connectors in 6 accounts as the quick
signal, with faults in some accounts.

Every connector has one credential first seen 100 days before the run (``sip-old``: stale at MaxAgeDays 90)
and one first seen 10 days before it (``sip-young``), dated by two dry runs of the fleet and the sandbox's
clock, as tests/workflow/test_fleet.py dates them. The faults, injected for the applying run only (the
spokes' trusts excepted, which are wrong from the start):

- AccessDenied on the spoke role: one account's spokes trust another hub's external id (all its Regions),
  and another account never deployed its spoke in one Region;
- throttling in one account and Region: at most one Chime call in any half second (a connector's delete
  follows its listing within milliseconds, so the limit bites until that account and Region's pace of
  calls, adapters/chime_pace.py, has learned it);
- one account's Region down: every Chime call there answers ServiceUnavailableException, discovery's too;
- the same outage beginning just after discovery in another account and Region (every planning fails), and
  a third account and Region whose deletes alone answer ServiceUnavailableException (every apply fails).

What the test holds: the run ends as the fleet ASL defines a partial failure (the execution FAILED with
ConnectorsFailed, the event's Outcome PARTIAL); every healthy connector lost its stale credential and kept
its young one; every faulty target and connector is named in the one audit event's failures with its
step and error, and in the report; every connector is accounted for exactly once (done, failed, or in a
failed target); and nothing was deleted in a faulty target.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from credential_rotation.adapters.pace_table import PaceTable
from credential_rotation.domain.fleet import target_name
from credential_rotation.domain.targets import Target
from sandbox.executions import Execution
from sandbox.fleet import Fleet
from sandbox.session import Sandbox

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
OLD, YOUNG = "sip-old", "sip-young"
HUB_EXTERNAL_ID = "hub-external-id"
APPLYING = {"DryRun": False, "GraceDays": 0, "MaxAgeDays": 90, "MaxDeletions": 10_000}
UNAVAILABLE = "ServiceUnavailableException"
THROTTLED = "ThrottledClientException"

# The faults, by account number (the healthy account 0 is never faulty) and Region.
WRONG_EXTERNAL_ID = 1  # every Region of this account: its spokes trust another hub's external id
NO_SPOKE = (2, "eu-west-1")
RATE_LIMITED = (3, "us-west-2")
DOWN = (4, "eu-west-1")
DOWN_AFTER_DISCOVERY = (5, "us-east-1")
DELETES_FAIL = (5, "us-west-2")
# Accounts 0 to 5: the quick variant's whole organization.
FAULTY_ACCOUNTS = 6
# The fleet run's states that take time (the rest are Pass and Choice states).
RUN_STATES = ("ResolveFleet", "PlanFleet", "CheckFleetLimits", "ApplyFleet", "PublishFleetAudit")


@dataclass
class ScaleFleet:
    sandbox: Sandbox
    fleet: Fleet
    ou: str
    accounts: list[str]
    connectors: dict[Target, list[str]]
    timings: dict[str, float] = field(default_factory=dict)

    def target(self, number: int, region: str) -> Target:
        return Target(account=self.accounts[number], region=region)

    def run(self, timing: str, **extra: object) -> tuple[Execution, dict]:
        started = time.monotonic()
        execution = self.sandbox.wait(
            self.sandbox.start_fleet(
                {"Targets": {"OrganizationalUnitIds": [self.ou], "Regions": list(REGIONS)}, **extra}
            ),
            deadline_seconds=3600,
        )
        self.timings[timing] = time.monotonic() - started
        if timing == "applying run":
            took = state_seconds(execution)
            self.timings |= {f"  {name}": took[name] for name in RUN_STATES if name in took}
        events = [event for event in self.sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
        assert len(events) == 1, f"one audit event per fleet run, got {len(events)}"
        return execution, events[0]

    def connector_count(self, targets: set[Target]) -> int:
        return sum(len(self.connectors[target]) for target in targets)


def state_seconds(execution: Execution) -> dict[str, float]:
    """How long each state of the run took (its history's timestamps: real seconds, the clock ticks)."""
    entered: dict[str, datetime] = {}
    took: dict[str, float] = {}
    for event in execution.history:
        if event["type"].endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif event["type"].endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                took[name] = (event["timestamp"] - entered[name]).total_seconds()
    return took


def spread(connectors: int, targets: list[Target]) -> dict[Target, int]:
    """``connectors`` over the targets as evenly as they go (1,000 over 60: 40 targets of 17, 20 of 16)."""
    share, extra = divmod(connectors, len(targets))
    return {target: share + (1 if n < extra else 0) for n, target in enumerate(targets)}


def build(sandbox: Sandbox, connectors: int, accounts: int) -> ScaleFleet:
    """The organization, its spokes (the faulty ones as they are), and the connectors, dated by two dry runs:
    ``sip-old`` 100 days before the applying run, ``sip-young`` 10 days before it."""
    fleet = Fleet(sandbox)
    ou, ids = fleet.organization(accounts)
    made = ScaleFleet(sandbox, fleet, ou, ids, {})
    no_spoke = made.target(*NO_SPOKE)
    for number, account in enumerate(ids):
        for region in REGIONS:
            target = Target(account=account, region=region)
            if target == no_spoke:
                continue
            trusted = "another-hubs-external-id" if number == WRONG_EXTERNAL_ID else HUB_EXTERNAL_ID
            fleet.deploy_spoke(account, region, external_id=trusted)
    targets = [Target(account=account, region=region) for account in ids for region in REGIONS]
    started = time.monotonic()
    for target, count in spread(connectors, targets).items():
        made.connectors[target] = [
            fleet.create_voice_connector(target.account, target.region, f"pbx-{n}", [OLD])
            for n in range(count)
        ]
    made.timings["set-up"] = time.monotonic() - started
    unreachable = {made.target(WRONG_EXTERNAL_ID, region) for region in REGIONS} | {no_spoke}
    reachable = made.connector_count(set(made.connectors) - unreachable)
    _, dating = made.run("first dry run")
    assert (dating["Totals"]["Connectors"], dating["Totals"]["ConnectorsFailed"]) == (reachable, 0), (
        f"the first dry run should date every reachable connector: {dating['Totals']}"
    )
    sandbox.travel(days=90)
    for target, ids_there in made.connectors.items():
        for vc in ids_there:
            fleet.put_credentials(target.account, target.region, vc, [YOUNG])
    _, dating = made.run("second dry run")
    assert (dating["Totals"]["Connectors"], dating["Totals"]["ConnectorsFailed"]) == (reachable, 0), (
        f"the second dry run should date every reachable connector: {dating['Totals']}"
    )
    sandbox.travel(days=10)
    for backend in {fleet.chime_backend(target) for target in made.connectors}:
        backend.calls.clear()  # the dating runs' calls are not what the test looks at
    return made


SCALES = [
    pytest.param(60, FAULTY_ACCOUNTS, id="60-connectors-6-accounts"),
    pytest.param(1000, 20, id="1000-connectors-20-accounts", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("connectors", "accounts"), SCALES)
def test_a_fleet_run_at_scale_retires_what_is_stale_everywhere_reachable_and_accounts_for_every_connector(
    sandbox_factory, connectors, accounts
):
    # The stack's largest MaxConcurrency (40), as a fleet of this size would be run.
    sandbox = sandbox_factory(
        parameters={"DryRun": "true", "FleetExternalId": HUB_EXTERNAL_ID, "MaxConcurrency": "40"}
    )
    made = build(sandbox, connectors, accounts)
    assert sum(len(ids) for ids in made.connectors.values()) == connectors
    fleet = made.fleet
    wrong_id = {made.target(WRONG_EXTERNAL_ID, region) for region in REGIONS}
    no_spoke, rate_limited, down = made.target(*NO_SPOKE), made.target(*RATE_LIMITED), made.target(*DOWN)
    down_after_discovery, deletes_fail = made.target(*DOWN_AFTER_DISCOVERY), made.target(*DELETES_FAIL)
    fleet.chime_backend(rate_limited).faults.rate_limit(max_calls=1, per_seconds=0.5)
    fleet.outage(down)
    fleet.outage(
        down_after_discovery,
        operations=(
            "ListVoiceConnectorTerminationCredentials",
            "PutVoiceConnectorTerminationCredentials",
            "DeleteVoiceConnectorTerminationCredentials",
        ),
    )
    fleet.outage(deletes_fail, operations=("DeleteVoiceConnectorTerminationCredentials",))
    # What each faulty target should end with: (Step, Error) of the target, or of each of its connectors.
    target_failures = dict.fromkeys(wrong_id | {no_spoke}, ("Discover", "SpokeRoleUnavailable"))
    target_failures[down] = ("Discover", UNAVAILABLE)
    connector_failures = {
        down_after_discovery: ("PlanConnector", UNAVAILABLE),
        deletes_fail: ("DeleteCredentials", UNAVAILABLE),
    }
    faulty = set(target_failures) | set(connector_failures)
    healthy = set(made.connectors) - faulty
    assert rate_limited in healthy

    execution, event = made.run("applying run", **APPLYING)
    report = sandbox.report(event)

    # The run ends as the fleet ASL defines a partial failure: the execution fails, so that it pages.
    assert (execution.status, execution.error) == ("FAILED", "ConnectorsFailed"), (
        execution.status,
        execution.error,
        execution.cause,
    )
    assert event["Outcome"] == "PARTIAL", event["Error"]
    assert report["Error"] is None, report["Error"]
    assert event["Omitted"] == {"Failures": 0, "Deletions": 0}, (
        f"the event was cut to fit SNS: {event['Omitted']}"
    )

    # Nothing lost: every connector is done, failed, or in a target that failed, exactly once.
    made_keys = {(t.account, t.region, vc) for t, ids in made.connectors.items() for vc in ids}
    entries = report["VoiceConnectors"]
    by_key = entries_by(entries)
    reported = Counter((e["Account"], e["Region"], e["VoiceConnectorId"]) for e in entries)
    twice = sorted(key for key, seen in reported.items() if seen > 1)
    assert not twice, f"{len(twice)} connectors reported more than once, e.g. {twice[:3]}"
    failed_targets = {Target(f["Account"], f["Region"]) for f in report["TargetFailures"]}
    in_failed_target = {key for key in made_keys if Target(key[0], key[1]) in failed_targets}
    also_reported = sorted(set(reported) & in_failed_target)
    assert not also_reported, f"a connector of a failed target has an entry too: {also_reported[:3]}"
    lost = sorted(made_keys - set(reported) - in_failed_target)
    assert not lost, (
        f"{len(lost)} of {connectors} connectors are in no entry and no failed target: {lost[:3]}"
    )
    unknown = sorted(set(reported) - made_keys)
    assert not unknown, f"reported connectors the fleet does not have: {unknown[:3]}"
    done = {key for key in reported if not by_key[key]["Error"]}
    failed = set(reported) - done
    assert len(done) + len(failed) + len(in_failed_target) == connectors

    # Every faulty target and connector is named in the one event's failures, with its step and error, and
    # nothing else is.
    expected_failures = {
        (target_name(target), None, step, error) for target, (step, error) in target_failures.items()
    } | {
        (target_name(target), vc, step, error)
        for target, (step, error) in connector_failures.items()
        for vc in made.connectors[target]
    }
    named = Counter((f["Target"], f["VoiceConnectorId"], f["Step"], f["Error"]) for f in event["Failures"])
    assert set(named) == expected_failures, (
        f"not named: {sorted(expected_failures - set(named))[:5]}; "
        f"named but not faulty: {sorted(set(named) - expected_failures)[:5]}"
    )
    assert max(named.values()) == 1, f"named twice: {[key for key, seen in named.items() if seen > 1][:5]}"
    assert failed_targets == set(target_failures), sorted(
        target_name(t) for t in failed_targets ^ set(target_failures)
    )
    causes = {Target(f["Account"], f["Region"]): f["Cause"] for f in report["TargetFailures"]}
    for target in wrong_id | {no_spoke}:
        assert "could not be assumed (AccessDenied)" in causes[target], (target_name(target), causes[target])
    assert UNAVAILABLE in causes[down], causes[down]
    expected_failed = {
        (target.account, target.region, vc): step_and_error
        for target, step_and_error in connector_failures.items()
        for vc in made.connectors[target]
    }
    assert failed == set(expected_failed), (
        f"failed but healthy: {sorted(failed - set(expected_failed))[:3]}; "
        f"faulty but done: {sorted(set(expected_failed) - failed)[:3]}"
    )
    in_report = {key: (by_key[key]["Error"]["Step"], by_key[key]["Error"]["Error"]) for key in failed}
    assert in_report == expected_failed, [key for key in failed if in_report[key] != expected_failed[key]][:3]
    assert event["Totals"] == {
        "Targets": len(made.connectors),
        "TargetsFailed": len(target_failures),
        "Connectors": len(reported),
        "ConnectorsFailed": len(expected_failed),
        "Stale": made.connector_count(healthy | {deletes_fail}),
        "Deleted": made.connector_count(healthy),
        "Issued": 0,
    }

    # Every healthy connector, the throttled ones too, lost its stale credential and kept its young one.
    wrong = [
        (target_name(target), vc, sorted(fleet.stored_usernames(target, vc)))
        for target in healthy
        for vc in made.connectors[target]
        if fleet.stored_usernames(target, vc) != {YOUNG}
    ]
    assert not wrong, f"{len(wrong)} healthy connectors are not left with {YOUNG} alone, e.g. {wrong[:3]}"
    not_reported = [
        (target_name(target), vc)
        for target in healthy
        for vc in made.connectors[target]
        if by_key[(target.account, target.region, vc)]["Deleted"] != [OLD]
    ]
    assert not not_reported, f"{len(not_reported)} deletions not in the report, e.g. {not_reported[:3]}"
    assert len(event["Deletions"]) == made.connector_count(healthy)

    # Nothing was deleted in a faulty target: each connector has both its credentials, and no delete in the
    # emulator's call log there went through.
    touched = [
        (target_name(target), vc, sorted(fleet.stored_usernames(target, vc)))
        for target in faulty
        for vc in made.connectors[target]
        if fleet.stored_usernames(target, vc) != {OLD, YOUNG}
    ]
    assert not touched, f"{len(touched)} connectors of faulty targets lost a credential, e.g. {touched[:3]}"
    deleted_there = [
        (target_name(target), call.voice_connector_id)
        for target in faulty
        for call in fleet.chime_backend(target).calls
        if call.operation == "DeleteVoiceConnectorTerminationCredentials" and call.outcome == "ok"
    ]
    assert not deleted_there, f"deletes went through in faulty targets: {deleted_there[:3]}"

    # The faults were real: the emulator answered them.
    outcomes = {
        target: Counter(call.outcome for call in fleet.chime_backend(target).calls) for target in faulty
    }
    went_through = {
        target: {call.operation for call in fleet.chime_backend(target).calls if call.outcome == "ok"}
        for target in (down, down_after_discovery, deletes_fail)
    }
    assert went_through == {
        down: set(),
        down_after_discovery: {"ListVoiceConnectors"},
        deletes_fail: {"ListVoiceConnectors", "ListVoiceConnectorTerminationCredentials"},
    }, f"what went through where Chime was down: {went_through}"
    for target in (down, down_after_discovery, deletes_fail):
        assert outcomes[target][UNAVAILABLE] > 0, (target_name(target), outcomes[target])
    for target in wrong_id | {no_spoke}:
        assert not fleet.chime_backend(target).calls, (
            target_name(target),
            "the hub reached a target it cannot assume",
        )
    throttles = Counter(call.outcome for call in fleet.chime_backend(rate_limited).calls)
    assert throttles[THROTTLED] > 0, f"the rate limit never throttled: the test shows nothing: {throttles}"
    # The throttles were absorbed by the account and Region's pace of calls, which they engaged. (Not
    # "slowed below its first rate": one throttle starts the pace at INITIAL_RATE, and whether a second
    # comes from a slot of the current epoch depends on timing; a CI run once saw exactly one.)
    pace, _ = PaceTable(sandbox.client("dynamodb"), sandbox.stack.outputs["LedgerTableName"]).read(
        target_name(rate_limited)
    )
    assert pace is not None, f"no pace of calls was learned for {target_name(rate_limited)}"
    assert pace.epoch >= 1, pace
    assert sandbox.run_lock_free_soon()
    print(
        f"\n{connectors} connectors, seconds:",
        *(f"{name}: {s:.0f}" for name, s in made.timings.items()),
        sep="\n",
    )


def entries_by(entries: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(e["Account"], e["Region"], e["VoiceConnectorId"]): e for e in entries}
