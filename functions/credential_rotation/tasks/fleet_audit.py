"""A fleet run's audit trail: one report of every connector in the audit bucket, and one run-level event.

Built from what the run left in the audit bucket, not from the execution's state: the discovery record,
the item files, every plan, and every child workflow's result. An item with neither a plan nor a result
is reported as lost (``ResultMissing``), so that nothing a run was given goes unaccounted for; an apply
item whose outcome record is not the one its task wrote is reported with ``RunRecordMismatch``. The
rollback watch's result is on each watched connector (fleet_watch_audit.py).

The event counts per account and Region and names every failure and every deletion, each deletion with
its watch's verdict; when that would outgrow SNS's limit, the deletions (those a watch found broken last)
and then the failures are cut from the end and the counts of what was cut say so (the report, under Object
Lock, always has everything). What a person must act on pages the alerts topic, by the same rules as
single-account mode (tasks/alerting.py): a deletion that broke a connector's calls or a watch that failed,
a revoke, a phone system that has not switched, deletions held for stale evidence.
"""

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.fleet import DiscoveryRecord, FleetItem, FleetRun, ItemsLocation
from credential_rotation.domain.models import OutcomeRecord, PlanRecord, RecordRef, ReportLocation
from credential_rotation.domain.record_keys import report_key
from credential_rotation.ports import AlertPager, AuditPublisher, FleetDocuments, RunLock, RunRecords
from credential_rotation.tasks.alerting import page_for
from credential_rotation.tasks.audit import DELETE_STEP, MAX_MESSAGE_BYTES, error_entry
from credential_rotation.tasks.fleet import fleet_plans, run_prefix
from credential_rotation.tasks.fleet_watch import WATCH_PHASE
from credential_rotation.tasks.fleet_watch_audit import (
    connector_watch,
    in_event,
    needs_a_person,
    run_watch_error,
    watch_totals,
)
from credential_rotation.tasks.publishing import quietly

FLEET_EVENT_SCHEMA = "fleet-1.0"
FLEET_REPORT_SCHEMA = "fleet-report-1.0"
LOST = {
    "Error": "ResultMissing",
    "Cause": "the child workflow left no result: see the Map Run in the console",
}


def _where(document: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(document.get("Account")), str(document.get("Region")), str(document.get("VoiceConnectorId")))


def build_fleet_report(
    state: Mapping[str, Any], documents: FleetDocuments, records: RunRecords, now: datetime
) -> dict[str, Any]:
    run = FleetRun.model_validate(state["Run"])
    prefix = run_prefix(run.execution_arn)
    discovery = DiscoveryRecord.model_validate(
        documents.get(RecordRef.model_validate(state["Discovery"]["Record"]))
    )
    items = [
        FleetItem.model_validate(item)
        for item in documents.items(ItemsLocation.model_validate(state["Items"]).ref)
    ]
    run_error = error_entry(state.get("RunError")) or run_watch_error(state)
    try:
        plans = {
            (target.account, target.region, plan.voice_connector_id): plan
            for _, target, plan in fleet_plans(run.execution_arn, documents)
        }
    except RunRecordMismatch as mismatch:
        # Reported, not raised: the audit trail is published whatever it found. No plan is trusted, so
        # every connector is reported without one.
        plans = {}
        run_error = run_error or error_entry({"Error": type(mismatch).__name__, "Cause": str(mismatch)})
    results: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {"plan": {}, "apply": {}}
    results[WATCH_PHASE] = {}
    for _, document in documents.documents(f"{prefix}fleet/results/"):
        if document.get("ExecutionArn") == run.execution_arn and document.get("Phase") in results:
            results[document["Phase"]][_where(document)] = document
    # The apply Map ran (or started) only on an applying run whose limits held: its items are the
    # connectors that owe a result of the apply phase.
    applying = not run.dry_run and isinstance(state.get("Apply"), dict) and "Items" in state["Apply"]
    applied = (
        {_where(item) for item in documents.items(ItemsLocation.model_validate(state["Apply"]["Items"]).ref)}
        if applying
        else set()
    )
    # The connectors the watch Map was given: each owes a watch result.
    selection = state.get("WatchSelection")
    watched = (
        {_where(item) for item in documents.items(ItemsLocation.model_validate(selection["Items"]).ref)}
        if isinstance(selection, dict) and selection.get("Items")
        else set()
    )
    connectors = [
        _connector(item, plans, results, applied, records, run.execution_arn)
        | {
            "Watch": connector_watch(
                (item.account, item.region, item.voice_connector_id),
                watched,
                results[WATCH_PHASE],
                records,
                run.execution_arn,
            )
        }
        for item in items
    ]
    return {
        "Schema": FLEET_REPORT_SCHEMA,
        "ExecutionArn": run.execution_arn,
        "StartedAt": run.started_at.isoformat(),
        "FinishedAt": now.isoformat(),
        "Trigger": run.trigger,
        "DryRun": run.dry_run,
        "Policy": run.policy.to_wire() | {"MaxDeletionsPerAccount": run.max_deletions_per_account},
        "Targets": [
            {"Target": name, "Connectors": discovery.connectors.get(name, 0)} for name in discovery.targets
        ],
        "TargetFailures": [failure.to_wire() for failure in discovery.failures],
        "VoiceConnectors": connectors,
        "Error": run_error,
    }


