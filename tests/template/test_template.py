"""The template and the ASL file, read as documents: the wiring between them and the least-privilege IAM."""

import json
from pathlib import Path

import pytest

from credential_rotation.config import Settings
from sandbox.template import REPOSITORY, definition_placeholders, load_template

ASL_PATH = REPOSITORY / "statemachine" / "rotation.asl.json"
CHIME_RETRYABLE = {"ThrottledClientException", "ServiceFailureException", "ServiceUnavailableException"}
CHIME_NOT_RETRYABLE = {
    "BadRequestException",
    "NotFoundException",
    "ForbiddenException",
    "UnauthorizedClientException",
}
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
SECRETS_RETRYABLE = {"InternalServiceError"}
# A function that died mid-way (timeout, crash). Only a task whose retry is safe after a partial attempt
# retries these: DeleteCredentials re-lists, deletes only what is still stale, and reports what the dead
# attempt deleted.
LAMBDA_DIED = {"Sandbox.Timedout", "Runtime.ExitError", "Lambda.Unknown"}
RETRIED_AFTER_DYING = {"DeleteCredentials"}
CHIME_TASKS = {"ResolveRun", "ListCredentials", "SetSecret", "TestSecret", "DeleteCredentials"}
SECRETS_TASKS = {"ListCredentials", "CreateSecret", "SetSecret", "FinishSecret", "DeleteCredentials"}
# The four steps of issuing run one function, as a Secrets Manager rotation function runs its four steps.
ISSUE_STEPS = {"CreateSecret", "SetSecret", "TestSecret", "FinishSecret"}
VOICE_CONNECTOR_ARN = {"Fn::Sub": "arn:${AWS::Partition}:chime:${AWS::Region}:${AWS::AccountId}:vc/*"}
SECRETS_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
    ":secret:${SecretNamePrefix}*"
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def asl_text() -> str:
    return ASL_PATH.read_text()


def all_states(states: dict) -> dict:
    found = {}
    for name, state in states.items():
        found[name] = state
        if "ItemProcessor" in state:
            found.update(all_states(state["ItemProcessor"]["States"]))
    return found


@pytest.fixture(scope="module")
def states(asl_text: str) -> dict:
    return all_states(json.loads(asl_text)["States"])


def state_machine(template: dict) -> dict:
    return template["Resources"]["RotationStateMachine"]["Properties"]


def test_the_template_deploys_the_asl_file_the_tests_run(template):
    assert REPOSITORY / state_machine(template)["DefinitionUri"] == ASL_PATH


def test_asl_placeholders_equal_the_template_substitutions(template, asl_text):
    assert definition_placeholders(asl_text) == set(state_machine(template)["DefinitionSubstitutions"])


def test_every_task_runs_a_function_of_this_stack(template, states):
    substitutions = state_machine(template)["DefinitionSubstitutions"]
    functions = {
        name for name, spec in template["Resources"].items() if spec["Type"] == "AWS::Serverless::Function"
    }
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert tasks
    expected = {name: "IssueSuccessor" if name in ISSUE_STEPS else name for name in tasks}
    for name, task in tasks.items():
        placeholder = task["Resource"].removeprefix("${").removesuffix("}")
        assert substitutions[placeholder] == {"Fn::GetAtt": [f"{expected[name]}Function", "Arn"]}, name
        if name in ISSUE_STEPS:
            assert task["Parameters"]["Step"] == name
    assert {f"{name}Function" for name in expected.values()} == functions


# What the state machine's role needs beside invoking its functions: log delivery and, when tracing, X-Ray.
# Neither service supports resource-level permissions for these actions.
STATE_MACHINE_LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
STATE_MACHINE_TRACING = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}


def test_the_state_machine_may_invoke_exactly_its_functions(template):
    properties = state_machine(template)
    invoked = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in properties["Policies"]
        if "LambdaInvokePolicy" in policy
    }
    assert invoked == {value["Fn::GetAtt"][0] for value in properties["DefinitionSubstitutions"].values()}


