"""A connector's outbound calls over a window, from CloudWatch's ``AWS/ChimeVoiceConnector`` metrics (per
``VoiceConnectorId``; Chime publishes them once a minute while calls run). Metric names as the Chime SDK
administration guide lists them; not verified against a live account here."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from credential_rotation.domain.watch import CallCounts

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_cloudwatch import CloudWatchClient

NAMESPACE = "AWS/ChimeVoiceConnector"
METRICS = {"attempts": "OutboundCallAttempts", "failures": "OutboundCallFailures", "sip_4xx": "Sip4xxCodes"}
# One datapoint for the whole window: CloudWatch wants a multiple of 60 seconds.
_MINUTE = 60


class ConnectorCallMetrics:
    def __init__(self, client: "CloudWatchClient") -> None:
        self._client = client

    def outbound(self, voice_connector_id: str, start: datetime, end: datetime) -> CallCounts:
        period = max(_MINUTE, int((end - start).total_seconds()) // _MINUTE * _MINUTE)
        queries: list[Any] = [
            {
                "Id": field,
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": name,
                        "Dimensions": [{"Name": "VoiceConnectorId", "Value": voice_connector_id}],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for field, name in METRICS.items()
        ]
        totals = dict.fromkeys(METRICS, 0.0)
        request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        while True:
            page = self._client.get_metric_data(**request)
            for result in page.get("MetricDataResults", []):
                totals[result["Id"]] += sum(result.get("Values", []))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        return CallCounts(
            attempts=int(totals["attempts"]), failures=int(totals["failures"]), sip_4xx=int(totals["sip_4xx"])
        )
