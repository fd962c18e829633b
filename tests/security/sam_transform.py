"""Transforms template.yaml into plain CloudFormation with the SAM translator that `sam deploy` uses.

Run by aws-sam-cli's own interpreter (.venv-sam): aws-sam-translator pins a pydantic older than the one
the functions pin, so it cannot live in the test virtualenv. Reads {"template": path, "variants":
{name: {parameter: value}}} on stdin and writes {name: transformed template} on stdout. Imports nothing
from this repository.
"""

import json
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class FakeManagedPolicies:
    """Answers every managed policy name with its ARN, as IAM would, without calling IAM."""

    class _Map(dict):
        def get(self, name: str, default: Any = None) -> str:
            return f"arn:aws:iam::aws:policy/{name}"

    def load(self) -> dict[str, str]:
        return self._Map()


def packaged(template: dict[str, Any], root: Path) -> dict[str, Any]:
    """What `sam package` would hand the translator: code in S3, the state machine definition inline."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = "s3://bucket/functions.zip"
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = "s3://bucket/functions.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(
            properties.get("DefinitionUri"), str
        ):
            properties["Definition"] = json.loads((root / properties.pop("DefinitionUri")).read_text())
    return template


def main() -> None:
    request = json.load(sys.stdin)
    path = Path(request["template"])
    transformed = {
        name: transform(
            packaged(yaml_parse(path.read_text()), path.parent), parameters, FakeManagedPolicies()
        )
        for name, parameters in request["variants"].items()
    }
    json.dump(transformed, sys.stdout)


if __name__ == "__main__":
    main()