def _connector(
    item: FleetItem,
    plans: Mapping[tuple[str, str, str], PlanRecord],
    results: Mapping[str, Mapping[tuple[str, str, str], dict[str, Any]]],
    applied: set[tuple[str, str, str]],
    records: RunRecords,
    execution_arn: str,
) -> dict[str, Any]:
    where = (item.account, item.region, item.voice_connector_id)
    plan = plans.get(where)
    entry: dict[str, Any] = {
        "Account": item.account,
        "Region": item.region,
        "VoiceConnectorId": item.voice_connector_id,
        # Per reason, as single-account mode's report counts them (the run's metrics sum them).
        "Counts": {reason.value: count for reason, count in plan.counts().items()} if plan else {},
        "Reasons": {username: reason.value for username, reason in plan.reasons.items()} if plan else {},
        "Stale": list(plan.stale) if plan else [],
        # The call records the judgement rested on (QuietDays), as single-account mode's report has them.
        "Evidence": plan.evidence.to_wire() if plan and plan.evidence else None,
        "Rotation": plan.rotation.to_wire() if plan else None,
        "Deleted": [],
        "Unconfirmed": [],
        "Skipped": [],
        "Issued": None,
        "Error": None,
    }
    planning = results["plan"].get(where)
    if plan is None:
        entry["Error"] = error_entry(planning.get("Error") if planning else LOST, "PlanConnector")
        return entry
    if where not in applied:
        return entry
    change = results["apply"].get(where)
    if change is None:
        entry["Error"] = error_entry(LOST, "ApplyPlan")
        return entry
    entry["Issued"] = change.get("Issued")
    if change.get("Error"):
        entry["Error"] = error_entry(change["Error"], change.get("Step"))
    outcome_ref = (change.get("Deletion") or {}).get("Outcome")
    if outcome_ref:
        try:
            outcome = records.read(
                RecordRef.model_validate(outcome_ref), OutcomeRecord, item.voice_connector_id, execution_arn
            )
            entry["Deleted"], entry["Skipped"] = list(outcome.deleted), list(outcome.skipped)
            return entry
        except RunRecordMismatch as mismatch:
            entry["Error"] = entry["Error"] or error_entry(
                {"Error": type(mismatch).__name__, "Cause": str(mismatch)}, "PublishFleetAudit"
            )
    if (entry["Error"] or {}).get("Step") == DELETE_STEP:
        # The delete step failed with no outcome this run vouches for: any stale one may be gone (an attempt
        # that died or got a 5xx may have deleted before it failed), as single-account mode reports it.
        entry["Unconfirmed"] = list(entry["Stale"])
    return entry


def build_fleet_event(report: Mapping[str, Any], location: ReportLocation) -> dict[str, Any]:
    connectors = report["VoiceConnectors"]
    per_target: dict[str, dict[str, int]] = {}
    for target in report["Targets"]:
        per_target[target["Target"]] = {"Connectors": target["Connectors"], "Stale": 0, "Deleted": 0}
        per_target[target["Target"]] |= {"Issued": 0, "Failed": 0}
    failures: list[dict[str, Any]] = [
        {"Target": f"{failure['Account']}/{failure['Region']}", "VoiceConnectorId": None}
        | {"Step": "Discover", "Error": failure["Error"]}
        for failure in report["TargetFailures"]
    ]
    deletions: list[dict[str, Any]] = []
    for entry in connectors:
        name = f"{entry['Account']}/{entry['Region']}"
        counts = per_target.setdefault(name, {"Connectors": 0, "Stale": 0, "Deleted": 0, "Issued": 0})
        counts.setdefault("Failed", 0)
        counts["Stale"] += len(entry["Stale"])
        counts["Deleted"] += len(entry["Deleted"])
        counts["Issued"] += 1 if entry["Issued"] else 0
        if entry["Error"]:
            counts["Failed"] += 1
            failures.append(
                {"Target": name, "VoiceConnectorId": entry["VoiceConnectorId"]}
                | {"Step": entry["Error"].get("Step"), "Error": entry["Error"]["Error"]}
                # Watched although it failed: its delete step failed, and may have deleted first.
                | in_event(entry)
            )
        if entry["Deleted"]:
            deletions.append(
                {"Target": name, "VoiceConnectorId": entry["VoiceConnectorId"], "Deleted": entry["Deleted"]}
                | {"Watch": in_event(entry).get("Watch")}
            )
    # The deletions a watch found broken (or could not judge) first: the last to be cut to fit.
    deletions.sort(key=lambda deletion: not needs_a_person(deletion["Watch"]))
    failed = sum(1 for entry in connectors if entry["Error"]) + len(report["TargetFailures"])
    units = len(connectors) + len(report["TargetFailures"])
    event = {
        "Schema": FLEET_EVENT_SCHEMA,
        # As single-account mode says it: FAILED when the run failed or every connector (and target) did.
        "Outcome": "FAILED"
        if report["Error"] or (units and failed == units)
        else ("PARTIAL" if failed else "SUCCEEDED"),
        "ExecutionArn": report["ExecutionArn"],
        "StartedAt": report["StartedAt"],
        "FinishedAt": report["FinishedAt"],
        "Trigger": report["Trigger"],
        "DryRun": report["DryRun"],
        "Report": location.to_wire(),
        "Totals": {
            "Targets": len(report["Targets"]),
            "TargetsFailed": len(report["TargetFailures"]),
            "Connectors": len(connectors),
            "ConnectorsFailed": sum(1 for entry in connectors if entry["Error"]),
            "Stale": sum(len(entry["Stale"]) for entry in connectors),
            "Deleted": sum(len(entry["Deleted"]) for entry in connectors),
            "Issued": sum(1 for entry in connectors if entry["Issued"]),
        },
        "WatchTotals": watch_totals(connectors),
        "Targets": [{"Target": name} | counts for name, counts in sorted(per_target.items())],
        "Failures": failures,
        "Deletions": deletions,
        "Omitted": {"Failures": 0, "Deletions": 0},
        "Error": report["Error"],
    }
    return fit_for_sns(event)


