"""fleet/spoke.yaml, the role a fleet hub assumes in each account and Region, read as a document: a plain
CloudFormation template that cfn-lint accepts, a role name that cannot collide with the hub's, a trust that
names only the hub roles the hub lets assume it, under an organization or external id, and exactly the
actions the hub's tasks call on a spoke's voice connectors, their call metrics and secrets, each as narrow as
AWS allows."""

import fnmatch
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint import api as cfnlint_api

from credential_rotation.runtime.wiring import _SpokeAdapters
from sandbox.template import REPOSITORY, load_template

SPOKE_PATH = REPOSITORY / "fleet" / "spoke.yaml"
ADAPTERS = REPOSITORY / "functions" / "credential_rotation" / "adapters"
ROLE = "SpokeRole"
ROLE_NAME_PREFIX = "vc-credential-rotation-spoke-"
NO_VALUE = {"Ref": "AWS::NoValue"}

# What the hub's tasks call in a spoke, from the adapters the hub builds over the spoke role's session
# (runtime/wiring.py: the voice connectors, the connectors' secrets and call metrics), and why.
EXPECTED_ACTIONS = {
    # chime.py voice_connector_ids: FleetRun's discovery finds each target's connectors.
    "chime:ListVoiceConnectors",
    # chime.py usernames: PlanConnector, TestSecret and DeleteCredentials list a connector's usernames.
    "chime:ListVoiceConnectorTerminationCredentials",
    # chime.py put: SetSecret puts the successor on the connector.
    "chime:PutVoiceConnectorTerminationCredentials",
    # chime.py delete: DeleteCredentials deletes the stale usernames.
    "chime:DeleteVoiceConnectorTerminationCredentials",
    # secret_store.py state: AWSCURRENT's version id (PlanConnector, DeleteCredentials, FinishSecret).
    "secretsmanager:DescribeSecret",
    # secret_store.py enrol, store_pending, read, promote: the four issuing steps.
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    # connector_health.py outbound: the rollback watch's Check reads a connector's call metrics.
    "cloudwatch:GetMetricData",
}
# Only with a customer managed key for the secrets, and only through Secrets Manager.
KEY_ACTIONS = {"kms:Decrypt", "kms:GenerateDataKey"}
# Only with CallRecordsBucket: IndexCallRecords and BackfillCallRecords read the account's CDR bucket setting
# (call_record_bucket in chime.py), and the records (call_record_store.py: read; keys, for a backfill).
CALL_RECORD_ACTIONS = {"chime:GetGlobalSettings", "s3:GetObject", "s3:ListBucket"}
# Calls of those adapters that no task makes in a spoke.
NOT_CALLED_IN_A_SPOKE: set[str] = set()
# The IAM action an API call needs, where its name is not the call's own.
IAM_ACTION_OF = {"s3:ListObjectsV2": "s3:ListBucket"}
# The adapters built over a spoke session (wiring._SpokeAdapters), by module and IAM service prefix.
SPOKE_ADAPTERS = {
    "chime.py": "chime",
    "secret_store.py": "secretsmanager",
    "connector_health.py": "cloudwatch",
    "call_record_store.py": "s3",
}
# The hub's roles that the hub allows to assume a spoke role (AssumeRole on vc-credential-rotation-spoke-*).
TRUSTED_HUB_ROLES = {
    "FleetRunRole",
    "PlanConnectorRole",
    "IssueSuccessorRole",
    "DeleteCredentialsRole",
    "WatchDeletionsRole",
    "IndexCallRecordsRole",
    "BackfillCallRecordsRole",
}
# The hub's roles that make those calls in the hub's own account only: ResolveRun (single-account mode).
HUB_ONLY_ROLES = {"ResolveRunRole"}
# AWS forces "*" on these: they support no resource-level permission.
UNSCOPED_ACTIONS = {"chime:ListVoiceConnectors", "cloudwatch:GetMetricData", "chime:GetGlobalSettings"}
SECRETS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretNamePrefix}*"
)
VOICE_CONNECTOR_ARN = "arn:${AWS::Partition}:chime:${AWS::Region}:${AWS::AccountId}:vc/*"
# CloudFormation's generated names: <stack>-<logical id>-<suffix>, the suffix 12 or 13 characters, 64 at most.
GENERATED_SUFFIX = 13
IAM_NAME_LIMIT = 64
CONDITIONS = ("HasOrganizationId", "HasExternalId", "HasSecretsKmsKey", "HasCallRecords")
# A spread of Regions over two partitions (all of cfn-lint's 46 take half a minute).
LINT_REGIONS = [
    "us-east-1",
    "us-west-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-2",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "us-gov-west-1",
]


