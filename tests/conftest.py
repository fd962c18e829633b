"""Fixtures every test folder shares: the published schemas, the fake AWS environment, and the sandbox."""

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from moto import mock_aws

from sandbox.session import Sandbox
from sandbox.template import REPOSITORY
from tests.support.aws import fake_aws_environment
from tests.support.sandbox import Fleet

# A test that uses one of these fixtures deploys the template into moto (and most run the state machine).
SANDBOX_FIXTURES = frozenset({"sandbox_factory", "module_sandbox_factory"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The sandbox tier is every test that deploys the stack: marked here, from the fixtures it uses, so
    that no test can deploy without being in it.

    The slow tests go first (in their order; the rest keep theirs): with two workers, a test of minutes
    started last would leave the other worker idle for as long."""
    for item in items:
        if SANDBOX_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sandbox)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


# AWS


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for this test, nothing read from the machine."""
    fake_aws_environment(monkeypatch)


@pytest.fixture
def mocked_aws(aws_environment: None) -> Iterator[None]:
    """moto in place of AWS for this test, in the fake environment."""
    with mock_aws():
        yield


# The sandbox

SandboxFactory = Callable[..., Sandbox]


def _sandboxes() -> Iterator[SandboxFactory]:
    with ExitStack() as opened:

        def make(parameters: dict[str, Any] | None = None, jitter: str = "max", **options: Any) -> Sandbox:
            """A sandbox with the stack deployed (``Sandbox``'s arguments), closed when the test ends.

            Called in the test's body, it is entered after pytest's output capture has taken sys.stdout,
            so the functions' printed lines (Powertools metrics) reach the sandbox's log store."""
            return opened.enter_context(Sandbox(parameters=parameters, jitter=jitter, **options))

        yield make


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Deploys the stack into moto, once per call, each in a sandbox of its own."""
    yield from _sandboxes()


@pytest.fixture(scope="module")
def module_sandbox_factory() -> Iterator[SandboxFactory]:
    """The same, for a deployment a module's tests share (tests that only read it, or whose runs cannot
    change what the others look at)."""
    yield from _sandboxes()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """The stack at its defaults (a dry run unless the input says otherwise)."""
    return sandbox_factory()


@pytest.fixture
def fleet(sandbox: Sandbox) -> Fleet:
    return Fleet(sandbox)