def test_the_state_machine_may_otherwise_only_deliver_its_logs_and_traces(template):
    others = [policy for policy in state_machine(template)["Policies"] if "LambdaInvokePolicy" not in policy]
    unconditional = [policy for policy in others if "Fn::If" not in policy]
    conditional = [policy["Fn::If"] for policy in others if "Fn::If" in policy]
    ((log_statement,),) = [policy["Statement"] for policy in unconditional]
    assert set(actions(log_statement)) == STATE_MACHINE_LOG_DELIVERY
    assert log_statement["Resource"] == "*"
    ((condition, granted, otherwise),) = conditional
    assert (condition, otherwise) == ("TracingEnabled", {"Ref": "AWS::NoValue"})
    ((trace_statement,),) = [granted["Statement"]]
    assert set(actions(trace_statement)) == STATE_MACHINE_TRACING


@pytest.mark.parametrize("task", sorted(CHIME_TASKS | SECRETS_TASKS))
def test_aws_tasks_retry_exactly_the_transient_errors_of_the_services_they_call(states, task):
    retried = {error for retrier in states[task]["Retry"] for error in retrier["ErrorEquals"]}
    expected = set(LAMBDA_TRANSIENT)
    if task in CHIME_TASKS:
        expected |= CHIME_RETRYABLE
    if task in SECRETS_TASKS:
        expected |= SECRETS_RETRYABLE
    if task in RETRIED_AFTER_DYING:
        expected |= LAMBDA_DIED
    assert retried == expected
    assert not retried & CHIME_NOT_RETRYABLE


def test_each_kind_of_error_has_one_retry_policy_across_tasks(states):
    by_errors: dict[str, set[str]] = {}
    for state in states.values():
        for retrier in state.get("Retry", []):
            by_errors.setdefault(",".join(sorted(retrier["ErrorEquals"])), set()).add(
                json.dumps(retrier, sort_keys=True)
            )
    assert len(by_errors) >= 4
    assert all(len(policies) == 1 for policies in by_errors.values()), by_errors


def test_every_retrier_backs_off_exponentially_with_full_jitter_and_a_cap(states):
    retriers = [retrier for state in states.values() for retrier in state.get("Retry", [])]
    assert retriers
    for retrier in retriers:
        assert retrier["JitterStrategy"] == "FULL"
        assert retrier["BackoffRate"] > 1
        assert 1 <= retrier["MaxDelaySeconds"] <= 60
        assert "States.ALL" not in retrier["ErrorEquals"]


def test_every_task_but_the_audit_is_caught_so_the_audit_is_always_published(states):
    for name, state in states.items():
        if state["Type"] in ("Task", "Map") and name != "PublishAudit":
            assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name


def test_the_schedule_starts_runs_marked_as_scheduled(template):
    schedule = state_machine(template)["Events"]["NightlyRotation"]
    assert schedule["Type"] == "ScheduleV2"
    assert json.loads(schedule["Properties"]["Input"]) == {"Trigger": "schedule"}
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}


@pytest.mark.parametrize(
    ("parameter", "default"),
    [
        ("DryRun", "true"),
        ("MaxAgeDays", 90),
        ("MinKeep", 1),
        ("ProtectedUsernames", ""),
        ("MaxDeletions", 20),
        ("VoiceConnectorIds", ""),
        ("MaxConcurrency", 5),
        ("ScheduleTimezone", "UTC"),
        ("Rotate", "false"),
        ("RotateAfterDays", 60),
        ("GraceDays", 7),
        ("UsernamePrefix", "sip-"),
        ("SecretNamePrefix", "chime-voice-connector/termination/"),
        ("SecretsKmsKeyArn", ""),
    ],
)
def test_parameter_defaults(template, parameter, default):
    assert template["Parameters"][parameter]["Default"] == default


