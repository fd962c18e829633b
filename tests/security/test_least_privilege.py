"""Least privilege, proven on the CloudFormation that SAM generates from template.yaml (the roles, policies
and managed policies SAM adds included), in every combination of the template's conditions.

Every Allow statement of every identity policy must name its actions one by one (no ``*`` anywhere in an
action) and reach only resources of this stack: a Ref or GetAtt of one of its resources, a stack
parameter that cannot hold a wildcard, or an ARN built with Fn::Sub in this partition, region and account
whose resource part starts with one of those or with the stack's own name. What AWS does not let us scope
is listed in ALLOWED_UNSCOPED, exactly: the statement's actions must be a subset of an entry's and its
resource equal to the entry's.

Beyond scope, some grants belong to one role only: each function writes logs to its own log group and
nowhere else, X-Ray only when it traces, and only the issuing function reads or writes a credential's
secret value. Resource policies let a service act only for this stack's own resources, named exactly.
"""

import copy
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.stack import ACCOUNT_ID, REGION
from sandbox.template import load_template
from tests.security.cloudformation import NO_VALUE, as_list, describe, narrowed, resources_of_type

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
    Unscoped(
        frozenset({"chime:GetGlobalSettings"}),
        "*",
        "GetGlobalSettings supports no resource-level permission; it reads one setting of the account, the "
        "bucket its call detail records go to, which the indexer reads them from.",
    ),
    Unscoped(
        frozenset({"cloudwatch:GetMetricData"}),
        "*",
        "GetMetricData supports no resource-level permission; the rollback watch reads the "
        "AWS/ChimeVoiceConnector metrics of the connectors a run deleted on.",
    ),
    Unscoped(
        frozenset({"s3:GetObject"}),
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::*/Amazon-Chime-Voice-Connector-CDRs/json/*"},
        "Only when the CallRecordsBucket parameter is empty: the CDR bucket is the account's, named by the "
        "Chime SDK global settings at run time. The CDR folder of any bucket, never another key; the "
        "indexer reads only the bucket Chime reports, and the README asks for the parameter.",
    ),
    Unscoped(
        frozenset({"organizations:ListChildren", "organizations:ListAccountsForParent"}),
        "*",
        "Fleet mode, Targets given as organizational units: the listing actions are authorized on the "
        "parent (root or OU) named at run time, and a run may name any of them; they only read.",
    ),
    Unscoped(
        frozenset({"sts:AssumeRole"}),
        {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/vc-credential-rotation-spoke-*"},
        "Fleet mode: the spoke role (fleet/spoke.yaml) of whichever accounts the run's Targets resolve to "
        "at run time (an OU grows); by its fixed name only, and each spoke's trust admits this hub's task "
        "roles only (tests/template/test_spoke.py).",
    ),
    Unscoped(
        frozenset({"s3:ListBucket"}),
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"},
        "Only when the CallRecordsBucket parameter is empty, for the backfill's listing, and only under the "
        "CDR folder (the statement's s3:prefix condition).",
    ),
)

# No role carries a managed policy. The function roles are written in the template with inline policies
# (a role SAM generates gets AWSLambdaBasicExecutionRole, logs to every log group, and AWSXrayWriteOnlyAccess
# whatever Tracing says), and the role SAM still generates, the state machine's, gets none as long as its
# Tracing.Enabled is not literally true.

# A parameter that scopes a permission must not be able to hold a wildcard, nor be empty (an empty
# secret name prefix would turn secret:${SecretNamePrefix}* into every secret of the account).
WILDCARD_PROBES = ("*", "a*", "*a", "arn:aws:kms:us-east-1:123456789012:key/*", "arn:aws:*")
PSEUDO_TOKENS = {
    "${AWS::Partition}": "<partition>",
    "${AWS::Region}": "<region>",
    "${AWS::AccountId}": "<account>",
}
REFERENCE = re.compile(r"\$\{([^}!]+)\}")
# A stack's name holds letters, digits and hyphens only: the first other character ends it, so that a
# wildcard after it cannot reach the resources of a stack whose name merely starts with this one's. A
# wildcard (* or ?) or another ${reference} right after it ends nothing.
STACK_NAME_ENDS = re.compile(r"[^A-Za-z0-9*?$-]")
# ${Resource.Arn}/... : objects or sub-resources inside one of this stack's resources (the audit bucket).
INSIDE_RESOURCE = re.compile(r"\$\{([A-Za-z0-9]+)\.Arn\}/.*")

FUNCTION_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")
LOG_STREAM_ACTIONS = frozenset({"logs:CreateLogStream", "logs:PutLogEvents"})
# Only this function's role may read or write a credential's secret value; the others learn which
# credential is AWSCURRENT from the stages (DescribeSecret) and the ledger.
SECRET_VALUE_READER = "IssueSuccessorFunction"
SECRET_METADATA_ACTIONS = frozenset({"secretsmanager:DescribeSecret"})
# Keys the fingerprints of usernames in the logs: readable by the functions that log usernames.
FINGERPRINT_KEY = {"Ref": "FingerprintKey"}


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return as_list(document.get("Statement", []))


def branches(entry: Any) -> list[Any]:
    """A policy list entry as some deployment sees it: both branches of an Fn::If, AWS::NoValue dropped (for
    the template as written; in a deployment the conditions are resolved already)."""
    if isinstance(entry, Mapping) and set(entry) == {"Fn::If"}:
        _, when_true, when_false = entry["Fn::If"]
        return branches(when_true) + branches(when_false)
    return [] if entry == NO_VALUE else [entry]


def identity_policies(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, policy document) for every identity policy the template creates; ``where`` starts with the
    logical id of the role, user or group whose inline policy it is."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for entry in properties.get("Policies", []):
                for policy in branches(entry):
                    yield f"{logical_id}/{policy.get('PolicyName')}", policy["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            yield logical_id, properties["PolicyDocument"]


def is_wildcard(action: Any) -> bool:
    return not isinstance(action, str) or "*" in action


def allowed_actions(statement: Mapping[str, Any], service: str) -> set[str]:
    """The actions of ``service`` that an Allow statement names (wildcards are found elsewhere)."""
    if statement.get("Effect") != "Allow":
        return set()
    return {
        action
        for action in as_list(statement.get("Action", []))
        if isinstance(action, str) and action.lower().startswith(f"{service}:")
    }


def parameter_is_specific(template: Mapping[str, Any], name: str, whole: bool = True) -> bool:
    """Whether the parameter can only name specific resources: its AllowedValues or AllowedPattern admit no
    wildcard, and, inside a longer ARN (``whole`` false), no empty value either, unless a MinLength (set by
    a deployment whose conditions prove the parameter non-empty) rules the empty value out."""
    spec = template.get("Parameters", {}).get(name)
    if spec is None:
        return False
    may_be_empty = not whole and int(spec.get("MinLength", 0)) < 1
    probes = ("", *WILDCARD_PROBES) if may_be_empty else WILDCARD_PROBES
    if "AllowedValues" in spec:
        return not any(str(value) in probes or "*" in str(value) for value in spec["AllowedValues"])
    pattern = spec.get("AllowedPattern")
    return pattern is not None and not any(re.fullmatch(pattern, probe) for probe in probes)


def is_stack_resource(template: Mapping[str, Any], value: Any) -> bool:
    """A Ref or GetAtt of one of this template's resources (not of a parameter)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    ((function, argument),) = value.items()
    if function == "Ref":
        return argument in template["Resources"]
    if function == "Fn::GetAtt":
        target = argument[0] if isinstance(argument, list) else str(argument).split(".")[0]
        return target in template["Resources"]
    return False


def names_stack_resource(template: Mapping[str, Any], value: Any) -> bool:
    if is_stack_resource(template, value):
        return True
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        return parameter_is_specific(template, value["Ref"])
    return False


def variable_texts(value: Any) -> list[tuple[dict[str, bool], str]] | None:
    """A Fn::Sub variable's value written as Sub text, once per way its Fn::Ifs can go (with the conditions
    that way takes); None when it is an expression whose text cannot be written down."""
    if isinstance(value, str):
        return [({}, value)]
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((function, argument),) = value.items()
    if function == "Ref" and isinstance(argument, str):
        return [({}, f"${{{argument}}}")]
    if function == "Fn::GetAtt":
        target, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
        return [({}, f"${{{target}.{attribute}}}")]
    if function == "Fn::Sub" and isinstance(argument, str):
        return [({}, argument)]
    if function == "Fn::If":
        condition, when_true, when_false = argument
        found = []
        for value_of_condition, branch in ((True, when_true), (False, when_false)):
            texts = variable_texts(branch)
            if texts is None:
                return None
            found += [({condition: value_of_condition} | truth, text) for truth, text in texts]
        return found
    return None


def arn_text_is_scoped(template: Mapping[str, Any], text: str) -> str | None:
    """None when the Sub text (variables written in) names resources of this stack only; otherwise why not."""
    inside = INSIDE_RESOURCE.fullmatch(text)
    if inside:
        return None if inside.group(1) in template["Resources"] else "inside a resource of another stack"
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
        if "*" in resource_part[: match.start()]:
            break
        name = match.group(1)
        if name == "AWS::StackName":
            rest = resource_part[match.end() :]
            if "*" not in rest or STACK_NAME_ENDS.match(rest):
                return None
        elif name.split(".")[0] in template["Resources"] or parameter_is_specific(
            template, name, whole=False
        ):
            return None
    return "names no resource of this stack"


def sub_is_scoped(template: Mapping[str, Any], argument: Any) -> str | None:
    """A Fn::Sub is scoped when its text, with every variable written in, is, for every way the variables'
    Fn::Ifs can go: ``!Sub [...secret:${Prefix}*, {Prefix: !If [HasSecretNamePrefix, !Ref SecretNamePrefix,
    !Sub chime-voice-connector/${AWS::StackName}/]}]`` is scoped because both branches are, the parameter
    where the condition proves it non-empty and the stack's own name where it is empty."""
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    choices = []
    for name, value in variables.items():
        texts = variable_texts(value)
        if texts is None:
            return f"the Sub variable {name} is an expression whose scope cannot be proven"
        choices.append([(name, truth, written) for truth, written in texts])
    for combination in itertools.product(*choices):
        truth: dict[str, bool] = {}
        written = text
        for name, conditions, value in combination:
            truth |= conditions
            written = written.replace(f"${{{name}}}", value)
        reason = arn_text_is_scoped(narrowed(template, truth) if truth else template, written)
        if reason:
            return reason
    return None


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
                if is_stack_resource(template, arn):
                    continue  # a customer managed policy of this template: its statements are checked
                findings.append(
                    f"{logical_id}: managed policy {describe(arn)}; grant inline, scoped, instead"
                )
    return findings


def trust_findings(template: Mapping[str, Any]) -> list[str]:
    findings = []
    for logical_id, properties in resources_of_type(template, "AWS::IAM::Role"):
        for statement in statements(properties.get("AssumeRolePolicyDocument", {})):
            principal = statement.get("Principal")
            if not isinstance(principal, Mapping) or set(principal) != {"Service"}:
                findings.append(f"{logical_id}: trusts {describe(principal)}, not an AWS service")
    return findings


def source_arn_is_this_stacks(template: Mapping[str, Any], value: Any) -> bool:
    """One of this stack's resources, exactly: a Ref or GetAtt, or an ARN built from the stack's name
    without a wildcard (the alerts key names the rule and alarms before they exist)."""
    if is_stack_resource(template, value):
        return True
    if not isinstance(value, Mapping) or set(value) != {"Fn::Sub"} or not isinstance(value["Fn::Sub"], str):
        return False
    text = value["Fn::Sub"]
    return "*" not in text and "${AWS::StackName}" in text and arn_text_is_scoped(template, text) is None


def service_principal_findings(
    template: Mapping[str, Any], where: str, statement: Mapping[str, Any]
) -> list[str]:
    """A service acts for this stack's own resources only: aws:SourceArn, compared with ArnEquals (or
    StringEquals), names each of them exactly; no ArnLike, no wildcard, no other stack's resource."""
    findings = []
    sources = [
        (operator, values)
        for operator, keys in statement.get("Condition", {}).items()
        for key, values in keys.items()
        if key.lower() == "aws:sourcearn"
    ]
    if not sources:
        findings.append(f"{where}: a service principal without aws:SourceArn acts for anyone's resources")
    for operator, values in sources:
        if operator not in ("ArnEquals", "StringEquals"):
            findings.append(f"{where}: aws:SourceArn compared with {operator}, not with ArnEquals")
        for value in as_list(values):
            if not source_arn_is_this_stacks(template, value):
                findings.append(
                    f"{where}: aws:SourceArn {describe(value)} is not one of this stack's resources"
                )
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
            else:
                findings += service_principal_findings(template, where, statement)
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
                elif isinstance(principal, Mapping) and "Service" in principal:
                    where = f"{logical_id} {statement.get('Sid', '')}"
                    findings += service_principal_findings(template, where, statement)
    # A function's resource policy, one statement per permission: a service may invoke it for this stack's
    # own resource only (SAM writes one for the ReleaseRunLock rule).
    for logical_id, properties in resources_of_type(template, "AWS::Lambda::Permission"):
        if is_wildcard(properties.get("Action")) or properties.get("Action") != "lambda:InvokeFunction":
            findings.append(f"{logical_id}: {describe(properties.get('Action'))}, not lambda:InvokeFunction")
        if not str(properties.get("Principal", "")).endswith(".amazonaws.com"):
            findings.append(
                f"{logical_id}: principal {describe(properties.get('Principal'))} is not a service"
            )
        elif not source_arn_is_this_stacks(template, properties.get("SourceArn")):
            findings.append(
                f"{logical_id}: SourceArn {describe(properties.get('SourceArn'))} is not this stack's"
            )
    return findings


def role_of(template: Mapping[str, Any], properties: Mapping[str, Any], key: str = "Role") -> str | None:
    """The logical id of the template's role that a function (Role) or state machine (RoleArn) runs as."""
    role = properties.get(key)
    if not isinstance(role, Mapping) or set(role) != {"Fn::GetAtt"}:
        return None
    argument = role["Fn::GetAtt"]
    target, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
    resource = template["Resources"].get(target, {})
    return target if attribute == "Arn" and resource.get("Type") == "AWS::IAM::Role" else None


def role_statements(template: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline policies, both branches of a conditional policy included."""
    return [
        statement
        for entry in template["Resources"][role]["Properties"].get("Policies", [])
        for policy in branches(entry)
        for statement in statements(policy["PolicyDocument"])
    ]


def functions(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for resource_type in FUNCTION_TYPES:
        yield from resources_of_type(template, resource_type)


def function_log_findings(template: Mapping[str, Any]) -> list[str]:
    """Each function writes its logs to a log group of its own, through its own role, and its role may
    write to no other log group (nor create one): CreateLogStream and PutLogEvents on exactly the Arn of
    the log group its LoggingConfig names. A managed policy on the role would add what this cannot see."""
    findings = []
    writers: dict[str, list[str]] = {}
    for logical_id, properties in functions(template):
        log_group = properties.get("LoggingConfig", {}).get("LogGroup")
        group = log_group.get("Ref") if isinstance(log_group, Mapping) else None
        if template["Resources"].get(group, {}).get("Type") != "AWS::Logs::LogGroup":
            findings.append(f"{logical_id}: logs to {describe(log_group)}, not to a log group of this stack")
            continue
        writers.setdefault(group, []).append(logical_id)
        role = role_of(template, properties)
        if role is None:
            findings.append(
                f"{logical_id}: runs as {describe(properties.get('Role'))}, not a role of this template"
            )
            continue
        own = {"Fn::GetAtt": [group, "Arn"]}
        for arn in template["Resources"][role]["Properties"].get("ManagedPolicyArns", []):
            findings.append(f"{role}: managed policy {describe(arn)} on {logical_id}'s role")
        granted: set[str] = set()
        for statement in role_statements(template, role):
            logs = allowed_actions(statement, "logs")
            if not logs:
                continue
            if logs - LOG_STREAM_ACTIONS:
                findings.append(
                    f"{role}: {sorted(logs - LOG_STREAM_ACTIONS)}; a function only writes log events"
                )
            others = [resource for resource in as_list(statement.get("Resource", [])) if resource != own]
            if others:
                findings.append(
                    f"{role}: {sorted(logs)} on {describe(others)}, not {logical_id}'s log group {group}"
                )
            granted |= logs & LOG_STREAM_ACTIONS
        if granted != LOG_STREAM_ACTIONS:
            findings.append(
                f"{role}: cannot write {logical_id}'s log group: {sorted(LOG_STREAM_ACTIONS - granted)}"
            )
    findings += [
        f"{group}: shared by {sorted(names)}; each function has a log group of its own"
        for group, names in writers.items()
        if len(names) > 1
    ]
    return findings


def traced_roles(template: Mapping[str, Any]) -> set[str]:
    """The roles of the deployed functions and state machines that trace (Lambda Active, Step Functions
    Enabled true), as CloudFormation would create them."""
    roles = {
        role_of(template, properties)
        for logical_id, properties in resources_of_type(template, "AWS::Lambda::Function")
        if properties.get("TracingConfig", {}).get("Mode") == "Active"
    }
    roles |= {
        role_of(template, properties, "RoleArn")
        for logical_id, properties in resources_of_type(template, "AWS::StepFunctions::StateMachine")
        if properties.get("TracingConfiguration", {}).get("Enabled") is True
    }
    return roles - {None}


def tracing_findings(template: Mapping[str, Any]) -> list[str]:
    """X-Ray's write actions support no resource-level permission: a role gets them only when what runs
    as it traces (Tracing Active), never as a standing grant."""
    traced = traced_roles(template)
    return [
        f"{where}: {sorted(allowed_actions(statement, 'xray'))}, but nothing that runs as its role traces"
        for where, document in identity_policies(template)
        if where.split("/")[0] not in traced
        for statement in statements(document)
        if allowed_actions(statement, "xray")
    ]


def secret_value_findings(template: Mapping[str, Any]) -> list[str]:
    """Only the issuing function's role reads or writes secret values. Every other role may describe a
    secret (stages and version ids, no value) and read the fingerprint key, and no role may write that."""
    reader = role_of(template, template["Resources"].get(SECRET_VALUE_READER, {}).get("Properties", {}))
    findings = []
    for where, document in identity_policies(template):
        owner = where.split("/")[0]
        for statement in statements(document):
            actions = allowed_actions(statement, "secretsmanager")
            resources = as_list(statement.get("Resource", []))
            if FINGERPRINT_KEY in resources and actions - {"secretsmanager:GetSecretValue"}:
                findings.append(f"{where}: {sorted(actions)} on the fingerprint key, which is only read")
            value_actions = actions - SECRET_METADATA_ACTIONS
            if owner == reader or not value_actions:
                continue
            if value_actions != {"secretsmanager:GetSecretValue"} or resources != [FINGERPRINT_KEY]:
                findings.append(
                    f"{where}: {sorted(value_actions)} on {describe(resources)}; only "
                    f"{SECRET_VALUE_READER}'s role reads or writes secret values (others the fingerprint key)"
                )
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
    found += function_log_findings(template)
    found += tracing_findings(template)
    found += secret_value_findings(template)
    return found


def test_every_deployment_grants_least_privilege(every_deployment):
    problems: dict[str, str] = {}
    for deployment in every_deployment:
        for finding in findings(deployment.template):
            problems.setdefault(finding, deployment.label)
    assert not problems, "\n".join(f"{finding}  [{label}]" for finding, label in problems.items())


def test_the_conditional_statements_are_checked_in_both_branches(every_deployment):
    """The customer key's KMS statement, X-Ray's and the secret prefix parameter exist in some deployments
    and not in others: both were walked."""

    def grants(template: Mapping[str, Any]) -> dict[str, bool]:
        every = [
            statement for _, document in identity_policies(template) for statement in statements(document)
        ]
        return {
            "customer key": any(
                statement.get("Resource") == {"Ref": "SecretsKmsKeyArn"} for statement in every
            ),
            "x-ray": any(allowed_actions(statement, "xray") for statement in every),
            "prefix parameter": any("SecretNamePrefix" in describe(statement) for statement in every),
        }

    seen: dict[str, set[bool]] = {}
    for deployment in every_deployment:
        for name, present in grants(deployment.template).items():
            seen.setdefault(name, set()).add(present)
    assert seen == {name: {True, False} for name in seen}


def test_no_role_carries_a_managed_policy(every_deployment):
    managed = {
        (logical_id, describe(arn))
        for deployment in every_deployment
        for logical_id, properties in resources_of_type(deployment.template, "AWS::IAM::Role")
        for arn in properties.get("ManagedPolicyArns", [])
    }
    assert not managed


def test_every_function_writes_logs_to_its_own_log_group_only(every_deployment):
    """In the template as written and as SAM deploys it, in every combination of conditions."""
    template = load_template()
    assert len(list(functions(template))) == 11
    assert not function_log_findings(template)
    problems: dict[str, str] = {}
    for deployment in every_deployment:
        assert len(list(resources_of_type(deployment.template, "AWS::Lambda::Function"))) == 11
        for finding in function_log_findings(deployment.template):
            problems.setdefault(finding, deployment.label)
    assert not problems, "\n".join(f"{finding}  [{label}]" for finding, label in problems.items())


def test_x_ray_is_granted_exactly_where_tracing_is_active(every_deployment):
    """TracingEnabled holds exactly when the Tracing parameter is Active: then every function and the state
    machine trace and their roles may write traces; otherwise no role of the stack may."""
    seen = set()
    for deployment in every_deployment:
        template = deployment.template
        tracing = deployment.conditions["TracingEnabled"]
        seen.add(tracing)
        runners = {role_of(template, properties) for _, properties in functions(template)}
        runners |= {
            role_of(template, properties, "RoleArn")
            for _, properties in resources_of_type(template, "AWS::StepFunctions::StateMachine")
        }
        with_xray = {
            role
            for role, _ in resources_of_type(template, "AWS::IAM::Role")
            if any(allowed_actions(statement, "xray") for statement in role_statements(template, role))
        }
        assert with_xray == (runners if tracing else set()), deployment.label
        assert traced_roles(template) == with_xray, deployment.label
        for role in with_xray:
            granted = {
                action
                for statement in role_statements(template, role)
                for action in allowed_actions(statement, "xray")
            }
            assert granted == XRAY_WRITE_ACTIONS, (role, deployment.label)
    assert seen == {True, False}


def test_only_the_issuing_function_reads_or_writes_credential_secrets(every_deployment):
    value_actions = {
        "secretsmanager:CreateSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    }
    for deployment in every_deployment:
        template = deployment.template
        assert not secret_value_findings(template), deployment.label
        roles = {logical_id: role_of(template, properties) for logical_id, properties in functions(template)}
        for function, role in roles.items():
            on_credentials = {
                action
                for statement in role_statements(template, role)
                if statement.get("Resource") != FINGERPRINT_KEY
                for action in allowed_actions(statement, "secretsmanager")
            }
            if function == SECRET_VALUE_READER:
                assert value_actions <= on_credentials, deployment.label
            else:
                assert on_credentials <= SECRET_METADATA_ACTIONS, (function, deployment.label)


def role_grants(template: Mapping[str, Any], role_arn: Any) -> set[str]:
    """The actions a role's inline policies name."""
    (logical_id, _) = role_arn["Fn::GetAtt"]
    return {
        action
        for statement in role_statements(template, logical_id)
        for action in as_list(statement.get("Action", []))
    }


def test_the_state_machine_role_may_write_the_logs_and_traces_it_is_configured_for(every_deployment):
    """SAM adds neither for a state machine (X-Ray only when Tracing.Enabled is literally true): without
    the log delivery actions CloudFormation cannot create the state machine, without X-Ray no trace."""
    missing = {}
    for deployment in every_deployment:
        template = deployment.template
        for logical_id, properties in resources_of_type(template, "AWS::StepFunctions::StateMachine"):
            actions = role_grants(template, properties["RoleArn"])
            logging = properties.get("LoggingConfiguration", {})
            if logging.get("Destinations") and logging.get("Level", "OFF") != "OFF":
                for action in sorted(LOG_DELIVERY_ACTIONS - actions):
                    missing.setdefault(f"{logical_id}: {action} (logging)", deployment.label)
            if properties.get("TracingConfiguration", {}).get("Enabled") is True:
                for action in sorted(XRAY_WRITE_ACTIONS - actions):
                    missing.setdefault(f"{logical_id}: {action} (tracing)", deployment.label)
    assert not missing, "\n".join(f"{problem}  [{label}]" for problem, label in missing.items())


def test_only_the_release_rule_may_invoke_the_release_function(every_deployment):
    """The function that deletes the run lock runs when this state machine's execution ends, in any of the
    four ways, and on nothing else; the task functions have no resource policy at all (the state machine
    invokes them with its role)."""
    function_arn = {"Fn::GetAtt": ["ReleaseRunLockFunction", "Arn"]}
    for deployment in every_deployment:
        template = deployment.template
        rules = {
            logical_id: properties
            for logical_id, properties in resources_of_type(template, "AWS::Events::Rule")
            if any(target["Arn"] == function_arn for target in properties["Targets"])
        }
        ((rule_id, rule),) = rules.items()
        assert [target["Arn"] for target in rule["Targets"]] == [function_arn]
        detail = rule["EventPattern"]["detail"]
        assert detail["stateMachineArn"] == [{"Ref": "RotationStateMachine"}, {"Ref": "FleetStateMachine"}]
        assert sorted(detail["status"]) == ["ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]
        permissions = [properties for _, properties in resources_of_type(template, "AWS::Lambda::Permission")]
        assert permissions == [
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": "ReleaseRunLockFunction"},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
            }
        ], deployment.label


def test_the_schedule_may_start_only_the_state_machine_it_targets(every_deployment):
    """One schedule in every deployment, starting the fleet's state machine on a fleet hub and the
    single-account one otherwise; its role may start exactly that machine (and park a failed start in
    the dead-letter queue). The only other role that may start an execution is the fleet's own, of its
    own machine (its Distributed Maps' children)."""
    fleet_machine = {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
        ":stateMachine:fleet-${AWS::StackName}"
    }
    targets: dict[bool, Any] = {}
    for deployment in every_deployment:
        template = deployment.template
        ((schedule_id, schedule),) = resources_of_type(template, "AWS::Scheduler::Schedule")
        target = schedule["Target"]
        role = role_of(template, target, "RoleArn")
        assert role is not None, deployment.label
        assert role_statements(template, role) == [
            {"Action": "states:StartExecution", "Effect": "Allow", "Resource": target["Arn"]},
            {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": target["DeadLetterConfig"]["Arn"]},
        ], deployment.label
        targets.setdefault(deployment.conditions["FleetHub"], target["Arn"])
        assert targets[deployment.conditions["FleetHub"]] == target["Arn"], deployment.label
        others = {
            (where.split("/")[0], describe(statement.get("Resource")))
            for where, document in identity_policies(template)
            for statement in statements(document)
            if "states:StartExecution" in allowed_actions(statement, "states") and where.split("/")[0] != role
        }
        assert others == {("FleetStateMachineRole", describe(fleet_machine))}, (schedule_id, deployment.label)
    assert targets == {True: {"Ref": "FleetStateMachine"}, False: {"Ref": "RotationStateMachine"}}


def test_the_roles_that_scheduler_and_step_functions_assume_trust_only_this_accounts(every_deployment):
    """The schedule's role and the state machines' roles: a service principal in the trust, narrowed to this
    account (aws:SourceAccount), so that another account's schedule or state machine cannot act through
    them (the confused deputy)."""
    for deployment in every_deployment:
        trusted = {}
        for logical_id, role in resources_of_type(deployment.template, "AWS::IAM::Role"):
            for statement in role["AssumeRolePolicyDocument"]["Statement"]:
                services = set(as_list((statement.get("Principal") or {}).get("Service", [])))
                if services & {"scheduler.amazonaws.com", "states.amazonaws.com"}:
                    trusted[logical_id] = statement.get("Condition")
        assert {"RotationStateMachineNightlyRotationRole", "FleetStateMachineRole"} <= set(trusted)
        # SAM generates the single-account state machine's role, with a trust of its own making.
        assert trusted.pop("RotationStateMachineRole") is None
        for logical_id, condition in trusted.items():
            assert condition == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, (
                logical_id,
                deployment.label,
            )


# The secrets' name prefix: a stack parameter, or by default one that holds the stack's name.


def prefix_if(when_true: Any, when_false: Any) -> dict:
    return {"Fn::If": ["HasSecretNamePrefix", when_true, when_false]}


PARAMETER = {"Ref": "SecretNamePrefix"}
STACK_NAMED = {"Fn::Sub": "chime-voice-connector/${AWS::StackName}/"}
PREFIX = prefix_if(PARAMETER, STACK_NAMED)
SECRETS_UNDER_PREFIX = {
    "Fn::Sub": [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}*",
        {"Prefix": PREFIX},
    ]
}


def test_the_secrets_are_under_one_prefix_that_defaults_to_one_naming_the_stack():
    """The functions read the prefix from SECRET_NAME_PREFIX, their roles reach secrets under it, and the
    SecretNamePrefix output says it: the same expression in all three. With the parameter empty (its
    default) it holds the stack's name, so two stacks in one account never share a secret."""
    template = load_template()
    assert template["Parameters"]["SecretNamePrefix"]["Default"] == ""
    assert template["Conditions"]["HasSecretNamePrefix"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SecretNamePrefix"}, ""]}]
    }
    assert template["Globals"]["Function"]["Environment"]["Variables"]["SECRET_NAME_PREFIX"] == PREFIX
    assert template["Outputs"]["SecretNamePrefix"]["Value"] == PREFIX
    credential_resources = [
        statement["Resource"]
        for role, _ in resources_of_type(template, "AWS::IAM::Role")
        for statement in role_statements(template, role)
        if allowed_actions(statement, "secretsmanager") and statement["Resource"] != FINGERPRINT_KEY
    ]
    assert len(credential_resources) == 3  # PlanConnector, IssueSuccessor, DeleteCredentials
    assert all(resource == SECRETS_UNDER_PREFIX for resource in credential_resources), credential_resources


@pytest.mark.parametrize(
    ("prefix", "scoped"),
    [
        # Both branches specific: the parameter admits no wildcard and is non-empty where it is used, and
        # the default holds the stack's name, ended by a character no stack name holds.
        (PREFIX, True),
        # The parameter also where it may be empty: secret:* would be every secret of the account.
        (PARAMETER, False),
        (prefix_if(PARAMETER, PARAMETER), False),
        # A parameter that may hold a wildcard.
        (prefix_if({"Ref": "ProtectedUsernames"}, STACK_NAMED), False),
        # A fixed default, which another stack of the account shares.
        (prefix_if(PARAMETER, {"Fn::Sub": "chime-voice-connector/"}), False),
        # The stack's name unended: stack rotation's secrets* would reach stack rotation-2's.
        (prefix_if(PARAMETER, {"Fn::Sub": "chime-voice-connector/${AWS::StackName}"}), False),
        # An expression the checker cannot read.
        (prefix_if(PARAMETER, {"Fn::Join": ["/", ["chime", {"Ref": "AWS::StackName"}, ""]]}), False),
    ],
)
def test_the_scope_checker_accepts_the_secret_prefix_only_when_both_branches_are_specific(prefix, scoped):
    template = load_template()
    text, _ = SECRETS_UNDER_PREFIX["Fn::Sub"]
    assert (sub_is_scoped(template, [text, {"Prefix": prefix}]) is None) is scoped


@pytest.mark.parametrize(
    ("parameters", "prefix"),
    [({}, "chime-voice-connector/rotation/"), ({"SecretNamePrefix": "pbx/team-a/"}, "pbx/team-a/")],
)
def test_the_deployed_prefix_is_the_same_in_settings_policies_and_output(parameters, prefix, sandbox_factory):
    """The stack deployed as "rotation": by default the prefix holds that name, else it is the parameter."""
    sandbox = sandbox_factory(parameters=parameters)
    functions_client, iam = sandbox.client("lambda"), sandbox.client("iam")
    settings, secret_arns = {}, set()
    for logical_id, _ in functions(load_template()):
        name = sandbox.stack.physical_ids[logical_id]
        configuration = functions_client.get_function_configuration(FunctionName=name)
        settings[logical_id] = configuration["Environment"]["Variables"]["SECRET_NAME_PREFIX"]
        role = configuration["Role"].rsplit("/", 1)[1]
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            for statement in statements(document):
                if allowed_actions(statement, "secretsmanager"):
                    secret_arns |= set(as_list(statement["Resource"]))
    output, fingerprint_key = sandbox.stack.secret_name_prefix, sandbox.stack.fingerprint_key_arn

    assert output == prefix
    assert set(settings.values()) == {prefix}
    assert secret_arns == {f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{prefix}*", fingerprint_key}


# Planted violations: the checker must see each one.

STATEMENT = {
    "Effect": "Allow",
    "Action": "dynamodb:GetItem",
    "Resource": {"Fn::GetAtt": ["LedgerTable", "Arn"]},
}


def with_statement(template: dict, statement: dict, role: str | None = None) -> dict:
    role = role or next(logical_id for logical_id, _ in resources_of_type(template, "AWS::IAM::Role"))
    template["Resources"][role]["Properties"].setdefault("Policies", []).append(
        {"PolicyName": "Planted", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
    )
    return template


def plant_managed_policy(template: dict, name: str = "AdministratorAccess", role: str | None = None) -> dict:
    role = role or next(logical_id for logical_id, _ in resources_of_type(template, "AWS::IAM::Role"))
    properties = template["Resources"][role]["Properties"]
    properties.setdefault("ManagedPolicyArns", []).append(f"arn:aws:iam::aws:policy/{name}")
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


def plant_source_condition(resource: str, sid: str, condition: dict) -> Callable[[dict], dict]:
    def plant(template: dict) -> dict:
        properties = template["Resources"][resource]["Properties"]
        document = properties.get("KeyPolicy") or properties["PolicyDocument"]
        (statement,) = [statement for statement in statements(document) if statement.get("Sid") == sid]
        statement["Condition"] = condition
        return template

    return plant


def plant_open_invocation(template: dict) -> dict:
    (permission,) = [logical_id for logical_id, _ in resources_of_type(template, "AWS::Lambda::Permission")]
    del template["Resources"][permission]["Properties"]["SourceArn"]
    return template


def plant_shared_log_group(template: dict) -> dict:
    properties = template["Resources"]["ResolveRunFunction"]["Properties"]
    properties["LoggingConfig"]["LogGroup"] = {"Ref": "PlanConnectorLogGroup"}
    return template


ACCOUNT = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
EVERY_ALARM = {"ArnLike": {"aws:SourceArn": {"Fn::Sub": ACCOUNT % ("cloudwatch", "alarm:*")}}}
PLANTS = {
    "s3:* everywhere": lambda t: with_statement(t, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    "a partial wildcard": lambda t: with_statement(t, {**STATEMENT, "Action": "dynamodb:Get*"}),
    "the ledger action on every table": lambda t: with_statement(t, {**STATEMENT, "Resource": "*"}),
    "every secret of the account": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "secretsmanager:DescribeSecret",
            "Resource": {"Fn::Sub": ACCOUNT % ("secretsmanager", "secret:*")},
        },
    ),
    "a secret prefix a parameter may leave open": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "secretsmanager:DescribeSecret",
            "Resource": {"Fn::Sub": ACCOUNT % ("secretsmanager", "secret:${ProtectedUsernames}*")},
        },
    ),
    "a secret prefix variable a parameter may leave empty": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "secretsmanager:DescribeSecret",
            "Resource": {
                "Fn::Sub": [
                    ACCOUNT % ("secretsmanager", "secret:${Prefix}*"),
                    {"Prefix": {"Ref": "SecretNamePrefix"}},
                ]
            },
        },
    ),
    "a secret prefix other stacks share": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "secretsmanager:DescribeSecret",
            "Resource": {
                "Fn::Sub": [
                    ACCOUNT % ("secretsmanager", "secret:${Prefix}*"),
                    {"Prefix": {"Fn::Sub": "chime-voice-connector/"}},
                ]
            },
        },
    ),
    "objects of another bucket": lambda t: with_statement(
        t, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${OtherBucket.Arn}/*"}}
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
    "a managed AWSLambdaBasicExecutionRole on a function role": lambda t: plant_managed_policy(
        t, "service-role/AWSLambdaBasicExecutionRole", "PlanConnectorRole"
    ),
    "an IAM policy resource": plant_policy_resource,
    "kms:* for a service in a key policy": plant_key_statement,
    "a role anyone may assume": plant_open_trust,
    "a function role writing another function's log group": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": {"Fn::GetAtt": ["PlanConnectorLogGroup", "Arn"]},
        },
        "ResolveRunRole",
    ),
    "a function role that may create log groups": lambda t: with_statement(
        t,
        {
            "Effect": "Allow",
            "Action": "logs:CreateLogGroup",
            "Resource": {"Fn::GetAtt": ["ResolveRunLogGroup", "Arn"]},
        },
        "ResolveRunRole",
    ),
    "two functions sharing a log group": plant_shared_log_group,
    "the release function invocable by any rule": plant_open_invocation,
    "X-Ray for a role whose function does not trace": lambda t: with_statement(
        t,
        {"Effect": "Allow", "Action": sorted(XRAY_WRITE_ACTIONS), "Resource": "*"},
        "CheckDeletionLimitRole",
    ),
    "credential values read by the planning function": lambda t: with_statement(
        t,
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRETS_UNDER_PREFIX},
        "PlanConnectorRole",
    ),
    "the fingerprint key written": lambda t: with_statement(
        t,
        {"Effect": "Allow", "Action": "secretsmanager:PutSecretValue", "Resource": FINGERPRINT_KEY},
        "IssueSuccessorRole",
    ),
    "the alerts topic open to every alarm of the account": plant_source_condition(
        "AlertsTopicPolicy", "AlarmsOfThisStackPublish", EVERY_ALARM
    ),
    "the alerts topic open to any rule of the account": plant_source_condition(
        "AlertsTopicPolicy",
        "RunFailedRulePublishes",
        {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    ),
    "the alerts key for every rule of the account": plant_source_condition(
        "AlertsKey",
        "RunFailedRuleEncryptsAlerts",
        {"ArnLike": {"aws:SourceArn": {"Fn::Sub": ACCOUNT % ("events", "rule/*")}}},
    ),
    "the alerts key for alarms named like this stack's": plant_source_condition(
        "AlertsKey",
        "AlarmsOfThisStackEncryptAlerts",
        {"ArnEquals": {"aws:SourceArn": {"Fn::Sub": ACCOUNT % ("cloudwatch", "alarm:${AWS::StackName}*")}}},
    ),
}
# A plant that is a violation in some deployments only goes into the first deployment with these
# conditions; every other plant goes into the first deployment of all.
PLANTED_WHERE = {
    "X-Ray for a role whose function does not trace": {"TracingEnabled": False},
    "a secret prefix variable a parameter may leave empty": {"HasSecretNamePrefix": False},
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_the_checker_finds_a_planted_violation(every_deployment, plant):
    # Compared with the unplanted template's own findings, so this holds whatever the template says.
    where = PLANTED_WHERE.get(plant, {})
    template = next(
        deployment.template
        for deployment in every_deployment
        if all(deployment.conditions[name] == value for name, value in where.items())
    )
    planted = PLANTS[plant](copy.deepcopy(template))
    assert set(findings(planted)) - set(findings(template)), plant
