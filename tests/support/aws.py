"""The fake AWS environment every test that talks to moto (or starts a process that builds a client) runs
in: the sandbox's own fake credentials and region, nothing read from the machine."""

import os
from typing import Any

import pytest

from sandbox.session import FAKE_ENVIRONMENT
from sandbox.template import load_template


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the fake credentials and region for one test (monkeypatch puts the machine's back)."""
    for name, value in FAKE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def offline_process_environment(**extra: str) -> dict[str, str]:
    """The environment for a child process: this one's, less any AWS_ or POWERTOOLS_ setting, plus the fake
    credentials and region (so that nothing in it can reach an account) and ``extra``."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))
    }
    return environment | FAKE_ENVIRONMENT | extra


def create_ledger_table(client: Any, table_name: str) -> None:
    """The ledger's table (the run lock and the call-record index live in it too) with the keys and billing
    template.yaml declares, read from the template so that no test keeps a copy of its own."""
    properties = load_template()["Resources"]["LedgerTable"]["Properties"]
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
    )
