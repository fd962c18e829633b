"""The rollback watch in fleet mode, over the sandbox: after a fleet run deletes, the fleet state machine
waits WatchMinutes once (virtual time) while each account's phone system goes on calling; a deletion that
broke one account's calls is undone there, through that account's spoke role, from the spoke's own
secret, and pages; a healthy connector in another account keeps what was deleted deleted.

The checks read what a person could see: each account's listing, a call through the connector, the fleet's
audit event and report, and the page."""

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from credential_rotation.domain.targets import Target
from sandbox.fleet import Fleet
from sandbox.phone_system import PhoneSystem
from sandbox.session import Sandbox

REGION = "us-east-1"
VERY_OLD = "pbx-manual"
# As in the single-account watch test: the calls during the wait start this far into it, so that none
# falls just before the watch's window.
INTO_THE_WAIT = timedelta(seconds=30)


def rotate(**more: Any) -> dict[str, Any]:
    return {"DryRun": False, "Rotate": True, "RotateAfterDays": 1, "GraceDays": 0, "MaxAgeDays": 1} | more


@dataclass
class Accounts:
    """One connector in each of several accounts (one Region), each with its spoke, its phone system (its
    calls counted in that account's CloudWatch) and the Targets that name them."""

    sandbox: Sandbox
    fleet: Fleet
    connectors: dict[Target, str]
    phones: dict[Target, PhoneSystem] = field(default_factory=dict)

    def run(self, execution_input: dict[str, Any]) -> tuple[Any, dict]:
        accounts = sorted({target.account for target in self.connectors})
        targets = {"Targets": {"Accounts": accounts, "Regions": [REGION]}}
        execution = self.sandbox.wait(
            self.sandbox.start_fleet(targets | execution_input), deadline_seconds=300
        )
        (event,) = [event for event in self.sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
        return execution, event

    def usernames(self, target: Target) -> list[str]:
        return self.fleet.usernames(target, self.connectors[target])

    def current(self, target: Target) -> dict[str, Any]:
        """The AWSCURRENT credential of the connector's secret, read in the spoke account as the phone team
        would."""
        secrets = self.fleet.client(target.account, target.region, "secretsmanager")
        name = f"{self.sandbox.stack.secret_name_prefix}{self.connectors[target]}"
        stages = secrets.describe_secret(SecretId=name)["VersionIdsToStages"]
        (version,) = [version for version, labels in stages.items() if "AWSCURRENT" in labels]
        return dict(json.loads(secrets.get_secret_value(SecretId=name, VersionId=version)["SecretString"]))

    def call(self, target: Target, credential: dict[str, Any], after: timedelta) -> bool:
        at = self.sandbox.now() + after
        vc = self.connectors[target]
        return self.phones[target].call(vc, credential["Username"], credential["Password"], at=at).connected


def accounts(sandbox: Sandbox, count: int, usernames: list[str]) -> Accounts:
    fleet = Fleet(sandbox)
    _, ids = fleet.organization(count)
    made = Accounts(sandbox, fleet, {})
    for account in ids:
        target = Target(account=account, region=REGION)
        fleet.deploy_spoke(account, REGION)
        made.connectors[target] = fleet.create_voice_connector(account, REGION, "pbx", usernames)
        made.phones[target] = PhoneSystem(
            fleet.chime_backend(target),
            fleet.client(account, REGION, "s3"),
            fleet.client(account, REGION, "cloudwatch"),
        )
    return made


def entry(document: dict, voice_connector_id: str) -> dict:
    (found,) = [
        item for item in document["VoiceConnectors"] if item["VoiceConnectorId"] == voice_connector_id
    ]
    return found


def test_a_deletion_that_breaks_one_accounts_calls_is_undone_there_and_a_healthy_account_keeps_it(
    sandbox_factory,
):
    sandbox = sandbox_factory(parameters={"DryRun": "true", "WatchMinutes": "10"})
    made = accounts(sandbox, 2, [VERY_OLD])
    broken, healthy = sorted(made.connectors)
    made.run(rotate(MaxAgeDays=365))  # dates the manual credentials
    sandbox.travel(days=2)
    made.run(rotate(MaxAgeDays=365))  # issues A in each account
    a = {target: made.current(target) for target in made.connectors}
    # Each PBX switches to its A and calls with it, a few calls a day: its baseline.
    for target in made.connectors:
        for day in range(3):
            for hour in range(4):
                assert made.call(target, a[target], timedelta(days=day, hours=hour))
    sandbox.travel(days=3)
    made.run(rotate(MaxAgeDays=365))  # issues B; A becomes AWSPREVIOUS
    b = {target: made.current(target) for target in made.connectors}
    assert all(a[target]["Username"] != b[target]["Username"] for target in made.connectors)
    sandbox.travel(days=2)

    def pbxs_call_during_the_wait(seconds: int) -> None:
        # The broken account's PBX never switched: it still calls with A. The healthy one uses B.
        for minute in range(5):
            made.call(broken, a[broken], INTO_THE_WAIT + timedelta(minutes=minute))
            made.call(healthy, b[healthy], INTO_THE_WAIT + timedelta(minutes=minute))

    sandbox.state_waits.during.append(pbxs_call_during_the_wait)
    sandbox.alerts()
    execution, event = made.run(rotate())

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    # One wait for the whole run, however many connectors it watched.
    assert sandbox.state_waits.waited == [600]
    assert event["Totals"]["Deleted"] == 4
    # The broken account's A is back, with its own password: the PBX's next call authenticates. The
    # credential a person put there is not this workflow's to put back.
    assert a[broken]["Username"] in made.usernames(broken)
    assert made.call(broken, a[broken], timedelta(minutes=20))
    assert VERY_OLD not in made.usernames(broken)
    # The healthy account keeps what was deleted deleted (the run also issued its next successor).
    assert a[healthy]["Username"] not in made.usernames(healthy)
    assert VERY_OLD not in made.usernames(healthy)
    assert made.call(healthy, b[healthy], timedelta(minutes=20))

    assert event["WatchTotals"] == {
        "Watched": 2,
        "Healthy": 1,
        "Quiet": 0,
        "Broken": 1,
        "Restored": 1,
        "NotRestorable": 1,
        "Failed": 0,
    }
    target_name = {target: f"{target.account}/{target.region}" for target in made.connectors}
    # Each deletion carries its watch's verdict, the broken one first.
    assert [(d["Target"], d["VoiceConnectorId"], d["Watch"]) for d in event["Deletions"]] == [
        (
            target_name[broken],
            made.connectors[broken],
            {
                "Verdict": "broken",
                "Signals": ["outbound-failures", "sip-4xx"],
                "Restored": 1,
                "NotRestorable": 1,
                "Error": None,
            },
        ),
        (
            target_name[healthy],
            made.connectors[healthy],
            {"Verdict": "healthy", "Signals": [], "Restored": 0, "NotRestorable": 0, "Error": None},
        ),
    ]
    report = sandbox.report(event)
    restored = entry(report, made.connectors[broken])["Watch"]
    assert (restored["Restored"], restored["NotRestorable"]) == ([a[broken]["Username"]], [VERY_OLD])
    assert restored["Watched"] == {"Attempts": 5, "Failures": 5, "Sip4xx": 5}
    kept = entry(report, made.connectors[healthy])["Watch"]
    assert (kept["Verdict"], kept["Restored"], kept["Watched"]["Failures"]) == ("healthy", [], 0)

    pages = [json.loads(message) for message in sandbox.alerts()]
    (page,) = [page for page in pages if page.get("Broken")]
    assert [(item["Target"], item["VoiceConnectorId"]) for item in page["Broken"]] == [
        (target_name[broken], made.connectors[broken])
    ]
    assert a[broken]["Username"] not in json.dumps(page)


@pytest.mark.parametrize("deletes", [True, False], ids=["deleted-watch-off", "nothing-deleted"])
def test_no_wait_without_a_deletion_or_with_the_watch_off(sandbox_factory, deletes):
    sandbox = sandbox_factory(parameters={"DryRun": "true", "WatchMinutes": "0" if deletes else "10"})
    made = accounts(sandbox, 1, [VERY_OLD])
    (target,) = made.connectors
    made.run({"DryRun": False, "MaxAgeDays": 365})  # dates the manual credential
    sandbox.travel(days=2)
    if deletes:  # a new credential: the manual one, now older than MaxAgeDays, is stale
        made.fleet.put_credentials(target.account, target.region, made.connectors[target], ["pbx-new"])

    execution, event = made.run(
        {"DryRun": False, "GraceDays": 0, "MaxAgeDays": 1}
        if deletes
        else rotate(MaxAgeDays=365)  # a successor is due, nothing is stale
    )

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    # The apply Map ran (it deleted, or it issued), and the watch was looked for, but never waited on.
    assert (event["Totals"]["Deleted"], event["Totals"]["Issued"]) == ((1, 0) if deletes else (0, 1))
    assert "SelectWatched" in execution.states_entered()
    assert "WaitAfterDeleting" not in execution.states_entered()
    assert "WatchFleet" not in execution.states_entered()
    assert sandbox.state_waits.waited == []
    assert event["WatchTotals"]["Watched"] == 0
    assert all(deletion["Watch"] is None for deletion in event["Deletions"])
    assert (VERY_OLD in made.usernames(target)) is not deletes
