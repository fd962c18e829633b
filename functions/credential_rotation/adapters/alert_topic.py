"""The alerts topic (SNS): pages from the functions themselves (the alarms and the failed-run rule publish
to it as their services)."""

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_sns import SNSClient

# SNS takes a subject of at most 100 characters.
MAX_SUBJECT = 100


class AlertTopic:
    def __init__(self, client: "SNSClient", topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def page(self, subject: str, message: dict[str, Any]) -> str:
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=subject[:MAX_SUBJECT],
            Message=json.dumps(message, separators=(",", ":")),
        )
        return response["MessageId"]