@pytest.fixture(scope="module")
def spoke() -> dict:
    return load_template(SPOKE_PATH)


@pytest.fixture(scope="module")
def hub() -> dict:
    return load_template()


def resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """The document with every Fn::If taken and every AWS::NoValue removed, as CloudFormation does."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolve(when_true if conditions[name] else when_false, conditions)
        resolved = {key: resolve(value, conditions) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != NO_VALUE}
    if isinstance(node, list):
        return [item for item in (resolve(value, conditions) for value in node) if item != NO_VALUE]
    return node


def deployments() -> list[dict[str, bool]]:
    """Every combination of the conditions: organization id, external id, customer key, each set or not."""
    return [
        dict(zip(CONDITIONS, values, strict=True))
        for values in itertools.product([False, True], repeat=len(CONDITIONS))
    ]


def deployment_id(conditions: dict[str, bool]) -> str:
    return "+".join(name.removeprefix("Has") for name, on in conditions.items() if on) or "none"


def role(spoke: dict, conditions: dict[str, bool]) -> dict:
    return resolve(spoke["Resources"][ROLE]["Properties"], conditions)


def statements(spoke: dict, conditions: dict[str, bool]) -> list[dict]:
    return [
        statement
        for policy in role(spoke, conditions)["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The text of an Fn::Sub (or a plain string); anything else is not a name this test can read."""
    if isinstance(value, str):
        return value
    assert set(value) == {"Fn::Sub"}, value
    assert isinstance(value["Fn::Sub"], str), value
    return value["Fn::Sub"]


def actions(spoke: dict, conditions: dict[str, bool]) -> set[str]:
    return {action for statement in statements(spoke, conditions) for action in as_list(statement["Action"])}


# A plain template that cfn-lint accepts


def test_the_spoke_has_no_transform(spoke):
    # Service-managed StackSets reject a template with a transform.
    assert "Transform" not in spoke
    assert "Globals" not in spoke
    assert all(not spec["Type"].startswith("AWS::Serverless::") for spec in spoke["Resources"].values())


def lint(text: str) -> list:
    return cfnlint_api.lint(text, config=cfnlint_api.ManualArgs(regions=LINT_REGIONS))


def test_cfn_lint_accepts_the_spoke():
    assert lint(SPOKE_PATH.read_text()) == []


def test_cfn_lint_as_called_here_rejects_a_broken_spoke():
    broken = SPOKE_PATH.read_text().replace("!GetAtt SpokeRole.Arn", "!GetAtt SpokeRole.Name")
    assert broken != SPOKE_PATH.read_text()
    assert lint(broken)


def test_the_spoke_has_one_role_and_outputs_its_arn(spoke):
    always = {name: spec["Type"] for name, spec in spoke["Resources"].items() if "Condition" not in spec}
    assert always == {ROLE: "AWS::IAM::Role"}
    assert spoke["Outputs"]["SpokeRoleArn"]["Value"] == {"Fn::GetAtt": [ROLE, "Arn"]}


def test_only_call_records_add_resources_the_forwarding_rule_and_its_role(spoke):
    resources = spoke["Resources"].items()
    conditional = {name: spec["Condition"] for name, spec in resources if "Condition" in spec}
    assert conditional == {
        "ForwardCallRecordsRule": "HasCallRecords",
        "ForwardCallRecordsRole": "HasCallRecords",
    }


