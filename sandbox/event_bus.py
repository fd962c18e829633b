"""EventBridge as the stack uses it: Step Functions' execution status changes, delivered to the rules'
Lambda and SNS targets.

moto's EventBridge matches patterns and applies input transformers, but delivers to log groups, archives,
queues and buses only, and moto's Step Functions emits no status change. Here the sandbox emits the event
when an execution ends (``emit_status_change``), and targets that are this stack's functions or topics get
it as AWS would deliver it: the ReleaseRunLock function runs, and the RunFailedRule's alert lands on the
alerts topic.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from moto.awslambda.utils import get_backend
from moto.events.models import EventTemplateParser, Rule
from moto.sns.models import sns_backends
from moto.utilities.arns import parse_arn

from sandbox.executions import Execution

DETAIL_TYPE = "Step Functions Execution Status Change"


def status_change_event(execution: Execution, state_machine_arn: str) -> dict[str, Any]:
    detail = {
        "executionArn": execution.arn,
        "stateMachineArn": state_machine_arn,
        "name": execution.arn.rsplit(":", 1)[-1],
        "status": execution.status,
        "stopDate": int(datetime.now(UTC).timestamp() * 1000),
        "error": execution.error,
        "cause": execution.cause,
    }
    return {"Source": "aws.states", "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail)}


@contextmanager
def delivering() -> Iterator[None]:
    """While active, rules deliver to Lambda functions and SNS topics, the only targets this stack has."""

    def send(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
        if not rule.event_pattern.matches_event(original_event):
            return
        for target in rule.targets:
            arn = parse_arn(target["Arn"])
            if arn.service not in ("lambda", "sns"):
                raise NotImplementedError(
                    f"the sandbox delivers to Lambda and SNS targets only, not {arn.service}"
                )
            transformer = target.get("InputTransformer", {})
            event = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=original_event,
            )
            body = event if isinstance(event, str) else json.dumps(event)
            if arn.service == "lambda":
                # EventBridge invokes asynchronously: what the function answers goes nowhere.
                get_backend(arn.account, arn.region).invoke(arn.resource_id, None, body.encode(), {}, {})
            else:
                sns_backends[arn.account][arn.region].publish(message=body, arn=target["Arn"])

    with mock.patch.object(Rule, "send_to_targets", send):
        yield
