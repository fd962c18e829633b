"""Least privilege, proven on the CloudFormation that SAM generates from template.yaml (the roles, policies
and managed policies SAM adds included), in every combination of the template's conditions.

Every Allow statement of every identity policy must name its actions one by one (no ``*`` anywhere in an
action) and reach only resources of this stack: a Ref or GetAtt of one of its resources, a stack
parameter that cannot hold a wildcard, or an ARN built with Fn::Sub in this partition, region and account
whose resource part starts with one of those. What AWS does not let us scope is listed in ALLOWED_UNSCOPED,
exactly: the statement's actions must be a subset of an entry's and its resource equal to the entry's.
"""

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.security.cloudformation import as_list, describe, resources_of_type

ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
VOICE_CONNECTORS_OF_THIS_ACCOUNT = {
    "Fn::Sub": "arn:${AWS::Partition}:chime:${AWS::Region}:${AWS::AccountId}:vc/*"
}
LOG_DELIVERY_ACTIONS = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)
XRAY_WRITE_ACTIONS = frozenset(
    {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}
)


@dataclass(frozen=True)
class Unscoped:
    actions: frozenset[str]
    resource: Any
    reason: str


# The only statements that may reach beyond this stack's own resources. Keep it exact: a new unscoped
# statement must fail until someone adds an entry here and writes down why AWS leaves no narrower choice.
ALLOWED_UNSCOPED = (
    Unscoped(
        frozenset({"chime:ListVoiceConnectors"}),
        "*",
        "ListVoiceConnectors supports no resource-level permission (Service Authorization Reference: no "
        "resource type), and a run with no VoiceConnectorIds processes every connector of the account.",
    ),
    Unscoped(
        frozenset(
            {
                "chime:ListVoiceConnectorTerminationCredentials",
                "chime:PutVoiceConnectorTerminationCredentials",
                "chime:DeleteVoiceConnectorTerminationCredentials",
            }
        ),
        VOICE_CONNECTORS_OF_THIS_ACCOUNT,
        "Voice connectors are not resources of this stack: the phone-system team creates them, and which "
        "ones a run touches is decided at run time (VoiceConnectorIds, empty meaning all). vc/* confined "
        "to this partition, region and account is the narrowest ARN that IAM can express for that.",
    ),
    Unscoped(
        LOG_DELIVERY_ACTIONS,
        "*",
        "Step Functions logging to CloudWatch Logs: the vended log delivery APIs support no resource-level "
        "permission, and the Step Functions guide documents these actions on Resource '*'.",
    ),
    Unscoped(
        XRAY_WRITE_ACTIONS,
        "*",
        "X-Ray's write and sampling APIs support no resource-level permission (tracing is optional).",
    ),
)

# AWS managed policies a role may carry: the ones SAM attaches by itself, and nothing else.
ALLOWED_MANAGED_POLICIES = {
    # SAM gives every function role this one: logs:CreateLogGroup, CreateLogStream and PutLogEvents.
    "service-role/AWSLambdaBasicExecutionRole": "the Lambda runtime's own logging, attached by SAM",
    # SAM adds it to a function role when Tracing is not Disabled (here !If [TracingEnabled, Active,
    # PassThrough], so always), and to a state machine role when Tracing.Enabled is literally true.
    "AWSXrayWriteOnlyAccess": "X-Ray write APIs, which support no resource-level permission",
    "AWSXRayDaemonWriteAccess": "the same, under its name in the China and GovCloud partitions",
}

