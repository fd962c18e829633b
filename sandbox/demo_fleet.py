"""The demo's fleet part: one hub rotates three accounts in two Regions through their spoke roles.

Each account has a voice connector in us-east-1 and eu-west-1 with a credential of last year and one of
this year; the third account never deployed its spoke in eu-west-1. A preview (events/fleet-dry-run.json)
judges every connector and changes nothing. Then each account forwards its call detail records to the hub
(fleet/spoke.yaml's CallRecordsBucket), and one PBX still calls with last year's credential; an applying
run with QuietDays retires the old credentials in every account and Region it can reach except the one in
use, reports the one it cannot reach, and publishes one audit event for the fleet.
"""

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from credential_rotation.domain.targets import Target
from sandbox.fleet import Fleet

if TYPE_CHECKING:
    from sandbox.demo import Demo

ACCOUNTS = ("111111111111", "222222222222", "333333333333")
REGIONS = ("us-east-1", "eu-west-1")
# The spoke the third account never deployed: its target is reported, the rest go on.
MISSING_SPOKE = Target(account="333333333333", region="eu-west-1")
# Its PBX still authenticates with last year's credential: the call records keep it.
STILL_CALLING = Target(account="111111111111", region="us-east-1")
# Where each account's CDR bucket is.
BUCKET_REGION = "us-east-1"
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
    forward_call_records(demo, fleet, connectors)
    fleet_run(
        demo,
        "the fleet applies its plans (DryRun false, GraceDays 0, QuietDays 14)",
        preview
        | {
            "DryRun": False,
            "GraceDays": 0,
            "QuietDays": 14,
            "Comment": "events/fleet-dry-run.json, applying",
        },
    )
    out.write("\n--- The fleet's credentials now\n")
    for target, vc in connectors.items():
        note = "  (its spoke role is missing: not reached, unchanged)" if target == MISSING_SPOKE else ""
        note = f"  ({OLD} kept: its PBX still calls with it)" if target == STILL_CALLING else note
        listed = ", ".join(sorted(fleet.usernames(target, vc)))
        out.write(f"{target.account}/{target.region:<10} {vc}  {listed}{note}\n")


def forward_call_records(demo: "Demo", fleet: Fleet, connectors: dict[Target, str]) -> None:
    """Each account's CDR bucket, forwarded by its spoke to the hub, whose default bus lets the three accounts
    in (outside an organization: a statement per account); today's calls, indexed."""
    sandbox = demo.sandbox
    for account in ACCOUNTS:
        sandbox.client("events").put_permission(
            EventBusName="default",
            Action="events:PutEvents",
            Principal=account,
            StatementId=f"fleet-call-records-{account}",
        )
        fleet.forward_call_records(account, BUCKET_REGION, list(REGIONS))
    for target, vc in connectors.items():
        credentials = fleet.chime_backend(target).voice_connectors[vc].credentials
        phone = fleet.phone(target.account, target.region)
        for username in (NEW, OLD) if target == STILL_CALLING else (NEW,):
            phone.call(vc, username, credentials[username], at=sandbox.now() - timedelta(hours=2))
    drained = sandbox.index_call_records()
    demo.out.write(
        f"\n--- Each account's spoke forwards its call records to the hub: {drained.succeeded} indexed, "
        f"each under its own account; {STILL_CALLING.account}/{STILL_CALLING.region}'s PBX still calls "
        f"with {OLD}\n"
    )


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
    for entry in sandbox.report(event)["VoiceConnectors"]:
        if entry["Reasons"].get(OLD) == "in-use":
            where = f"{entry['Account']}/{entry['Region']}"
            out.write(f"  {where}: {OLD} is past MaxAgeDays, but its calls say in use: kept\n")
    report = event["Report"]
    out.write(
        f"report   s3://{report['Bucket']}/{report['Key']} (version {report['VersionId']}, "
        "Object Lock: governance): every connector of the fleet\n"
    )
