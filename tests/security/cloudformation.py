"""template.yaml as CloudFormation deploys it: transformed by the SAM translator, then resolved for every
combination of its conditions, so that a statement behind an Fn::If is checked in both branches.

The translator is aws-sam-cli's own (the version `sam deploy` runs), in the .venv-sam virtualenv:
aws-sam-translator pins an older pydantic than the functions do, so it cannot share the test virtualenv.
"""

import copy
import itertools
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.template import REPOSITORY, TEMPLATE
from tests.support.aws import offline_process_environment

SAM_PYTHON = Path(os.environ.get("SAM_PYTHON", REPOSITORY / ".venv-sam" / "bin" / "python"))
TRANSFORM_SCRIPT = Path(__file__).with_name("sam_transform.py")
# A customer managed key for the secrets, in the shape the parameter's AllowedPattern accepts.
SECRETS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NO_VALUE = {"Ref": "AWS::NoValue"}


@dataclass(frozen=True)
class Deployment:
    """One way the stack can be deployed: a parameter variant and a truth value for every condition."""

    label: str
    template: dict[str, Any]
    conditions: Mapping[str, bool] = field(default_factory=dict)


def parameter_variants(template: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The defaults; every AllowedValues parameter at a value other than its default; a customer key.

    The translator resolves some parameters itself (Tracing, say), so a switch can change its output, not
    only the conditions it leaves in place."""
    alternatives = {}
    for name, spec in template.get("Parameters", {}).items():
        others = [
            str(value) for value in spec.get("AllowedValues", []) if str(value) != str(spec.get("Default"))
        ]
        if others:
            alternatives[name] = others[0]
    return {
        "defaults": {},
        "alternatives": alternatives,
        "customer-key": {"SecretsKmsKeyArn": SECRETS_KEY_ARN},
    }


def sam_transform(variants: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    if not SAM_PYTHON.exists():
        raise RuntimeError(f"{SAM_PYTHON} is missing: `make setup` creates it (aws-sam-cli's virtualenv)")
    # The translator asks boto3 for a region to name the partition; nothing reaches AWS.
    environment = offline_process_environment()
    request = json.dumps({"template": str(TEMPLATE), "variants": variants})
    completed = subprocess.run(  # noqa: S603 (this repository's interpreter and script)
        [str(SAM_PYTHON), str(TRANSFORM_SCRIPT)],
        input=request,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the SAM transform failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def used_conditions(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= used_conditions(item)
    elif isinstance(node, Mapping):
        if isinstance(node.get("Fn::If"), list):
            found.add(node["Fn::If"][0])
        if isinstance(node.get("Condition"), str):
            found.add(node["Condition"])
        for value in node.values():
            found |= used_conditions(value)
    return found


_DROP = object()


def resolve_conditions(node: Any, truth: Mapping[str, bool]) -> Any:
    """Fn::If replaced by the branch ``truth`` picks; Ref AWS::NoValue removed, as CloudFormation does."""
    if isinstance(node, list):
        items = (resolve_conditions(item, truth) for item in node)
        return [item for item in items if item is not _DROP]
    if not isinstance(node, Mapping):
        return node
    if node == NO_VALUE:
        return _DROP
    if set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        return resolve_conditions(when_true if truth[name] else when_false, truth)
    resolved = {key: resolve_conditions(value, truth) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value is not _DROP}


def nonempty_parameter(template: Mapping[str, Any], condition: str, value: bool) -> str | None:
    """The parameter that ``condition`` having ``value`` proves non-empty, if it proves one:
    ``!Not [!Equals [!Ref P, ""]]`` true, or ``!Equals [!Ref P, ""]`` false."""
    definition = template.get("Conditions", {}).get(condition)
    if isinstance(definition, Mapping) and set(definition) == {"Fn::Not"}:
        (definition,) = definition["Fn::Not"]
        value = not value
    if value or not isinstance(definition, Mapping) or set(definition) != {"Fn::Equals"}:
        return None
    others = [operand for operand in definition["Fn::Equals"] if operand != ""]
    if len(others) != 1 or not isinstance(others[0], Mapping) or set(others[0]) != {"Ref"}:
        return None
    name = others[0]["Ref"]
    return name if name in template.get("Parameters", {}) else None


def narrowed(template: dict[str, Any], truth: Mapping[str, bool]) -> dict[str, Any]:
    """``template`` with each parameter that the conditions' truth proves non-empty marked so (MinLength 1,
    the constraint CloudFormation itself would check), as the deployment's parameter values are: where
    HasSecretNamePrefix holds, SecretNamePrefix is not empty. Returns a copy; ``template`` is unchanged."""
    template = copy.deepcopy(template)
    for condition, value in truth.items():
        name = nonempty_parameter(template, condition, value)
        if name is not None:
            spec = template["Parameters"][name]
            spec["MinLength"] = max(int(spec.get("MinLength", 0)), 1)
    return template


def deployments(transformed: Mapping[str, dict[str, Any]]) -> list[Deployment]:
    """Every variant under every assignment of its conditions (a superset of the consistent ones).

    A resource whose Condition is false is left out, as CloudFormation leaves it out; a parameter that a
    condition's truth proves non-empty is marked so (``narrowed``)."""
    found = []
    for variant, template in transformed.items():
        names = sorted(used_conditions(template.get("Resources", {})) | set(template.get("Conditions", {})))
        for values in itertools.product([True, False], repeat=len(names)):
            truth = dict(zip(names, values, strict=True))
            resolved = resolve_conditions(narrowed(template, truth), truth)
            resolved["Resources"] = {
                logical_id: resource
                for logical_id, resource in resolved["Resources"].items()
                if truth.get(resource.get("Condition"), True)
            }
            label = ", ".join(f"{name}={value}" for name, value in truth.items())
            found.append(Deployment(f"{variant}: {label}", resolved, truth))
    return found


def resources_of_type(
    template: Mapping[str, Any], resource_type: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == resource_type:
            yield logical_id, resource.get("Properties", {})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def describe(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
