"""The run's numbers as CloudWatch metrics, in embedded metric format (Powertools Metrics).

EMF is a log line that CloudWatch turns into metrics: no PutMetricData call, no permission, no latency.
Every metric carries the ``service`` dimension (POWERTOOLS_SERVICE_NAME); per-connector metrics add
``VoiceConnectorId``. Each emission is its own ``EphemeralMetrics``: the shared ``Metrics`` singleton would
mix dimensions between invocations that share a process (the offline sandbox runs them on threads).
"""

from collections import Counter
from collections.abc import Mapping
from os import environ
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

# The template sets POWERTOOLS_METRICS_NAMESPACE to this; the dashboard reads it.
NAMESPACE = "VoiceConnectorCredentialRotation"
# Reasons for which a safety rule held a username: MinKeep, a tie at MinKeep and the grace only ever hold
# old ones; protected and AWSCURRENT are judged before age, so they count whatever the username's age.
# With evidence, in-use is judged before age too, and evidence-stale holds only what the timer would delete.
GUARD_REASONS = frozenset(
    {
        "protected",
        "kept-for-min-keep",
        "tied",
        "current",
        "in-grace",
        "in-use",
        "evidence-stale",
        "revoke-blocked",
    }
)
# The errors statemachine/rotation.asl.json retries that a handler raises itself. (A function that times
# out or dies cannot count itself: Lambda's Errors metric counts those.) A test holds this set to the
# state machine's Retry fields.
RETRIED_ERRORS = frozenset(
    {
        "ThrottledClientException",
        "ChimeRateLimited",
        "ServiceFailureException",
        "ServiceUnavailableException",
        "InternalServiceError",
        "ThrottledException",
        "InternalErrorException",
        "KMSThrottlingException",
        "DeletionOutcomeUnknown",
        # CloudWatch (the rollback watch's GetMetricData).
        "LimitExceededException",
        "InternalServiceFault",
        "Throttling",
    }
)


def connector_counts(entry: Mapping[str, Any]) -> dict[str, int]:
    """One connector entry of the run's report as counts."""
    issued = entry.get("Issued") or {}
    counts = entry["Counts"]
    return {
        "CredentialsListed": sum(counts.values()),
        "CredentialsStale": len(entry["Stale"]),
        "CredentialsDeleted": len(entry["Deleted"]),
        "CredentialsUnconfirmed": len(entry["Unconfirmed"]),
        "CredentialsUnmanaged": counts.get("unmanaged", 0),
        "SuccessorsIssued": int(bool(issued.get("Promoted"))),
        "CredentialsKeptByGuard": sum(count for reason, count in counts.items() if reason in GUARD_REASONS),
        "ConnectorsFailed": int(entry["Error"] is not None),
        "CredentialsInUse": counts.get("in-use", 0),
        "CredentialsHeldForEvidence": counts.get("evidence-stale", 0),
    }


# A connector entry with nothing in it: its counts name every per-run metric, at zero.
_EMPTY_ENTRY: dict[str, Any] = {
    "Counts": {},
    "Stale": [],
    "Deleted": [],
    "Unconfirmed": [],
    "Issued": None,
    "Error": None,
}


def run_counts(event: Mapping[str, Any]) -> dict[str, int]:
    """The audit event's connectors summed, plus the run itself and whether it failed."""
    totals: Counter[str] = Counter(connector_counts(_EMPTY_ENTRY))
    for entry in event["VoiceConnectors"]:
        totals.update(connector_counts(entry))
    return dict(totals) | {"Runs": 1, "RunsFailed": int(event["Outcome"] != "SUCCEEDED")}


def emit(counts: Mapping[str, int], voice_connector_id: str | None = None) -> None:
    metrics = EphemeralMetrics(namespace=environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE)
    if voice_connector_id is not None:
        metrics.add_dimension(name="VoiceConnectorId", value=voice_connector_id)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()


def publish_run_metrics(event: Mapping[str, Any]) -> None:
    emit(run_counts(event))
    for entry in event["VoiceConnectors"]:
        emit(connector_counts(entry), entry["VoiceConnectorId"])


def fleet_run_counts(report: Mapping[str, Any]) -> dict[str, int]:
    """A fleet run's report summed: the same per-run metrics as single-account mode (so the dashboard's
    credential widgets count both modes), plus the fleet's own."""
    totals: Counter[str] = Counter(connector_counts(_EMPTY_ENTRY))
    for entry in report["VoiceConnectors"]:
        totals.update(connector_counts(entry))
    failed = report.get("Error") is not None or totals["ConnectorsFailed"] or report["TargetFailures"]
    return dict(totals) | {
        "FleetRuns": 1,
        "FleetRunsFailed": int(bool(failed)),
        "FleetTargets": len(report["Targets"]),
        "FleetTargetsFailed": len(report["TargetFailures"]),
    }


def publish_fleet_run_metrics(report: Mapping[str, Any]) -> None:
    """Run-level only: a metric per connector across a fleet would be thousands of metrics a month
    (CloudWatch bills each one); the report has every connector."""
    emit(fleet_run_counts(report))


def count_absorbed_throttle() -> None:
    """A Chime throttle that the pace of calls absorbed inside the task (adapters/chime_pace.py): no
    retry of the state machine shows it, so it is counted here, per run."""
    emit({"ChimeThrottled": 1})


def count_retryable_failure(error_name: str, event: Any) -> None:
    """Count an attempt that failed with an error the state machine retries, per run and per connector.

    The retries themselves happen in Step Functions, out of the functions' sight; the attempt that fails
    is the one place that knows it happened. The count is of such failures, so the last attempt of a
    burst that outlasts the retry budget counts too (the execution history has the exact retries).
    """
    if error_name not in RETRIED_ERRORS:
        return
    emit({"RetryableFailures": 1})
    voice_connector_id = event.get("VoiceConnectorId") if isinstance(event, dict) else None
    if isinstance(voice_connector_id, str):
        emit({"RetryableFailures": 1}, voice_connector_id)
