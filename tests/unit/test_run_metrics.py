"""The run's numbers: counts from hand-built report entries, the retried errors held to the state machine,
and the count of retryable failures as the EMF lines a handler prints."""

import json

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from credential_rotation.adapters.run_metrics import (
    GUARD_REASONS,
    NAMESPACE,
    RETRIED_ERRORS,
    connector_counts,
    fleet_run_counts,
    run_counts,
)
from credential_rotation.domain.errors import DeletionOutcomeUnknown
from credential_rotation.domain.policy import Reason
from credential_rotation.runtime.task import task
from sandbox.lambda_runtime import LambdaContext
from sandbox.template import REPOSITORY

VC_A, VC_B = "abcdefghijklmnopqrstuv", "bcdefghijklmnopqrstuvw"
SERVICE = "voice-connector-credential-rotation"
CONTEXT = LambdaContext("f", "arn:aws:lambda:us-east-1:123456789012:function:f", 256, "request")


def entry(**fields) -> dict:
    base = {
        "VoiceConnectorId": VC_A,
        "Counts": {},
        "Current": None,
        "Stale": [],
        "Deleted": [],
        "Unconfirmed": [],
        "Rotation": None,
        "Issued": None,
        "Error": None,
    }
    return base | fields


def event(outcome: str, *entries: dict) -> dict:
    return {"Outcome": outcome, "VoiceConnectors": list(entries), "Error": None}


GUARDED = entry(
    Counts={
        "protected": 1,
        "kept-for-min-keep": 1,
        "current": 1,
        "in-grace": 1,
        "tied": 2,
        "young": 1,
        "new": 1,
        "stale": 2,
        "unmanaged": 1,
    },
    Stale=["g", "h"],
    Deleted=["g"],
    Issued={"Username": "sip-20260301-k3v9q0zt", "VersionId": "v", "Promoted": True},
)


def test_a_connector_entry_as_counts():
    assert connector_counts(GUARDED) == {
        "CredentialsListed": 11,
        "CredentialsStale": 2,
        "CredentialsDeleted": 1,
        "CredentialsUnconfirmed": 0,
        "CredentialsUnmanaged": 1,
        "SuccessorsIssued": 1,
        # protected, kept-for-min-keep, current, in-grace and the two tied; not young, new, stale nor
        # unmanaged (which no rule holds: the workflow cannot judge it at all).
        "CredentialsKeptByGuard": 6,
        "ConnectorsFailed": 0,
        "CredentialsInUse": 0,
        "CredentialsHeldForEvidence": 0,
    }


@pytest.mark.parametrize(
    ("reason", "guarded"),
    [(reason, 1) for reason in sorted(GUARD_REASONS)]
    + [("young", 0), ("new", 0), ("stale", 0), ("unmanaged", 0)],
)
def test_only_guard_reasons_count_as_kept_by_guard(reason, guarded):
    assert connector_counts(entry(Counts={reason: 1}))["CredentialsKeptByGuard"] == guarded


def test_guard_reasons_are_every_policy_reason_but_age_newness_and_unmanaged():
    deleting = {Reason.STALE, Reason.REVOKED}
    assert set(Reason) - {Reason.NEW, Reason.YOUNG, Reason.UNMANAGED} - deleting == GUARD_REASONS


@pytest.mark.parametrize(
    ("issued", "counted"),
    [
        (None, 0),
        ({"Username": "sip-x", "VersionId": "v", "Promoted": False}, 0),  # failed before FinishSecret
        ({"Username": "sip-x", "VersionId": "v"}, 0),
        ({"Username": "sip-x", "VersionId": "v", "Promoted": True}, 1),
    ],
)
def test_a_successor_counts_only_once_promoted(issued, counted):
    assert connector_counts(entry(Issued=issued))["SuccessorsIssued"] == counted


