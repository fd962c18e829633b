"""The template and the ASL file, read as documents: the wiring between them, the least-privilege IAM of each
function's role, and the audit bucket's retention and one-writer-per-record policy."""

import json
from pathlib import Path

import pytest

from credential_rotation.adapters.chime_pace import BUDGET_SECONDS
from credential_rotation.adapters.run_metrics import RETRIED_ERRORS
from credential_rotation.domain.settings import Settings
from sandbox.template import REPOSITORY, definition_placeholders, load_template

ASL_PATH = REPOSITORY / "statemachine" / "rotation.asl.json"
CHIME_RETRYABLE = {
    "ThrottledClientException",
    "ChimeRateLimited",
    "ServiceFailureException",
    "ServiceUnavailableException",
}
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
# A delete whose answer was lost (connection closed, timeout) may have deleted: like a Chime 5xx, the retry
# re-lists and reports what the first attempt deleted, so it is retried with the server faults.
DELETION_OUTCOME_UNKNOWN = "DeletionOutcomeUnknown"
CHIME_SERVER_FAULTS = {"ServiceFailureException", "ServiceUnavailableException"}
CHIME_TASKS = {"ResolveRun", "PlanConnector", "SetSecret", "TestSecret", "DeleteCredentials"}
SECRETS_TASKS = {"PlanConnector", "CreateSecret", "SetSecret", "FinishSecret", "DeleteCredentials"}
# The four steps of issuing run one function, as a Secrets Manager rotation function runs its four steps.
ISSUE_STEPS = {"CreateSecret", "SetSecret", "TestSecret", "FinishSecret"}
# Tasks that run a function shared with other tasks (the task names its Step), and that function.
SHARED_FUNCTIONS = dict.fromkeys(ISSUE_STEPS, "IssueSuccessor") | {
    "RestoreDeleted": "IssueSuccessor",
    "SelectWatched": "WatchDeletions",
    "CheckConnector": "WatchDeletions",
}
STEP_OF = {"SelectWatched": "Select", "CheckConnector": "Check"}
VOICE_CONNECTOR_ARN = {"Fn::Sub": "arn:${AWS::Partition}:chime:${AWS::Region}:${AWS::AccountId}:vc/*"}
SPOKE_ROLES = {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/vc-credential-rotation-spoke-*"}
AUDIT_BUCKET = {"Fn::GetAtt": ["AuditBucket", "Arn"]}
# The parameter when it is set, otherwise a prefix that holds the stack's name (no other stack shares it).
SECRET_NAME_PREFIX = {
    "Fn::If": [
        "HasSecretNamePrefix",
        {"Ref": "SecretNamePrefix"},
        {"Fn::Sub": "chime-voice-connector/${AWS::StackName}/"},
    ]
}
SECRETS_ARN = {
    "Fn::Sub": [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}*",
        {"Prefix": SECRET_NAME_PREFIX},
    ]
}
FINGERPRINT_KEY = {"Ref": "FingerprintKey"}


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
    expected = {name: SHARED_FUNCTIONS.get(name, name) for name in tasks}
    for name, task in tasks.items():
        placeholder = task["Resource"].removeprefix("${").removesuffix("}")
        assert substitutions[placeholder] == {"Fn::GetAtt": [f"{expected[name]}Function", "Arn"]}, name
        if name in SHARED_FUNCTIONS:
            assert task["Parameters"]["Step"] == STEP_OF.get(name, name), name
    # Every function is a task's but those an event starts (an execution's end, the call-record queue)
    # and the backfill a person invokes once.
    started_by_events = {
        name for name in functions if template["Resources"][name]["Properties"].get("Events")
    }
    assert started_by_events == {"ReleaseRunLockFunction", "IndexCallRecordsFunction"}
    invoked_by_hand = {"BackfillCallRecordsFunction"}
    # Fleet mode's own steps are the fleet state machine's tasks (tests/template/test_fleet_asl.py).
    fleet_only = {"FleetRunFunction"}
    assert {
        f"{name}Function" for name in expected.values()
    } == functions - started_by_events - invoked_by_hand - fleet_only


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
    if task == "DeleteCredentials":
        expected.add(DELETION_OUTCOME_UNKNOWN)
    assert retried == expected
    assert not retried & CHIME_NOT_RETRYABLE


