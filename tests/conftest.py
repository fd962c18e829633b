"""Fixtures every test folder shares."""

import json

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from sandbox.template import REPOSITORY


def _validator(file_name: str) -> Draft202012Validator:
    """A published schema, itself checked against its metaschema."""
    schema = json.loads((REPOSITORY / "schemas" / file_name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="session")
def audit_schema() -> Draft202012Validator:
    return _validator("audit-event.schema.json")


@pytest.fixture(scope="session")
def report_schema() -> Draft202012Validator:
    return _validator("audit-report.schema.json")
