"""The SNS adapter: publishes the audit event, with attributes subscribers can filter on."""

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_sns import SNSClient


class AuditTopic:
    def __init__(self, client: "SNSClient", topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, event: dict[str, Any]) -> str:
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=f"Voice connector credential rotation: {event['Outcome']}",
            Message=json.dumps(event, separators=(",", ":")),
            MessageAttributes={
                "Outcome": {"DataType": "String", "StringValue": event["Outcome"]},
                "DryRun": {"DataType": "String", "StringValue": str(event["DryRun"]).lower()},
                "Trigger": {"DataType": "String", "StringValue": event["Trigger"]},
            },
        )
        return response["MessageId"]