def test_every_function_that_calls_chime_outlasts_two_paced_calls(template):
    """A paced call waits up to its budget for a slot (adapters/chime_pace.py); a task makes at most two
    Chime calls. A function that timed out while waiting would look like a death, not a throttle."""
    default = template["Globals"]["Function"]["Timeout"]
    for task in sorted(CHIME_TASKS | {"CreateSecret", "RestoreDeleted"}):
        function = SHARED_FUNCTIONS.get(task, task) + "Function"
        timeout = template["Resources"][function]["Properties"].get("Timeout", default)
        assert timeout >= 2 * BUDGET_SECONDS + 20, (task, function, timeout)


def test_a_delete_whose_answer_was_lost_is_retried_like_a_chime_server_fault(states):
    """Only DeleteCredentials raises it, and its retry re-lists: retried in the same retrier as the 5xx
    faults, with the backoff every other task gives those, and counted as a retried failure."""
    (retrier,) = [
        retrier
        for retrier in states["DeleteCredentials"]["Retry"]
        if DELETION_OUTCOME_UNKNOWN in retrier["ErrorEquals"]
    ]
    assert set(retrier["ErrorEquals"]) == CHIME_SERVER_FAULTS | {DELETION_OUTCOME_UNKNOWN}
    elsewhere = [
        name
        for name, state in states.items()
        if name != "DeleteCredentials"
        for other in state.get("Retry", [])
        if DELETION_OUTCOME_UNKNOWN in other["ErrorEquals"]
    ]
    assert not elsewhere
    server_faults = [
        other
        for state in states.values()
        for other in state.get("Retry", [])
        if set(other["ErrorEquals"]) == CHIME_SERVER_FAULTS
    ]
    assert server_faults
    backoff = ("IntervalSeconds", "BackoffRate", "MaxAttempts", "MaxDelaySeconds", "JitterStrategy")
    for other in server_faults:
        assert {key: other[key] for key in backoff} == {key: retrier[key] for key in backoff}
    assert DELETION_OUTCOME_UNKNOWN in RETRIED_ERRORS


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
    schedule = template["Resources"]["RotationStateMachineNightlyRotation"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert json.loads(schedule["Properties"]["Target"]["Input"]) == {"Trigger": "schedule"}
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
        # Empty: a prefix that holds the stack's name (test_least_privilege checks it in every form).
        ("SecretNamePrefix", ""),
        ("SecretsKmsKeyArn", ""),
        ("Tracing", "PassThrough"),
        ("LogLevel", "INFO"),
        ("ReportRetentionDays", 365),
    ],
)
def test_parameter_defaults(template, parameter, default):
    assert template["Parameters"][parameter]["Default"] == default


