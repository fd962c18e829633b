"""Operating the rotation safely: alerts, alarms, the dashboard, logs, tracing, the schedule's retries and
dead-letter queue, and the run lock's release when an execution ends (encryption at rest is
tests/security/test_encryption.py's, for every deployment variant). First the
template as a document, then the stack in the sandbox.
"""

import json
import re
from datetime import timedelta

import pytest
from moto.events.models import EventPattern
from moto.events.utils import EventTemplateParser

from credential_rotation.adapters.run_lock import LEASE, LONGEST_TASK, RunLock
from credential_rotation.adapters.run_metrics import NAMESPACE, fleet_run_counts, run_counts
from sandbox.session import Sandbox
from sandbox.template import REPOSITORY, Resolver, load_template

ALERTS = {"Ref": "AlertsTopic"}
STATE_MACHINE = {"Ref": "RotationStateMachine"}
# Fleet mode's state machine: its bad ends page and its ends release the lock, as single-account mode's.
FLEET_STATE_MACHINE = {"Ref": "FleetStateMachine"}
BAD_ENDS = {"FAILED", "TIMED_OUT", "ABORTED"}
ENDS = BAD_ENDS | {"SUCCEEDED"}
CONSOLE_LINK = (
    "https://${AWS::Region}.console.aws.amazon.com/states/home?region=${AWS::Region}"
    "#/v2/executions/details/<executionArn>"
)
# CloudWatch evaluates an alarm over at most 7 days (EvaluationPeriods x Period).
ALARM_WINDOW_LIMIT = 7 * 86400
# The metrics the dashboard shows that the functions emit themselves (Embedded Metric Format).
CUSTOM_METRICS = {
    "CredentialsListed",
    "CredentialsStale",
    "CredentialsDeleted",
    "SuccessorsIssued",
    "CredentialsKeptByGuard",
    "ConnectorsFailed",
    "RetryableFailures",
    "ChimeThrottled",
    "Runs",
    "FleetRuns",
    "FleetTargetsFailed",
}
STATES_METRICS = {
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsTimedOut",
    "ExecutionsAborted",
    "ExecutionTime",
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {name: spec for name, spec in template["Resources"].items() if spec["Type"] == resource_type}


def properties(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def state_machine(template: dict) -> dict:
    return properties(template, "RotationStateMachine")


def the_rule(template: dict) -> dict:
    """The rule on the state machine's ends (the other rule takes call records to the indexing queue)."""
    return properties(template, "RunFailedRule")


def dashboard_body(template: dict, values: dict[str, str] | None = None) -> dict:
    """The dashboard's JSON, with each ${...} replaced by its name (or by values[name])."""
    text = properties(template, "RotationDashboard")["DashboardBody"]["Fn::Sub"]
    values = values or {}
    return json.loads(re.sub(r"\$\{([\w:.]+)\}", lambda match: values.get(match[1], match[1]), text))


def dashboard_metrics(body: dict) -> list[list]:
    return [
        metric
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
    ]


# The failed-run rule


def test_the_rule_watches_this_state_machine_for_exactly_the_bad_ends(template):
    rule = the_rule(template)
    pattern = rule["EventPattern"]
    assert rule["State"] == "ENABLED"
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["stateMachineArn"] == [STATE_MACHINE, FLEET_STATE_MACHINE]
    assert sorted(pattern["detail"]["status"]) == sorted(BAD_ENDS)


def test_the_rule_tells_the_alerts_topic_which_execution_and_links_to_it(template):
    (target,) = the_rule(template)["Targets"]
    assert target["Arn"] == ALERTS
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {
        "executionArn": "$.detail.executionArn",
        "status": "$.detail.status",
        "error": "$.detail.error",
        "stateMachineArn": "$.detail.stateMachineArn",
    }
    text = transformer["InputTemplate"]["Fn::Sub"]
    assert CONSOLE_LINK in text
    assert set(re.findall(r"<(\w+)>", text)) == set(transformer["InputPathsMap"])
    # A quoted string: EventBridge sends it to SNS as plain text, not as JSON.
    assert isinstance(json.loads(text.replace("${AWS::Region}", "us-east-1")), str)


# The run lock's release


def release_event(template: dict) -> dict:
    (event,) = properties(template, "ReleaseRunLockFunction")["Events"].values()
    return event


def test_the_run_lock_is_released_when_an_execution_of_this_state_machine_ends_in_any_way(template):
    """PublishAudit releases it on every path that reaches it; a run that times out, is aborted or fails
    before that never does, and without this rule would block applying runs for the whole lease."""
    event = release_event(template)
    assert event["Type"] == "EventBridgeRule"
    rule = event["Properties"]
    # The default bus, where Step Functions sends its status changes.
    assert "EventBusName" not in rule
    pattern = rule["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["stateMachineArn"] == [STATE_MACHINE, FLEET_STATE_MACHINE]
    assert sorted(pattern["detail"]["status"]) == sorted(ENDS)


def test_a_release_that_keeps_failing_is_retried_no_longer_than_the_lease_lasts(template):
    retry = release_event(template)["Properties"]["RetryPolicy"]
    assert retry["MaximumRetryAttempts"] >= 1
    assert retry["MaximumEventAgeInSeconds"] <= LEASE.total_seconds()


# Alarms

ALARMS = {
    "NoSuccessfulRunAlarm": {
        "Namespace": "AWS/States",
        "MetricName": "ExecutionsSucceeded",
        # The state machine the schedule starts (test_the_fleet_hub_schedules_fleet_runs...).
        "Dimensions": [
            {
                "Name": "StateMachineArn",
                "Value": {"Fn::If": ["FleetHub", FLEET_STATE_MACHINE, STATE_MACHINE]},
            }
        ],
        "Statistic": "Sum",
        "Period": 86400,
        "EvaluationPeriods": {"Ref": "NoSuccessAlarmDays"},
        "DatapointsToAlarm": {"Ref": "NoSuccessAlarmDays"},
        "Threshold": 1,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
    },
    "AuditPublishFailedAlarm": {
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "PublishAuditFunction"}}],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    },
    "IndexingDeadLetterAlarm": {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": ["IndexingDeadLetterQueue", "QueueName"]}}
        ],
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    },
    "ScheduleDeadLetterAlarm": {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}}
        ],
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    },
}


