"""Operating the rotation safely: alerts, alarms, the dashboard, logs, tracing, the schedule's retries and
dead-letter queue, and encryption at rest. First the template as a document, then the stack in the sandbox.
"""

import json
import re

import pytest
from moto.events.models import EventPattern
from moto.events.utils import EventTemplateParser

from credential_rotation.run_metrics import NAMESPACE, run_counts
from sandbox.session import Sandbox
from sandbox.template import load_template

ALERTS = {"Ref": "AlertsTopic"}
STATE_MACHINE = {"Ref": "RotationStateMachine"}
BAD_ENDS = {"FAILED", "TIMED_OUT", "ABORTED"}
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
    "Runs",
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
    (rule,) = resources(template, "AWS::Events::Rule").values()
    return rule["Properties"]


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
    assert pattern["detail"]["stateMachineArn"] == [STATE_MACHINE]
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


# Alarms

ALARMS = {
    "NoSuccessfulRunAlarm": {
        "Namespace": "AWS/States",
        "MetricName": "ExecutionsSucceeded",
        "Dimensions": [{"Name": "StateMachineArn", "Value": STATE_MACHINE}],
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


def alarm_description(template: dict, alarm: str) -> str:
    description = properties(template, alarm)["AlarmDescription"]
    return description["Fn::Sub"] if isinstance(description, dict) else description


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_each_alarm_says_what_it_means_and_what_to_do(template, alarm):
    description = alarm_description(template, alarm)
    assert 100 <= len(description) <= 1024  # CloudWatch's limit
    assert re.search(r"\b(Check|Read|Fix)\b", description), description


def test_the_no_success_alarm_names_both_causes(template):
    description = alarm_description(template, "NoSuccessfulRunAlarm")
    assert "${NoSuccessAlarmDays} day(s)" in description
    assert "schedule stopped" in description
    assert "every run fails" in description


def test_no_success_alarm_days_stay_within_what_cloudwatch_evaluates(template):
    parameter = template["Parameters"]["NoSuccessAlarmDays"]
    assert parameter["Type"] == "Number"
    assert (parameter["MinValue"], parameter["Default"], parameter["MaxValue"]) == (2, 2, 7)
    assert (
        parameter["MaxValue"] * properties(template, "NoSuccessfulRunAlarm")["Period"] <= ALARM_WINDOW_LIMIT
    )


# Alerts topic, its key and its policy


def test_alerts_topic_policy_lets_only_this_rule_and_this_accounts_alarms_publish(template):
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
    assert alarms["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
    }
    assert alarms["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_alerts_key_lets_eventbridge_and_cloudwatch_encrypt_for_this_account_only(template):
    key_id = properties(template, "AlertsTopic")["KmsMasterKeyId"]["Ref"]
    statements = properties(template, key_id)["KeyPolicy"]["Statement"]
    services = {
        statement["Principal"]["Service"]: statement
        for statement in statements
        if "Service" in statement["Principal"]
    }
    account = "${AWS::Region}:${AWS::AccountId}"
    expected_source = {
        "events.amazonaws.com": f"arn:${{AWS::Partition}}:events:{account}:rule/*",
        "cloudwatch.amazonaws.com": f"arn:${{AWS::Partition}}:cloudwatch:{account}:alarm:*",
    }
    assert set(services) == set(expected_source)
    for service, statement in services.items():
        assert statement["Effect"] == "Allow"
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": {"Fn::Sub": expected_source[service]}}}


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


# Encryption at rest


def test_every_topic_is_encrypted_with_a_rotating_key_of_this_stack(template):
    topics = resources(template, "AWS::SNS::Topic")
    assert set(topics) >= {"AuditTopic", "AlertsTopic"}
    for name, topic in topics.items():
        key = template["Resources"][topic["Properties"]["KmsMasterKeyId"]["Ref"]]
        assert key["Type"] == "AWS::KMS::Key", name
        assert key["Properties"]["EnableKeyRotation"] is True, name


def test_every_queue_is_encrypted(template):
    queues = resources(template, "AWS::SQS::Queue")
    assert queues
    for name, queue in queues.items():
        queue_properties = queue["Properties"]
        assert queue_properties.get("SqsManagedSseEnabled") is True or queue_properties.get(
            "KmsMasterKeyId"
        ), name


def test_every_table_is_encrypted(template):
    tables = resources(template, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name


# The schedule


def test_the_schedule_retries_failed_starts_then_parks_them_in_the_dead_letter_queue(template):
    schedule = state_machine(template)["Events"]["NightlyRotation"]["Properties"]
    retry = schedule["RetryPolicy"]
    assert 1 <= retry["MaximumRetryAttempts"] <= 185
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    queue = properties(template, "ScheduleDeadLetterQueue")
    assert queue["MessageRetentionPeriod"] == 14 * 86400


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
    emitted = set(run_counts(audit_event)) | {"RetryableFailures"}
    shown = {metric[1] for metric in dashboard_metrics(dashboard_body(template)) if metric[0] == NAMESPACE}
    assert shown <= emitted


# The dashboard


def test_the_dashboard_shows_the_state_machines_runs(template):
    states = [metric for metric in dashboard_metrics(dashboard_body(template)) if metric[0] == "AWS/States"]
    assert {metric[1] for metric in states} == STATES_METRICS
    for metric in states:
        assert metric[2:4] == ["StateMachineArn", "RotationStateMachine"], metric


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
def sandbox():
    with Sandbox(parameters=SANDBOX_PARAMETERS, stack_name="operations") as session:
        yield session


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
    assert machines == {sandbox.stack.state_machine_arn}


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
