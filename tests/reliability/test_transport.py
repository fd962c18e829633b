"""A delete whose answer never arrives (a connection closed, a read or connect timeout, any botocore
transport error) may have deleted: its marks stay, the step is retried, and the retry reports what is gone.
Only a refusal (4xx) takes the marks back. Each transport error class, lost before and after the service
acted, in the real state machine."""

import pytest

from sandbox.aws_faults import TRANSPORT_ERRORS
from sandbox.session import Sandbox
from tests.support.sandbox import Fleet, connector
from tests.support.tally import TRIED

DELETE = "DeleteVoiceConnectorTerminationCredentials"


def marks(sandbox: Sandbox) -> list[tuple[str, str]]:
    items = sandbox.client("dynamodb").scan(TableName=sandbox.stack.table_name)["Items"]
    return sorted((item["Username"]["S"], item["State"]["S"]) for item in items if "RetiringBy" in item)


@pytest.mark.parametrize("after", [True, False], ids=["after-the-delete", "before-the-service"])
@pytest.mark.parametrize("error", TRANSPORT_ERRORS, ids=lambda error: error.__name__)
def test_a_delete_whose_answer_is_lost_is_retried_and_every_deletion_reported(
    error, after, audit_schema, sandbox_factory
):
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    fleet = Fleet(sandbox)
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
    sandbox.aws_faults.lose_answer("chime-sdk-voice", DELETE, error, after=after)

    execution = sandbox.fire_schedule()

    assert execution.status == "SUCCEEDED", execution.error
    (event,) = sandbox.audit_events()
    audit_schema.validate(event)
    assert [(retry.state, retry.error) for retry in execution.retries()] == [
        ("DeleteCredentials", "DeletionOutcomeUnknown")
    ]
    assert connector(event, fleet.ids["pbx"])["Deleted"] == ["sip-old"]
    assert sandbox.usernames(fleet.ids["pbx"]) == ["sip-new"]
    # The retry found the mark and recorded the deletion as its own execution's.
    assert marks(sandbox) == [("sip-old", "deleted")]
    TRIED["transport: lost answers"] += 1