def test_a_failed_connector_counts_and_its_listing_still_does():
    failed = entry(
        Counts={"stale": 1},
        Stale=["a"],
        Unconfirmed=["a"],
        Error={"Error": "ThrottledClientException", "Cause": "", "Step": "DeleteCredentials"},
    )

    assert connector_counts(failed) == {
        "CredentialsListed": 1,
        "CredentialsStale": 1,
        "CredentialsDeleted": 0,
        "CredentialsUnconfirmed": 1,
        "CredentialsUnmanaged": 0,
        "SuccessorsIssued": 0,
        "CredentialsKeptByGuard": 0,
        "ConnectorsFailed": 1,
        "CredentialsInUse": 0,
        "CredentialsHeldForEvidence": 0,
    }


@pytest.mark.parametrize(("outcome", "failed"), [("SUCCEEDED", 0), ("PARTIAL", 1), ("FAILED", 1)])
def test_run_counts_sum_the_connectors_and_count_the_run(outcome, failed):
    other = entry(
        VoiceConnectorId=VC_B,
        Counts={"stale": 1, "kept-for-min-keep": 1},
        Stale=["x"],
        Deleted=["x"],
        Error={"Error": "States.Timeout", "Cause": "", "Step": "PlanConnector"},
    )

    counts = run_counts(event(outcome, GUARDED, other))

    assert counts == {
        "CredentialsListed": 13,
        "CredentialsStale": 3,
        "CredentialsDeleted": 2,
        "CredentialsUnconfirmed": 0,
        "CredentialsUnmanaged": 1,
        "SuccessorsIssued": 1,
        "CredentialsKeptByGuard": 7,
        "ConnectorsFailed": 1,
        "CredentialsInUse": 0,
        "CredentialsHeldForEvidence": 0,
        "Runs": 1,
        "RunsFailed": failed,
    }


def test_a_run_refused_before_planning_counts_zeros_and_a_failed_run():
    refused = event("FAILED") | {"Error": {"Error": "RunInProgress", "Cause": "held"}}

    assert run_counts(refused) == {
        "CredentialsListed": 0,
        "CredentialsStale": 0,
        "CredentialsDeleted": 0,
        "CredentialsUnconfirmed": 0,
        "CredentialsUnmanaged": 0,
        "SuccessorsIssued": 0,
        "CredentialsKeptByGuard": 0,
        "ConnectorsFailed": 0,
        "CredentialsInUse": 0,
        "CredentialsHeldForEvidence": 0,
        "Runs": 1,
        "RunsFailed": 1,
    }


def retried_error_names(states: dict) -> set[str]:
    names = set()
    for state in states.values():
        for retrier in state.get("Retry", []):
            names.update(retrier["ErrorEquals"])
        for processor in ("ItemProcessor", "Iterator"):
            if processor in state:
                names |= retried_error_names(state[processor]["States"])
        for branch in state.get("Branches", []):
            names |= retried_error_names(branch["States"])
    return names


def test_the_retried_errors_are_those_the_state_machine_retries_that_a_handler_raises():
    asl = json.loads((REPOSITORY / "statemachine" / "rotation.asl.json").read_text())
    retried = retried_error_names(asl["States"])
    assert "ThrottledClientException" in retried  # nested in the Maps: the walk reached them
    assert "KMSThrottlingException" in retried

    raised_by_handlers = {
        name for name in retried if not name.startswith(("Lambda.", "Sandbox.", "Runtime."))
    }

    assert raised_by_handlers == RETRIED_ERRORS


def modeled_error(code: str) -> ClientError:
    """A botocore modelled error, as a client raises it: a ClientError subclass named after the code."""
    error_class = type(code, (ClientError,), {})
    return error_class(
        {"Error": {"Code": code, "Message": "injected"}}, "ListVoiceConnectorTerminationCredentials"
    )


