"""The audit trail of a run: the full report in the audit bucket, and the audit event on the SNS topic.

The publish task receives the run's state document, which a run can bring from any point: refused before
listing (a Refusal instead of a Run), failed in ResolveRun (the raw Input still there), refused at its
limits (plan summaries, no changes), after a dry run (plan summaries only) or after issuing and
deleting. The state carries no usernames: the plans and outcomes are records in the audit bucket, read
back here against the digests the state carried. Missing parts mean "did not happen", never an error.

- The report holds everything: every username's reason, what was skipped, the credentials the workflow
  cannot manage (by fingerprint) and the ledger rows it cannot read. It is written once, under the
  bucket's Object Lock.
- The event names the report and holds what a person must see at once: per connector the counts, the
  stale, deleted and unconfirmed usernames, the successor issued and the error. It never drops a
  deleted username: the run limits (planning.enforce_run_limits) refuse, before anything is deleted, a
  plan whose largest possible event would not fit an SNS message (``largest_event_bytes``).
"""

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from credential_rotation.domain.audit_documents import SCHEMA_VERSION
from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.evidence import EvidenceState
from credential_rotation.domain.models import OutcomeRecord, PlanRecord, RecordRef, RestoreRecord
from credential_rotation.domain.rotation_due import RotationReason
from credential_rotation.domain.watch import WatchVerdict
from credential_rotation.ports import RunRecords
from credential_rotation.tasks.run_input import refusal_context

# 2.0: the run's full report in S3 (Report names it); the event keeps per connector Counts, Stale,
# Deleted, Unconfirmed, Issued and Error, and leaves the listing and its reasons to the report.
SUCCEEDED, PARTIAL, FAILED = "SUCCEEDED", "PARTIAL", "FAILED"
# Step Functions keeps at most 32,768 characters of a Fail state's cause.
MAX_CAUSE_CHARACTERS = 32_768
# An error's cause as the report keeps it, and as the event does.
MAX_REPORT_CAUSE_CHARACTERS = 2_000
MAX_ERROR_NAME_CHARACTERS = 100
MAX_EVENT_CAUSE_CHARACTERS = 200
MAX_EVENT_RUN_CAUSE_CHARACTERS = 1_000
MAX_EVENT_ERROR_NAME_CHARACTERS = 64
# SNS takes a message of up to 256 KiB, subject and attributes included: this leaves them 16 KiB.
MAX_MESSAGE_BYTES = 240 * 1024
DELETE_STEP = "DeleteCredentials"


def error_entry(
    caught: Mapping[str, Any] | None, step: str | None = None, cause_limit: int = MAX_REPORT_CAUSE_CHARACTERS
) -> dict[str, Any] | None:
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
    entry = {
        "Error": str(caught.get("Error", "States.Runtime"))[:MAX_ERROR_NAME_CHARACTERS],
        "Cause": str(cause)[:cause_limit],
    }
    return entry | {"Step": step} if step else entry


def _connector_entry(
    summary: Mapping[str, Any], change: Mapping[str, Any], records: RunRecords, execution_arn: str
) -> dict[str, Any]:
    vc_id = summary["VoiceConnectorId"]
    failed = summary if summary.get("Error") else change
    error = error_entry(failed.get("Error"), failed.get("Step"))
    plan: PlanRecord | None = None
    outcome: OutcomeRecord | None = None
    try:
        if "Record" in summary:
            plan = records.read(RecordRef.model_validate(summary["Record"]), PlanRecord, vc_id, execution_arn)
        if "Outcome" in (change.get("Deletion") or {}):
            ref = RecordRef.model_validate(change["Deletion"]["Outcome"])
            outcome = records.read(ref, OutcomeRecord, vc_id, execution_arn)
    except RunRecordMismatch as mismatch:
        # Reported, not raised: the rest of the run's audit trail must still be published.
        error = error or error_entry(
            {"Error": type(mismatch).__name__, "Cause": str(mismatch)}, "PublishAudit"
        )
    stale = list(plan.stale) if plan else []
    delete_failed = (error or {}).get("Step") == DELETE_STEP
    return {
        "VoiceConnectorId": vc_id,
        "Current": plan.current if plan else None,
        "Counts": dict(summary.get("Counts") or {}),
        "Reasons": {username: reason.value for username, reason in plan.reasons.items()} if plan else {},
        "Stale": stale,
        "Deleted": list(outcome.deleted) if outcome else [],
        # The delete step failed, and its outcome record is not one the state vouches for: any of the
        # stale ones may be gone (an attempt that died or got a 5xx may have deleted before it failed).
        "Unconfirmed": stale if delete_failed and outcome is None else [],
        "Skipped": list(outcome.skipped) if outcome else [],
        "Unmanaged": [entry.to_wire() for entry in plan.unmanaged] if plan else [],
        "LedgerProblems": [entry.to_wire() for entry in plan.ledger_problems] if plan else [],
        "LedgerUpdated": outcome.ledger_updated if outcome else True,
        "Rotation": summary.get("Rotation"),
        "Issued": change.get("Issued"),
        "Evidence": plan.evidence.to_wire() if plan and plan.evidence else None,
        "Error": error,
    }


