"""Fleet mode's rollback watch, its run-level pieces over moto's S3: which connectors the watch Map gets
(from the apply children's records), and what the fleet's report, event and page say of each watch."""

import json

import boto3
import pytest

from credential_rotation.adapters.fleet_records import FleetRecords
from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.fleet import DiscoveryRecord, interleave
from credential_rotation.domain.models import ReportLocation
from credential_rotation.domain.record_keys import plan_key
from credential_rotation.tasks.alerting import page_for
from credential_rotation.tasks.fleet import record_result
from credential_rotation.tasks.fleet_audit import build_fleet_event, build_fleet_report
from credential_rotation.tasks.fleet_watch import select_fleet_watched
from tests.unit.test_fleet_run import NOW, RUN, VC1, VC2, VC3, A, B, fleet_run, plan_document

WATCH_SECONDS = 600


@pytest.fixture
def records(mocked_aws) -> FleetRecords:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit")
    return FleetRecords(s3, "audit")


def applied(records, target, vc, deleted: int = 0, step: str | None = None) -> None:
    """An apply child's result, recorded as the child records it."""
    result = {"VoiceConnectorId": vc, "Account": target.account, "Region": target.region}
    result |= {"Issued": None, "Deletion": {"Deleted": deleted, "Skipped": 0}}
    if step:
        result |= {"Step": step, "Error": {"Error": "ServiceUnavailableException", "Cause": "down"}}
    record_result(RUN, "apply", result, records)


def watching_run():
    return fleet_run().model_copy(update={"watch_seconds": WATCH_SECONDS})


def test_the_watch_gets_every_connector_the_run_deleted_on_or_whose_delete_step_failed(records):
    applied(records, A, VC1, deleted=2)
    applied(records, A, VC2)  # a successor only
    applied(records, B, VC3, step="DeleteCredentials")  # may have deleted before it failed

    selection = select_fleet_watched(watching_run(), records)

    assert selection.watch_seconds == WATCH_SECONDS
    assert selection.items is not None
    assert selection.items.key == "runs/night-1/fleet/watch.json"
    assert [(item["Account"], item["VoiceConnectorId"]) for item in records.items(selection.items.ref)] == [
        (A.account, VC1),
        (B.account, VC3),
    ]


def test_nothing_deleted_means_no_wait_and_no_item_file(records):
    applied(records, A, VC1)
    applied(records, B, VC3, step="CreateSecret")

    selection = select_fleet_watched(watching_run(), records)

    assert selection.to_wire() == {"WatchSeconds": 0, "Items": None}
    assert not [ref for ref, _ in records.documents("runs/night-1/fleet/watch")]


def test_with_the_watch_off_no_record_is_read(records):
    applied(records, A, VC1, deleted=1)
    # A record that would be refused if it were read.
    records.put("runs/night-1/fleet/results/apply/x.json", {"VoiceConnectorId": VC1})

    assert select_fleet_watched(fleet_run(), records).to_wire() == {"WatchSeconds": 0, "Items": None}


def test_a_result_filed_under_another_connectors_place_is_refused(records):
    applied(records, A, VC1, deleted=1)
    document = records.get(next(ref for ref, _ in records.documents("runs/night-1/fleet/results/apply/")))
    records.put(
        "runs/night-1/fleet/results/apply/222222222222/eu-west-1/" + VC3 + ".json",
        document | {"Deletion": {}},
    )

    with pytest.raises(RunRecordMismatch, match="another connector or run"):
        select_fleet_watched(watching_run(), records)


def fleet_state(records, watched: list, **more) -> dict:
    """A fleet run that planned and applied VC1 (in A) and VC3 (in B), each deleting one credential, and
    gave the watch Map ``watched``."""
    discovery = records.put(
        "runs/night-1/fleet/discovery.json",
        DiscoveryRecord(
            execution_arn=RUN,
            targets=(f"{A.account}/{A.region}", f"{B.account}/{B.region}"),
            connectors={f"{A.account}/{A.region}": 1, f"{B.account}/{B.region}": 1},
            failures=(),
        ).to_wire(),
    )
    items = interleave({A: [VC1], B: [VC3]})
    listed = records.put_items("runs/night-1/fleet/items.json", [item.to_wire() for item in items])
    applying = records.put_items("runs/night-1/fleet/apply.json", [item.to_wire() for item in items])
    for target, vc in ((A, VC1), (B, VC3)):
        records.put(plan_key(RUN, vc, target), plan_document(vc, ("old-1",)))
    selected = records.put_items("runs/night-1/fleet/watch.json", [item.to_wire() for item in watched])

    def location(ref, count):
        return {"Bucket": "audit", "Key": ref.key, "Sha256": ref.sha256, "Count": count}

    return {
        "Run": watching_run().to_wire(),
        "Discovery": {"Record": discovery.to_wire()},
        "Items": location(listed, 2),
        "Apply": {"Items": location(applying, 2)},
        "WatchSelection": {"WatchSeconds": WATCH_SECONDS, "Items": location(selected, len(watched))},
    } | more