def test_the_functions_get_every_setting_they_read(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    required = {field.alias for field in Settings.model_fields.values()}
    assert required <= set(variables)
    # Every function reads the same settings: none overrides the environment.
    for function in functions(template):
        assert "Environment" not in template["Resources"][function]["Properties"], function


def test_the_functions_name_this_stacks_resources_and_secret_prefix(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {
        name: variables[name]
        for name in (
            "LEDGER_TABLE_NAME",
            "AUDIT_TOPIC_ARN",
            "ALERTS_TOPIC_ARN",
            "AUDIT_BUCKET_NAME",
            "FINGERPRINT_KEY_ARN",
            "INDEXING_QUEUE_URL",
            "INDEXING_DEAD_LETTER_QUEUE_URL",
        )
    } == {
        "LEDGER_TABLE_NAME": {"Ref": "LedgerTable"},
        "AUDIT_TOPIC_ARN": {"Ref": "AuditTopic"},
        "ALERTS_TOPIC_ARN": {"Ref": "AlertsTopic"},
        "INDEXING_QUEUE_URL": {"Ref": "IndexingQueue"},
        "INDEXING_DEAD_LETTER_QUEUE_URL": {"Ref": "IndexingDeadLetterQueue"},
        "AUDIT_BUCKET_NAME": {"Ref": "AuditBucket"},
        "FINGERPRINT_KEY_ARN": FINGERPRINT_KEY,
    }
    # The roles reach secrets under this very prefix (SECRETS_ARN); no execution input can change it.
    assert variables["SECRET_NAME_PREFIX"] == SECRET_NAME_PREFIX


def role_of(template: dict, function: str) -> str:
    target, attribute = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"]
    assert attribute == "Arn"
    return target


def function_statements(template: dict, function: str) -> list[dict]:
    """Every statement the function's role may be granted for its task, both branches of a conditional
    policy included; the runtime's own policies (logs, xray) are test_least_privilege's."""
    statements = []
    for policy in template["Resources"][role_of(template, function)]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            _, granted, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
            policy = granted
        if policy["PolicyName"] not in ("logs", "xray"):
            statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def functions(template: dict) -> list[str]:
    return sorted(
        name for name, spec in template["Resources"].items() if spec["Type"] == "AWS::Serverless::Function"
    )


def test_every_function_runs_as_a_role_of_its_own_that_only_lambda_in_this_account_assumes(template):
    roles = {function: role_of(template, function) for function in functions(template)}
    assert roles == {function: function.removesuffix("Function") + "Role" for function in roles}
    for function, role in roles.items():
        properties = template["Resources"][role]["Properties"]
        assert template["Resources"][role]["Type"] == "AWS::IAM::Role"
        assert properties["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            }
        ], function
        # SAM adds managed policies only to roles it generates; none here either.
        assert "ManagedPolicyArns" not in properties, function
        assert "Policies" not in template["Resources"][function]["Properties"], function


def test_every_function_logs_to_a_log_group_of_its_own_for_90_days(template):
    """Each role may write to its own group only (test_least_privilege), so no group is shared."""
    groups = {}
    for function in functions(template):
        log_group = template["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]
        groups[function] = log_group["Ref"]
        spec = template["Resources"][log_group["Ref"]]
        assert spec["Type"] == "AWS::Logs::LogGroup", function
        assert spec["Properties"]["RetentionInDays"] == 90, function
        assert spec["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/${AWS::StackName}/")
    assert groups == {function: function.removesuffix("Function") + "LogGroup" for function in groups}
    names = [
        template["Resources"][group]["Properties"]["LogGroupName"]["Fn::Sub"] for group in groups.values()
    ]
    assert len(set(names)) == len(names)


# Fleet mode: the per-connector functions reach a fleet connector through its account's spoke role.
ASSUME_SPOKE_ROLE = "sts:AssumeRole"
EXPECTED_ACTIONS = {
    # PutItem and GetItem for the run lock's item only (test_the_run_lock_grants_reach_only_the_lock_item).
    "ResolveRunFunction": {"chime:ListVoiceConnectors", "dynamodb:PutItem", "dynamodb:GetItem"},
    "FleetRunFunction": {
        "organizations:ListChildren",
        "organizations:ListAccountsForParent",
        ASSUME_SPOKE_ROLE,
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        # The run lock's item only.
        "dynamodb:PutItem",
        "dynamodb:GetItem",
    },
    "PlanConnectorFunction": {
        ASSUME_SPOKE_ROLE,
        "chime:ListVoiceConnectorTerminationCredentials",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        # Stages and version ids only; GetSecretValue on the fingerprint key only.
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "s3:PutObject",
        "kms:GenerateDataKey",
        # The depth of the call-record index's dead-letter queue (evidence).
        "sqs:GetQueueAttributes",
    },
    "CheckDeletionLimitFunction": set(),
    "DeleteCredentialsFunction": {
        ASSUME_SPOKE_ROLE,
        "chime:ListVoiceConnectorTerminationCredentials",
        "chime:DeleteVoiceConnectorTerminationCredentials",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        # Stages and version ids only; GetSecretValue on the fingerprint key only.
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sqs:GetQueueAttributes",
    },
    "IssueSuccessorFunction": {
        ASSUME_SPOKE_ROLE,
        "chime:PutVoiceConnectorTerminationCredentials",
        "chime:ListVoiceConnectorTerminationCredentials",
        "secretsmanager:CreateSecret",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        # The rollback watch's restore record.
        "s3:PutObject",
    },
    "PublishAuditFunction": {
        "sns:Publish",
        "s3:GetObject",
        # A fleet run's records, listed under runs/ (its report is built from them).
        "s3:ListBucket",
        "s3:PutObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "dynamodb:DeleteItem",
    },
    "ReleaseRunLockFunction": {"dynamodb:UpdateItem"},
    # Fleet mode: a connector's metrics in its own account and Region, through its spoke role.
    "WatchDeletionsFunction": {ASSUME_SPOKE_ROLE, "cloudwatch:GetMetricData"},
    # The index's own rows only (test_the_indexer_writes_only_the_call_index_rows).
    "IndexCallRecordsFunction": {
        # A fleet account's records, read through its spoke role.
        ASSUME_SPOKE_ROLE,
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "chime:GetGlobalSettings",
        "s3:GetObject",
        "s3:ListBucket",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
    },
    "BackfillCallRecordsFunction": {
        # A fleet account's connectors and bucket setting, through its spoke role.
        ASSUME_SPOKE_ROLE,
        "chime:ListVoiceConnectors",
        "chime:GetGlobalSettings",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
    },
}
# The CDR bucket's folder, in the bucket the stack names or (without the parameter) any bucket.
CDR_FOLDER = "Amazon-Chime-Voice-Connector-CDRs/json/*"
CDR_OBJECTS = {
    "Fn::If": [
        "HasCallRecordsBucket",
        {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{CallRecordsBucket}}/{CDR_FOLDER}"},
        {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::*/{CDR_FOLDER}"},
    ]
}
CDR_BUCKETS = {
    "Fn::If": [
        "HasCallRecordsBucket",
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CallRecordsBucket}"},
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"},
    ]
}


def test_every_function_is_in_the_expected_actions(template):
    assert set(EXPECTED_ACTIONS) == set(functions(template))


@pytest.mark.parametrize("function", sorted(EXPECTED_ACTIONS))
def test_each_function_may_do_only_what_it_calls(template, function):
    granted = {
        action for statement in function_statements(template, function) for action in actions(statement)
    }
    assert granted == EXPECTED_ACTIONS[function]


AUDIT_KEY = {"Fn::GetAtt": ["AuditKey", "Arn"]}
VIA = {
    "s3": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}},
    "secretsmanager": {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
    },
}


def audit_records(prefix: str) -> dict:
    return {"Fn::Sub": f"${{AuditBucket.Arn}}/{prefix}"}


def test_every_permission_is_scoped_to_this_stack_or_this_accounts_voice_connectors(template):
    expected_resources = {
        # These APIs support no resource-level permission.
        "chime:ListVoiceConnectors": ["*"],
        "chime:GetGlobalSettings": ["*"],
        "cloudwatch:GetMetricData": ["*"],
        "organizations:ListChildren": ["*"],
        "organizations:ListAccountsForParent": ["*"],
        # The spoke role of any account (fleet/spoke.yaml), by its fixed name; the spoke's trust names
        # this hub's roles (tests/template/test_spoke.py).
        ASSUME_SPOKE_ROLE: [SPOKE_ROLES],
        "chime:": [VOICE_CONNECTOR_ARN],
        "dynamodb:": [{"Fn::GetAtt": ["LedgerTable", "Arn"]}],
        "secretsmanager:": [SECRETS_ARN, FINGERPRINT_KEY],
        "sns:": [{"Ref": "AuditTopic"}, {"Ref": "AlertsTopic"}],
        "kms:": [AUDIT_KEY, {"Fn::GetAtt": ["AlertsKey", "Arn"]}],
        "s3:": [
            audit_records(prefix)
            for prefix in (
                "runs/*/plans/*",
                "runs/*/outcomes/*",
                "runs/*/restores/*",
                "runs/*/fleet/*",
                "runs/*",
                "reports/*",
            )
        ]
        + [CDR_OBJECTS, CDR_BUCKETS, AUDIT_BUCKET],
        "sqs:": [
            {"Fn::GetAtt": ["IndexingQueue", "Arn"]},
            {"Fn::GetAtt": ["IndexingDeadLetterQueue", "Arn"]},
        ],
    }
    for function in EXPECTED_ACTIONS:
        for statement in function_statements(template, function):
            assert statement["Effect"] == "Allow"
            for action in actions(statement):
                assert "*" not in action
                if statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}:
                    # The secrets' own key, usable only through Secrets Manager.
                    assert action.startswith("kms:")
                    assert statement["Condition"] == VIA["secretsmanager"]
                    continue
                key = action if action in expected_resources else action.split(":")[0] + ":"
                assert statement["Resource"] in expected_resources[key], (function, action)
                if statement["Resource"] == AUDIT_KEY and function != "PublishAuditFunction":
                    # Only the audit function uses the key for both SNS and S3; the others through S3 only.
                    assert statement["Condition"] == VIA["s3"], (function, action)