# A parameter that scopes a permission must not be able to hold a wildcard, nor be empty (an empty
# secret name prefix would turn secret:${SecretNamePrefix}* into every secret of the account).
WILDCARD_PROBES = ("*", "a*", "*a", "arn:aws:kms:us-east-1:123456789012:key/*", "arn:aws:*")
PSEUDO_TOKENS = {
    "${AWS::Partition}": "<partition>",
    "${AWS::Region}": "<region>",
    "${AWS::AccountId}": "<account>",
}
REFERENCE = re.compile(r"\$\{([^}!]+)\}")
CONFUSED_DEPUTY_KEYS = {"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "kms:viaservice"}


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return as_list(document.get("Statement", []))


def identity_policies(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, policy document) for every identity policy the template creates."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for policy in properties.get("Policies", []):
                yield f"{logical_id}/{policy.get('PolicyName')}", policy["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            yield logical_id, properties["PolicyDocument"]


def is_wildcard(action: Any) -> bool:
    return not isinstance(action, str) or "*" in action


def parameter_is_specific(template: Mapping[str, Any], name: str, whole: bool = True) -> bool:
    """Whether the parameter can only name specific resources: its AllowedValues or AllowedPattern admit no
    wildcard, and, inside a longer ARN (``whole`` false), no empty value either."""
    spec = template.get("Parameters", {}).get(name)
    if spec is None:
        return False
    probes = WILDCARD_PROBES if whole else ("", *WILDCARD_PROBES)
    if "AllowedValues" in spec:
        return not any(str(value) in probes or "*" in str(value) for value in spec["AllowedValues"])
    pattern = spec.get("AllowedPattern")
    return pattern is not None and not any(re.fullmatch(pattern, probe) for probe in probes)


def names_stack_resource(template: Mapping[str, Any], value: Any) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    ((function, argument),) = value.items()
    if function == "Ref":
        return argument in template["Resources"] or parameter_is_specific(template, argument)
    if function == "Fn::GetAtt":
        target = argument[0] if isinstance(argument, list) else str(argument).split(".")[0]
        return target in template["Resources"]
    return False


def sub_is_scoped(template: Mapping[str, Any], argument: Any) -> str | None:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    # The pseudo parameters hold colons of their own: read the ARN's fields around them.
    for pseudo, token in PSEUDO_TOKENS.items():
        text = text.replace(pseudo, token)
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[1] != PSEUDO_TOKENS["${AWS::Partition}"]:
        return "not an ARN in this stack's partition"
    if parts[3] not in (PSEUDO_TOKENS["${AWS::Region}"], "") or parts[4] not in (
        PSEUDO_TOKENS["${AWS::AccountId}"],
        "",
    ):
        return "not in this stack's region and account"
    resource_part = parts[5]
    for match in REFERENCE.finditer(resource_part):
        name = match.group(1)
        scoped = (
            name.split(".")[0] in template["Resources"]
            or parameter_is_specific(template, name, whole=False)
            or names_stack_resource(template, variables.get(name))
        )
        if scoped and "*" not in resource_part[: match.start()]:
            return None
    return "names no resource of this stack"


def unscoped_reason(template: Mapping[str, Any], resource: Any) -> str | None:
    """None when ``resource`` is one of this stack's; otherwise why not."""
    if isinstance(resource, str):
        return "the literal '*'" if resource == "*" else "a literal ARN"
    if names_stack_resource(template, resource):
        return None
    if isinstance(resource, Mapping) and set(resource) == {"Fn::Sub"}:
        return sub_is_scoped(template, resource["Fn::Sub"])
    return "an expression whose scope cannot be proven"


def allowed_unscoped(actions: set[str], resource: Any) -> bool:
    return any(actions <= entry.actions and resource == entry.resource for entry in ALLOWED_UNSCOPED)


def is_stack_key(template: Mapping[str, Any], resource: Any) -> bool:
    if not isinstance(resource, Mapping) or len(resource) != 1:
        return False
    ((function, argument),) = resource.items()
    target = argument if function == "Ref" else (argument[0] if function == "Fn::GetAtt" else None)
    return template["Resources"].get(target, {}).get("Type") == "AWS::KMS::Key"


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    return {key.lower() for operator in statement.get("Condition", {}).values() for key in operator}


def statement_findings(template: Mapping[str, Any], where: str, statement: Mapping[str, Any]) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    if "NotAction" in statement or "NotResource" in statement:
        return [f"{where}: Allow with NotAction/NotResource grants everything else: {describe(statement)}"]
    actions = as_list(statement.get("Action", []))
    findings = [f"{where}: wildcard action {describe(action)}" for action in actions if is_wildcard(action)]
    named = {action for action in actions if not is_wildcard(action)}
    for resource in as_list(statement.get("Resource", [])):
        reason = unscoped_reason(template, resource)
        if reason and not allowed_unscoped(named, resource):
            findings.append(
                f"{where}: {sorted(named)} on {describe(resource)}, {reason}, and not in ALLOWED_UNSCOPED"
            )
    if any(action.lower().startswith("kms:") for action in named):
        resources = as_list(statement.get("Resource", []))
        if not all(is_stack_key(template, resource) for resource in resources) and (
            "kms:viaservice" not in condition_keys(statement)
        ):
            findings.append(f"{where}: KMS use of a key outside this stack without kms:ViaService")
    return findings


def managed_policy_findings(template: Mapping[str, Any]) -> list[str]:
    findings = []
    for kind in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        for logical_id, properties in resources_of_type(template, kind):
            for arn in properties.get("ManagedPolicyArns", []):
                if names_stack_resource(template, arn):
                    continue  # a customer managed policy of this template: its statements are checked
                text = arn.get("Fn::Sub", "") if isinstance(arn, Mapping) else str(arn)
                name = re.sub(r"^arn:[^:]+:iam::aws:policy/", "", text)
                if name == text or name not in ALLOWED_MANAGED_POLICIES:
                    findings.append(f"{logical_id}: managed policy {describe(arn)} is not allowed")
    return findings


def trust_findings(template: Mapping[str, Any]) -> list[str]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::IAM::Role"):
        for statement in statements(properties.get("AssumeRolePolicyDocument", {})):
            principal = statement.get("Principal")
            if not isinstance(principal, Mapping) or set(principal) != {"Service"}:
                findings.append(f"{logical_id}: trusts {describe(principal)}, not an AWS service")
    return findings


def key_policy_findings(template: Mapping[str, Any]) -> list[str]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::KMS::Key"):
        for statement in statements(properties.get("KeyPolicy", {})):
            if statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            actions = as_list(statement.get("Action", []))
            if principal == {"AWS": ACCOUNT_ROOT}:
                continue  # the account administers its key through IAM, where the checks above apply
            where = f"{logical_id} key policy {statement.get('Sid', '')}"
            if "NotAction" in statement or any(is_wildcard(action) for action in actions):
                findings.append(f"{where}: wildcard action {actions} for {describe(principal)}, not the root")
            if not isinstance(principal, Mapping) or set(principal) != {"Service"}:
                findings.append(f"{where}: principal {describe(principal)} is not an AWS service")
            elif not condition_keys(statement) & CONFUSED_DEPUTY_KEYS:
                findings.append(f"{where}: service principal without aws:SourceArn/SourceAccount condition")
    return findings


def resource_policy_findings(template: Mapping[str, Any]) -> list[str]:
    findings = []
    for kind in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
        for logical_id, properties in resources_of_type(template, kind):
            for statement in statements(properties.get("PolicyDocument", {})):
                if statement.get("Effect") != "Allow":
                    continue
                actions = as_list(statement.get("Action", []))
                if "NotAction" in statement or any(is_wildcard(action) for action in actions):
                    findings.append(f"{logical_id}: wildcard action {actions}")
                principal = statement.get("Principal")
                if principal in ("*", {"AWS": "*"}):
                    findings.append(f"{logical_id}: open to every principal")
    return findings


def findings(template: Mapping[str, Any]) -> list[str]:
    found = [
        finding
        for where, document in identity_policies(template)
        for statement in statements(document)
        for finding in statement_findings(template, where, statement)
    ]
    found += managed_policy_findings(template)
    found += trust_findings(template)
    found += key_policy_findings(template)
    found += resource_policy_findings(template)
    return found


def test_every_deployment_grants_least_privilege(every_deployment):
    problems: dict[str, str] = {}
    for deployment in every_deployment:
        for finding in findings(deployment.template):
            problems.setdefault(finding, deployment.label)
    assert not problems, "\n".join(f"{finding}  [{label}]" for finding, label in problems.items())


def test_the_conditional_statements_are_checked_in_both_branches(every_deployment):
    """The customer key's KMS statements exist in some deployments and not in others: both were walked."""

    def kms_via_secrets_manager(template: Mapping[str, Any]) -> bool:
        return any(
            "kms:viaservice" in condition_keys(statement)
            for _, document in identity_policies(template)
            for statement in statements(document)
        )

    assert {kms_via_secrets_manager(deployment.template) for deployment in every_deployment} == {True, False}


def test_sam_attaches_only_the_allowed_managed_policies(every_deployment):
    managed = {
        str(arn).rsplit("policy/", 1)[-1]
        for deployment in every_deployment
        for _, properties in resources_of_type(deployment.template, "AWS::IAM::Role")
        for arn in properties.get("ManagedPolicyArns", [])
    }
    assert managed <= set(ALLOWED_MANAGED_POLICIES)
    assert "service-role/AWSLambdaBasicExecutionRole" in managed


def role_grants(template: Mapping[str, Any], role_arn: Any) -> tuple[set[str], set[str]]:
    """The actions a role's inline policies name, and the names of its managed policies."""
    (logical_id, _) = role_arn["Fn::GetAtt"]
    properties = template["Resources"][logical_id]["Properties"]
    actions = {
        action
        for policy in properties.get("Policies", [])
        for statement in statements(policy["PolicyDocument"])
        for action in as_list(statement.get("Action", []))
    }
    managed = {str(arn).rsplit("policy/", 1)[-1] for arn in properties.get("ManagedPolicyArns", [])}
    return actions, managed


def test_the_state_machine_role_may_write_the_logs_and_traces_it_is_configured_for(every_deployment):
    """SAM adds neither for a state machine (X-Ray only when Tracing.Enabled is literally true): without
    the log delivery actions CloudFormation cannot create the state machine, without X-Ray no trace."""
    missing = {}
    for deployment in every_deployment:
        template = deployment.template
        for logical_id, properties in resources_of_type(template, "AWS::StepFunctions::StateMachine"):
            actions, managed = role_grants(template, properties["RoleArn"])
            logging = properties.get("LoggingConfiguration", {})
            if logging.get("Destinations") and logging.get("Level", "OFF") != "OFF":
                for action in sorted(LOG_DELIVERY_ACTIONS - actions):
                    missing.setdefault(f"{logical_id}: {action} (logging)", deployment.label)
            traced = properties.get("TracingConfiguration", {}).get("Enabled") is True
            if traced and not managed & {"AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess"}:
                for action in sorted(XRAY_WRITE_ACTIONS - actions):
                    missing.setdefault(f"{logical_id}: {action} (tracing)", deployment.label)
    assert not missing, "\n".join(f"{problem}  [{label}]" for problem, label in missing.items())


# Planted violations: the checker must see each one.

STATEMENT = {
    "Effect": "Allow",
    "Action": "dynamodb:GetItem",
    "Resource": {"Fn::GetAtt": ["LedgerTable", "Arn"]},
}


def with_statement(template: dict, statement: dict) -> dict:
    role = next(logical_id for logical_id, _ in resources_of_type(template, "AWS::IAM::Role"))
    template["Resources"][role]["Properties"].setdefault("Policies", []).append(
        {"PolicyName": "Planted", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
    )
    return template


def plant_managed_policy(template: dict) -> dict:
    role = next(logical_id for logical_id, _ in resources_of_type(template, "AWS::IAM::Role"))
    properties = template["Resources"][role]["Properties"]
    properties.setdefault("ManagedPolicyArns", []).append("arn:aws:iam::aws:policy/AdministratorAccess")
    return template


def plant_policy_resource(template: dict) -> dict:
    template["Resources"]["PlantedPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "Planted",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]},
            "Roles": [],
        },
    }
    return template


def plant_key_statement(template: dict) -> dict:
    key = next(logical_id for logical_id, _ in resources_of_type(template, "AWS::KMS::Key"))
    template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    return template


def plant_open_trust(template: dict) -> dict:
    role = next(logical_id for logical_id, _ in resources_of_type(template, "AWS::IAM::Role"))
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    trust["Statement"].append({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    return template


ACCOUNT = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
PLANTS = {
    "s3:* everywhere": lambda t: with_statement(t, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    "a partial wildcard": lambda t: with_statement(t, {**STATEMENT, "Action": "dynamodb:Get*"}),
    "the ledger action on every table": lambda t: with_statement(t, {**STATEMENT, "Resource": "*"}),
    "every secret of the account": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::Sub": ACCOUNT % ("secretsmanager", "secret:*")},
        },
    ),
    "a secret prefix a parameter may leave open": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Fn::Sub": ACCOUNT % ("secretsmanager", "secret:${ProtectedUsernames}*")},
        },
    ),
    "another account's key": lambda t: with_statement(
        t,
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:111122223333:key/x"},
    ),
    "a key parameter without kms:ViaService": lambda t: with_statement(
        t, {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "SecretsKmsKeyArn"}}
    ),
    "an allow-listed resource with one more action": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": ["chime:ListVoiceConnectors", "chime:DeleteVoiceConnector"],
            "Resource": "*",
        },
    ),
    "every topic of the account": lambda t: with_statement(
        t, {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Fn::Sub": ACCOUNT % ("sns", "*")}}
    ),
    "NotAction": lambda t: with_statement(t, {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
    "an AWS managed policy": plant_managed_policy,
    "an IAM policy resource": plant_policy_resource,
    "kms:* for a service in a key policy": plant_key_statement,
    "a role anyone may assume": plant_open_trust,
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_the_checker_finds_a_planted_violation(every_deployment, plant):
    # Compared with the unplanted template's own findings, so this holds whatever the template says.
    template = every_deployment[0].template
    planted = PLANTS[plant](copy.deepcopy(template))
    assert set(findings(planted)) - set(findings(template)), plant
