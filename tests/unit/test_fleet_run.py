"""Fleet mode's run-level rules and steps over moto's S3 and DynamoDB: the item order, the fleet's deletion
limits, the ledger's account-and-Region keys, and what the fleet's steps read back from the audit bucket."""

from datetime import UTC, datetime

import boto3
import pytest

from credential_rotation.adapters.fleet_records import FleetRecords
from credential_rotation.adapters.ledger import CredentialLedger, fleet_partition
from credential_rotation.domain.errors import DeletionLimitExceeded, RunRecordMismatch
from credential_rotation.domain.fleet import DiscoveryRecord, FleetRun, deletion_limit_refusal, interleave
from credential_rotation.domain.models import Policy, RotationEntry
from credential_rotation.domain.record_keys import plan_key
from credential_rotation.domain.rotation_due import RotationReason
from credential_rotation.domain.targets import Target
from credential_rotation.tasks.fleet import check_fleet_limits, record_result, result_key
from credential_rotation.tasks.fleet_audit import build_fleet_report
from tests.support.aws import create_ledger_table

RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation-FleetStateMachine:night-1"
NOW = datetime(2026, 1, 5, 3, tzinfo=UTC)
A, B = Target("111111111111", "us-east-1"), Target("222222222222", "eu-west-1")
VC1, VC2, VC3 = "aaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccccc"


def policy(max_deletions: int = 100) -> Policy:
    return Policy(
        max_age_days=90,
        min_keep=1,
        protected_usernames=(),
        max_deletions=max_deletions,
        grace_days=0,
        rotate=False,
        rotate_after_days=60,
        username_prefix="sip-",
    )


def fleet_run(max_deletions: int = 100, per_account: int = 100, dry_run: bool = False) -> FleetRun:
    return FleetRun(
        execution_arn=RUN,
        started_at=NOW,
        trigger="manual",
        dry_run=dry_run,
        policy=policy(max_deletions),
        voice_connector_ids=(),
        max_concurrency=5,
        max_deletions_per_account=per_account,
        targets=2,
    )


def test_items_take_turns_across_targets_so_the_map_spreads_its_concurrency():
    items = interleave({A: [VC2, VC1, VC3], B: [VC3]})

    assert [(item.account, item.voice_connector_id) for item in items] == [
        (A.account, VC1),
        (B.account, VC3),
        (A.account, VC2),
        (A.account, VC3),
    ]


def test_the_fleet_limits_hold_for_the_whole_run_and_for_each_account():
    assert deletion_limit_refusal({"1": 3, "2": 4}, max_deletions=7, max_deletions_per_account=4) is None
    over_run = deletion_limit_refusal({"1": 3, "2": 4}, max_deletions=6, max_deletions_per_account=4)
    assert over_run is not None
    assert "more than MaxDeletions (6)" in over_run
    over_account = deletion_limit_refusal({"1": 3, "2": 4}, max_deletions=7, max_deletions_per_account=3)
    assert over_account is not None
    assert "MaxDeletionsPerAccount (3) in account 2" in over_account


@pytest.fixture
def records(mocked_aws) -> FleetRecords:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit")
    return FleetRecords(s3, "audit")


def plan_document(vc: str, stale: tuple[str, ...], due: bool = False) -> dict:
    return {
        "ExecutionArn": RUN,
        "VoiceConnectorId": vc,
        "Now": NOW.isoformat(),
        "Reasons": dict.fromkeys(stale, "stale") | {"sip-young": "young"},
        "Stale": list(stale),
        "Current": None,
        "Unmanaged": [],
        "LedgerProblems": [],
        "Rotation": RotationEntry(
            due=due, reason=RotationReason.DUE if due else RotationReason.NOT_DUE
        ).to_wire(),
    }