def handler_source(template: dict, function: str) -> str:
    module = template["Resources"][function]["Properties"]["Handler"].rpartition(".")[0]
    return (REPOSITORY / "functions" / Path(*module.split("."))).with_suffix(".py").read_text()


@pytest.mark.parametrize("function", sorted(EXPECTED_ACTIONS))
def test_a_function_reads_the_fingerprint_key_exactly_when_it_fingerprints_usernames(template, function):
    """The key is what makes a fingerprint impossible to recompute from a guessed username: only the
    functions whose handler keys fingerprints with it (wiring.fingerprints) may read it, and they must."""
    reads = any(
        statement["Resource"] == FINGERPRINT_KEY for statement in function_statements(template, function)
    )
    assert reads == ("wiring.fingerprints()" in handler_source(template, function))


def test_the_secrets_key_is_granted_to_the_issuing_function_only_and_only_when_set(template):
    granted = {
        function
        for function in EXPECTED_ACTIONS
        for statement in function_statements(template, function)
        if statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
    }
    assert granted == {"IssueSuccessorFunction"}
    (conditional,) = [
        policy["Fn::If"]
        for policy in template["Resources"]["IssueSuccessorRole"]["Properties"]["Policies"]
        if "Fn::If" in policy and policy["Fn::If"][0] == "HasSecretsKmsKey"
    ]
    assert conditional[2] == {"Ref": "AWS::NoValue"}


