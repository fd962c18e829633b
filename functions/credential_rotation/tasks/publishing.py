"""Publish a run's audit trail, whatever its outcome: the full report to the audit bucket, the run lock
released, the audit event to SNS, the run's metrics, and what the execution ends with.

The order matters. The report is written first, so that the event can say where it is. The lock is
released before the publish, since every change of the run is behind it by now. Nothing after the publish
may fail the task: a failed task is retried, and its retry would publish a second audit event. So a lock
that cannot be released here is left to ReleaseRunLock (started when the execution ends), and metrics
that cannot be emitted are only reported.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credential_rotation.domain.errors import MalformedTaskInput
from credential_rotation.domain.record_keys import report_key
from credential_rotation.ports import AlertPager, AuditPublisher, RunLock, RunRecords
from credential_rotation.tasks.alerting import page_for
from credential_rotation.tasks.audit import build_event, build_report, execution_failure, execution_summary


@dataclass(frozen=True)
class Published:
    outcome: str
    message_id: str
    report_key: str
    # What the execution fails with (None when it succeeds), and its cause: the summary, bounded.
    error: str | None
    cause: str | None
    summary: dict[str, Any]
    # The name of an error that kept the lock from being released, the metrics from being emitted, or the
    # page from being sent.
    lock_not_released: str | None = None
    metrics_not_emitted: str | None = None
    paged: str | None = None
    page_not_sent: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"Outcome": self.outcome, "Error": self.error, "Cause": self.cause, "Summary": self.summary}


def publish_run(
    event: Mapping[str, Any],
    records: RunRecords,
    lock: RunLock,
    topic: AuditPublisher,
    emit_metrics: Callable[[Mapping[str, Any]], None],
    now: datetime,
    default_dry_run: bool,
    secret_name_prefix: str,
    pager: AlertPager | None = None,
) -> Published:
    if not isinstance(event.get("ExecutionArn"), str) or not isinstance(event.get("StartedAt"), str):
        raise MalformedTaskInput("PublishAudit task input: ExecutionArn and StartedAt: required strings")
    report = build_report(event, records, now, default_dry_run, secret_name_prefix)
    location = records.put_report(report_key(event["ExecutionArn"], event["StartedAt"]), report)
    audit_event = build_event(report, location.to_wire())
    lock_not_released = None
    # Any run but a resolved dry run may hold the lease: one whose ResolveRun result was lost after it took
    # the lease too. Releasing a lease this execution does not hold changes nothing.
    if not (event.get("Run") or {}).get("DryRun"):
        lock_not_released = quietly(lambda: lock.release(audit_event["ExecutionArn"]))
    message_id = topic.publish(audit_event)
    metrics_not_emitted = quietly(lambda: emit_metrics(report))
    page = page_for(report, location.to_wire()) if pager is not None else None
    # After the audit event, like the metrics: a page that cannot be sent is logged (an error the
    # dashboard's log widget shows), never a second audit event.
    page_not_sent = quietly(lambda: pager.page(*page)) if pager is not None and page is not None else None
    summary = execution_summary(audit_event, message_id)
    error, cause = execution_failure(summary, audit_event["Error"])
    return Published(
        outcome=audit_event["Outcome"],
        message_id=message_id,
        report_key=location.key,
        error=error,
        cause=cause,
        summary=summary,
        lock_not_released=lock_not_released,
        metrics_not_emitted=metrics_not_emitted,
        paged=page[0] if page else None,
        page_not_sent=page_not_sent,
    )


def quietly(action: Callable[[], object]) -> str | None:
    """Run ``action``; the name of the error it raised, if any (never its text: it may quote a value)."""
    try:
        action()
    except Exception as error:  # nothing here is worth a second audit event
        return type(error).__name__
    return None