def test_the_template_has_exactly_these_alarms(template):
    assert set(resources(template, "AWS::CloudWatch::Alarm")) == set(ALARMS)


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_each_alarm_watches_its_metric_with_its_threshold(template, alarm):
    alarm_properties = properties(template, alarm)
    assert {key: alarm_properties.get(key) for key in ALARMS[alarm]} == ALARMS[alarm]


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_each_alarm_tells_the_alerts_topic_when_it_fires_and_when_it_clears(template, alarm):
    alarm_properties = properties(template, alarm)
    assert alarm_properties["AlarmActions"] == [ALERTS]
    assert alarm_properties["OKActions"] == [ALERTS]
    assert alarm_properties.get("ActionsEnabled", True) is True


def alarm_descriptions(template: dict, alarm: str) -> list[str]:
    """The alarm's description as written, both branches when it depends on a condition."""

    def texts(value: str | dict) -> list[str]:
        if isinstance(value, str):
            return [value]
        if "Fn::If" in value:
            return [text for branch in value["Fn::If"][1:] for text in texts(branch)]
        return [value["Fn::Sub"]]

    return texts(properties(template, alarm)["AlarmDescription"])


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_each_alarm_says_what_it_means_and_what_to_do(template, alarm):
    for description in alarm_descriptions(template, alarm):
        assert 100 <= len(description) <= 1024  # CloudWatch's limit
        assert re.search(r"\b(Check|Read|Fix)\b", description), description


def test_the_no_success_alarm_names_both_causes(template):
    for description in alarm_descriptions(template, "NoSuccessfulRunAlarm"):
        assert "${NoSuccessAlarmDays} day(s)" in description
        assert "schedule stopped" in description
        assert "every run fails" in description