# Who reads and writes which records of the audit bucket. The bucket policy refuses PutObject under each
# prefix to every role but its one writer, so a run's plans, outcomes and reports have one author each.
AUDIT_RECORD_ACCESS = {
    "PlanConnectorFunction": {("s3:PutObject", "runs/*/plans/*")},
    "DeleteCredentialsFunction": {("s3:GetObject", "runs/*/plans/*"), ("s3:PutObject", "runs/*/outcomes/*")},
    "PublishAuditFunction": {
        ("s3:GetObject", "runs/*"),
        ("s3:PutObject", "reports/*"),
        ("s3:ListBucket", ""),
    },
    "IssueSuccessorFunction": {("s3:PutObject", "runs/*/restores/*")},
    "FleetRunFunction": {
        ("s3:PutObject", "runs/*/fleet/*"),
        ("s3:GetObject", "runs/*/fleet/*"),
        ("s3:GetObject", "runs/*/plans/*"),
        ("s3:ListBucket", ""),
    },
}
RECORD_WRITERS = {
    "runs/*/plans/*": ("PlanConnectorRole",),
    "runs/*/outcomes/*": ("DeleteCredentialsRole",),
    "runs/*/restores/*": ("IssueSuccessorRole",),
    # The fleet's item files and results; its state machine writes the Map Runs' manifests there too.
    "runs/*/fleet/*": ("FleetRunRole", "FleetStateMachineRole"),
    "reports/*": ("PublishAuditRole",),
}


def audit_bucket_path(resource: dict) -> str:
    """The key pattern a statement reaches in the audit bucket ("" for the bucket itself: ListBucket)."""
    if resource == AUDIT_BUCKET:
        return ""
    return resource["Fn::Sub"].removeprefix("${AuditBucket.Arn}/")


def test_each_function_reaches_only_its_own_records_in_the_audit_bucket(template):
    access = {
        function: {
            (action, audit_bucket_path(statement["Resource"]))
            for statement in function_statements(template, function)
            for action in actions(statement)
            # The CDR bucket is the account's, not the audit bucket.
            if action.startswith("s3:") and statement["Resource"] not in (CDR_OBJECTS, CDR_BUCKETS)
        }
        for function in EXPECTED_ACTIONS
    }
    assert {function: found for function, found in access.items() if found} == AUDIT_RECORD_ACCESS