def test_the_limits_check_reads_every_plan_and_lists_only_the_connectors_with_work(records):
    records.put(plan_key(RUN, VC1, A), plan_document(VC1, ("old-1", "old-2")))
    records.put(plan_key(RUN, VC2, A), plan_document(VC2, ()))
    records.put(plan_key(RUN, VC3, B), plan_document(VC3, (), due=True))

    checked = check_fleet_limits(fleet_run(), records)

    assert (checked.planned, checked.stale, checked.items.count) == (3, 2, 2)
    items = records.items(checked.items.ref)
    assert [(item["Account"], item["VoiceConnectorId"], item["StaleCount"]) for item in items] == [
        (A.account, VC1, 2),
        (B.account, VC3, 0),
    ]


def test_the_limits_check_refuses_an_account_over_its_limit_before_writing_any_item(records):
    records.put(plan_key(RUN, VC1, A), plan_document(VC1, ("old-1", "old-2")))
    records.put(plan_key(RUN, VC3, B), plan_document(VC3, ("old-1",)))

    with pytest.raises(DeletionLimitExceeded, match="in account 111111111111"):
        check_fleet_limits(fleet_run(per_account=1), records)

    assert not list(records.documents("runs/night-1/fleet/"))


def test_a_plan_filed_under_another_connectors_place_is_refused(records):
    records.put(plan_key(RUN, VC1, A), plan_document(VC2, ("old-1",)))

    with pytest.raises(RunRecordMismatch):
        check_fleet_limits(fleet_run(), records)


def test_a_childs_result_is_recorded_under_its_phase_and_place(records):
    result = {"VoiceConnectorId": VC1, "Account": A.account, "Region": A.region, "Step": "PlanConnector"}

    ref = record_result(RUN, "plan", result | {"Error": {"Error": "Boom", "Cause": "x"}}, records)

    assert ref.key == "runs/night-1/fleet/results/plan/111111111111/us-east-1/" + VC1 + ".json"
    assert ref.key == result_key(RUN, "plan", interleave({A: [VC1]})[0])
    assert records.get(ref)["Phase"] == "plan"


def test_a_fleet_ledger_keys_each_connector_under_its_account_and_region(mocked_aws):
    dynamodb = boto3.client("dynamodb")
    create_ledger_table(dynamodb, "ledger")
    hub = CredentialLedger(dynamodb, "ledger")
    in_a = CredentialLedger(dynamodb, "ledger", A.account, A.region)
    in_b = CredentialLedger(dynamodb, "ledger", B.account, B.region)

    in_a.first_seen(VC1, "sip-a")  # a read of an absent row writes nothing
    assert in_a.record_issuing(VC1, "sip-a", "v-1", NOW, RUN)
    assert in_b.record_issuing(VC1, "sip-b", "v-2", NOW, RUN)

    assert set(in_a.read(VC1).records) == {"sip-a"}
    assert set(in_b.read(VC1).records) == {"sip-b"}
    assert hub.read(VC1).records == {}
    keys = {item["VoiceConnectorId"]["S"] for item in dynamodb.scan(TableName="ledger")["Items"]}
    assert keys == {fleet_partition(A.account, A.region, VC1), fleet_partition(B.account, B.region, VC1)}


def test_the_fleet_report_is_built_even_when_a_plan_is_not_the_runs_and_says_so(records):
    run = fleet_run()
    discovery = records.put(
        "runs/night-1/fleet/discovery.json",
        DiscoveryRecord(
            execution_arn=RUN,
            targets=("111111111111/us-east-1",),
            connectors={"111111111111/us-east-1": 1},
            failures=(),
        ).to_wire(),
    )
    items = records.put_items(
        "runs/night-1/fleet/items.json", [item.to_wire() for item in interleave({A: [VC1]})]
    )
    # Filed under VC1's place, but the plan of another connector.
    records.put(plan_key(RUN, VC1, A), plan_document(VC2, ("old-1",)))
    state = {
        "Run": run.to_wire(),
        "Discovery": {"Record": discovery.to_wire()},
        "Items": {"Bucket": "audit", "Key": items.key, "Sha256": items.sha256, "Count": 1},
    }

    report = build_fleet_report(state, records, records, NOW)

    assert report["Error"]["Error"] == "RunRecordMismatch"
    (entry,) = report["VoiceConnectors"]
    assert entry["Stale"] == []
    assert entry["Error"]["Error"] == "ResultMissing"
