"""EventBridge as the stack uses it: Step Functions' execution status changes, delivered to the rules'
Lambda and SNS targets, and S3's "Object Created" events of the call detail record bucket, delivered to
the indexing queue.

moto's EventBridge matches patterns and applies input transformers, but delivers to log groups, archives,
queues and buses only, and moto's Step Functions emits no status change. Here the sandbox emits the event
when an execution ends (``emit_status_change``), and targets that are this stack's functions or topics get
it as AWS would deliver it: the ReleaseRunLock function runs, and the RunFailedRule's alert lands on the
alerts topic.

moto's S3 sends a bucket's events to every rule when the bucket's EventBridge notifications are on
(``moto/s3/notifications.py``), and swallows whatever a delivery raises, as S3's asynchronous delivery
would. A queue target gets the whole event as its message body, as EventBridge sends it, once its queue
policy lets this rule send (EventBridge's delivery is refused without it: the event is lost and counted
as a failed invocation). Every failed delivery is kept in ``failures`` so that a test can see it.

An event bus in another account (fleet mode: a spoke forwarding its call records' events to the hub) gets
the event as AWS forwards it, with its own account and Region unchanged, once the bus's policy lets the
sender's account put events there; the rules of that bus then match it. (moto's own forwarding re-stamps
the event with the receiving account, which would hide whose record it is.)
"""

import fnmatch
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from moto.awslambda.utils import get_backend
from moto.events.models import EventTemplateParser, Rule, events_backends
from moto.organizations.models import organizations_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from sandbox.executions import Execution

DETAIL_TYPE = "Step Functions Execution Status Change"
EVENTBRIDGE = "events.amazonaws.com"


@dataclass(frozen=True)
class FailedDelivery:
    """A target that did not get a matched event (CloudWatch's FailedInvocations of the rule)."""

    rule: str
    target: str
    reason: str


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


