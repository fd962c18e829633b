"""The audit event fits an SNS message: the run limits bound it before anything is deleted, and the bound
holds for the largest event the run can then produce."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credential_rotation.domain.errors import AuditLimitExceeded
from credential_rotation.tasks.audit import (
    MAX_MESSAGE_BYTES,
    build_event,
    largest_event_bytes,
    message_bytes,
)
from credential_rotation.tasks.planning import enforce_run_limits

POLICY = {
    "MaxAgeDays": 90,
    "MinKeep": 1,
    "ProtectedUsernames": ["break-glass-*"],
    "MaxDeletions": 10_000,
    "GraceDays": 7,
    "Rotate": True,
    "RotateAfterDays": 60,
    "UsernamePrefix": "sip-",
    "SecretNamePrefix": "chime-voice-connector/rotation/",
}
LOCATION = {"Bucket": "rotation-auditbucket", "Key": "reports/2026/01/05/run.json", "VersionId": "v1"}
# A cause with every kind of character JSON must escape, far longer than an event keeps.
NASTY_CAUSE = '"\\\n\u2028é\x00' * 500


def stale_names(n: int, count: int, length: int, unicode: bool = False) -> list[str]:
    fill = "\u00e9" if unicode else "x"
    return [f"{n:03d}-{i:04d}-".ljust(length, fill) for i in range(count)]


def summary(n: int, stale: list[str], due: bool) -> dict:
    """A plan summary as PlanConnector returns it."""
    return {
        "VoiceConnectorId": f"{n:022d}",
        "Record": {"Key": f"runs/x/plans/{n}.json", "Sha256": "0" * 64},
        "Counts": {"stale": len(stale), "kept-for-min-keep": 1, "protected": 1},
        "StaleCount": len(stale),
        "StaleBytes": len(json.dumps(stale, separators=(",", ":"))),
        "LedgerProblems": 2,
        "Rotation": {
            "Due": due,
            "Reason": "youngest-older-than-rotate-after-days" if due else "youngest-is-recent",
        },
    }


def worst_entry(summary: dict, stale: list[str], unconfirmed: bool, evidence: bool = False) -> dict:
    """The largest report entry a connector with this plan can end with: every stale one deleted (or, when
    the delete step failed, unconfirmed), a successor issued, the longest error, every problem; with
    evidence on, its longest state and why; where something was deleted, a watch at its largest."""
    return {
        "Evidence": {
            "State": "no-sip-auth-user",
            "Why": NASTY_CAUSE,
            "Since": None,
            "LastUsed": dict.fromkeys(stale, "2026-01-05T03:00:00+00:00"),
            "Calls": dict.fromkeys(stale, 10**9),
            "Unused": stale,
            "Switched": stale,
            "UnauthenticatedCalls": 10**9,
            "NotSwitched": ["f" * 16] * 10,
            "SuccessorSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + "p" * 200,
        }
        if evidence
        else None,
        "Watch": {
            "Verdict": None,
            "Signals": ["outbound-failures", "sip-4xx"],
            "Watched": {"Attempts": 10**9, "Failures": 10**9, "Sip4xx": 10**9},
            "Baseline": {"Attempts": 10**9, "Failures": 10**9, "Sip4xx": 10**9},
            "Restored": stale,
            "NotRestorable": stale,
            "Error": {"Error": "E" * 500, "Cause": NASTY_CAUSE, "Step": "RestoreDeleted"},
        }
        if stale
        else None,
        "VoiceConnectorId": summary["VoiceConnectorId"],
        "Current": "u" * 32 + "20260105-abcd1234",
        "Counts": summary["Counts"],
        "Reasons": dict.fromkeys(stale, "stale"),
        "Stale": stale,
        "Deleted": [] if unconfirmed else stale,
        "Unconfirmed": stale if unconfirmed else [],
        "Skipped": [],
        "Unmanaged": [],
        "LedgerProblems": [{"Username": "x", "Problem": "State: missing"}] * summary["LedgerProblems"],
        "LedgerUpdated": True,
        "Rotation": summary["Rotation"],
        "Issued": {
            "Username": "u" * 32 + "20260105-abcd1234",
            "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + "p" * 200 + "-AbCdEf",
            "VersionId": "00000000-0000-0000-0000-000000000000",
            "IssuedAt": "2026-01-05T03:00:00.123456+00:00",
            "Promoted": True,
        }
        if summary["Rotation"]["Due"]
        else None,
        "Error": {"Error": "E" * 500, "Cause": NASTY_CAUSE, "Step": "DeleteCredentials"},
    }


def report(entries: list[dict], policy: dict = POLICY) -> dict:
    return {
        "SchemaVersion": "2.0",
        "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:rotation:" + "e" * 80,
        "Trigger": "schedule",
        "DryRun": False,
        "Outcome": "PARTIAL",
        "StartedAt": "2026-01-05T03:00:00+00:00",
        "FinishedAt": "2026-01-05T03:00:09+00:00",
        "Policy": policy,
        "VoiceConnectors": entries,
        "Error": {"Error": "States.Runtime", "Cause": NASTY_CAUSE},
    }


# Generated extremes: up to the run's 100 connectors, usernames up to the 1,024 bytes the ledger keys
# (non-ASCII ones cost JSON six bytes a character), and thousands of stale usernames on a few connectors.
SHAPES = st.one_of(
    st.tuples(st.integers(1, 100), st.integers(0, 12), st.integers(1, 1_024)),
    st.tuples(st.integers(1, 3), st.integers(0, 5_000), st.integers(1, 64)),
)


@settings(max_examples=80, deadline=None)
@given(
    shape=SHAPES, unicode=st.booleans(), due=st.booleans(), unconfirmed=st.booleans(), evidence=st.booleans()
)
def test_no_event_a_run_can_publish_is_larger_than_the_bound_its_plan_got(
    shape, unicode, due, unconfirmed, evidence
):
    connectors, stale, length = shape
    policy = POLICY | ({"QuietDays": 14} if evidence else {})
    names = [stale_names(n, stale, length, unicode) for n in range(connectors)]
    summaries = [summary(n, names[n], due) for n in range(connectors)]
    entries = [worst_entry(summaries[n], names[n], unconfirmed, evidence) for n in range(connectors)]

    published = build_event(report(entries, policy), LOCATION)

    assert message_bytes(published) <= largest_event_bytes(summaries, policy)


def test_a_run_at_the_old_limits_fits_and_one_far_beyond_them_is_refused():
    # 100 connectors with 9 stale usernames of 60 characters each: the shape the previous schema had to
    # truncate. It fits whole now, with room to spare.
    names = [stale_names(n, 9, 60) for n in range(100)]
    summaries = [summary(n, names[n], due=True) for n in range(100)]
    assert enforce_run_limits(summaries, 10_000, largest_event_bytes(summaries, POLICY)) == 900

    # Ten times as many would make an event no SNS message holds: refused, before anything is deleted.
    names = [stale_names(n, 90, 60) for n in range(100)]
    summaries = [summary(n, names[n], due=True) for n in range(100)]
    with pytest.raises(AuditLimitExceeded, match="could not name every deletion"):
        enforce_run_limits(summaries, 10_000, largest_event_bytes(summaries, POLICY))


def test_a_refused_plan_too_large_to_name_publishes_its_event_without_the_stale_lists():
    names = [stale_names(n, 90, 60) for n in range(100)]
    entries = [
        worst_entry(summary(n, names[n], due=False), names[n], unconfirmed=False)
        | {"Deleted": [], "Issued": None, "Error": None}
        for n in range(100)
    ]
    whole = report(entries) | {"Error": {"Error": "AuditLimitExceeded", "Cause": "too large"}}

    published = build_event(whole, LOCATION)

    assert message_bytes(published) <= MAX_MESSAGE_BYTES
    assert all(entry["StaleOmitted"] and entry["Stale"] == [] for entry in published["VoiceConnectors"])
    assert published["Error"]["Error"] == "AuditLimitExceeded"
    assert published["Report"] == LOCATION


def test_the_event_keeps_what_a_person_must_see_and_leaves_the_rest_to_the_report():
    names = stale_names(1, 3, 20)
    entry = worst_entry(summary(1, names, due=True), names, unconfirmed=False)

    (published,) = build_event(report([entry]), LOCATION)["VoiceConnectors"]

    assert published["Stale"] == published["Deleted"] == names
    assert published["Issued"]["Username"] == entry["Issued"]["Username"]
    assert "SecretArn" not in published["Issued"]  # the report has it
    assert published["LedgerProblems"] == 2
    assert not {"Reasons", "Skipped", "Unmanaged", "LedgerUpdated"} & set(published)
    # The error stays, named and cut, in characters JSON does not have to escape.
    assert published["Error"]["Step"] == "DeleteCredentials"
    assert published["Error"]["Error"] == "E" * 64
    assert len(published["Error"]["Cause"]) == 200
    assert json.dumps(published["Error"]["Cause"]) == f'"{published["Error"]["Cause"]}"'