def test_the_functions_get_every_setting_they_read(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    required = {field.alias for field in Settings.model_fields.values()}
    assert required <= set(variables)


def function_statements(template: dict, function: str) -> list[dict]:
    """Every statement a function may be granted, both branches of a conditional policy included."""
    statements = []
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            _, granted, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
            policy = granted
        statements.extend(policy["Statement"])
    return statements


def actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


EXPECTED_ACTIONS = {
    # PutItem and GetItem for the run lock's item only (test_the_run_lock_grants_reach_only_the_lock_item).
    "ResolveRunFunction": {"chime:ListVoiceConnectors", "dynamodb:PutItem", "dynamodb:GetItem"},
    "ListCredentialsFunction": {
        "chime:ListVoiceConnectorTerminationCredentials",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    },
    "FindStaleFunction": set(),
    "CheckDeletionLimitFunction": set(),
    "DeleteCredentialsFunction": {
        "chime:ListVoiceConnectorTerminationCredentials",
        "chime:DeleteVoiceConnectorTerminationCredentials",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    },
    "IssueSuccessorFunction": {
        "chime:PutVoiceConnectorTerminationCredentials",
        "chime:ListVoiceConnectorTerminationCredentials",
        "secretsmanager:CreateSecret",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "dynamodb:UpdateItem",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    },
    "PublishAuditFunction": {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt", "dynamodb:DeleteItem"},
}


@pytest.mark.parametrize("function", sorted(EXPECTED_ACTIONS))
def test_each_function_may_do_only_what_it_calls(template, function):
    granted = {
        action for statement in function_statements(template, function) for action in actions(statement)
    }
    assert granted == EXPECTED_ACTIONS[function]


def test_every_permission_is_scoped_to_this_stack_or_this_accounts_voice_connectors(template):
    expected_resource = {
        "chime:ListVoiceConnectors": "*",  # the API supports no resource-level permission
        "chime:": VOICE_CONNECTOR_ARN,
        "dynamodb:": {"Fn::GetAtt": ["LedgerTable", "Arn"]},
        "secretsmanager:": SECRETS_ARN,
        "sns:": {"Ref": "AuditTopic"},
        "kms:": {"Fn::GetAtt": ["AuditKey", "Arn"]},
    }
    for function in EXPECTED_ACTIONS:
        for statement in function_statements(template, function):
            assert statement["Effect"] == "Allow"
            for action in actions(statement):
                assert "*" not in action
                key = action if action in expected_resource else action.split(":")[0] + ":"
                if statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}:
                    # The secrets' own key, usable only through Secrets Manager.
                    assert action.startswith("kms:")
                    via = statement["Condition"]["StringEquals"]["kms:ViaService"]
                    assert via == {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}
                    continue
                assert statement["Resource"] == expected_resource[key], action


# The run lock's item; the functions that take and release it may touch no other item of the ledger.
RUN_LOCK_ONLY = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["#run-lock"]}}
RUN_LOCK_ACTIONS = {
    "ResolveRunFunction": {"dynamodb:PutItem", "dynamodb:GetItem"},
    "PublishAuditFunction": {"dynamodb:DeleteItem"},
}


@pytest.mark.parametrize("function", sorted(RUN_LOCK_ACTIONS))
def test_the_run_lock_grants_reach_only_the_lock_item(template, function):
    ledger_statements = [
        statement
        for statement in function_statements(template, function)
        if any(action.startswith("dynamodb:") for action in actions(statement))
    ]
    assert {action for statement in ledger_statements for action in actions(statement)} == (
        RUN_LOCK_ACTIONS[function]
    )
    for statement in ledger_statements:
        assert statement["Condition"] == RUN_LOCK_ONLY


def test_the_run_lock_key_is_the_one_the_code_uses(template):
    from credential_rotation.run_lock import LOCK_KEY

    assert RUN_LOCK_ONLY["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == [LOCK_KEY]


def test_the_ledger_survives_the_stack_and_can_be_restored(template):
    table = template["Resources"]["LedgerTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True


def test_the_audit_topic_is_encrypted_with_the_stacks_rotating_key(template):
    assert template["Resources"]["AuditTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AuditKey"}
    assert template["Resources"]["AuditKey"]["Properties"]["EnableKeyRotation"] is True


def test_outputs(template):
    assert set(template["Outputs"]) == {
        "StateMachineArn",
        "AuditTopicArn",
        "LedgerTableName",
        "AlertsTopicArn",
        "DashboardName",
    }


def test_every_events_file_is_an_object_the_console_accepts():
    files = sorted((REPOSITORY / "events").glob("*.json"))
    assert files
    for path in files:
        assert isinstance(json.loads(Path(path).read_text()), dict), path
