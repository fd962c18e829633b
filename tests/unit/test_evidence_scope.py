"""Whose call records a task judges a connector on: in fleet mode, the connector's own account's (its index
under that account), never the hub's. The hub's own index may be fresh while a fleet account sends no
records; a connector judged on the wrong one would find its usernames unused and lose them, and the
delete step's second reading is the last guard against a call indexed since planning."""

from typing import Any

import pytest

from credential_rotation.domain.targets import Target
from credential_rotation.handlers import delete_credentials, plan_connector
from credential_rotation.runtime import wiring
from sandbox.lambda_runtime import LambdaContext
from tests.unit.test_observation import TASK as OBSERVED_TASK

FLEET = Target("210987654321", "eu-west-1")
# PlanConnector's task, with evidence on.
TASK = OBSERVED_TASK | {"Policy": OBSERVED_TASK["Policy"] | {"QuietDays": 14}}
PLAN = {"Plan": {"Bucket": "audit", "Key": "runs/nightly/plans/p.json", "VersionId": "1", "Sha256": "0" * 64}}
CONTEXT = LambdaContext("task", "arn:aws:lambda:us-east-1:123456789012:function:task", 256, "request")


class Reached(Exception):
    """The task was called: what it was given is recorded."""


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> list[Target | None]:
    """The targets evidence readers were built for; every other adapter is a stand-in."""
    built: list[Target | None] = []

    def reader(target: Target | None = None) -> str:
        built.append(target)
        return f"reader-{target}"

    monkeypatch.setattr(wiring, "evidence_reader", reader)
    for name in ("voice_connectors", "ledger", "connector_secrets"):
        monkeypatch.setattr(wiring, name, lambda target=None: object())
    for name in ("run_records", "fingerprints"):
        monkeypatch.setattr(wiring, name, object)
    return built


def reach(monkeypatch: pytest.MonkeyPatch, module: Any, function: str) -> None:
    def task(*args: Any, **kwargs: Any) -> None:
        raise Reached

    monkeypatch.setattr(module, function, task)


@pytest.mark.parametrize(
    ("module", "function", "event"),
    [
        (plan_connector, "plan_connector", TASK),
        (delete_credentials, "retire_stale", TASK | PLAN),
    ],
    ids=["PlanConnector", "DeleteCredentials"],
)
@pytest.mark.parametrize(
    ("where", "expected"),
    [({}, None), ({"Account": FLEET.account, "Region": FLEET.region}, FLEET)],
    ids=["single-account", "fleet"],
)
def test_a_connector_is_judged_on_its_own_accounts_records(
    monkeypatch, readers, module, function, event, where, expected
):
    reach(monkeypatch, module, function)
    with pytest.raises(Exception, match="Reached"):
        module.handler(event | where, CONTEXT)
    assert readers == [expected]
