"""PublishAudit task: write the run's full report to the audit bucket and publish its audit event to SNS,
whatever the outcome."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from credential_rotation.adapters.run_metrics import publish_fleet_run_metrics, publish_run_metrics
from credential_rotation.runtime import wiring
from credential_rotation.runtime.config import get_settings
from credential_rotation.runtime.task import task
from credential_rotation.tasks.fleet_audit import publish_fleet
from credential_rotation.tasks.publishing import publish_run

logger = Logger()


@task(logger)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("Mode") == "fleet" and isinstance(event.get("State"), dict):
        return _publish_fleet(event["State"])
    settings = get_settings()
    published = publish_run(
        event,
        wiring.run_records(),
        wiring.run_lock(),
        wiring.audit_topic(),
        publish_run_metrics,
        datetime.now(UTC),
        settings.default_dry_run,
        settings.secret_name_prefix,
        wiring.alert_topic(),
    )
    if published.lock_not_released:
        logger.warning(
            "Run lock not released here; released when the run ends",
            extra={"error": published.lock_not_released},
        )
    if published.paged:
        logger.warning("Alert paged", extra={"subject": published.paged, "error": published.page_not_sent})
    if published.page_not_sent:
        logger.error("Alert not paged", extra={"error": published.page_not_sent})
    if published.metrics_not_emitted:
        logger.error("Run metrics not emitted", extra={"error": published.metrics_not_emitted})
    logger.info(
        "Audit event published",
        extra={
            "outcome": published.outcome,
            "message_id": published.message_id,
            "report": published.report_key,
            "error": published.error,
        },
    )
    return published.to_wire()


def _publish_fleet(state: dict[str, Any]) -> dict[str, Any]:
    """A fleet run's audit trail (tasks/fleet_audit.py), by the one function that writes reports."""
    published = publish_fleet(
        state,
        wiring.fleet_records(),
        wiring.run_records(),
        wiring.run_lock(),
        wiring.audit_topic(),
        datetime.now(UTC),
        publish_fleet_run_metrics,
        wiring.alert_topic(),
    )
    summary = published["Summary"]
    if "Paged" in summary:
        logger.warning(
            "Alert paged", extra={"subject": summary["Paged"], "error": summary.get("PageNotSent")}
        )
    if "PageNotSent" in summary:
        logger.error("Alert not paged", extra={"error": summary["PageNotSent"]})
    if "MetricsNotEmitted" in published["Summary"]:
        logger.error("Run metrics not emitted", extra={"error": published["Summary"]["MetricsNotEmitted"]})
    logger.info(
        "Fleet audit event published",
        extra={
            "outcome": published["Outcome"],
            "error": published["Error"],
            "totals": published["Summary"]["Totals"],
        },
    )
    return published
