"""The demo's fleet part: one hub rotates three accounts in two Regions through their spoke roles.

Each account has a voice connector in us-east-1 and eu-west-1 with a credential of last year and one of
this year; the third account never deployed its spoke in eu-west-1. A preview (events/fleet-dry-run.json)
judges every connector and changes nothing; an applying run retires the old credentials in every account
and Region it can reach, reports the one it cannot, and publishes one audit event for the fleet.
"""

from typing import TYPE_CHECKING, Any

from credential_rotation.domain.targets import Target
from sandbox.fleet import Fleet

if TYPE_CHECKING:
    from sandbox.demo import Demo

ACCOUNTS = ("111111111111", "222222222222", "333333333333")
REGIONS = ("us-east-1", "eu-west-1")
# The spoke the third account never deployed: its target is reported, the rest go on.
MISSING_SPOKE = Target(account="333333333333", region="eu-west-1")
OLD, NEW = "trunk-2025", "trunk-2026"
USERNAMES = (OLD, NEW)


def fleet_acts(demo: "Demo", event_file: Any) -> None:
    sandbox, out = demo.sandbox, demo.out
    fleet = Fleet(sandbox)
    connectors: dict[Target, str] = {}
    for account in ACCOUNTS:
        for region in REGIONS:
            target = Target(account=account, region=region)
            if target != MISSING_SPOKE:
                fleet.deploy_spoke(account, region)
            connectors[target] = fleet.create_voice_connector(account, region, f"pbx-{region}", [OLD])
    out.write(
        "\n--- Fleet mode: the hub rotates 3 accounts x 2 Regions through each account's spoke role "
        f"(fleet/spoke.yaml); {MISSING_SPOKE.account} never deployed its spoke in {MISSING_SPOKE.region}\n"
    )
    preview = event_file("fleet-dry-run.json")
    fleet_run(demo, "events/fleet-dry-run.json dates every connector of the fleet", preview)
    sandbox.travel(days=90)
    for target, vc in connectors.items():
        fleet.put_credentials(target.account, target.region, vc, [NEW])
    sandbox.travel(days=10)
    fleet_run(demo, "events/fleet-dry-run.json previews the fleet", preview)
    fleet_run(
        demo,
        "the fleet applies its plans (DryRun false, GraceDays 0)",
        preview | {"DryRun": False, "GraceDays": 0, "Comment": "events/fleet-dry-run.json, applying"},
    )
    out.write("\n--- The fleet's credentials now\n")
    for target, vc in connectors.items():
        note = "  (its spoke role is missing: not reached, unchanged)" if target == MISSING_SPOKE else ""
        listed = ", ".join(sorted(fleet.usernames(target, vc)))
        out.write(f"{target.account}/{target.region:<10} {vc}  {listed}{note}\n")


def fleet_run(demo: "Demo", title: str, execution_input: dict[str, Any]) -> None:
    sandbox, out = demo.sandbox, demo.out
    demo.runs += 1
    execution = sandbox.wait(sandbox.start_fleet(execution_input), deadline_seconds=300)
    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    totals = event["Totals"]
    out.write(
        f"\n=== Run {demo.runs}, {demo.day()}: {title}\n"
        f"execution {execution.status}{f' ({execution.error})' if execution.error else ''}; "
        f"audit event {event['Outcome']}: {totals['Targets']} targets ({totals['TargetsFailed']} failed), "
        f"{totals['Connectors']} connectors, {totals['Stale']} stale, {totals['Deleted']} deleted\n"
    )
    for entry in event["Targets"]:
        out.write(
            f"  {entry['Target']:<26} connectors {entry['Connectors']}  stale {entry['Stale']}  "
            f"deleted {entry['Deleted']}  failed {entry.get('Failed', 0)}\n"
        )
    for failure in event["Failures"]:
        out.write(f"  failed: {failure['Target']} at {failure['Step']}: {failure['Error']}\n")
    report = event["Report"]
    out.write(
        f"report   s3://{report['Bucket']}/{report['Key']} (version {report['VersionId']}, "
        "Object Lock: governance): every connector of the fleet\n"
    )
