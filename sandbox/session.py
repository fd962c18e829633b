"""The sandbox session: moto, the Chime SDK Voice emulator, the deployed stack and a clock to travel with.

    with Sandbox() as sandbox:
        connector = sandbox.create_voice_connector("pbx-1", ["sip-a", "sip-b"])
        sandbox.travel(days=120)
        execution = sandbox.run({"DryRun": False})

        sandbox.phone.call(connector, "sip-a", password)   # a call detail record in the CDR bucket
        sandbox.index_call_records()                      # the indexing queue, drained as Lambda would

The account's own set-up comes first, as it would before the stack is deployed: a call detail record
bucket with EventBridge notifications on, named in the Chime SDK global settings. Then ``prepare``, when
given: whatever else must exist before the stack, answering the parameters that name it (a fleet hub's
organization and its FleetTargets: ``sandbox/fleet.py``).

Fake credentials and the region are set here, for the session only, and never read from the machine.
"""

import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import time_machine
from botocore.config import Config
from moto import mock_aws
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from credential_rotation.adapters.run_lock import LOCK_KEY, LONGEST_TASK
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.runtime import wiring
from sandbox import chime_emulator, event_bus, pace_clock, process_cache
from sandbox.aws_faults import AwsFaults
from sandbox.event_bus import FailedDelivery
from sandbox.executions import FINAL_STATUSES, Execution, wait_for
from sandbox.fleet import spoke_trust
from sandbox.lambda_runtime import FunctionLogs, Invocation, in_process_lambda
from sandbox.moto_threads import serialised_backends
from sandbox.pace_clock import SkippingClock
from sandbox.phone_system import PhoneSystem
from sandbox.retry_clock import RetryClock
from sandbox.sqs_poller import Drained, FunctionErrored, SqsPoller
from sandbox.stack import ACCOUNT_ID, REGION, DeployedStack, deploy_stack
from sandbox.state_waits import StateWaits

FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
DEFAULT_START = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
# The account's call detail record bucket (outside the stack: the account's, as Chime's settings name it).
CDR_BUCKET = f"chime-call-records-{ACCOUNT_ID}"
# moto's interpreter logs every task failure at ERROR, expected ones included; the history has them all.
logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


def parameter_values(parameters: Mapping[str, Any]) -> dict[str, str]:
    """Stack parameters as CloudFormation takes them, text: a JSON document (FleetTargets) as JSON."""
    return {
        name: json.dumps(value) if isinstance(value, Mapping | list) else str(value)
        for name, value in parameters.items()
    }


def state_machine_of(execution_arn: str) -> str:
    """arn:aws:states:<region>:<account>:execution:<state machine>:<name> -> the state machine's ARN."""
    prefix, _, rest = execution_arn.partition(":execution:")
    return f"{prefix}:stateMachine:{rest.rsplit(':', 1)[0]}"