@pytest.mark.parametrize("asl", ["rotation.asl.json", "fleet.asl.json"])
def test_only_a_run_that_ended_succeeded_counts_as_a_success_in_either_mode(asl):
    """NoSuccessfulRunAlarm counts ExecutionsSucceeded of whichever machine the schedule starts, so both
    must mean the same by it: the one Succeed state is reached only when the run's Outcome is SUCCEEDED,
    and any other outcome (PARTIAL included) ends in a Fail state. A Distributed Map's children are not
    top-level states: CloudWatch counts them under their own StateMachineArn."""
    states = json.loads((REPOSITORY / "statemachine" / asl).read_text())["States"]
    assert [name for name, state in states.items() if state["Type"] == "Succeed"] == ["RunSucceeded"]
    assert not [name for name, state in states.items() if state.get("End")]
    leading_to_success = [
        name
        for name, state in states.items()
        if "RunSucceeded"
        in [state.get("Next"), state.get("Default")] + [choice["Next"] for choice in state.get("Choices", [])]
    ]
    assert leading_to_success == ["ReportOutcome"]
    report = states["ReportOutcome"]
    succeeded = {"Variable": "$.Outcome", "StringEquals": "SUCCEEDED", "Next": "RunSucceeded"}
    assert report["Choices"] == [succeeded]
    assert states[report["Default"]]["Type"] == "Fail"


def test_no_success_alarm_days_stay_within_what_cloudwatch_evaluates(template):
    parameter = template["Parameters"]["NoSuccessAlarmDays"]
    assert parameter["Type"] == "Number"
    assert (parameter["MinValue"], parameter["Default"], parameter["MaxValue"]) == (2, 2, 7)
    assert (
        parameter["MaxValue"] * properties(template, "NoSuccessfulRunAlarm")["Period"] <= ALARM_WINDOW_LIMIT
    )


# Alerts topic, its key and its policy


def test_alerts_topic_policy_lets_only_this_stacks_rule_and_alarms_publish(template):
    """Exactly the ARNs of this stack's rule and three alarms: no other alarm or rule of the account (an
    ArnLike on alarm:* would let any of them page through this topic)."""
    policy = properties(template, "AlertsTopicPolicy")
    assert policy["Topics"] == [ALERTS]
    by_principal = {
        statement["Principal"]["Service"]: statement for statement in policy["PolicyDocument"]["Statement"]
    }
    assert set(by_principal) == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    for statement in by_principal.values():
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
            "Allow",
            "sns:Publish",
            ALERTS,
        )
    events = by_principal["events.amazonaws.com"]["Condition"]
    assert events == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["RunFailedRule", "Arn"]}}}
    alarms = by_principal["cloudwatch.amazonaws.com"]["Condition"]
    assert set(alarms) == {"ArnEquals"}
    assert sorted(value["Fn::GetAtt"][0] for value in alarms["ArnEquals"]["aws:SourceArn"]) == sorted(ALARMS)
    assert all(value["Fn::GetAtt"][1] == "Arn" for value in alarms["ArnEquals"]["aws:SourceArn"])


def named_arn(service: str, resource: str) -> str:
    """The ARN of a rule or alarm of this stack, built from the name the template gives it."""
    return f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"