def test_the_audit_bucket_policy_refuses_plain_http_and_all_writers_but_each_records_own(template):
    policy = template["Resources"]["AuditBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "AuditBucket"}
    statements = policy["PolicyDocument"]["Statement"]
    # Denies only: what the functions may do is in their roles, and the policy only narrows it.
    assert {statement["Effect"] for statement in statements} == {"Deny"}
    by_sid = {statement["Sid"]: statement for statement in statements}
    assert by_sid.pop("TlsOnly") == {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": ["AuditBucket", "Arn"]}, audit_records("*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    writers = {}
    for statement in by_sid.values():
        assert (statement["Principal"], statement["Action"]) == ("*", "s3:PutObject")
        (operator,) = statement["Condition"]
        assert operator == "ArnNotEquals"
        principals = statement["Condition"][operator]["aws:PrincipalArn"]
        spared = []
        for principal in principals if isinstance(principals, list) else [principals]:
            role, attribute = principal["Fn::GetAtt"]
            assert attribute == "Arn"
            spared.append(role)
        writers[statement["Resource"]["Fn::Sub"].removeprefix("${AuditBucket.Arn}/")] = tuple(spared)
    assert writers == RECORD_WRITERS
    # The role each deny spares is the one whose function writes there.
    for function, access in AUDIT_RECORD_ACCESS.items():
        for action, prefix in access:
            if action == "s3:PutObject":
                assert role_of(template, function) in RECORD_WRITERS[prefix]


def test_the_audit_bucket_locks_every_version_and_stays_private(template):
    bucket = template["Resources"]["AuditBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert properties["ObjectLockEnabled"] is True
    assert properties["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": {"Ref": "ReportRetentionDays"}}},
    }
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    retention = template["Parameters"]["ReportRetentionDays"]
    assert (retention["Type"], retention["MinValue"], retention["MaxValue"]) == ("Number", 1, 36500)


def test_no_lifecycle_rule_expires_a_report_or_a_record_before_its_retention(template):
    rules = template["Resources"]["AuditBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [rule for rule in rules if "ExpirationInDays" in rule or "ExpirationDate" in rule]
    assert expiring
    for rule in expiring:
        assert rule["ExpirationInDays"] == {"Ref": "ReportRetentionDays"}, rule["Id"]
        # Reports stay: only a run's working records, which its report repeats, expire.
        assert rule["Prefix"] == "runs/", rule["Id"]


# The run lock's item; the functions that take and release it may touch no other item of the ledger.
RUN_LOCK_ONLY = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["#run-lock"]}}
RUN_LOCK_ACTIONS = {
    "ResolveRunFunction": {"dynamodb:PutItem", "dynamodb:GetItem"},
    "PublishAuditFunction": {"dynamodb:DeleteItem"},
    "ReleaseRunLockFunction": {"dynamodb:UpdateItem"},
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
    from credential_rotation.adapters.run_lock import LOCK_KEY

    assert RUN_LOCK_ONLY["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == [LOCK_KEY]


# The call-record index's rows in the ledger's table: the indexer may write them and no credential's row;
# the backfill only the index's own row (its watermark and pending days).
CALL_INDEX_ONLY = {
    "IndexCallRecordsFunction": {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["calls/*", "call/*", "call-index"]}
    },
    "BackfillCallRecordsFunction": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["call-index"]}},
}


@pytest.mark.parametrize("function", sorted(CALL_INDEX_ONLY))
def test_the_indexer_writes_only_the_call_index_rows(template, function):
    ledger_statements = [
        statement
        for statement in function_statements(template, function)
        if any(action.startswith("dynamodb:") for action in actions(statement))
    ]
    assert ledger_statements
    for statement in ledger_statements:
        assert statement["Condition"] == CALL_INDEX_ONLY[function]


def test_the_call_index_keys_are_the_ones_the_code_uses():
    from credential_rotation.adapters.usage_index import INDEX, seen_partition, usage_partition

    (patterns,) = CALL_INDEX_ONLY["IndexCallRecordsFunction"]["ForAllValues:StringLike"].values()
    assert patterns == [usage_partition("*"), seen_partition("*"), INDEX]
    # No voice connector id can fall under them: the index never reads as a credential's row.
    assert all("/" in pattern or pattern == INDEX for pattern in patterns)


def test_the_ledger_survives_the_stack_and_can_be_restored(template):
    table = template["Resources"]["LedgerTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_outputs(template):
    assert set(template["Outputs"]) == {
        "StateMachineArn",
        "FleetStateMachineArn",
        "AuditTopicArn",
        "LedgerTableName",
        "AlertsTopicArn",
        "DashboardName",
        "AuditBucketName",
        "FingerprintKeyArn",
        "SecretNamePrefix",
    }
    assert template["Outputs"]["SecretNamePrefix"]["Value"] == SECRET_NAME_PREFIX
    assert template["Outputs"]["FingerprintKeyArn"]["Value"] == FINGERPRINT_KEY


def test_every_events_file_is_an_object_the_console_accepts():
    files = sorted((REPOSITORY / "events").glob("*.json"))
    assert files
    for path in files:
        assert isinstance(json.loads(Path(path).read_text()), dict), path