def _as_delivered(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as a target receives it: ``time`` in ISO 8601 (moto keeps it as epoch seconds), its
    own id, and without moto's bookkeeping."""
    delivered = {key: value for key, value in event.items() if key != "ingestion-time"}
    moment = delivered.get("time")
    if isinstance(moment, int | float):
        delivered["time"] = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if delivered.get("source") == "aws.s3":
        # moto's S3 gives every event the same id (its template's); each S3 event has one of its own.
        delivered["id"] = str(uuid.uuid4())
    return delivered


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """The condition operators a queue policy for EventBridge uses; any other one raises, so that a policy
    the sandbox cannot judge is never judged as allowing."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            actual = context.get(key)
            values = _listed(expected)
            if operator in ("ArnEquals", "StringEquals"):
                holds = actual in values
            elif operator in ("ArnLike", "StringLike"):
                holds = actual is not None and any(fnmatch.fnmatchcase(actual, value) for value in values)
            else:
                raise NotImplementedError(f"the sandbox cannot evaluate the condition operator {operator}")
            if not holds:
                return False
    return True


def queue_policy_allows(policy: Mapping[str, Any] | None, queue_arn: str, rule: Rule) -> bool:
    """Whether a queue's resource policy lets this rule's EventBridge deliveries send to it: an Allow for
    the EventBridge service principal, sqs:SendMessage on the queue, its conditions met, and no Deny."""

    def eventbridge(principal: Any) -> bool:
        services = _listed(principal.get("Service", [])) if isinstance(principal, dict) else []
        return principal == "*" or EVENTBRIDGE in services

    context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": rule.account_id}
    return _policy_allows(policy, eventbridge, {"sqs:SendMessage", "sqs:*", "*"}, queue_arn, context)


def bus_policy_allows(policy: Mapping[str, Any] | None, bus_arn: str, sender: str) -> bool:
    """Whether an event bus's resource policy lets the account ``sender`` put events on it: an Allow of
    events:PutEvents for everyone or for that account, its conditions (aws:PrincipalOrgID) met, and no
    Deny."""

    def the_sender(principal: Any) -> bool:
        principals = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else []
        return principal == "*" or sender in principals or f"arn:aws:iam::{sender}:root" in principals

    context = {"aws:PrincipalAccount": sender}
    organization = _organization_of(sender)
    if organization is not None:
        context["aws:PrincipalOrgID"] = organization
    return _policy_allows(policy, the_sender, {"events:PutEvents", "events:*", "*"}, bus_arn, context)


def _policy_allows(
    policy: Mapping[str, Any] | None,
    principal_matches: Callable[[Any], bool],
    actions: set[str],
    resource: str,
    context: Mapping[str, str],
) -> bool:
    """A resource policy's verdict on one request: some Allow statement applies, and no Deny does."""
    allowed = False
    for statement in _listed((policy or {}).get("Statement", [])):
        applies = (
            principal_matches(statement.get("Principal", {}))
            and actions & set(_listed(statement.get("Action", [])))
            and {resource, "*"} & set(_listed(statement.get("Resource", [])))
            and _condition_holds(statement.get("Condition", {}), context)
        )
        if applies and statement.get("Effect") == "Deny":
            return False
        allowed = allowed or bool(applies and statement.get("Effect") == "Allow")
    return allowed


def _organization_of(account: str) -> str | None:
    for backends in organizations_backends.values():
        for backend in backends.values():
            if backend.org is not None and any(member.id == account for member in backend.accounts):
                return str(backend.org.id)
    return None


def _bus(bus_arn: str) -> Any:
    arn = parse_arn(bus_arn)
    return events_backends[arn.account][arn.region].event_buses.get(arn.resource_id)


def _bus_refuses(rule: Rule, bus_arn: str) -> str | None:
    """Why the bus does not take the rule's event (None: it does): the event keeps its account and Region."""
    bus = _bus(bus_arn)
    if bus is None:
        return "ResourceNotFoundException"
    owner = parse_arn(bus_arn).account
    if owner != rule.account_id and not bus_policy_allows(
        json.loads(bus.policy or "{}"), bus_arn, rule.account_id
    ):
        return "AccessDenied"
    return None


def _send_to_queue(rule: Rule, target_arn: str, body: str) -> str | None:
    """Send as EventBridge does; the reason it could not, or None."""
    arn = parse_arn(target_arn)
    backend = sqs_backends[arn.account][arn.region]
    queue = backend.queues.get(arn.resource_id)
    if queue is None:
        return "NoSuchQueue"
    policy = queue.policy if isinstance(queue.policy, dict) else json.loads(queue.policy or "{}")
    if not queue_policy_allows(policy, queue.queue_arn, rule):
        return "AccessDenied"
    backend.send_message(queue_name=arn.resource_id, message_body=body)
    return None


@contextmanager
def delivering(failures: list[FailedDelivery] | None = None) -> Iterator[None]:
    """While active, rules deliver to Lambda functions, SNS topics, SQS queues and event buses."""
    delivery = _Delivery([] if failures is None else failures)

    def send(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
        delivery.send(rule, original_event)

    with mock.patch.object(Rule, "send_to_targets", send):
        yield


@dataclass
class _Delivery:
    failures: list[FailedDelivery]

    def send(self, rule: Rule, original_event: Any) -> None:
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(original_event):
            return
        for target in rule.targets:
            arn = parse_arn(target["Arn"])
            if arn.service == "events" and arn.resource_type == "event-bus":
                self._forward(rule, target["Arn"], original_event)
                continue
            if arn.service not in ("lambda", "sns", "sqs"):
                self.failures.append(FailedDelivery(rule.name, target["Arn"], "unsupported target"))
                raise NotImplementedError(
                    f"the sandbox delivers to Lambda, SNS, SQS and event bus targets only, not {arn.service}"
                )
            if arn.service == "sqs":
                self._deliver_to_queue(rule, target, original_event)
                continue
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

    def _forward(self, rule: Rule, bus_arn: str, event: Any) -> None:
        refused = _bus_refuses(rule, bus_arn)
        if refused is not None:
            self.failures.append(FailedDelivery(rule.name, bus_arn, refused))
            return
        for receiving in list(_bus(bus_arn).rules.values()):
            self.send(receiving, event)

    def _deliver_to_queue(self, rule: Rule, target: dict[str, Any], original_event: Any) -> None:
        if "Input" in target or "InputPath" in target:
            raise NotImplementedError("the sandbox delivers whole events or InputTransformer output only")
        event = _as_delivered(original_event)
        transformer = target.get("InputTransformer")
        if transformer:
            parsed = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=event,
            )
            body = parsed if isinstance(parsed, str) else json.dumps(parsed)
        else:
            body = json.dumps(event)
        try:
            refused = _send_to_queue(rule, target["Arn"], body)
        except Exception as error:
            # moto's S3 swallows what its EventBridge delivery raises: keep it where a test can see it.
            self.failures.append(FailedDelivery(rule.name, target["Arn"], f"{type(error).__name__}: {error}"))
            raise
        if refused is not None:
            self.failures.append(FailedDelivery(rule.name, target["Arn"], refused))
            # EventBridge parks an event it could not deliver in the target's dead-letter queue, if it
            # has one and that queue lets the rule send (else it is lost, as here).
            dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dead_letters and _send_to_queue(rule, dead_letters, body) is not None:
                self.failures.append(FailedDelivery(rule.name, dead_letters, "dead-letter queue refused it"))
