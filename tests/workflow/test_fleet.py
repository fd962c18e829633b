"""Fleet mode end to end in the sandbox: the fleet state machine over an organization of spoke accounts in
two Regions, through each account's spoke role, with the same per-connector tasks as single-account mode.

What each test holds: a dry run changes nothing anywhere; an applying run deletes only what is stale and
issues successors into the spoke's own secrets, keyed in the hub's ledger by account and Region; a target
whose spoke role cannot be assumed is reported while the rest complete; the fleet's limits refuse the run
before anything is deleted anywhere; inputs fleet mode cannot honour are refused by name; and on a fleet
hub (FleetTargets set) the nightly schedule starts fleet runs over FleetTargets, never single-account ones.
"""

from dataclasses import dataclass

import pytest

from credential_rotation.adapters.ledger import fleet_partition
from credential_rotation.domain.targets import Target
from sandbox.chime_emulator import chimesdkvoice_backends
from sandbox.fleet import Fleet, Hub
from sandbox.session import Sandbox, state_machine_of

REGIONS = ["us-east-1", "eu-west-1"]
OLD, YOUNG = "sip-old", "sip-young"


@dataclass
class Spokes:
    sandbox: Sandbox
    fleet: Fleet
    ou: str
    accounts: list[str]
    connectors: dict[Target, str]

    def targets(self, **extra: object) -> dict[str, object]:
        return {"Targets": {"OrganizationalUnitIds": [self.ou], "Regions": REGIONS}, **extra}

    def run(self, **extra: object) -> tuple[object, dict]:
        execution = self.sandbox.wait(self.sandbox.start_fleet(self.targets(**extra)), deadline_seconds=300)
        events = [event for event in self.sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
        assert len(events) == 1, events
        return execution, events[0]

    def usernames(self) -> dict[Target, set[str]]:
        return {target: set(self.fleet.usernames(target, vc)) for target, vc in self.connectors.items()}


def spokes(sandbox: Sandbox, accounts: int = 3, without_role: tuple[tuple[int, str], ...] = ()) -> Spokes:
    """An OU of ``accounts`` accounts, each with one connector per Region whose credentials are 100 days
    old (``sip-old``) and 10 days old (``sip-young``), dated by two dry runs of the fleet. No spoke role
    is deployed for the (account number, Region) pairs of ``without_role``."""
    fleet = Fleet(sandbox)
    ou, ids = fleet.organization(accounts)
    connectors = {}
    for number, account in enumerate(ids):
        for region in REGIONS:
            target = Target(account=account, region=region)
            if (number, region) not in without_role:
                fleet.deploy_spoke(account, region)
            connectors[target] = fleet.create_voice_connector(account, region, f"pbx-{region}", [OLD])
    made = Spokes(sandbox, fleet, ou, ids, connectors)
    made.run()
    sandbox.travel(days=90)
    for target, vc in connectors.items():
        fleet.put_credentials(target.account, target.region, vc, [YOUNG])
    made.run()
    sandbox.travel(days=10)
    return made


APPLYING = {"DryRun": False, "GraceDays": 0, "MaxAgeDays": 90}


def test_a_fleet_dry_run_judges_every_connector_of_every_target_and_changes_nothing(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    fleet = spokes(sandbox)
    before = fleet.usernames()

    execution, event = fleet.run()

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert event["Outcome"] == "SUCCEEDED"
    assert event["DryRun"] is True
    assert event["Totals"] == {
        "Targets": 6,
        "TargetsFailed": 0,
        "Connectors": 6,
        "ConnectorsFailed": 0,
        "Stale": 6,
        "Deleted": 0,
        "Issued": 0,
    }
    assert {entry["Target"] for entry in event["Targets"]} == {
        f"{t.account}/{t.region}" for t in fleet.connectors
    }
    assert fleet.usernames() == before
    report = sandbox.report(event)
    assert {
        (entry["Account"], entry["Region"], tuple(entry["Stale"])) for entry in report["VoiceConnectors"]
    } == {(target.account, target.region, (OLD,)) for target in fleet.connectors}


def test_an_applying_fleet_run_retires_what_is_stale_in_every_account_and_region(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    fleet = spokes(sandbox)
    hub_connector = sandbox.create_voice_connector("hub-pbx", [OLD])
    start = len(sandbox.metrics())

    execution, event = fleet.run(**APPLYING)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert event["Totals"]["Deleted"] == 6
    assert event["Totals"]["ConnectorsFailed"] == 0
    assert fleet.usernames() == {target: {YOUNG} for target in fleet.connectors}
    assert {(d["Target"], d["VoiceConnectorId"], tuple(d["Deleted"])) for d in event["Deletions"]} == {
        (f"{t.account}/{t.region}", vc, (OLD,)) for t, vc in fleet.connectors.items()
    }
    # The hub's own connector is not a target of the fleet.
    assert sandbox.usernames(hub_connector) == [OLD]
    # The run's metrics, summed from its report as single-account mode's are.
    (run,) = [record["Values"] for record in sandbox.metrics()[start:] if "FleetRuns" in record["Values"]]
    counted = {name: sum(values) for name, values in run.items()}
    assert {name: counted[name] for name in ("FleetRuns", "FleetRunsFailed", "FleetTargets")} == {
        "FleetRuns": 1,
        "FleetRunsFailed": 0,
        "FleetTargets": 6,
    }
    assert (counted["CredentialsListed"], counted["CredentialsStale"], counted["CredentialsDeleted"]) == (
        12,
        6,
        6,
    )
    assert counted["ConnectorsFailed"] == 0
    # The hub's ledger keys each fleet connector under its account and Region.
    table = sandbox.client("dynamodb")
    for target, vc in fleet.connectors.items():
        rows = table.query(
            TableName=sandbox.stack.outputs["LedgerTableName"],
            KeyConditionExpression="VoiceConnectorId = :id",
            ExpressionAttributeValues={":id": {"S": fleet_partition(target.account, target.region, vc)}},
        )["Items"]
        assert {row["Username"]["S"] for row in rows} == {OLD, YOUNG}
    assert sandbox.run_lock_free_soon()


def test_successors_are_issued_into_the_spoke_accounts_own_secrets(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    fleet = spokes(sandbox, accounts=2)
    sandbox.travel(days=60)  # the youngest is 70 days old: due a successor

    execution, event = fleet.run(**APPLYING, Rotate=True, RotateAfterDays=60)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert event["Totals"]["Issued"] == 4
    prefix = sandbox.stack.outputs["SecretNamePrefix"]
    for target, vc in fleet.connectors.items():
        assert fleet.fleet.secret_names(target) == [f"{prefix}{vc}"]
        listed = fleet.usernames()[target]
        assert len(listed) == 2
        assert YOUNG in listed
    hub_secrets = [s["Name"] for s in sandbox.client("secretsmanager").list_secrets()["SecretList"]]
    assert not [name for name in hub_secrets if name.startswith(prefix)]


def test_a_target_whose_spoke_role_cannot_be_assumed_is_reported_and_the_rest_complete(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    made = spokes(sandbox, accounts=2, without_role=((1, "eu-west-1"),))
    missing = Target(account=made.accounts[1], region="eu-west-1")
    before = made.usernames()

    execution, event = made.run(**APPLYING)

    assert (execution.status, execution.error) == ("FAILED", "ConnectorsFailed")
    assert event["Outcome"] == "PARTIAL"
    assert event["Totals"]["TargetsFailed"] == 1
    assert event["Totals"]["Connectors"] == 3
    assert event["Totals"]["Deleted"] == 3
    assert event["Failures"] == [
        {
            "Target": f"{missing.account}/{missing.region}",
            "VoiceConnectorId": None,
            "Step": "Discover",
            "Error": "SpokeRoleUnavailable",
        }
    ]
    (failure,) = sandbox.report(event)["TargetFailures"]
    assert "could not be assumed (AccessDenied)" in failure["Cause"]
    after = made.usernames()
    assert after[missing] == before[missing] == {OLD, YOUNG}
    assert all(after[target] == {YOUNG} for target in made.connectors if target != missing)


def test_the_fleet_limits_refuse_the_run_before_anything_is_deleted_anywhere(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    fleet = spokes(sandbox, accounts=2)
    before = fleet.usernames()

    execution, event = fleet.run(**APPLYING, MaxDeletionsPerAccount=1)

    assert execution.status == "FAILED"
    assert event["Error"]["Error"] == "DeletionLimitExceeded"
    assert "MaxDeletionsPerAccount (1)" in event["Error"]["Cause"]
    assert fleet.usernames() == before
    assert not [call for call in sandbox_chime_calls(fleet) if call.startswith("Delete")]


def sandbox_chime_calls(fleet: Spokes) -> list[str]:
    return [
        call.operation
        for target in fleet.connectors
        for call in chimesdkvoice_backends[target.account][target.region].calls
    ]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"VoiceConnectorIds": ["abcdefghijklmnopqrstu"]}, "VoiceConnectorIds: a fleet run rotates every"),
        ({"MaxDeletionsPerAccount": -1}, "MaxDeletionsPerAccount: must be a whole number"),
    ],
)
def test_inputs_fleet_mode_cannot_honour_are_refused_by_name(sandbox_factory, extra, named):
    sandbox = sandbox_factory(parameters={"DryRun": "true"})
    fleet = Fleet(sandbox)
    ou, _ = fleet.organization(1)

    execution = sandbox.wait(
        sandbox.start_fleet({"Targets": {"OrganizationalUnitIds": [ou], "Regions": REGIONS}, **extra})
    )

    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    assert execution.status == "FAILED"
    assert event["Error"]["Error"] == "InvalidInput"
    assert named in event["Error"]["Cause"]


def test_a_spoke_whose_trust_wants_another_external_id_is_refused_and_the_matching_one_is_reached(
    sandbox_factory,
):
    sandbox = sandbox_factory(parameters={"DryRun": "true", "FleetExternalId": "hub-external-id"})
    fleet = Fleet(sandbox)
    matching, other = Target("111111111111", "us-east-1"), Target("222222222222", "us-east-1")
    fleet.deploy_spoke(matching.account, matching.region, external_id="hub-external-id")
    fleet.deploy_spoke(other.account, other.region, external_id="another-hubs-id")
    for target in (matching, other):
        fleet.create_voice_connector(target.account, target.region, "pbx", [OLD])

    execution = sandbox.wait(
        sandbox.start_fleet(
            {"Targets": {"Accounts": [matching.account, other.account], "Regions": ["us-east-1"]}}
        )
    )

    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    assert event["Totals"]["Connectors"] == 1
    assert [failure["Target"] for failure in event["Failures"]] == [f"{other.account}/{other.region}"]
    assert event["Failures"][0]["Error"] == "SpokeRoleUnavailable"


def test_on_a_fleet_hub_the_schedule_starts_fleet_runs_over_the_fleet_targets(sandbox_factory):
    """The stack deployed with FleetTargets naming an OU: each night the schedule starts the fleet state
    machine with its own input (no Targets, so the run takes FleetTargets), marked as scheduled; the second
    night retires what went stale in every account and Region. The single-account machine never runs."""
    hub = Hub(size=2, regions=tuple(REGIONS))
    sandbox = sandbox_factory(parameters={"DryRun": "false", "GraceDays": 0, "MaxAgeDays": 90}, prepare=hub)
    connectors = {}
    for account in hub.accounts:
        for region in REGIONS:
            hub.fleet.deploy_spoke(account, region)
            connectors[Target(account, region)] = hub.fleet.create_voice_connector(
                account, region, f"pbx-{region}", [OLD]
            )

    nights = [sandbox.fire_schedule(deadline_seconds=300)]
    sandbox.travel(days=100)
    for target, vc in connectors.items():
        hub.fleet.put_credentials(target.account, target.region, vc, [YOUNG])
    nights.append(sandbox.fire_schedule(deadline_seconds=300))

    fleet_machine = sandbox.stack.physical_ids["FleetStateMachine"]
    assert [(state_machine_of(night.arn), night.status) for night in nights] == [
        (fleet_machine, "SUCCEEDED"),
        (fleet_machine, "SUCCEEDED"),
    ], [(night.error, night.cause) for night in nights]
    events = sandbox.audit_events()
    assert [(event["ExecutionArn"], event["Trigger"]) for event in events] == [
        (night.arn, "schedule") for night in nights
    ]
    everywhere = {f"{target.account}/{target.region}" for target in connectors}
    assert [{entry["Target"] for entry in event["Targets"]} for event in events] == [everywhere, everywhere]
    assert (events[0]["Totals"]["Deleted"], events[1]["Totals"]["Deleted"]) == (0, len(connectors))
    assert {target: set(hub.fleet.usernames(target, vc)) for target, vc in connectors.items()} == {
        target: {YOUNG} for target in connectors
    }
    single = sandbox.client("stepfunctions").list_executions(stateMachineArn=sandbox.stack.state_machine_arn)
    assert single["executions"] == []