def emitted(capsys) -> list[dict]:
    """The EMF lines printed (the logger's own JSON lines left out)."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def metric_lines(lines: list[dict]) -> list[tuple[list[str], dict[str, list[float]]]]:
    """Each EMF line as (its dimension names, {metric: values}), checked for namespace and service."""
    found = []
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        (dimensions,) = directive["Dimensions"]
        assert line["service"] == SERVICE
        found.append((sorted(dimensions), {m["Name"]: line[m["Name"]] for m in directive["Metrics"]}))
    return found


@pytest.fixture
def service(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)


def raising(error: Exception):
    @task(Logger(service=SERVICE))
    def handler(event: dict, context: object) -> dict:
        raise error

    return handler


def test_a_retried_error_is_counted_for_the_run_and_reraised_under_its_name(service, capsys):
    error = modeled_error("ThrottledClientException")

    with pytest.raises(Exception, match="withheld") as raised:
        raising(error)({"Input": {}}, CONTEXT)

    assert type(raised.value).__name__ == "ThrottledClientException"
    assert metric_lines(emitted(capsys)) == [(["service"], {"RetryableFailures": [1.0]})]


def test_a_retried_error_on_a_connector_is_counted_for_it_too(service, capsys):
    with pytest.raises(Exception, match="ThrottledClientException"):
        raising(modeled_error("ThrottledClientException"))({"VoiceConnectorId": VC_A}, CONTEXT)

    lines = emitted(capsys)
    assert metric_lines(lines) == [
        (["service"], {"RetryableFailures": [1.0]}),
        (["VoiceConnectorId", "service"], {"RetryableFailures": [1.0]}),
    ]
    assert lines[1]["VoiceConnectorId"] == VC_A


def test_a_lost_delete_answer_is_counted_as_retryable(service, capsys):
    with pytest.raises(DeletionOutcomeUnknown):
        raising(DeletionOutcomeUnknown("lost"))({"VoiceConnectorId": VC_A}, CONTEXT)

    assert len(metric_lines(emitted(capsys))) == 2


@pytest.mark.parametrize(
    "error",
    [
        modeled_error("ForbiddenException"),  # not retried: the connector fails at once
        modeled_error("ThrottlingException"),  # Secrets Manager's, retried by the SDK, not the machine
        ValueError("a defect"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_the_state_machine_does_not_retry_emits_nothing(service, capsys, error):
    with pytest.raises(Exception, match="withheld") as raised:
        raising(error)({"VoiceConnectorId": VC_A}, CONTEXT)

    assert type(raised.value).__name__ == type(error).__name__
    assert emitted(capsys) == []


def test_a_handler_that_succeeds_emits_nothing_and_returns_its_result(service, capsys):
    @task(Logger(service=SERVICE))
    def handler(event: dict, context: object) -> dict:
        return {"Seen": event["VoiceConnectorId"]}

    assert handler({"VoiceConnectorId": VC_A}, CONTEXT) == {"Seen": VC_A}
    assert emitted(capsys) == []


def fleet_report(*entries: dict, target_failures: int = 0, error: dict | None = None) -> dict:
    failures = [{"Account": "111111111111", "Region": "us-east-1", "Error": {}}] * target_failures
    targets = [{"Target": "111111111111/us-east-1", "Connectors": 2}, {"Target": "222222222222/us-east-1"}]
    return {"Targets": targets, "TargetFailures": failures, "VoiceConnectors": list(entries), "Error": error}


def test_a_fleet_run_counts_its_connectors_as_single_account_mode_does_and_its_targets_apart():
    deleted = entry(Counts={"stale": 2, "young": 1}, Stale=["a", "b"], Deleted=["a", "b"])
    failed = entry(VoiceConnectorId=VC_B, Counts={"stale": 1}, Stale=["c"], Error={"Error": "X"})

    counts = fleet_run_counts(fleet_report(deleted, failed, target_failures=1))

    assert counts["CredentialsDeleted"] == 2
    assert counts["CredentialsStale"] == 3
    assert counts["ConnectorsFailed"] == 1
    assert (counts["FleetRuns"], counts["FleetTargets"], counts["FleetTargetsFailed"]) == (1, 2, 1)
    assert counts["FleetRunsFailed"] == 1


@pytest.mark.parametrize(
    ("report", "failed"),
    [
        (fleet_report(entry()), 0),
        (fleet_report(entry(), target_failures=1), 1),  # a target not reached is a failed run
        (fleet_report(entry(), error={"Error": "DeletionLimitExceeded"}), 1),
        (fleet_report(entry(Error={"Error": "X"})), 1),
    ],
)
def test_a_fleet_run_is_counted_failed_for_any_failure_it_reports(report, failed):
    assert fleet_run_counts(report)["FleetRunsFailed"] == failed