# The role's name


def test_the_role_name_is_the_fixed_prefix_and_the_region(spoke):
    # IAM is global and a StackSet deploys one stack per Region: the name must differ per Region.
    assert spoke["Resources"][ROLE]["Properties"]["RoleName"] == {
        "Fn::Sub": ROLE_NAME_PREFIX + "${AWS::Region}"
    }


def test_the_role_name_fits_iams_limit_in_every_region():
    assert all(len(ROLE_NAME_PREFIX + region) <= IAM_NAME_LIMIT for region in cfnlint_api.REGIONS)


def hub_names(hub: dict) -> Iterator[tuple[str, str]]:
    """Every name the hub template gives or has CloudFormation generate, as a glob pattern: explicit names
    with their ${...} as *, and <stack>-<logical id>-<suffix> for every resource it leaves unnamed."""
    for logical_id, spec in hub["Resources"].items():
        properties = spec.get("Properties", {})
        given = {key: value for key, value in properties.items() if re.fullmatch(r"\w*Name", key)}
        for key, value in given.items():
            if isinstance(value, str) or set(value) == {"Fn::Sub"}:
                yield f"{logical_id}.{key}", re.sub(r"\$\{[^}]*\}", "*", sub_text(value))
        yield f"{logical_id} (generated)", f"*-{logical_id}-*"
        # SAM generates a role for a function or state machine without Role, named after <logical id>Role.
        if spec["Type"].startswith("AWS::Serverless::") and "Role" not in properties:
            yield f"{logical_id}Role (generated)", f"*-{logical_id}Role-*"


def test_no_name_the_hub_gives_can_be_the_spokes_role_name(hub):
    patterns = dict(hub_names(hub))
    assert "ResolveRunRole (generated)" in patterns
    for region in cfnlint_api.REGIONS:
        name = ROLE_NAME_PREFIX + region
        clashes = [what for what, pattern in patterns.items() if fnmatch.fnmatchcase(name, pattern)]
        assert clashes == [], (name, clashes)


def test_the_hub_names_none_of_its_roles_with_the_spokes_prefix(hub):
    for what, pattern in hub_names(hub):
        assert not pattern.startswith(ROLE_NAME_PREFIX), what


# The trust


def trust(spoke: dict, conditions: dict[str, bool]) -> list[dict]:
    return role(spoke, conditions)["AssumeRolePolicyDocument"]["Statement"]


def trusted_patterns(statement: dict) -> list[str]:
    return [sub_text(arn) for arn in as_list(statement["Condition"]["ArnLike"]["aws:PrincipalArn"])]


def hub_role_pattern(logical_id: str) -> str:
    return "arn:${AWS::Partition}:iam::${HubAccountId}:role/${HubStackName}-" + logical_id + "-*"


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_only_the_hub_account_may_assume_the_role(spoke, conditions):
    (statement,) = trust(spoke, conditions)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}}


def test_the_trust_names_exactly_the_hubs_task_roles(spoke):
    (statement,) = trust(spoke, dict.fromkeys(CONDITIONS, True))
    assert sorted(trusted_patterns(statement)) == sorted(map(hub_role_pattern, TRUSTED_HUB_ROLES))


def test_every_trusted_role_is_a_role_of_the_hub_template(hub):
    hub_roles = {name for name, spec in hub["Resources"].items() if spec["Type"] == "AWS::IAM::Role"}
    assert hub_roles >= TRUSTED_HUB_ROLES | HUB_ONLY_ROLES


