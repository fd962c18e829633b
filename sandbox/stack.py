"""Deploys template.yaml into moto: the same functions, table, topics, queues, state machines, schedule,
rules and alarms.

What moto has no notion of is kept in ``DeployedStack`` for the sandbox to play the part of AWS: a
function's SQS event source mappings (moto's own mapping would invoke the function at every message sent,
ignoring batching and partial batch responses; ``sandbox/sqs_poller.py`` polls as Lambda does instead).
"""

import importlib.util
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.template import (
    PLACEHOLDER,
    REPOSITORY,
    Resolver,
    load_template,
    merged_function_properties,
    pseudo_parameters,
    substitute_definition,
)

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# Resource types are created in this order, which respects every reference the template makes but one kind:
# a resource that names one of a later type (the schedule's role names the state machine it may start)
# waits until what it names exists, as CloudFormation orders it by its references.
CREATION_ORDER = (
    "AWS::Logs::LogGroup",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::S3::Bucket",
    "AWS::IAM::Role",
    "AWS::S3::BucketPolicy",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
    "AWS::Scheduler::Schedule",
    # After the functions: a role's policy of its own may name them.
    "AWS::IAM::RolePolicy",
    "AWS::Serverless::Function#Events",
    "AWS::Events::Rule",
    "AWS::Events::EventBusPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::TopicPolicy",
    # After the rules: a queue's policy names the rule that may send to it.
    "AWS::SQS::QueuePolicy",
    "AWS::CloudWatch::Dashboard",
)
# Lambda's advanced logging controls, as the function's runtime sees them (the Python runtime reads these
# variables and sets its root logger's level from AWS_LAMBDA_LOG_LEVEL).
LOGGING_ENVIRONMENT = {"ApplicationLogLevel": "AWS_LAMBDA_LOG_LEVEL", "LogFormat": "AWS_LAMBDA_LOG_FORMAT"}
# AWS::CloudWatch::Alarm properties that put_metric_alarm takes as they are, and those it wants as numbers.
ALARM_PROPERTIES = (
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ComparisonOperator",
    "TreatMissingData",
)
ALARM_INTEGERS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")
# AWS::SQS::Queue properties that are queue attributes of the same name and value (booleans in lower case).
QUEUE_ATTRIBUTES = (
    "MessageRetentionPeriod",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "VisibilityTimeout",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
)
# The properties of a SAM SQS event that the sandbox's poller honours; any other one (FilterCriteria,
# ScalingConfig...) would change what is delivered, so it raises until the poller does it too.
SQS_EVENT_PROPERTIES = frozenset(
    {"Queue", "BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "Enabled"}
)


@dataclass(frozen=True)
class EventSourceMapping:
    """A function that Lambda's SQS poller feeds from a queue, as a SAM ``Type: SQS`` event declares it."""

    function_id: str
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    maximum_batching_window_seconds: int
    # ("ReportBatchItemFailures",): the function answers which messages failed, the rest are deleted.
    function_response_types: tuple[str, ...]
    enabled: bool


@dataclass
class DeployedStack:
    name: str
    parameters: dict[str, str]
    physical_ids: dict[str, str] = field(default_factory=dict)
    schedules: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    # Bucket name -> its policy as the template resolves it (see StackDeployer._bucket_policy).
    bucket_policies: dict[str, dict] = field(default_factory=dict)
    event_source_mappings: list[EventSourceMapping] = field(default_factory=list)

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def topic_arn(self) -> str:
        return self.outputs["AuditTopicArn"]

    @property
    def table_name(self) -> str:
        return self.outputs["LedgerTableName"]

    @property
    def alerts_topic_arn(self) -> str:
        return self.outputs["AlertsTopicArn"]

    @property
    def dashboard_name(self) -> str:
        return self.outputs["DashboardName"]

    @property
    def dead_letter_queue_url(self) -> str:
        return self.physical_ids["ScheduleDeadLetterQueue"]

    @property
    def audit_bucket(self) -> str:
        return self.outputs["AuditBucketName"]

    @property
    def secret_name_prefix(self) -> str:
        return self.outputs["SecretNamePrefix"]

    @property
    def fingerprint_key_arn(self) -> str:
        return self.outputs["FingerprintKeyArn"]

    # Call-record evidence. Not outputs of the template: read from the deployed resources.

    @property
    def indexing_queue_url(self) -> str:
        return self.physical_ids["IndexingQueue"]

    @property
    def indexing_dead_letter_queue_url(self) -> str:
        return self.physical_ids["IndexingDeadLetterQueue"]

    @property
    def index_function_name(self) -> str:
        return self.physical_ids["IndexCallRecordsFunction"]

    @property
    def backfill_function_name(self) -> str:
        return self.physical_ids["BackfillCallRecordsFunction"]

    def event_source_mapping(self, function_id: str) -> EventSourceMapping:
        """The one SQS event source of the function with this logical id."""
        (mapping,) = [m for m in self.event_source_mappings if m.function_id == function_id]
        return mapping


def _dummy_code() -> bytes:
    # The functions' code is never unpacked: the sandbox runtime imports the handlers from the source tree.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "handlers run in-process from functions/")
    return buffer.getvalue()


class StackDeployer:
    def __init__(self, clients: Callable[[str], Any], stack_name: str, parameters: Mapping[str, str]) -> None:
        self._client = clients
        self._stack = stack_name
        self._template = load_template()
        declared = self._template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        if unknown:
            raise ValueError(f"the template declares no parameter {sorted(unknown)}")
        values = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        values.update({name: str(value) for name, value in parameters.items()})
        self._resolver = Resolver(
            parameters=values,
            pseudo=pseudo_parameters(ACCOUNT_ID, REGION, stack_name),
            conditions=self._template.get("Conditions", {}),
        )
        self._deployed = DeployedStack(name=stack_name, parameters=values)
        self._role_arn = ""

    def deploy(self) -> DeployedStack:
        self._role_arn = self._client("iam").create_role(
            RoleName=f"{self._stack}-sandbox-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        resources = self._template["Resources"]
        resources |= {
            f"{logical_id}#Events": {
                "Type": "AWS::Serverless::Function#Events",
                "Properties": spec["Properties"],
            }
            for logical_id, spec in resources.items()
            if spec["Type"] == "AWS::Serverless::Function" and spec["Properties"].get("Events")
        }
        unknown = {spec["Type"] for spec in resources.values()} - set(CREATION_ORDER)
        if unknown:
            raise NotImplementedError(f"the sandbox cannot deploy resource types {sorted(unknown)} yet")
        creators = {
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::KMS::Key": self._kms_key,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::S3::Bucket": self._bucket,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::IAM::Role": self._iam_role,
            "AWS::IAM::RolePolicy": self._role_policy,
            "AWS::Serverless::Function#Events": self._function_events,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::Events::Rule": self._rule,
            "AWS::Events::EventBusPolicy": self._bus_policy,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
            "AWS::Scheduler::Schedule": self._scheduler_schedule,
        }
        deployed = {
            logical_id
            for logical_id, spec in resources.items()
            if "Condition" not in spec or self._resolver.condition(spec["Condition"])
        }
        # Logical id -> (its definition, the resources it names that do not exist yet).
        waiting: dict[str, tuple[Any, set[str]]] = {}

        def create(logical_id: str, spec: Any) -> None:
            ref, attributes = creators[spec["Type"]](logical_id, spec.get("Properties", {}))
            self._resolver.resources[logical_id] = (ref, attributes)
            self._deployed.physical_ids[logical_id] = ref
            for name, (waiting_spec, needs) in list(waiting.items()):
                needs.discard(logical_id)
                if not needs and waiting.pop(name, None) is not None:
                    create(name, waiting_spec)

        for resource_type in CREATION_ORDER:
            for logical_id, spec in _dependencies_first(resources, resource_type):
                if logical_id not in deployed:
                    continue
                needs = (_created_from(spec) & deployed) - set(self._resolver.resources) - {logical_id}
                if needs:
                    waiting[logical_id] = (spec, needs)
                else:
                    create(logical_id, spec)
        if waiting:
            raise ValueError(f"these resources name resources never created: {sorted(waiting)}")
        self._deployed.outputs = {
            name: self._resolver.resolve(output["Value"])
            for name, output in self._template.get("Outputs", {}).items()
        }
        return self._deployed

    def _name(self, logical_id: str) -> str:
        return f"{self._stack}-{logical_id}"

    def _function_timeout(self, function_id: str) -> int:
        properties = merged_function_properties(
            self._template, self._template["Resources"][function_id]["Properties"]
        )
        return int(self._resolver.resolve(properties.get("Timeout", 3)))

    def _log_group(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = properties.get("LogGroupName") or f"/sandbox/{self._name(logical_id)}"
        logs = self._client("logs")
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in properties:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
        # As CloudFormation's Fn::GetAtt answers, with the ":*" that Step Functions' logging requires.
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
        return name, {"Arn": arn}

    def _kms_key(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        metadata = self._client("kms").create_key(
            Description=properties.get("Description", logical_id), Policy=json.dumps(properties["KeyPolicy"])
        )["KeyMetadata"]
        if properties.get("EnableKeyRotation"):
            self._client("kms").enable_key_rotation(KeyId=metadata["KeyId"])
        return metadata["KeyId"], {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]}

    def _table(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = self._name(logical_id)
        dynamodb = self._client("dynamodb")
        description = dynamodb.create_table(
            TableName=name,
            BillingMode=properties["BillingMode"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            SSESpecification={"Enabled": bool(properties.get("SSESpecification", {}).get("SSEEnabled"))},
        )["TableDescription"]
        recovery = properties.get("PointInTimeRecoverySpecification", {})
        if recovery.get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        time_to_live = properties.get("TimeToLiveSpecification")
        if time_to_live is not None:
            # moto records the setting (DescribeTimeToLive answers it) but never deletes an expired item;
            # nor does DynamoDB promptly (within days), so nothing may rely on an item being gone.
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": time_to_live["AttributeName"],
                    "Enabled": bool(time_to_live["Enabled"]),
                },
            )
        return name, {"Arn": description["TableArn"]}

    def _topic(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        attributes = {
            key: str(properties[key]) for key in ("DisplayName", "KmsMasterKeyId") if key in properties
        }
        name = self._name(logical_id)
        arn = self._client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return arn, {"TopicName": name, "TopicArn": arn}

    def _subscription(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        arn = self._client("sns").subscribe(
            TopicArn=properties["TopicArn"], Protocol=properties["Protocol"], Endpoint=properties["Endpoint"]
        )["SubscriptionArn"]
        return arn, {}

    def _function(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(
            merged_function_properties(self._template, {k: v for k, v in properties.items() if k != "Events"})
        )
        module_name = properties["Handler"].rpartition(".")[0]
        if importlib.util.find_spec(module_name) is None:
            raise ValueError(f"{logical_id}: the runtime could not import handler {properties['Handler']!r}")
        name = self._name(logical_id)
        variables = {k: str(v) for k, v in properties["Environment"]["Variables"].items()}
        logging_config = properties.get("LoggingConfig", {})
        variables |= {
            variable: str(logging_config[key])
            for key, variable in LOGGING_ENVIRONMENT.items()
            if key in logging_config
        }
        arn = self._client("lambda").create_function(
            FunctionName=name,
            Runtime=properties["Runtime"],
            Role=properties.get("Role", self._role_arn),
            Handler=properties["Handler"],
            Code={"ZipFile": _dummy_code()},
            Timeout=int(properties.get("Timeout", 3)),
            MemorySize=int(properties.get("MemorySize", 128)),
            Environment={"Variables": variables},
            TracingConfig={"Mode": properties.get("Tracing", "PassThrough")},
        )["FunctionArn"]
        return name, {"Arn": arn}

    def _function_events(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        """A function's SAM events: an EventBridgeRule becomes a rule whose target is the function; an SQS
        event becomes an event source mapping that the sandbox's poller serves (``DeployedStack``)."""
        function_id = logical_id.removesuffix("#Events")
        function_arn = self._resolver.get_att(function_id, "Arn")
        for event_id, event in properties["Events"].items():
            event_properties = self._resolver.resolve(event["Properties"])
            if event["Type"] == "SQS":
                self._sqs_event(function_id, event_id, event_properties)
                continue
            if event["Type"] != "EventBridgeRule":
                raise NotImplementedError(f"the sandbox cannot deploy {event['Type']} function events yet")
            name = self._name(f"{function_id}{event_id}")
            self._client("events").put_rule(Name=name, EventPattern=json.dumps(event_properties["Pattern"]))
            self._client("events").put_targets(Rule=name, Targets=[{"Id": function_id, "Arn": function_arn}])
        return logical_id, {}

    def _sqs_event(self, function_id: str, event_id: str, properties: dict) -> None:
        """Checked as Lambda's CreateEventSourceMapping checks it, and recorded, not created in moto: moto's
        mapping would invoke the function from inside SendMessage, a batch per message, and delete the
        whole batch whatever the function answered."""
        unknown = set(properties) - SQS_EVENT_PROPERTIES
        if unknown:
            raise NotImplementedError(
                f"{function_id}.{event_id}: the sandbox cannot honour {sorted(unknown)}"
            )
        batch_size = int(properties.get("BatchSize", 10))
        window = int(properties.get("MaximumBatchingWindowInSeconds", 0))
        if not 1 <= batch_size <= 10_000 or not 0 <= window <= 300:
            raise ValueError(
                f"{function_id}.{event_id}: BatchSize 1-10000, MaximumBatchingWindowInSeconds 0-300"
            )
        if batch_size > 10 and window < 1:
            raise ValueError(
                f"{function_id}.{event_id}: a batch of more than 10 needs a MaximumBatchingWindowInSeconds"
            )
        sqs = self._client("sqs")
        queue_url = sqs.get_queue_url(QueueName=properties["Queue"].rsplit(":", 1)[1])["QueueUrl"]
        visibility = int(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
                "VisibilityTimeout"
            ]
        )
        timeout = self._function_timeout(function_id)
        if visibility < timeout:
            # Lambda refuses the mapping: a batch would be delivered again while its first delivery runs.
            raise ValueError(
                f"{function_id}.{event_id}: the queue's visibility timeout ({visibility} s) is less than "
                f"the function's timeout ({timeout} s)"
            )
        self._deployed.event_source_mappings.append(
            EventSourceMapping(
                function_id=function_id,
                function_name=self._resolver.ref(function_id),
                queue_arn=properties["Queue"],
                queue_url=queue_url,
                batch_size=batch_size,
                maximum_batching_window_seconds=window,
                function_response_types=tuple(properties.get("FunctionResponseTypes", ())),
                enabled=bool(properties.get("Enabled", True)),
            )
        )

    def _iam_role(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = self._name(logical_id)
        arn = self._client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"])
        )["Role"]["Arn"]
        for policy in properties.get("Policies", []):
            # IAM takes a document without a Version (as 2008-10-17, which differs from the current one in
            # policy variables only: the schedule's role, written as SAM generates it, has none); moto
            # refuses one, so it is put with the current version.
            document = {"Version": "2012-10-17"} | policy["PolicyDocument"]
            self._client("iam").put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document)
            )
        return name, {"Arn": arn}

    def _secret(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        secrets = self._client("secretsmanager")
        generate = properties.get("GenerateSecretString")
        if generate is not None:
            value = secrets.get_random_password(
                PasswordLength=int(generate.get("PasswordLength", 32)),
                ExcludePunctuation=bool(generate.get("ExcludePunctuation", False)),
            )["RandomPassword"]
        else:
            value = properties["SecretString"]
        arn = secrets.create_secret(
            Name=properties.get("Name") or self._name(logical_id),
            Description=properties.get("Description", ""),
            SecretString=value,
        )["ARN"]
        return arn, {"Id": arn}

    def _bucket(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = self._name(logical_id).lower()
        s3 = self._client("s3")
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=bool(properties.get("ObjectLockEnabled")))
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"]
            )
        if "ObjectLockConfiguration" in properties:
            lock = properties["ObjectLockConfiguration"]
            retention = lock["Rule"]["DefaultRetention"]
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": lock["ObjectLockEnabled"],
                    "Rule": {"DefaultRetention": {"Mode": retention["Mode"], "Days": int(retention["Days"])}},
                },
            )
        if "BucketEncryption" in properties:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
                        "KMSMasterKeyID": rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID", ""),
                    },
                    "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled", False)),
                }
                for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def _role_policy(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        """Resolved (so that what it names must exist) and put on its role, which the sandbox's functions
        and state machines do not assume: IAM is not evaluated offline (tests/security reads the grants)."""
        properties = self._resolver.resolve(properties)
        self._client("iam").put_role_policy(
            RoleName=properties["RoleName"],
            PolicyName=properties["PolicyName"],
            PolicyDocument=json.dumps(properties["PolicyDocument"]),
        )
        return self._name(logical_id), {}

    def _bucket_policy(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        """Resolved and kept, not attached: moto evaluates a bucket policy's Deny statements without their
        Condition, so the TLS-only and one-writer-per-prefix denies would refuse every request. The
        template tests check the statements themselves."""
        properties = self._resolver.resolve(properties)
        self._deployed.bucket_policies[properties["Bucket"]] = properties["PolicyDocument"]
        return self._name(logical_id), {}

    def _state_machine(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        if properties.get("Events"):
            # The stack's schedule is an AWS::Scheduler::Schedule of its own (_scheduler_schedule).
            raise NotImplementedError(f"{logical_id}: the sandbox cannot deploy a state machine's events yet")
        substitutions = self._resolver.resolve(properties.get("DefinitionSubstitutions", {}))
        definition = (REPOSITORY / properties["DefinitionUri"]).read_text()
        name = self._name(logical_id)
        options = {}
        if "Logging" in properties:
            logging = self._resolver.resolve(properties["Logging"])
            options["loggingConfiguration"] = {
                "level": logging["Level"],
                "includeExecutionData": bool(logging.get("IncludeExecutionData", False)),
                "destinations": [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                    for d in logging.get("Destinations", [])
                ],
            }
        if "Tracing" in properties:
            options["tracingConfiguration"] = {
                "enabled": bool(self._resolver.resolve(properties["Tracing"]).get("Enabled", False))
            }
        arn = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=substitute_definition(definition, substitutions),
            roleArn=self._role_arn,
            type=properties.get("Type", "STANDARD"),
            **options,
        )["stateMachineArn"]
        return arn, {"Arn": arn, "Name": name}

    def _scheduler_schedule(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        """Created in moto's EventBridge Scheduler, which keeps it and starts nothing: the session fires it
        (``Sandbox.fire_schedule``) as the service would, its target with its input, when it is enabled."""
        properties = self._resolver.resolve(properties)
        given = properties["Target"]
        target = {"Arn": given["Arn"], "RoleArn": given["RoleArn"], "Input": given.get("Input", "{}")}
        if "RetryPolicy" in given:
            target["RetryPolicy"] = {key: int(value) for key, value in given["RetryPolicy"].items()}
        if "DeadLetterConfig" in given:
            target["DeadLetterConfig"] = {"Arn": given["DeadLetterConfig"]["Arn"]}
        name = properties.get("Name") or self._name(logical_id)
        arn = self._client("scheduler").create_schedule(
            Name=name,
            Description=properties.get("Description", ""),
            ScheduleExpression=properties["ScheduleExpression"],
            ScheduleExpressionTimezone=properties.get("ScheduleExpressionTimezone", "UTC"),
            State=properties.get("State", "ENABLED"),
            FlexibleTimeWindow=properties["FlexibleTimeWindow"],
            Target=target,
        )["ScheduleArn"]
        self._deployed.schedules.append(name)
        return name, {"Arn": arn}

    def _queue(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        unknown = set(properties) - {*QUEUE_ATTRIBUTES, "RedrivePolicy"}
        if unknown:
            raise NotImplementedError(
                f"{logical_id}: the sandbox cannot create queues with {sorted(unknown)}"
            )
        attributes = {
            key: str(properties[key]).lower() if isinstance(properties[key], bool) else str(properties[key])
            for key in QUEUE_ATTRIBUTES
            if key in properties
        }
        if "RedrivePolicy" in properties:
            # CloudFormation takes the policy as an object; the SQS API as a JSON string.
            redrive = properties["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            )
        name = self._name(logical_id)
        sqs = self._client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _queue_policy(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        """Attached to each queue. moto's SQS does not evaluate it; the sandbox's EventBridge does, before
        it delivers to a queue (sandbox/event_bus.py), as EventBridge's delivery is refused without it."""
        properties = self._resolver.resolve(properties)
        for queue_url in properties["Queues"]:
            self._client("sqs").set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
            )
        return self._name(logical_id), {}

    def _topic_policy(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        for topic_arn in properties["Topics"]:
            self._client("sns").set_topic_attributes(
                TopicArn=topic_arn,
                AttributeName="Policy",
                AttributeValue=json.dumps(properties["PolicyDocument"]),
            )
        return self._name(logical_id), {}

    def _rule(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = properties.get("Name") or self._name(logical_id)
        events = self._client("events")
        arn = events.put_rule(
            Name=name,
            EventPattern=json.dumps(properties["EventPattern"]),
            State=properties.get("State", "ENABLED"),
            Description=properties.get("Description", ""),
        )["RuleArn"]
        if properties.get("Targets"):
            events.put_targets(Rule=name, Targets=properties["Targets"])
        return name, {"Arn": arn}

    def _bus_policy(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        """The statement, added to its bus's policy: the sandbox's EventBridge reads it before it lets an
        event from another account onto the bus (sandbox/event_bus.py)."""
        properties = self._resolver.resolve(properties)
        statement = dict(properties["Statement"]) | {"Sid": properties["StatementId"]}
        self._client("events").put_permission(
            EventBusName=properties["EventBusName"],
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        return str(properties["StatementId"]), {}

    def _alarm(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = properties.get("AlarmName") or self._name(logical_id)
        arguments = {key: properties[key] for key in ALARM_PROPERTIES if key in properties}
        arguments.update({key: int(properties[key]) for key in ALARM_INTEGERS if key in properties})
        cloudwatch = self._client("cloudwatch")
        cloudwatch.put_metric_alarm(AlarmName=name, Threshold=float(properties["Threshold"]), **arguments)
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return name, {"Arn": alarm["AlarmArn"]}

    def _dashboard(self, logical_id: str, properties: dict) -> tuple[str, dict]:
        properties = self._resolver.resolve(properties)
        name = properties.get("DashboardName") or self._name(logical_id)
        self._client("cloudwatch").put_dashboard(
            DashboardName=name, DashboardBody=properties["DashboardBody"]
        )
        return name, {}


def _references(value: Any) -> set[str]:
    """The logical ids (and parameters) a resource's definition names: Ref, Fn::GetAtt, Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item[0] if isinstance(item, list) else str(item).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                found |= {match.group(1) for match in PLACEHOLDER.finditer(text)}
                found |= _references(item[1:] if isinstance(item, list) else [])
            else:
                found |= _references(item)
    return found


def _created_from(spec: Mapping[str, Any]) -> set[str]:
    """The logical ids (and parameters) a resource's creator resolves: its properties, less a function's
    Events, which its own ``#Events`` entry creates later."""
    properties = spec.get("Properties", {})
    if spec["Type"] == "AWS::Serverless::Function":
        properties = {key: value for key, value in properties.items() if key != "Events"}
    return _references(properties)


def _dependencies_first(resources: Mapping[str, Any], resource_type: str) -> list[tuple[str, Any]]:
    """The resources of one type, each after those of the same type it names (a queue after its
    dead-letter queue), else in the template's order. A cycle raises: CloudFormation refuses one too."""
    of_type = {logical_id: spec for logical_id, spec in resources.items() if spec["Type"] == resource_type}
    ordered: list[tuple[str, Any]] = []
    placing: set[str] = set()

    def place(logical_id: str) -> None:
        if any(placed == logical_id for placed, _ in ordered):
            return
        if logical_id in placing:
            raise ValueError(f"circular reference through {logical_id}")
        placing.add(logical_id)
        for needed in sorted(_references(of_type[logical_id]) & set(of_type) - {logical_id}):
            place(needed)
        placing.discard(logical_id)
        ordered.append((logical_id, of_type[logical_id]))

    for logical_id in of_type:
        place(logical_id)
    return ordered


def deploy_stack(
    clients: Callable[[str], Any], stack_name: str, parameters: Mapping[str, str]
) -> DeployedStack:
    return StackDeployer(clients, stack_name, parameters).deploy()