def watch_entry(
    watch: Mapping[str, Any] | None, records: RunRecords, execution_arn: str
) -> dict[str, Any] | None:
    """What the rollback watch saw on a connector and what it put back (None: not watched)."""
    if watch is None:
        return None
    result = watch.get("Watch") or {}
    restore = result.get("Restore")
    restored: list[str] = []
    not_restorable: list[str] = []
    error = error_entry(watch.get("Error"), watch.get("Step"))
    if restore:
        try:
            record = records.read(
                RecordRef.model_validate(restore["Record"]),
                RestoreRecord,
                watch["VoiceConnectorId"],
                execution_arn,
            )
            restored, not_restorable = list(record.restored), list(record.not_restorable)
        except RunRecordMismatch as mismatch:
            error = error or error_entry(
                {"Error": type(mismatch).__name__, "Cause": str(mismatch)}, "PublishAudit"
            )
    return {
        "Verdict": result.get("Verdict"),
        "Signals": list(result.get("Signals") or []),
        "Watched": result.get("Watched"),
        "Baseline": result.get("Baseline"),
        "Restored": restored,
        "NotRestorable": not_restorable,
        "Error": error,
    }


def _outcome(run_error: Mapping[str, Any] | None, connectors: list[dict[str, Any]]) -> str:
    failed = sum(1 for connector in connectors if connector["Error"])
    if run_error or (connectors and failed == len(connectors)):
        return FAILED
    return PARTIAL if failed else SUCCEEDED


def build_report(
    state: Mapping[str, Any],
    records: RunRecords,
    finished_at: datetime,
    default_dry_run: bool,
    secret_name_prefix: str,
) -> dict[str, Any]:
    """The run's full report, from its state document and the records its tasks wrote."""
    run, refusal = state.get("Run"), state.get("Refusal")
    if run:
        trigger, dry_run = run["Trigger"], run["DryRun"]
        policy = dict(run["Policy"]) | {"SecretNamePrefix": secret_name_prefix}
    elif refusal:
        trigger, dry_run, policy = refusal["Trigger"], refusal["DryRun"], None
    else:
        # ResolveRun itself failed: the raw input is still in the state.
        (trigger, dry_run), policy = refusal_context(state.get("Input"), default_dry_run), None
    changes = {change["VoiceConnectorId"]: change for change in state.get("Changes") or []}
    watches = {watch["VoiceConnectorId"]: watch for watch in state.get("Watches") or []}
    connectors = [
        _connector_entry(
            summary, changes.get(summary["VoiceConnectorId"], {}), records, state["ExecutionArn"]
        )
        | {"Watch": watch_entry(watches.get(summary["VoiceConnectorId"]), records, state["ExecutionArn"])}
        for summary in state.get("Plans") or []
    ]
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


# What the event leaves to the report.
REPORT_ONLY = ("Reasons", "Skipped", "Unmanaged", "LedgerProblems", "LedgerUpdated", "Evidence", "Watch")
# The successor as the event names it (the report adds its SecretArn).
ISSUED_IN_EVENT = ("Username", "VersionId", "IssuedAt", "Promoted")


def _plain(text: str, limit: int) -> str:
    """Printable ASCII without quotes or backslashes, cut to ``limit``: JSON then adds no escapes, so the
    text costs at most ``limit`` bytes in the event whatever an error message held."""
    kept = (character if " " <= character <= "~" and character not in '"\\' else "?" for character in text)
    return "".join(kept)[:limit]