def test_the_rule_and_alarms_have_the_names_the_alerts_key_names(template):
    assert the_rule(template)["Name"] == {"Fn::Sub": "${AWS::StackName}-run-failed"}
    for alarm in ALARMS:
        name = properties(template, alarm)["AlarmName"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-"), alarm
        assert "*" not in name, alarm


def test_the_alerts_key_lets_eventbridge_and_cloudwatch_encrypt_for_this_stacks_rule_and_alarms_only(
    template,
):
    """The key cannot name the rule and alarms with GetAtt (they act on the topic the key encrypts, a
    circular dependency), so it builds their ARNs from the names they are given: the same names, exactly."""
    key_id = properties(template, "AlertsTopic")["KmsMasterKeyId"]["Ref"]
    statements = properties(template, key_id)["KeyPolicy"]["Statement"]
    services = {
        statement["Principal"]["Service"]: statement
        for statement in statements
        if "Service" in statement["Principal"]
    }
    rule_name = the_rule(template)["Name"]["Fn::Sub"]
    alarm_names = [properties(template, alarm)["AlarmName"]["Fn::Sub"] for alarm in sorted(ALARMS)]
    expected_sources = {
        "events.amazonaws.com": [named_arn("events", f"rule/{rule_name}")],
        "cloudwatch.amazonaws.com": [named_arn("cloudwatch", f"alarm:{name}") for name in alarm_names],
    }
    assert set(services) == set(expected_sources)
    for service, statement in services.items():
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        (operator,) = statement["Condition"]
        assert operator == "ArnEquals"
        sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        sources = [sources] if isinstance(sources, dict) else sources
        assert sorted(source["Fn::Sub"] for source in sources) == sorted(expected_sources[service])


def test_the_audit_key_serves_no_service_principal(template):
    # Only the functions publish audit events, with their IAM roles; no service needs the audit key.
    statements = properties(template, "AuditKey")["KeyPolicy"]["Statement"]
    assert all("Service" not in statement["Principal"] for statement in statements)


def test_the_alert_email_is_optional(template):
    assert template["Parameters"]["AlertEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlertEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]
    }
    subscription = template["Resources"]["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"] == {
        "TopicArn": ALERTS,
        "Protocol": "email",
        "Endpoint": {"Ref": "AlertEmail"},
    }


# The schedule


SCHEDULE = "RotationStateMachineNightlyRotation"
FLEET_TARGETS = {"OrganizationalUnitIds": ["ou-abcd-11111111"], "Regions": ["us-east-1", "eu-west-1"]}


class Attributes(dict):
    """A resource's attributes, each standing for itself (``<Logical.Attribute>``)."""

    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def __missing__(self, attribute: str) -> str:
        return f"<{self.logical_id}.{attribute}>"


def deployed_with(template: dict, **parameters: str) -> Resolver:
    """The template's values as CloudFormation resolves them for these parameters (the others at their
    defaults), each resource's Ref standing for its logical id (``<Logical>``)."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    return Resolver(
        parameters=values | parameters,
        pseudo={"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
        | {"AWS::StackName": "rotation", "AWS::URLSuffix": "amazonaws.com"},
        conditions=template["Conditions"],
        resources={name: (f"<{name}>", Attributes(name)) for name in template["Resources"]},
    )


def test_the_schedule_retries_failed_starts_then_parks_them_in_the_dead_letter_queue(template):
    schedule = properties(template, SCHEDULE)["Target"]
    retry = schedule["RetryPolicy"]
    assert 1 <= retry["MaximumRetryAttempts"] <= 185
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    queue = properties(template, "ScheduleDeadLetterQueue")
    assert queue["MessageRetentionPeriod"] == 14 * 86400


def test_the_stack_has_one_schedule_and_no_state_machine_schedules_itself(template):
    """A second schedule (a SAM event on either state machine) would start a second nightly run, which
    would contend with the first for the run lock and Chime's rate limit."""
    assert set(resources(template, "AWS::Scheduler::Schedule")) == {SCHEDULE}
    for machine in ("RotationStateMachine", "FleetStateMachine"):
        assert "Events" not in properties(template, machine)


@pytest.mark.parametrize(
    ("fleet_targets", "machine"),
    [("", "RotationStateMachine"), (json.dumps(FLEET_TARGETS), "FleetStateMachine")],
    ids=["single-account", "fleet-hub"],
)
def test_the_fleet_hub_schedules_fleet_runs_and_the_alarm_follows(template, fleet_targets, machine):
    """FleetTargets set makes the stack a fleet hub: its schedule starts FleetStateMachine (whose run takes
    FleetTargets when the input names no Targets) with the same input, retries and dead-letter queue, its
    role may start only that machine, and the no-successful-run alarm watches that machine and says so.
    FleetTargets empty: the single-account state machine, as before fleet mode."""
    deployed = deployed_with(template, FleetTargets=fleet_targets)
    schedule = deployed.resolve(properties(template, SCHEDULE))
    target = schedule["Target"]
    assert target["Arn"] == f"<{machine}>"
    assert json.loads(target["Input"]) == {"Trigger": "schedule"}
    assert schedule["State"] == "ENABLED"
    assert target["RoleArn"] == "<RotationStateMachineNightlyRotationRole.Arn>"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": "<ScheduleDeadLetterQueue.Arn>"}
    role = deployed.resolve(properties(template, "RotationStateMachineNightlyRotationRole"))
    grants = [statement for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]]
    assert [statement for statement in grants if statement["Action"] == "states:StartExecution"] == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": f"<{machine}>"}
    ]
    alarm = deployed.resolve(properties(template, "NoSuccessfulRunAlarm"))
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": f"<{machine}>"}]
    assert ("FleetStateMachine" in alarm["AlarmDescription"]) is (machine == "FleetStateMachine")


# Logs and traces


