"""Issue a successor over the fakes as ApplyPlans does: the four steps in order, each through
``tasks.issuing.issue_step``, the function the IssueSuccessor handler calls."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from credential_rotation.domain.models import IssueRequest, Successor
from credential_rotation.ports import ConnectorSecrets, Ledger, VoiceConnectors
from credential_rotation.tasks.issuing import issue_step

STEPS = ("CreateSecret", "SetSecret", "TestSecret", "FinishSecret")


def issue_successor(
    task: Mapping[str, Any], secrets: ConnectorSecrets, ledger: Ledger, chime: VoiceConnectors, now: datetime
) -> Successor:
    """``task`` is the connector task on the wire (VoiceConnectorId, Policy, Now, ExecutionArn)."""
    successor: Successor | None = None
    for step in STEPS:
        given = {"Successor": successor.to_wire()} if successor is not None else {}
        successor = issue_step(
            IssueRequest.parse(dict(task) | {"Step": step} | given), secrets, ledger, chime, now
        )
    assert successor is not None
    return successor
