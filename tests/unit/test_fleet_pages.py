"""A fleet run's page (tasks/alerting.py over a fleet report): each connector named with its target, and
each list cut to what one SNS message holds, with its full length; single-account pages are not cut."""

import json

from credential_rotation.tasks.alerting import EVIDENCE_STALE, MAX_PAGED_CONNECTORS, page_for

HELD = {"State": "stale", "Why": "no call detail record has been indexed yet"}


def report(connectors: int, fleet: bool = True) -> dict:
    entries = [
        {"VoiceConnectorId": f"vc{number:019d}", "Counts": {"evidence-stale": 1}, "Evidence": HELD}
        | ({"Account": f"{number:012d}", "Region": "us-east-1"} if fleet else {})
        for number in range(connectors)
    ]
    return {
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:fleet:night",
        "StartedAt": "2026-12-06T03:00:00+00:00",
        "DryRun": False,
        "Policy": {},
        "VoiceConnectors": entries,
    }


def test_a_fleet_page_names_each_connectors_target():
    subject, page = page_for(report(2), None, "SUCCEEDED")
    assert subject == EVIDENCE_STALE
    assert [item["Target"] for item in page["EvidenceStale"]] == [
        "000000000000/us-east-1",
        "000000000001/us-east-1",
    ]
    assert page["Outcome"] == "SUCCEEDED"
    assert "EvidenceStaleCount" not in page


def test_a_page_over_thousands_of_connectors_lists_the_first_and_counts_them_all():
    _, page = page_for(report(3 * MAX_PAGED_CONNECTORS), None, "SUCCEEDED")
    assert len(page["EvidenceStale"]) == MAX_PAGED_CONNECTORS
    assert page["EvidenceStaleCount"] == 3 * MAX_PAGED_CONNECTORS
    assert len(json.dumps(page).encode()) < 256 * 1024


def test_a_single_account_page_is_as_before():
    _, page = page_for(report(MAX_PAGED_CONNECTORS, fleet=False) | {"Outcome": "SUCCEEDED"})
    assert len(page["EvidenceStale"]) == MAX_PAGED_CONNECTORS
    assert "Target" not in page["EvidenceStale"][0]
    assert "EvidenceStaleCount" not in page
