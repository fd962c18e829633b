"""Fixtures every test folder shares."""

import json

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from sandbox.template import REPOSITORY


@pytest.fixture(scope="session")
def audit_schema() -> Draft202012Validator:
    """The published audit event schema, itself checked against its metaschema."""
    schema = json.loads((REPOSITORY / "schemas" / "audit-event.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())