def hub_role_actions(hub: dict, logical_id: str) -> set[str]:
    return {
        action
        for policy in hub["Resources"][logical_id]["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "PolicyDocument" in policy
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    }


def test_every_hub_role_that_makes_a_spokes_calls_at_home_is_trusted_or_hub_only_on_purpose(hub):
    # GetSecretValue and the S3 reads aside: every hub role reads its own fingerprint key, many read and
    # list the run's records.
    s3_reads = {"s3:GetObject", "s3:ListBucket"}
    spoke_calls = (EXPECTED_ACTIONS | CALL_RECORD_ACTIONS) - {"secretsmanager:GetSecretValue"} - s3_reads
    calling = {
        name
        for name, spec in hub["Resources"].items()
        if spec["Type"] == "AWS::IAM::Role" and hub_role_actions(hub, name) & spoke_calls
    }
    assert calling - TRUSTED_HUB_ROLES == HUB_ONLY_ROLES


def hub_roles_assuming_spokes(hub: dict) -> set[str]:
    """The hub's roles granted sts:AssumeRole on the spoke roles (a SAM function's or state machine's own
    role is <logical id>Role)."""
    assuming = set()
    for name, spec in hub["Resources"].items():
        for policy in spec.get("Properties", {}).get("Policies", []):
            if not isinstance(policy, dict) or "PolicyDocument" not in policy:
                continue
            for statement in policy["PolicyDocument"]["Statement"]:
                resources = repr(statement.get("Resource"))
                if "sts:AssumeRole" in as_list(statement["Action"]) and ROLE_NAME_PREFIX in resources:
                    assuming.add(name if spec["Type"] == "AWS::IAM::Role" else f"{name}Role")
    return assuming


def test_the_spoke_trusts_exactly_the_hub_roles_allowed_to_assume_it(hub):
    # A hub role left out would meet AccessDenied in every spoke; one too many is trusted for nothing.
    assert hub_roles_assuming_spokes(hub) == TRUSTED_HUB_ROLES


def test_the_hub_may_assume_only_the_spoke_roles(hub):
    for name, spec in hub["Resources"].items():
        for policy in spec.get("Properties", {}).get("Policies", []):
            if isinstance(policy, dict) and "PolicyDocument" in policy:
                for statement in policy["PolicyDocument"]["Statement"]:
                    if "sts:AssumeRole" in as_list(statement["Action"]):
                        assert [sub_text(resource) for resource in as_list(statement["Resource"])] == [
                            "arn:${AWS::Partition}:iam::*:role/" + ROLE_NAME_PREFIX + "*"
                        ], name


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([\w:]+)\}", lambda match: values[match.group(1)], text)


def test_the_trusted_patterns_match_the_names_cloudformation_generates_for_the_hubs_roles(spoke):
    pattern = spoke["Parameters"]["HubStackName"]["AllowedPattern"]
    (statement,) = trust(spoke, dict.fromkeys(CONDITIONS, True))
    for stack in ("hub", "vc-rotation-hub"):
        assert re.fullmatch(pattern, stack)
        values = {"AWS::Partition": "aws", "HubAccountId": "111122223333", "HubStackName": stack}
        arns = [substitute(arn_pattern, values) for arn_pattern in trusted_patterns(statement)]
        for logical_id in TRUSTED_HUB_ROLES | HUB_ONLY_ROLES:
            arn = f"arn:aws:iam::111122223333:role/{stack}-{logical_id}-1A2B3C4D5E6F7"
            matching = [pattern for pattern in arns if fnmatch.fnmatchcase(arn, pattern)]
            assert len(matching) == (logical_id in TRUSTED_HUB_ROLES), (stack, logical_id)
        # Another account's role of the same name, and the hub's role under another stack's name.
        assert not any(fnmatch.fnmatchcase(arn.replace("111122223333", "444455556666"), p) for p in arns)
        assert not any(
            fnmatch.fnmatchcase("arn:aws:iam::111122223333:role/other-PlanConnectorRole-1A2B", p)
            for p in arns
        )