def watched(records, target, vc, verdict: str) -> None:
    """A watch child's result, recorded as the child records it (Watched, or CheckConnectorFailed)."""
    result = {"VoiceConnectorId": vc, "Account": target.account, "Region": target.region}
    if verdict == "failed":
        result |= {"Watch": None, "Step": "CheckConnector", "Error": {"Error": "AccessDenied", "Cause": "x"}}
    else:
        counts = {"Attempts": 5, "Failures": 5 if verdict == "broken" else 0, "Sip4xx": 0}
        result |= {
            "Watch": {
                "VoiceConnectorId": vc,
                "Verdict": verdict,
                "Signals": ["outbound-failures"] if verdict == "broken" else [],
                "Watched": counts,
                "Baseline": counts | {"Failures": 0},
                "Restore": None,
            }
        }
    record_result(RUN, "watch", result, records)


def test_each_watched_connector_reports_its_watch_and_a_lost_watch_is_named(records):
    items = interleave({A: [VC1], B: [VC3]})
    state = fleet_state(records, items)
    watched(records, A, VC1, "healthy")  # B's child left nothing

    report = build_fleet_report(state, records, records, NOW)

    by_vc = {entry["VoiceConnectorId"]: entry for entry in report["VoiceConnectors"]}
    assert by_vc[VC1]["Watch"]["Verdict"] == "healthy"
    assert by_vc[VC1]["Watch"]["Watched"] == {"Attempts": 5, "Failures": 0, "Sip4xx": 0}
    assert by_vc[VC3]["Watch"]["Verdict"] is None
    assert by_vc[VC3]["Watch"]["Error"]["Error"] == "ResultMissing"
    assert report["Error"] is None


def test_a_connector_not_given_to_the_watch_has_no_watch_and_a_failed_watch_fails_the_run(records):
    state = fleet_state(records, [], WatchError={"Error": "SlowDown", "Cause": "S3 said so"})

    report = build_fleet_report(state, records, records, NOW)

    assert all(entry["Watch"] is None for entry in report["VoiceConnectors"])
    assert report["Error"]["Error"] == "SlowDown"


def event_of(report: dict) -> dict:
    return build_fleet_event(report, ReportLocation(bucket="audit", key="reports/r.json", version_id="v1"))


def test_the_event_puts_the_broken_deletions_first_with_their_verdicts_and_the_page_names_them(records):
    items = interleave({A: [VC1], B: [VC3]})
    state = fleet_state(records, items)
    watched(records, A, VC1, "healthy")
    watched(records, B, VC3, "failed")
    report = build_fleet_report(state, records, records, NOW)
    for entry in report["VoiceConnectors"]:
        entry["Deleted"] = ["old-1"]  # as the outcome records would say

    event = event_of(report)

    assert [
        (deletion["VoiceConnectorId"], deletion["Watch"]["Error"]) for deletion in event["Deletions"]
    ] == [
        (VC3, "AccessDenied"),
        (VC1, None),
    ]
    assert event["WatchTotals"] == {
        "Watched": 2,
        "Healthy": 1,
        "Quiet": 0,
        "Broken": 0,
        "Restored": 0,
        "NotRestorable": 0,
        "Failed": 1,
    }
    subject, page = page_for(report, event["Report"], event["Outcome"])
    assert subject == "A credential deletion broke outbound calls"
    assert [(item["Target"], item["VoiceConnectorId"], item["Error"]) for item in page["Broken"]] == [
        (f"{B.account}/{B.region}", VC3, "AccessDenied")
    ]
    assert "old-1" not in json.dumps(page)


def test_no_page_when_every_watch_was_healthy(records):
    items = interleave({A: [VC1]})
    state = fleet_state(records, items)
    watched(records, A, VC1, "healthy")
    report = build_fleet_report(state, records, records, NOW)

    event = event_of(report)
    assert page_for(report, event["Report"], event["Outcome"]) is None