def _event_error(error: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not error:
        return None
    return dict(error) | {
        "Error": _plain(error["Error"], MAX_EVENT_ERROR_NAME_CHARACTERS),
        "Cause": _plain(error["Cause"], MAX_EVENT_CAUSE_CHARACTERS),
    }


def _run_error(error: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The run's error as the event carries it: its cause as written (an InvalidInput cause escapes the
    keys it names, and must keep its backslashes), cut to MAX_EVENT_RUN_CAUSE_CHARACTERS."""
    if not error:
        return None
    return {
        "Error": _plain(error["Error"], MAX_EVENT_ERROR_NAME_CHARACTERS),
        "Cause": error["Cause"][:MAX_EVENT_RUN_CAUSE_CHARACTERS],
    }


def _event_evidence(evidence: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The evidence's state and why; the report keeps each username's last call."""
    if not evidence:
        return None
    why = evidence.get("Why")
    return {"State": evidence["State"], "Why": _plain(why, MAX_EVENT_CAUSE_CHARACTERS) if why else None}


def event_watch(watch: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The watch's verdict and counts; the report names what was put back."""
    if not watch:
        return None
    return {
        "Verdict": watch["Verdict"],
        "Signals": watch["Signals"],
        "Restored": len(watch["Restored"]),
        "NotRestorable": len(watch["NotRestorable"]),
        # The error's name only: the report keeps its step and cause.
        "Error": _plain(watch["Error"]["Error"], MAX_EVENT_ERROR_NAME_CHARACTERS) if watch["Error"] else None,
    }


def _event_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    event_entry = {key: value for key, value in entry.items() if key not in REPORT_ONLY}
    event_entry["LedgerProblems"] = len(entry["LedgerProblems"])
    event_entry["Evidence"] = _event_evidence(entry.get("Evidence"))
    event_entry["Watch"] = event_watch(entry.get("Watch"))
    event_entry["Error"] = _event_error(entry["Error"])
    if entry["Issued"]:
        event_entry["Issued"] = {
            key: entry["Issued"][key] for key in ISSUED_IN_EVENT if key in entry["Issued"]
        }
    return event_entry


def message_bytes(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


def build_event(report: Mapping[str, Any], location: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event as it is published: the report's essentials and where the report is.

    Whole, it fits an SNS message by construction: the run limits refuse, before anything is deleted, a
    plan whose largest possible event would not fit (``largest_event_bytes``). So only a run refused at
    its limits can hold more stale usernames than fit: that run deleted nothing, and its event leaves
    out the stale lists (StaleOmitted), which the report keeps.
    """
    event = {key: value for key, value in report.items() if key not in ("VoiceConnectors", "Error")} | {
        "Report": dict(location) if location else None,
        "VoiceConnectors": [_event_entry(entry) for entry in report["VoiceConnectors"]],
        "Error": _run_error(report["Error"]),
    }
    if message_bytes(event) <= MAX_MESSAGE_BYTES:
        return event
    connectors = [entry | {"Stale": [], "StaleOmitted": True} for entry in event["VoiceConnectors"]]
    return event | {"VoiceConnectors": connectors}


# Each field of the event at its largest, for the bound below. An ARN of the longest partition and
# Region; a state machine and an execution name of 80 characters each (Step Functions' limit).
_LONGEST_EXECUTION_ARN = (
    "arn:aws-iso-b:states:ap-southeast-2:123456789012:execution:" + "s" * 80 + ":" + "e" * 80
)
_LONGEST_ISSUED = {
    # successor.py: a prefix of at most 32 characters, the date, a dash and 8 characters.
    "Username": "u" * 32 + "20260105-abcd1234",
    "VersionId": "00000000-0000-0000-0000-000000000000",
    "IssuedAt": "2026-01-05T03:00:00.123456+00:00",
    "Promoted": False,
}
_LONGEST_ERROR = {
    "Error": "E" * MAX_EVENT_ERROR_NAME_CHARACTERS,
    "Cause": "C" * MAX_EVENT_CAUSE_CHARACTERS,
    "Step": "DeleteCredentials",
}
_LONGEST_REPORT = {
    "Bucket": "b" * 63,
    # run_records.report_key: reports/YYYY/MM/DD/<execution name>.json
    "Key": "reports/2026/01/05/" + "e" * 80 + ".json",
    "VersionId": "v" * 64,
}
_LONGEST_EVIDENCE: dict[str, Any] = {
    "State": max((state.value for state in EvidenceState), key=len),
    "Why": "W" * MAX_EVENT_CAUSE_CHARACTERS,
    "LastUsed": {},
    "Calls": {},
    "Unused": [],
    "Switched": [],
}
_LONGEST_WATCH: dict[str, Any] = {
    "Verdict": max((verdict.value for verdict in WatchVerdict), key=len),
    "Signals": ["outbound-failures", "sip-4xx"],
    # Counts in the event: at most MAX_DELETIONS_LIMIT each.
    "Restored": [None] * 10_000,
    "NotRestorable": [None] * 10_000,
    "Error": _LONGEST_ERROR,
}
_LONGEST_ROTATION = {"Due": False, "Reason": max((reason.value for reason in RotationReason), key=len)}


def largest_event_bytes(plans: Iterable[Mapping[str, Any]], policy: Mapping[str, Any]) -> int:
    """The most bytes the audit event of a run with these plans can take, whatever happens next.

    Built by ``build_event`` itself from entries at their largest: what the plans fix (their counts,
    their rotation, a planning error) as it is, what is still to happen at its largest (a successor
    where one is due, an error on every connector still to be applied, the longest run error), and the
    stale usernames twice (a deleted one is in Stale and in Deleted; an unconfirmed one is in Stale and
    Unconfirmed, and a connector has Deleted or Unconfirmed, never both).
    """
    entries = []
    names = 0
    for plan in plans:
        planning_error = error_entry(plan.get("Error"), plan.get("Step"))
        entries.append(
            {
                "VoiceConnectorId": plan["VoiceConnectorId"],
                "Current": _LONGEST_ISSUED["Username"],
                "Counts": dict(plan.get("Counts") or {}),
                "Stale": [],
                "Deleted": [],
                "Unconfirmed": [],
                "Rotation": plan.get("Rotation") or _LONGEST_ROTATION,
                "Issued": _LONGEST_ISSUED if (plan.get("Rotation") or {}).get("Due") else None,
                "Error": planning_error or _LONGEST_ERROR,
                "LedgerProblems": [None] * int(plan.get("LedgerProblems", 0)),
                # Evidence only when the run asks for it; a watch only where something may be deleted.
                "Evidence": _LONGEST_EVIDENCE if policy.get("QuietDays") else None,
                "Watch": _LONGEST_WATCH if int(plan.get("StaleCount", 0)) else None,
                "StaleOmitted": False,
            }
        )
        names += 2 * int(plan.get("StaleBytes", 0))
    report = {
        "SchemaVersion": SCHEMA_VERSION,
        "ExecutionArn": _LONGEST_EXECUTION_ARN,
        "Trigger": "schedule",
        "DryRun": False,
        "Outcome": "SUCCEEDED",
        "StartedAt": _LONGEST_ISSUED["IssuedAt"],
        "FinishedAt": _LONGEST_ISSUED["IssuedAt"],
        "Policy": dict(policy),
        "VoiceConnectors": entries,
        # A cause whose every character JSON escapes to six bytes.
        "Error": {"Error": _LONGEST_ERROR["Error"], "Cause": "\x00" * MAX_EVENT_RUN_CAUSE_CHARACTERS},
    }
    return message_bytes(build_event(report, _LONGEST_REPORT)) + names


def execution_summary(event: Mapping[str, Any], message_id: str | None) -> dict[str, Any]:
    """What the execution's output (or, when it failed, its cause) says: small, whatever the run's size."""
    failed = [
        {
            "VoiceConnectorId": entry["VoiceConnectorId"],
            "Error": entry["Error"]["Error"],
            "Step": entry["Error"].get("Step"),
        }
        for entry in event["VoiceConnectors"]
        if entry["Error"]
    ]
    totals = {
        "VoiceConnectors": len(event["VoiceConnectors"]),
        "Stale": sum(entry["Counts"].get("stale", 0) for entry in event["VoiceConnectors"]),
        "Deleted": sum(len(entry["Deleted"]) for entry in event["VoiceConnectors"]),
        "Unconfirmed": sum(len(entry["Unconfirmed"]) for entry in event["VoiceConnectors"]),
        "Issued": sum(1 for entry in event["VoiceConnectors"] if entry["Issued"]),
    }
    return {
        "SchemaVersion": event["SchemaVersion"],
        "ExecutionArn": event["ExecutionArn"],
        "Outcome": event["Outcome"],
        "DryRun": event["DryRun"],
        "Error": (event["Error"] or {}).get("Error"),
        "Totals": totals,
        "FailedVoiceConnectors": failed,
        "Report": event["Report"],
        "AuditMessageId": message_id,
    }


def execution_failure(
    summary: Mapping[str, Any], run_error: Mapping[str, Any] | None
) -> tuple[str | None, str | None]:
    """The error and cause the execution fails with, or (None, None) when it succeeds. A failed execution
    has no output, so the cause carries the summary (and the run's error cause)."""
    outcome = summary["Outcome"]
    if outcome == SUCCEEDED:
        return None, None
    if run_error:
        error = run_error["Error"]
    else:
        error = "ConnectorsFailed" if outcome == FAILED else "PartiallyFailed"
    cause = dict(summary) | ({"Cause": run_error["Cause"]} if run_error else {})
    text = json.dumps(cause, separators=(",", ":"))
    if len(text) > MAX_CAUSE_CHARACTERS:
        text = json.dumps(cause | {"FailedVoiceConnectors": len(summary["FailedVoiceConnectors"])})
    return error, text[:MAX_CAUSE_CHARACTERS]
