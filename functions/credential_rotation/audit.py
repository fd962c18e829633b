"""The audit event: what a run did, built from the state machine's document, whatever the outcome.

The publish task receives the whole state document, because a run can reach it from any point: refused
before listing (a Refusal instead of a Run), failed in ResolveRun (the raw Input still there), refused
at the deletion limit (plans, no changes), after a dry run (plans only) or after issuing and deleting.
Missing parts mean "did not happen", never an error.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from credential_rotation.run_input import refusal_context

# 1.1: per connector, Current, Rotation and Issued; a connector's Error names the Step that failed.
# 1.2: Truncated, when the event had to leave out what the execution history keeps, to fit SNS.
SCHEMA_VERSION = "1.2"
SUCCEEDED, PARTIAL, FAILED = "SUCCEEDED", "PARTIAL", "FAILED"
# Step Functions keeps at most 32,768 characters of a Fail state's cause.
MAX_CAUSE_CHARACTERS = 32_768
MAX_ERROR_CAUSE_CHARACTERS = 2_000
# SNS takes a message of up to 256 KiB, subject and attributes included.
MAX_MESSAGE_BYTES = 240 * 1024
# What a connector entry can do without: the listing and the verdicts, which the execution history keeps.
# What was stale, deleted, issued and failed always stays.
LEFT_OUT_WHEN_TRUNCATED = ("Listed", "Kept", "Reasons")


def error_entry(caught: Mapping[str, Any] | None, step: str | None = None) -> dict[str, Any] | None:
    """A Catch's {Error, Cause}, with a Lambda error's JSON cause reduced to its message, and for a
    connector's error the Step (the state) that failed."""
    if not caught:
        return None
    cause = caught.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        cause = str(parsed["errorMessage"])
    entry = {"Error": str(caught.get("Error", "States.Runtime")), "Cause": cause[:MAX_ERROR_CAUSE_CHARACTERS]}
    return entry | {"Step": step} if step else entry


def _connector_entries(plans: list[dict], changes: list[dict]) -> list[dict[str, Any]]:
    changes_by_id = {change["VoiceConnectorId"]: change for change in changes}
    entries = []
    for plan in plans:
        change = changes_by_id.get(plan["VoiceConnectorId"], {})
        failed = plan if plan.get("Error") else change
        reasons, stale = dict(plan.get("Reasons", {})), list(plan.get("Stale", []))
        entries.append(
            {
                "VoiceConnectorId": plan["VoiceConnectorId"],
                "Listed": list(reasons),
                "Current": plan.get("Current"),
                "Stale": stale,
                "Deleted": list(change.get("Deleted", [])),
                "Kept": sorted(set(reasons) - set(stale)),
                "Reasons": reasons,
                "Rotation": plan.get("Rotation"),
                "Issued": change.get("Issued"),
                "Error": error_entry(failed.get("Error"), failed.get("Step")),
            }
        )
    return entries


def _outcome(run_error: dict | None, connectors: list[dict[str, Any]]) -> str:
    failed = sum(1 for connector in connectors if connector["Error"])
    if run_error or (connectors and failed == len(connectors)):
        return FAILED
    return PARTIAL if failed else SUCCEEDED


def build_event(state: Mapping[str, Any], finished_at: datetime, default_dry_run: bool) -> dict[str, Any]:
    run, refusal = state.get("Run"), state.get("Refusal")
    if run:
        trigger, dry_run, policy = run["Trigger"], run["DryRun"], run["Policy"]
    elif refusal:
        trigger, dry_run, policy = refusal["Trigger"], refusal["DryRun"], None
    else:
        # ResolveRun itself failed: the raw input is still in the state.
        (trigger, dry_run), policy = refusal_context(state.get("Input"), default_dry_run), None
    connectors = _connector_entries(state.get("Plans") or [], state.get("Changes") or [])
    run_error = error_entry(state.get("RunError") or (refusal or {}).get("Refused"))
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "ExecutionArn": state["ExecutionArn"],
        "Trigger": trigger,
        "DryRun": dry_run,
        "Outcome": _outcome(run_error, connectors),
        "StartedAt": state["StartedAt"],
        "FinishedAt": finished_at.isoformat(),
        "Policy": policy,
        "VoiceConnectors": connectors,
        "Error": run_error,
    }


def fit_for_sns(event: dict[str, Any]) -> dict[str, Any]:
    """The event as it is published: whole when it fits in an SNS message, else marked Truncated and
    without each connector's listing and verdicts."""
    if len(json.dumps(event, separators=(",", ":")).encode()) <= MAX_MESSAGE_BYTES:
        return event
    connectors = [
        {key: value for key, value in entry.items() if key not in LEFT_OUT_WHEN_TRUNCATED}
        for entry in event["VoiceConnectors"]
    ]
    return event | {"VoiceConnectors": connectors, "Truncated": True}


def execution_failure(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The error and cause the execution fails with, or (None, None) when it succeeds.

    A failed execution has no output, so the cause carries the audit event itself when it fits.
    """
    outcome = event["Outcome"]
    if outcome == SUCCEEDED:
        return None, None
    if event["Error"]:
        error = event["Error"]["Error"]
    else:
        error = "ConnectorsFailed" if outcome == FAILED else "PartiallyFailed"
    cause = json.dumps(event, separators=(",", ":"))
    if len(cause) > MAX_CAUSE_CHARACTERS:
        failed = [
            connector["VoiceConnectorId"] for connector in event["VoiceConnectors"] if connector["Error"]
        ]
        cause = f"Outcome {outcome}; failed voice connectors: {failed}; the audit event has the details"
    return error, cause[:MAX_CAUSE_CHARACTERS]