def _size(event: Mapping[str, Any]) -> int:
    return len(json.dumps(event, separators=(",", ":")).encode())


def fit_for_sns(event: dict[str, Any]) -> dict[str, Any]:
    """Cut deletions, then failures, from the end until the event fits; count what was cut."""
    for field in ("Deletions", "Failures"):
        while _size(event) > MAX_MESSAGE_BYTES and event[field]:
            # Halve what remains of the field, then add back: a few passes, whatever the fleet's size.
            keep = len(event[field]) // 2
            event["Omitted"][field] += len(event[field]) - keep
            event[field] = event[field][:keep]
    return event


def fleet_failed(event: Mapping[str, Any]) -> bool:
    return bool(event["Outcome"] != "SUCCEEDED")


def publish_fleet(
    state: Mapping[str, Any],
    documents: FleetDocuments,
    records: RunRecords,
    lock: RunLock,
    topic: AuditPublisher,
    now: datetime,
    emit_metrics: Callable[[Mapping[str, Any]], None],
    pager: AlertPager | None = None,
) -> dict[str, Any]:
    """The fleet's report (Object Lock) and its one audit event; the lock released before the publish, as
    in single-account mode, and nothing after the publish may fail the task (a retry would publish twice):
    the run's metrics and the watch's page go after it, quietly. A refused run has no Run: its event says
    why and counts nothing."""
    if isinstance(state.get("Run"), dict) and "Discovery" in state:
        report = build_fleet_report(state, documents, records, now)
    else:
        report = refused_report(state, now)
    location = records.put_report(report_key(report["ExecutionArn"], report["StartedAt"], fleet=True), report)
    event = build_fleet_event(report, location)
    # A lock that cannot be released here is released by ReleaseRunLock when the execution ends.
    lock_not_released = (
        quietly(lambda: lock.release(report["ExecutionArn"])) if not report["DryRun"] else None
    )
    message_id = topic.publish(event)
    failed = fleet_failed(event)
    summary = {"Totals": event["Totals"], "Report": event["Report"], "MessageId": message_id}
    if lock_not_released:
        summary["LockNotReleased"] = lock_not_released
    metrics_not_emitted = quietly(lambda: emit_metrics(report))
    if metrics_not_emitted:
        summary["MetricsNotEmitted"] = metrics_not_emitted
    page = page_for(report, event["Report"], event["Outcome"]) if pager is not None else None
    if pager is not None and page is not None:
        summary["Paged"] = page[0]
        page_not_sent = quietly(lambda: pager.page(*page))
        if page_not_sent:
            summary["PageNotSent"] = page_not_sent
    return {
        "Outcome": "FAILED" if failed else "SUCCEEDED",
        "Error": (event["Error"] or {}).get("Error") or ("ConnectorsFailed" if failed else None),
        "Cause": json.dumps(summary, separators=(",", ":")) if failed else None,
        "Summary": summary,
    }


def refused_report(state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    refused = state.get("Refused") or {}
    return {
        "Schema": FLEET_REPORT_SCHEMA,
        "ExecutionArn": state["ExecutionArn"],
        "StartedAt": state["StartedAt"],
        "FinishedAt": now.isoformat(),
        "Trigger": refused.get("Trigger", "manual"),
        "DryRun": bool(refused.get("DryRun", True)),
        "Policy": None,
        "Targets": [],
        "TargetFailures": [],
        "VoiceConnectors": [],
        "Error": error_entry(refused.get("Refused") or state.get("RunError")),
    }