def test_the_longest_hub_stack_name_allowed_leaves_the_hubs_role_names_untruncated(spoke):
    # A truncated generated name would not match the trust, and every AssumeRole would be refused.
    pattern = spoke["Parameters"]["HubStackName"]["AllowedPattern"]
    longest = max(map(len, TRUSTED_HUB_ROLES))
    fits = IAM_NAME_LIMIT - GENERATED_SUFFIX - longest - 2
    assert re.fullmatch(pattern, "h" * fits)
    assert not re.fullmatch(pattern, "h" * (fits + 1))
    assert not re.fullmatch(pattern, "1hub")


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_the_trust_carries_the_organization_and_the_external_id_that_are_set(spoke, conditions):
    (statement,) = trust(spoke, conditions)
    expected = {}
    if conditions["HasOrganizationId"]:
        expected["aws:PrincipalOrgID"] = {"Ref": "OrganizationId"}
    if conditions["HasExternalId"]:
        expected["sts:ExternalId"] = {"Ref": "ExternalId"}
    assert statement["Condition"].get("StringEquals", {}) == expected
    assert set(statement["Condition"]) <= {"ArnLike", "StringEquals"}


def rule_holds(node: Any, parameters: dict[str, str]) -> Any:
    """A Rules assertion evaluated over parameter values (the functions this template's rules use)."""
    if isinstance(node, str):
        return node
    (function, arguments) = next(iter(node.items()))
    if function == "Ref":
        return parameters[arguments]
    values = [rule_holds(argument, parameters) for argument in as_list(arguments)]
    operators = {
        "Fn::Equals": lambda: values[0] == values[1],
        "Fn::Not": lambda: not values[0],
        "Fn::Or": lambda: any(values),
        "Fn::And": lambda: all(values),
    }
    return operators[function]()


@pytest.mark.parametrize(
    ("organization", "external_id", "accepted"),
    [("", "", False), ("o-abcdefghij", "", True), ("", "rotation-hub", True), ("o-abcdefghij", "x1", True)],
)
def test_the_rules_require_an_organization_or_an_external_id(spoke, organization, external_id, accepted):
    parameters = {"OrganizationId": organization, "ExternalId": external_id}
    assert rules_hold(spoke, parameters) is accepted


def rules_hold(spoke: dict, given: dict[str, str]) -> bool:
    """Whether every rule that applies (its RuleCondition holds) holds over the parameters (defaults else)."""
    parameters = {name: spec.get("Default", "") for name, spec in spoke["Parameters"].items()} | given
    return all(
        rule_holds(assertion["Assert"], parameters)
        for rule in spoke["Rules"].values()
        if rule_holds(rule.get("RuleCondition", {"Fn::Equals": ["", ""]}), parameters)
        for assertion in rule["Assertions"]
    )


@pytest.mark.parametrize(
    ("bucket", "hub_region", "accepted"),
    [("", "", True), ("cdrs", "", False), ("cdrs", "eu-west-1", True), ("", "eu-west-1", True)],
)
def test_call_records_need_the_hubs_region(spoke, bucket, hub_region, accepted):
    parameters = {"OrganizationId": "o-abcdefghij", "CallRecordsBucket": bucket, "HubRegion": hub_region}
    assert rules_hold(spoke, parameters) is accepted


def test_the_conditions_are_the_parameters_being_set(spoke):
    assert spoke["Conditions"] == {
        "HasOrganizationId": {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]},
        "HasExternalId": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]},
        "HasSecretsKmsKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "SecretsKmsKeyArn"}, ""]}]},
        "HasCallRecords": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CallRecordsBucket"}, ""]}]},
    }


def test_the_role_allows_no_session_tags_or_source_identity(spoke):
    for conditions in deployments():
        assert {statement["Action"] for statement in trust(spoke, conditions)} == {"sts:AssumeRole"}


# The permissions


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_the_role_allows_exactly_what_the_hubs_tasks_call_in_a_spoke(spoke, conditions):
    expected = (
        EXPECTED_ACTIONS
        | (KEY_ACTIONS if conditions["HasSecretsKmsKey"] else set())
        | (CALL_RECORD_ACTIONS if conditions["HasCallRecords"] else set())
    )
    assert actions(spoke, conditions) == expected