def test_the_state_machine_logs_errors_without_execution_data(template):
    logging = state_machine(template)["Logging"]
    assert logging["Level"] == "ERROR"
    # Execution data carries voice connector usernames.
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }
    log_group = properties(template, "StateMachineLogGroup")
    assert log_group["RetentionInDays"] == 90
    assert log_group["LogGroupName"]["Fn::Sub"].startswith("/aws/vendedlogs/states/")


def test_tracing_is_one_switch_for_the_state_machine_and_the_functions(template):
    parameter = template["Parameters"]["Tracing"]
    assert (parameter["AllowedValues"], parameter["Default"]) == (["Active", "PassThrough"], "PassThrough")
    assert template["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]}
    assert state_machine(template)["Tracing"] == {"Enabled": {"Fn::If": ["TracingEnabled", True, False]}}
    function = template["Globals"]["Function"]
    assert function["Tracing"] == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    variables = function["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingEnabled", "false", "true"]}
    for name, spec in resources(template, "AWS::Serverless::Function").items():
        assert "Tracing" not in spec["Properties"], name


def test_the_functions_emit_metrics_where_the_dashboard_reads_them(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    custom = [metric for metric in dashboard_metrics(dashboard_body(template)) if metric[0] == NAMESPACE]
    assert {metric[1] for metric in custom} >= CUSTOM_METRICS
    for metric in custom:
        assert metric[2:4] == ["service", variables["POWERTOOLS_SERVICE_NAME"]], metric


def test_every_custom_metric_on_the_dashboard_is_one_the_functions_emit(template):
    audit_event = {"VoiceConnectors": [], "Outcome": "SUCCEEDED"}
    fleet_report = {"VoiceConnectors": [], "Targets": [], "TargetFailures": [], "Error": None}
    emitted = set(run_counts(audit_event)) | set(fleet_run_counts(fleet_report))
    emitted |= {"RetryableFailures", "ChimeThrottled"}
    shown = {metric[1] for metric in dashboard_metrics(dashboard_body(template)) if metric[0] == NAMESPACE}
    assert shown <= emitted


def test_the_functions_log_json_at_the_log_level_the_stack_is_given(template):
    """Lambda's advanced logging controls, JSON so that the runtime's own records are structured too, and
    Powertools at the same level: DEBUG only when asked, and then the runtime's records too."""
    parameter = template["Parameters"]["LogLevel"]
    assert (parameter["AllowedValues"], parameter["Default"]) == (["INFO", "DEBUG"], "INFO")
    assert template["Conditions"]["DebugLogging"] == {"Fn::Equals": [{"Ref": "LogLevel"}, "DEBUG"]}
    function = template["Globals"]["Function"]
    assert function["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": {"Ref": "LogLevel"},
        "SystemLogLevel": {"Fn::If": ["DebugLogging", "DEBUG", "INFO"]},
    }
    assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    # Each function adds its own log group and nothing else, so the level is one switch for all.
    for name, spec in resources(template, "AWS::Serverless::Function").items():
        assert set(spec["Properties"]["LoggingConfig"]) == {"LogGroup"}, name


# The dashboard


def test_the_dashboard_shows_both_state_machines_runs(template):
    states = [metric for metric in dashboard_metrics(dashboard_body(template)) if metric[0] == "AWS/States"]
    for machine in ("RotationStateMachine", "FleetStateMachine"):
        shown = {metric[1] for metric in states if metric[2:4] == ["StateMachineArn", machine]}
        assert shown == STATES_METRICS, machine
    assert all(metric[2] == "StateMachineArn" for metric in states)


def test_the_dashboard_shows_every_functions_errors_and_throttles(template):
    functions = set(resources(template, "AWS::Serverless::Function"))
    lambda_metrics = [
        metric for metric in dashboard_metrics(dashboard_body(template)) if metric[0] == "AWS/Lambda"
    ]
    for metric_name in ("Errors", "Throttles"):
        shown = {
            metric[3] for metric in lambda_metrics if metric[1] == metric_name and metric[2] == "FunctionName"
        }
        assert shown == functions, metric_name


def test_the_dashboard_shows_the_dead_letter_queue_and_every_alarm(template):
    body = dashboard_body(template)
    assert [
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        "ScheduleDeadLetterQueue.QueueName",
    ] in dashboard_metrics(body)
    (alarm_widget,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    shown = set(alarm_widget["properties"]["alarms"])
    assert shown == {f"{name}.Arn" for name in resources(template, "AWS::CloudWatch::Alarm")}


def test_the_dashboard_refers_only_to_this_stack(template):
    text = properties(template, "RotationDashboard")["DashboardBody"]["Fn::Sub"]
    for name in re.findall(r"\$\{([\w:]+)(?:\.\w+)?\}", text):
        assert name in template["Resources"] or name.startswith("AWS::"), name


# Parameters and suppressions


def test_every_parameter_is_in_exactly_one_group(template):
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


def test_every_checkov_suppression_gives_its_reason(template):
    suppressions = [
        (name, skip)
        for name, spec in template["Resources"].items()
        for skip in spec.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert suppressions
    for name, skip in suppressions:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
        assert len(skip["comment"]) >= 60, (name, skip["id"])


# The stack deployed in the sandbox

SANDBOX_PARAMETERS = {"NoSuccessAlarmDays": 3, "Tracing": "Active", "AlertEmail": "ops@example.com"}


@pytest.fixture(scope="module")
def sandbox(module_sandbox_factory):
    """One deployment for this module's tests: they read it, or send it events whose effects each test
    looks for on its own."""
    return module_sandbox_factory(parameters=SANDBOX_PARAMETERS, stack_name="operations")


def status_change(sandbox: Sandbox, status: str, state_machine_arn: str | None = None) -> dict:
    """A Step Functions "Execution Status Change" event as EventBridge delivers it."""
    machine = state_machine_arn or sandbox.stack.state_machine_arn
    execution = machine.replace(":stateMachine:", ":execution:") + ":run-1"
    return {
        "version": "0",
        "id": "6f4b2a3c-0000-0000-0000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-01-05T03:00:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "ingestion-time": "2026-01-05T03:00:00Z",
        "detail": {
            "executionArn": execution,
            "stateMachineArn": machine,
            "name": "run-1",
            "status": status,
            "input": None,
            "output": None,
        },
    }


def deployed_rule(sandbox: Sandbox) -> tuple[dict, list[dict]]:
    events = sandbox.client("events")
    name = sandbox.stack.physical_ids["RunFailedRule"]
    return events.describe_rule(Name=name), events.list_targets_by_rule(Rule=name)["Targets"]


def test_deployed_alarms_watch_the_deployed_resources_and_tell_the_alerts_topic(sandbox):
    cloudwatch = sandbox.client("cloudwatch")
    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=f"{sandbox.stack.name}-")["MetricAlarms"]
    }
    assert set(alarms) == {sandbox.stack.physical_ids[name] for name in ALARMS}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [sandbox.stack.alerts_topic_arn]
    no_success = alarms[sandbox.stack.physical_ids["NoSuccessfulRunAlarm"]]
    assert no_success["EvaluationPeriods"] == no_success["DatapointsToAlarm"] == 3
    assert "for 3 day(s)" in no_success["AlarmDescription"]
    assert no_success["Dimensions"] == [{"Name": "StateMachineArn", "Value": sandbox.stack.state_machine_arn}]
    dead_letters = alarms[sandbox.stack.physical_ids["ScheduleDeadLetterAlarm"]]
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": sandbox.stack.dead_letter_queue_url.rsplit("/", 1)[1]}
    ]


