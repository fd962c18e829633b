"""Read template.yaml the way CloudFormation would, for the subset of it this stack uses.

The sandbox deploys from the template itself so that it cannot drift from what SAM deploys. Anything the
resolver does not know raises, so a new intrinsic or resource type in the template shows up here at once.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

REPOSITORY = Path(__file__).resolve().parent.parent
TEMPLATE = REPOSITORY / "template.yaml"
PLACEHOLDER = re.compile(r"\$\{([\w:]+)(?:\.(\w+))?\}")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return _plain(cfn_yaml.load(str(path)))


def _plain(node: Any) -> Any:
    # cfn-lint's nodes carry line marks; plain containers keep the resolver simple.
    if isinstance(node, Mapping):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    if isinstance(node, str):
        return str(node)
    return node


def merged_function_properties(template: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """A function's properties with the template's Globals applied, as SAM merges them."""
    merged = dict(template.get("Globals", {}).get("Function", {}))
    for key, value in properties.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge_maps(merged[key], value)
        else:
            merged[key] = value
    return merged


def _merge_maps(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        both_maps = isinstance(value, Mapping) and isinstance(result.get(key), Mapping)
        result[key] = _merge_maps(result[key], value) if both_maps else value
    return result


# Ref AWS::NoValue: the list item or property it stands for is removed, as CloudFormation removes it.
NO_VALUE = object()


def pseudo_parameters(account: str, region: str, stack_name: str) -> dict[str, str]:
    """CloudFormation's pseudo parameters for a stack of this name in this account and Region."""
    return {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::StackName": stack_name,
        "AWS::URLSuffix": "amazonaws.com",
    }


@dataclass
class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt and the condition functions against deployed resources."""

    parameters: dict[str, str]
    pseudo: dict[str, str]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    # Logical id -> (Ref value, {attribute: value}), filled in as resources are created.
    resources: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name][0]
        raise KeyError(f"Ref to {name!r}, which is neither a parameter nor a resource created yet")

    def get_att(self, name: str, attribute: str) -> str:
        return self.resources[name][1][attribute]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self.ref,
            "Fn::GetAtt": lambda argument: self.get_att(*self._att_parts(argument)),
            "Fn::Sub": self._sub,
            "Fn::Equals": lambda argument: self.resolve(argument[0]) == self.resolve(argument[1]),
            "Fn::Not": lambda argument: not self.resolve(argument[0]),
            "Fn::If": lambda argument: self.resolve(
                argument[1] if self.condition(argument[0]) else argument[2]
            ),
            "Condition": self.condition,
        }

    @staticmethod
    def _att_parts(argument: Any) -> tuple[str, str]:
        return tuple(argument.split(".", 1)) if isinstance(argument, str) else tuple(argument)

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: self.resolve(value) for name, value in variables.items()}

        def replace(match: re.Match) -> str:
            name, attribute = match.group(1), match.group(2)
            if attribute:
                return self.get_att(name, attribute)
            return local[name] if name in local else self.ref(name)

        return PLACEHOLDER.sub(replace, text)


def substitute_definition(definition: str, substitutions: Mapping[str, str]) -> str:
    """DefinitionSubstitutions, as Step Functions applies them: only ${Name}, never JSONPath's $."""

    def replace(match: re.Match) -> str:
        return substitutions[match.group(1)]

    return re.sub(r"\$\{(\w+)\}", replace, definition)


def definition_placeholders(definition: str) -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", definition))