def adapter_calls(path: Path, service: str) -> set[str]:
    methods = set(re.findall(r"self\._client\.(\w+)\(", path.read_text()))
    calls = {f"{service}:" + "".join(word.title() for word in method.split("_")) for method in methods}
    return {IAM_ACTION_OF.get(call, call) for call in calls}


def test_the_expected_actions_are_the_calls_of_the_spokes_adapters():
    called = set().union(
        *(adapter_calls(ADAPTERS / name, service) for name, service in SPOKE_ADAPTERS.items())
    )
    assert called - NOT_CALLED_IN_A_SPOKE == EXPECTED_ACTIONS | CALL_RECORD_ACTIONS
    assert called >= NOT_CALLED_IN_A_SPOKE


def test_the_hub_builds_exactly_those_adapters_over_a_spoke_session():
    fields = {name: kind for name, kind in _SpokeAdapters.__annotations__.items() if name != "expires"}
    modules = {f"{kind.__module__.rsplit('.', 1)[-1]}.py" for kind in fields.values()}
    assert modules == set(SPOKE_ADAPTERS)


def test_the_spoke_allows_no_secrets_action_the_hub_does_not_allow_on_its_own_secrets(hub, spoke):
    """The hub's policies on its connectors' secrets (the prefix, not the fingerprint key) are the spoke's."""
    hub_secret_actions = {
        action
        for name, spec in hub["Resources"].items()
        if spec["Type"] == "AWS::IAM::Role"
        for policy in spec["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "PolicyDocument" in policy
        for statement in policy["PolicyDocument"]["Statement"]
        if "Fn::Sub" in statement.get("Resource", {}) and "${Prefix}*" in repr(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    spoke_secret_actions = {
        action
        for action in actions(spoke, dict.fromkeys(CONDITIONS, False))
        if action.startswith("secretsmanager:")
    }
    assert spoke_secret_actions == hub_secret_actions


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_no_action_is_a_wildcard(spoke, conditions):
    for action in actions(spoke, conditions):
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), action


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_every_statement_allows_and_none_uses_not_action_or_not_resource(spoke, conditions):
    for statement in statements(spoke, conditions):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_every_secrets_statement_is_scoped_to_the_prefix_in_this_account_and_region(spoke, conditions):
    secret_statements = [
        statement
        for statement in statements(spoke, conditions)
        if any(action.startswith("secretsmanager:") for action in as_list(statement["Action"]))
    ]
    assert secret_statements
    for statement in secret_statements:
        assert [sub_text(resource) for resource in as_list(statement["Resource"])] == [SECRETS_ARN]


def test_the_prefix_must_end_with_a_slash_and_hold_no_wildcard(spoke):
    # Without the "/", <prefix>* of one hub would cover the secrets of a hub whose name extends it.
    spec = spoke["Parameters"]["SecretNamePrefix"]
    assert "Default" not in spec
    accepted = ["chime-voice-connector/hub/", "a/", "team.voice/rotation/"]
    refused = ["", "/", "chime-voice-connector/hub", "chime-voice-connector/*/", "chime?/", "/hub/"]
    assert all(re.fullmatch(spec["AllowedPattern"], prefix) for prefix in accepted)
    assert not any(re.fullmatch(spec["AllowedPattern"], prefix) for prefix in refused)


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_every_chime_credential_statement_is_scoped_to_this_accounts_connectors_in_this_region(
    spoke, conditions
):
    for statement in statements(spoke, conditions):
        if set(as_list(statement["Action"])) & {
            "chime:ListVoiceConnectorTerminationCredentials",
            "chime:PutVoiceConnectorTerminationCredentials",
            "chime:DeleteVoiceConnectorTerminationCredentials",
        }:
            assert [sub_text(resource) for resource in as_list(statement["Resource"])] == [
                VOICE_CONNECTOR_ARN
            ]


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_only_actions_without_resource_permissions_have_every_resource_and_keep_to_this_region(
    spoke, conditions
):
    for statement in statements(spoke, conditions):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= UNSCOPED_ACTIONS, statement
            assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}
        for resource in as_list(statement["Resource"]):
            if resource in ("*", {"Ref": "SecretsKmsKeyArn"}):
                continue
            if sub_text(resource).startswith("arn:${AWS::Partition}:s3:::"):
                # A bucket's ARN names no account: the condition does.
                assert statement["Condition"]["StringEquals"] == {
                    "s3:ResourceAccount": {"Ref": "AWS::AccountId"}
                }, statement
            else:
                assert ":${AWS::Region}:${AWS::AccountId}:" in sub_text(resource), resource


@pytest.mark.parametrize("conditions", [dict.fromkeys(CONDITIONS, True)], ids=deployment_id)
def test_the_records_read_are_only_those_in_the_cdr_folder_of_the_named_bucket(spoke, conditions):
    (read,) = [s for s in statements(spoke, conditions) if "s3:GetObject" in as_list(s["Action"])]
    assert [sub_text(resource) for resource in as_list(read["Resource"])] == [
        "arn:${AWS::Partition}:s3:::${CallRecordsBucket}/Amazon-Chime-Voice-Connector-CDRs/json/*"
    ]
    (listed,) = [s for s in statements(spoke, conditions) if "s3:ListBucket" in as_list(s["Action"])]
    assert [sub_text(resource) for resource in as_list(listed["Resource"])] == [
        "arn:${AWS::Partition}:s3:::${CallRecordsBucket}"
    ]
    assert listed["Condition"]["StringLike"] == {"s3:prefix": "Amazon-Chime-Voice-Connector-CDRs/json/*"}


def test_the_forwarding_rule_sends_only_new_call_records_and_only_to_the_hubs_default_bus(spoke):
    hub_bus = "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/default"
    rule = spoke["Resources"]["ForwardCallRecordsRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": "CallRecordsBucket"}]},
            "object": {"key": [{"prefix": "Amazon-Chime-Voice-Connector-CDRs/json/"}]},
        },
    }
    ((target),) = rule["Targets"]
    assert sub_text(target["Arn"]) == hub_bus
    forwarding = spoke["Resources"]["ForwardCallRecordsRole"]["Properties"]
    (trust_statement,) = forwarding["AssumeRolePolicyDocument"]["Statement"]
    assert trust_statement["Principal"] == {"Service": "events.amazonaws.com"}
    (policy,) = forwarding["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert sub_text(statement["Resource"]) == hub_bus


@pytest.mark.parametrize("conditions", deployments(), ids=deployment_id)
def test_the_secrets_key_is_used_only_through_secrets_manager_in_this_region(spoke, conditions):
    key_statements = [
        statement
        for statement in statements(spoke, conditions)
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    ]
    assert bool(key_statements) is conditions["HasSecretsKmsKey"]
    for statement in key_statements:
        assert set(as_list(statement["Action"])) == KEY_ACTIONS
        assert statement["Resource"] == {"Ref": "SecretsKmsKeyArn"}
        assert statement["Condition"] == {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
        }


def test_the_parameters_have_the_shapes_the_hub_gives_them(spoke, hub):
    parameters = spoke["Parameters"]
    assert re.fullmatch(parameters["HubAccountId"]["AllowedPattern"], "111122223333")
    assert not re.fullmatch(parameters["HubAccountId"]["AllowedPattern"], "11112222333")
    assert re.fullmatch(parameters["OrganizationId"]["AllowedPattern"], "o-abcdefghij")
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for pattern in (
        parameters["SecretsKmsKeyArn"]["AllowedPattern"],
        hub["Parameters"]["SecretsKmsKeyArn"]["AllowedPattern"],
    ):
        assert re.fullmatch(pattern, key)
        assert re.fullmatch(pattern, "")
    # The hub's default prefix, for a hub stack name the spoke accepts.
    assert re.fullmatch(
        parameters["SecretNamePrefix"]["AllowedPattern"], "chime-voice-connector/vc-rotation-hub/"
    )


def test_every_parameter_is_in_exactly_one_group(spoke):
    groups = spoke["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(spoke["Parameters"])