@pytest.mark.parametrize("status", sorted(BAD_ENDS))
def test_the_deployed_rule_alerts_on_a_bad_end_with_a_console_link(sandbox, status):
    rule, (target,) = deployed_rule(sandbox)
    event = status_change(sandbox, status)
    assert EventPattern.load(rule["EventPattern"]).matches_event(event)
    assert target["Arn"] == sandbox.stack.alerts_topic_arn
    transformer = target["InputTransformer"]
    message = EventTemplateParser.parse(transformer["InputTemplate"], transformer["InputPathsMap"], event)
    execution = event["detail"]["executionArn"]
    assert f"ended {status}" in message
    assert (
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        f"#/v2/executions/details/{execution}"
    ) in message
    assert sandbox.stack.state_machine_arn in message


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED", "PENDING_REDRIVE"])
def test_the_deployed_rule_ignores_runs_that_did_not_end_badly(sandbox, status):
    rule, _ = deployed_rule(sandbox)
    assert not EventPattern.load(rule["EventPattern"]).matches_event(status_change(sandbox, status))


def test_the_deployed_rule_ignores_other_state_machines(sandbox):
    rule, _ = deployed_rule(sandbox)
    other = sandbox.stack.state_machine_arn + "-other"
    assert not EventPattern.load(rule["EventPattern"]).matches_event(status_change(sandbox, "FAILED", other))