class Sandbox:
    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        start: datetime = DEFAULT_START,
        jitter: str = "random",
        stack_name: str = "rotation",
        prepare: Callable[["Sandbox"], Mapping[str, Any]] | None = None,
    ) -> None:
        self._parameters = parameter_values(parameters or {})
        self._prepare = prepare
        self._start = start
        self._stack_name = stack_name
        self.retry_clock = RetryClock(jitter=jitter)
        self.pace_clock = SkippingClock()
        # Wait states (the rollback watch) pass in virtual time; see state_waits.py.
        self.state_waits = StateWaits()
        self.invocations: list[Invocation] = []
        self.function_logs = FunctionLogs()
        self.aws_faults = AwsFaults()
        self._exit = ExitStack()
        self.stack: DeployedStack
        self._audit_cursor = 0
        self._alerts_cursor = 0
        self._ended: set[str] = set()
        self._clients: dict[str, Any] = {}
        # Events a rule matched and could not deliver (EventBridge's FailedInvocations).
        self.event_failures: list[FailedDelivery] = []
        self.cdr_bucket = CDR_BUCKET
        self.phone: PhoneSystem

    def __enter__(self) -> "Sandbox":
        try:
            self._exit.enter_context(mock.patch.dict(os.environ, FAKE_ENVIRONMENT))
            self._traveller = self._exit.enter_context(time_machine.travel(self._start, tick=True))
            self._exit.enter_context(mock_aws(config=MOTO_CONFIG))
            self._exit.enter_context(process_cache.cached())
            chime_emulator.install()
            self._exit.enter_context(self.aws_faults.installed())
            self._exit.enter_context(
                in_process_lambda(
                    self.invocations.append, self.function_logs, self.aws_faults.take_invocation_fault
                )
            )
            self._exit.enter_context(self.retry_clock.installed())
            self._exit.enter_context(pace_clock.installed(self.pace_clock))
            self._exit.enter_context(self.state_waits.installed(self._traveller.shift))
            self._exit.enter_context(serialised_backends())
            self._exit.enter_context(spoke_trust())
            self._exit.enter_context(event_bus.delivering(self.event_failures))
            # A function deployed with LogLevel DEBUG sets the root logger's level, as Lambda's runtime does.
            root = logging.getLogger()
            self._exit.callback(root.setLevel, root.level)
            # A new stack is a new set of containers: no client or setting survives from a previous one.
            wiring.reset()
            self._exit.callback(wiring.reset)
            self._set_up_call_records()
            self.phone = PhoneSystem(self.chime_backend, self.client("s3"), self.client("cloudwatch"))
            if self._prepare is not None:
                self._parameters |= parameter_values(self._prepare(self))
            self.stack = deploy_stack(self.client, self._stack_name, self._parameters)
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    def client(self, service: str) -> Any:
        """One client per service for the session, built as the functions build theirs: under the lock
        that keeps boto3's default session from building two at once on different threads."""
        if service not in self._clients:
            self._clients[service] = wiring.client(service, Config(region_name=REGION))
        return self._clients[service]

    @property
    def chime_backend(self) -> Any:
        return chime_emulator.chimesdkvoice_backends[ACCOUNT_ID][REGION]

    # Time

    @property
    def started_at(self) -> datetime:
        return self._start

    def now(self) -> datetime:
        return datetime.now(UTC)

    def travel(self, days: float = 0, **kwargs: float) -> None:
        self._traveller.shift(timedelta(days=days, **kwargs))

    # The account's call detail records, set up as the account's administrator would (not by the stack)

    def _set_up_call_records(self) -> None:
        self.client("s3").create_bucket(Bucket=self.cdr_bucket)
        self.set_call_record_events(enabled=True)
        self.client("chime-sdk-voice").update_global_settings(VoiceConnector={"CdrBucket": self.cdr_bucket})

    def set_call_record_events(self, enabled: bool) -> None:
        """Turn the CDR bucket's EventBridge notifications on or off: records written while they are off
        reach the index only through a backfill."""
        configuration: dict[str, Any] = {"EventBridgeConfiguration": {}} if enabled else {}
        self.client("s3").put_bucket_notification_configuration(
            Bucket=self.cdr_bucket, NotificationConfiguration=configuration
        )

    def put_call_record(self, key: str, body: bytes, bucket: str | None = None) -> None:
        """Write an object as something other than a call would (a copy, a stray file, a forgery)."""
        self.client("s3").put_object(Bucket=bucket or self.cdr_bucket, Key=key, Body=body)

    def index_call_records(self) -> Drained:
        """Drain the indexing queue into IndexCallRecordsFunction, as its event source mapping would."""
        mapping = self.stack.event_source_mapping("IndexCallRecordsFunction")
        return SqsPoller(mapping, self.client("sqs"), self.client("lambda"), REGION).drain()

    def backfill_call_records(
        self, look_back_days: int | None = None, account: str | None = None, region: str | None = None
    ) -> tuple[dict[str, Any], Drained]:
        """Invoke BackfillCallRecordsFunction as a person would (by hand, once; in fleet mode for one account
        and Region), then drain the pages it queued. Raises FunctionErrored when the function fails."""
        event: dict[str, Any] = {} if look_back_days is None else {"LookBackDays": look_back_days}
        event |= {"Account": account} if account else {}
        event |= {"Region": region} if region else {}
        response = self.client("lambda").invoke(
            FunctionName=self.stack.backfill_function_name, Payload=json.dumps(event).encode()
        )
        answer = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise FunctionErrored(answer["errorType"])
        return answer, self.index_call_records()

    def queued(self, queue_url: str) -> list[dict[str, Any]]:
        """The bodies of a queue's messages, in flight or not, looked at in moto's queue (as the console's
        "poll for messages" shows them) without receiving them, which would count a receive."""
        queue = sqs_backends[ACCOUNT_ID][REGION].queues[queue_url.rsplit("/", 1)[1]]
        return [json.loads(message.body) for message in list(queue._messages)]

    def dead_letters(self) -> list[dict[str, Any]]:
        """What waits in the indexing dead-letter queue."""
        return self.queued(self.stack.indexing_dead_letter_queue_url)

    # Voice connectors, through the API as a person would set them up

    def create_voice_connector(self, name: str, usernames: list[str] = ()) -> str:
        chime = self.client("chime-sdk-voice")
        connector_id = chime.create_voice_connector(Name=name, AwsRegion=REGION, RequireEncryption=True)[
            "VoiceConnector"
        ]["VoiceConnectorId"]
        if usernames:
            self.put_credentials(connector_id, usernames)
        return connector_id

    def put_credentials(self, voice_connector_id: str, usernames: list[str]) -> None:
        self.client("chime-sdk-voice").put_voice_connector_termination_credentials(
            VoiceConnectorId=voice_connector_id,
            Credentials=[
                {"Username": username, "Password": f"pw-{username}-0123456789"} for username in usernames
            ],
        )

    def usernames(self, voice_connector_id: str) -> list[str]:
        return self.client("chime-sdk-voice").list_voice_connector_termination_credentials(
            VoiceConnectorId=voice_connector_id
        )["Usernames"]

    # Runs

    def start(self, execution_input: Any = None, name: str | None = None) -> str:
        # Step Functions names an unnamed execution with a UUID; moto would leave it "None".
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.stack.state_machine_arn,
            name=name or str(uuid.uuid4()),
            input=json.dumps({} if execution_input is None else execution_input),
        )["executionArn"]

    def start_fleet(self, execution_input: Any = None, name: str | None = None) -> str:
        """Start the fleet state machine (fleet mode: Targets in the input or the FleetTargets parameter)."""
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.stack.outputs["FleetStateMachineArn"],
            name=name or str(uuid.uuid4()),
            input=json.dumps({} if execution_input is None else execution_input),
        )["executionArn"]

    def wait(self, execution_arn: str, deadline_seconds: float = 120.0) -> Execution:
        execution = wait_for(self.client("stepfunctions"), execution_arn, deadline_seconds)
        self._announce_end(execution)
        return execution

    def announce_status(self, execution_arn: str, status: str) -> None:
        """Tell EventBridge that an execution ended with ``status``, as Step Functions would. For the ends
        moto cannot reach itself: its interpreter fails a stopped execution with States.Runtime instead
        of ABORTED, and never times one out."""
        stand_in = Execution(
            arn=execution_arn, status=status, output=None, error=None, cause=None, history=[]
        )
        self.client("events").put_events(
            Entries=[event_bus.status_change_event(stand_in, self.stack.state_machine_arn)]
        )

    def _announce_end(self, execution: Execution) -> None:
        """Step Functions tells EventBridge when an execution ends; the stack's rules act on it (the run
        lock's release, the alert of a failed run). Once per execution, as AWS sends it."""
        if execution.status in FINAL_STATUSES and execution.arn not in self._ended:
            self._ended.add(execution.arn)
            self.client("events").put_events(
                Entries=[event_bus.status_change_event(execution, state_machine_of(execution.arn))]
            )

    def run(self, execution_input: Any = None, deadline_seconds: float = 120.0) -> Execution:
        return self.wait(self.start(execution_input), deadline_seconds)

    def fire_schedules(self, deadline_seconds: float = 120.0) -> list[Execution]:
        """The stack's schedules coming due, as EventBridge Scheduler fires them: each enabled one starts
        its own target with its own input (all of them before any ends); a disabled one starts nothing.
        Returns the runs they started, ended."""
        scheduler = self.client("scheduler")
        started = []
        for name in self.stack.schedules:
            schedule = scheduler.get_schedule(Name=name)
            if schedule["State"] != "ENABLED":
                continue
            target = schedule["Target"]
            started.append(
                self.client("stepfunctions").start_execution(
                    stateMachineArn=target["Arn"], name=str(uuid.uuid4()), input=target.get("Input", "{}")
                )["executionArn"]
            )
        return [self.wait(execution_arn, deadline_seconds) for execution_arn in started]

    def fire_schedule(self, deadline_seconds: float = 120.0) -> Execution:
        """The one run the stack's schedules start when they come due (``fire_schedules``); raises when
        they start none (every schedule disabled) or more than one."""
        executions = self.fire_schedules(deadline_seconds)
        if len(executions) != 1:
            raise RuntimeError(f"the stack's schedules started {len(executions)} runs, not one")
        return executions[0]

    def secret_name(self, voice_connector_id: str) -> str:
        return f"{self.stack.secret_name_prefix}{voice_connector_id}"

    def secret(self, voice_connector_id: str) -> dict:
        """The connector's secret: {stage: value} for its labelled versions, and the unlabelled versions."""
        secrets = self.client("secretsmanager")
        name = self.secret_name(voice_connector_id)
        try:
            versions = secrets.describe_secret(SecretId=name).get("VersionIdsToStages", {})
        except secrets.exceptions.ResourceNotFoundException:
            return {}
        staged: dict[str, Any] = {"Versions": {}}
        for version, stages in versions.items():
            value = json.loads(secrets.get_secret_value(SecretId=name, VersionId=version)["SecretString"])
            staged["Versions"][version] = value | {"Stages": sorted(stages)}
            for stage in stages:
                staged[stage] = value | {"VersionId": version}
        return staged

    def audit_messages(self) -> list[dict[str, Any]]:
        """The audit messages published since the last call, each with its attributes, as SNS took them.

        They are read from moto's SNS topic rather than through a queue subscription: moto's SQS expires
        and hides messages by the travelling clock, which would lose messages between simulated days.
        """
        sent = sns_backends[ACCOUNT_ID][REGION].topics[self.stack.topic_arn].sent_notifications
        new, self._audit_cursor = sent[self._audit_cursor :], len(sent)
        return [
            {
                "Body": json.loads(message),
                "Attributes": {name: value["Value"] for name, value in (attributes or {}).items()},
            }
            for _, message, _, attributes, _ in new
        ]

    def metrics(self) -> list[dict[str, Any]]:
        """Every metric the functions emitted (embedded metric format lines in their logs), in order:
        {"Dimensions": {name: value}, "Values": {metric: value}}."""
        emitted = []
        for line in list(self.function_logs.lines):
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "_aws" not in record:
                continue
            (directive,) = record["_aws"]["CloudWatchMetrics"]
            (dimension_names,) = directive["Dimensions"]
            emitted.append(
                {
                    "Namespace": directive["Namespace"],
                    "Dimensions": {name: record[name] for name in dimension_names},
                    "Values": {metric["Name"]: record[metric["Name"]] for metric in directive["Metrics"]},
                }
            )
        return emitted

    def audit_events(self) -> list[dict[str, Any]]:
        return [message["Body"] for message in self.audit_messages()]

    def report(self, event: dict[str, Any]) -> dict[str, Any]:
        """The full report an audit event names, read from the audit bucket at the version it names."""
        location = event["Report"]
        return json.loads(
            self.client("s3")
            .get_object(Bucket=location["Bucket"], Key=location["Key"], VersionId=location["VersionId"])[
                "Body"
            ]
            .read()
        )

    def alerts(self) -> list[str]:
        """The messages the alerts topic received since the last call (the rule's and the alarms')."""
        sent = sns_backends[ACCOUNT_ID][REGION].topics[self.stack.alerts_topic_arn].sent_notifications
        new, self._alerts_cursor = sent[self._alerts_cursor :], len(sent)
        return [message for _, message, _, _, _ in new]

    def fingerprints(self) -> Any:
        """The stack's fingerprints of usernames, keyed as the functions key them."""
        key = self.client("secretsmanager").get_secret_value(SecretId=self.stack.fingerprint_key_arn)
        return Fingerprints(key["SecretString"].encode())

    def run_lock(self) -> tuple[str, datetime] | None:
        """The run lock's holder and when its lease ends, or None when no run holds it."""
        key = {"VoiceConnectorId": {"S": LOCK_KEY}, "Username": {"S": LOCK_KEY}}
        response = self.client("dynamodb").get_item(
            TableName=self.stack.table_name, Key=key, ConsistentRead=True
        )
        item = response.get("Item")
        return (item["HeldBy"]["S"], datetime.fromisoformat(item["ExpiresAt"]["S"])) if item else None

    def run_lock_holder(self) -> str | None:
        lock = self.run_lock()
        return lock[0] if lock else None

    def run_lock_free_soon(self) -> bool:
        """No run holds the lock, or its lease ends once the functions of its ended run have stopped."""
        lock = self.run_lock()
        return lock is None or lock[1] <= self.now() + LONGEST_TASK