def test_the_deployed_alerts_topic_is_encrypted_and_reaches_the_alert_email(sandbox):
    sns = sandbox.client("sns")
    attributes = sns.get_topic_attributes(TopicArn=sandbox.stack.alerts_topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == sandbox.stack.physical_ids["AlertsKey"]
    principals = {
        statement["Principal"]["Service"] for statement in json.loads(attributes["Policy"])["Statement"]
    }
    assert principals == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=sandbox.stack.alerts_topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]


def test_the_deployed_dashboard_shows_the_deployed_alarms_and_state_machine(sandbox):
    cloudwatch = sandbox.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=sandbox.stack.dashboard_name)["DashboardBody"])
    (alarm_widget,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    alarm_arns = {
        alarm["AlarmArn"]
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=f"{sandbox.stack.name}-")["MetricAlarms"]
    }
    assert set(alarm_widget["properties"]["alarms"]) == alarm_arns
    machines = {metric[3] for metric in dashboard_metrics(body) if metric[0] == "AWS/States"}
    assert machines == {sandbox.stack.state_machine_arn, sandbox.stack.physical_ids["FleetStateMachine"]}


def test_a_disabled_schedule_starts_no_run(sandbox_factory):
    """ScheduleState DISABLED: EventBridge Scheduler keeps the schedule and starts nothing."""
    sandbox = sandbox_factory(parameters={"ScheduleState": "DISABLED"})
    sandbox.create_voice_connector("pbx", ["sip-a"])

    assert sandbox.fire_schedules() == []
    with pytest.raises(RuntimeError, match="started 0 runs"):
        sandbox.fire_schedule()
    stepfunctions = sandbox.client("stepfunctions")
    assert stepfunctions.list_executions(stateMachineArn=sandbox.stack.state_machine_arn)["executions"] == []


def test_the_deployed_schedule_retries_into_the_deployed_dead_letter_queue(sandbox):
    (name,) = sandbox.stack.schedules
    target = sandbox.client("scheduler").get_schedule(Name=name)["Target"]
    queue = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.stack.dead_letter_queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert target["DeadLetterConfig"] == {"Arn": queue["QueueArn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
    assert queue["SqsManagedSseEnabled"] == "true"
    assert queue["MessageRetentionPeriod"] == str(14 * 86400)


def test_the_deployed_state_machine_logs_errors_only_and_traces_when_asked(sandbox):
    described = sandbox.client("stepfunctions").describe_state_machine(
        stateMachineArn=sandbox.stack.state_machine_arn
    )
    logging = described["loggingConfiguration"]
    assert (logging["level"], logging["includeExecutionData"]) == ("ERROR", False)
    (destination,) = logging["destinations"]
    log_group = sandbox.stack.physical_ids["StateMachineLogGroup"]
    assert destination["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(f":log-group:{log_group}:*")
    retention = sandbox.client("logs").describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    assert [group["retentionInDays"] for group in retention] == [90]
    assert described["tracingConfiguration"] == {"enabled": True}


def test_the_deployed_functions_trace_when_asked(sandbox):
    client = sandbox.client("lambda")
    for name in ("ResolveRunFunction", "PublishAuditFunction"):
        configuration = client.get_function_configuration(FunctionName=sandbox.stack.physical_ids[name])
        assert configuration["TracingConfig"] == {"Mode": "Active"}
        assert configuration["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_the_deployed_functions_log_at_the_default_level(sandbox):
    client = sandbox.client("lambda")
    for name in ("ResolveRunFunction", "ReleaseRunLockFunction"):
        configuration = client.get_function_configuration(FunctionName=sandbox.stack.physical_ids[name])
        variables = configuration["Environment"]["Variables"]
        assert (variables["AWS_LAMBDA_LOG_LEVEL"], variables["POWERTOOLS_LOG_LEVEL"]) == ("INFO", "INFO")
        assert variables["AWS_LAMBDA_LOG_FORMAT"] == "JSON"


def test_the_deployed_alerts_key_and_topic_name_exactly_the_deployed_rule_and_alarms(sandbox):
    """The key builds the ARNs from names, the topic policy takes them from the resources: both must be the
    ARNs the rule and alarms really have, or the alerts would not be delivered."""
    rule, _ = deployed_rule(sandbox)
    alarms = sandbox.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{sandbox.stack.name}-")
    expected = {
        "events.amazonaws.com": {rule["Arn"]},
        "cloudwatch.amazonaws.com": {alarm["AlarmArn"] for alarm in alarms["MetricAlarms"]},
    }
    assert len(expected["cloudwatch.amazonaws.com"]) == len(ALARMS)
    key_policy = sandbox.client("kms").get_key_policy(
        KeyId=sandbox.stack.physical_ids["AlertsKey"], PolicyName="default"
    )["Policy"]
    topic_policy = sandbox.client("sns").get_topic_attributes(TopicArn=sandbox.stack.alerts_topic_arn)[
        "Attributes"
    ]["Policy"]
    for policy in (key_policy, topic_policy):
        sources = {}
        for statement in json.loads(policy)["Statement"]:
            if "Service" not in statement["Principal"]:
                continue
            arns = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            sources[statement["Principal"]["Service"]] = set(arns if isinstance(arns, list) else [arns])
        assert sources == expected


def release_rule(sandbox: Sandbox) -> tuple[dict, dict]:
    """The deployed rule that targets the ReleaseRunLock function, and that target."""
    events = sandbox.client("events")
    function_arn = sandbox.client("lambda").get_function(
        FunctionName=sandbox.stack.physical_ids["ReleaseRunLockFunction"]
    )["Configuration"]["FunctionArn"]
    found = [
        (rule, target)
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if target["Arn"] == function_arn
    ]
    (only,) = found
    return only


@pytest.mark.parametrize("status", sorted(ENDS))
def test_the_deployed_release_rule_fires_on_every_end(sandbox, status):
    rule, _ = release_rule(sandbox)
    assert EventPattern.load(rule["EventPattern"]).matches_event(status_change(sandbox, status))


@pytest.mark.parametrize("status", ["RUNNING", "PENDING_REDRIVE"])
def test_the_deployed_release_rule_ignores_a_run_that_goes_on(sandbox, status):
    rule, _ = release_rule(sandbox)
    assert not EventPattern.load(rule["EventPattern"]).matches_event(status_change(sandbox, status))


def test_the_deployed_release_rule_ignores_other_state_machines(sandbox):
    rule, _ = release_rule(sandbox)
    other = sandbox.stack.state_machine_arn + "-other"
    assert not EventPattern.load(rule["EventPattern"]).matches_event(status_change(sandbox, "ABORTED", other))


def send(sandbox: Sandbox, event: dict) -> None:
    """EventBridge delivers the event to the rules that match it (the sandbox's event bus)."""
    sandbox.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )


@pytest.mark.parametrize(
    ("status", "shortened"), [("ABORTED", True), ("TIMED_OUT", True), ("RUNNING", False)]
)
def test_an_execution_that_ends_gives_back_the_run_lock_it_holds(sandbox, status, shortened):
    """Once no function of the ended execution can still be running (Step Functions does not stop a Lambda
    invocation under way), and not before."""
    event = status_change(sandbox, status)
    lock = RunLock(sandbox.client("dynamodb"), sandbox.stack.table_name)
    lock.acquire(event["detail"]["executionArn"], sandbox.now())
    try:
        send(sandbox, event)
        holder, expires = sandbox.run_lock()
        assert holder == event["detail"]["executionArn"]
        assert (expires <= sandbox.now() + LONGEST_TASK) is shortened
        assert expires > sandbox.now() + timedelta(minutes=5)
    finally:
        lock.release(event["detail"]["executionArn"])
        sandbox.alerts()


def test_a_bad_end_reaches_the_alerts_topic_with_its_console_link(sandbox):
    sandbox.alerts()
    send(sandbox, status_change(sandbox, "TIMED_OUT"))
    (alert,) = sandbox.alerts()
    assert "ended TIMED_OUT" in alert
    assert "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1" in alert


def test_the_deployed_function_roles_may_write_traces_when_tracing_is_active(sandbox):
    iam = sandbox.client("iam")
    for name in ("ResolveRunRole", "ReleaseRunLockRole"):
        role = sandbox.stack.physical_ids[name]
        assert "xray" in iam.list_role_policies(RoleName=role)["PolicyNames"], name
