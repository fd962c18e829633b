"""However a run ends, the run lock is free soon after: an aborted run never reaches PublishAudit, and the
ReleaseRunLock function, started by EventBridge on the execution's end, ends its lease once no function of
that run can still be running (Step Functions does not stop a Lambda invocation under way)."""

import threading
import time
from datetime import timedelta

import pytest

from credential_rotation.adapters.run_lock import LONGEST_TASK

LIST = "ListVoiceConnectorTerminationCredentials"


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_a_run_that_ends_without_reaching_its_audit_step_pages_and_leaves_the_lock_free(
    status, sandbox_factory
):
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    sandbox.create_voice_connector("pbx", ["sip-a"])
    gate = threading.Event()
    # The run holds the lock and waits in its listing, where the person stops it (or time runs out).
    sandbox.chime_backend.faults.before(LIST, lambda backend, params: gate.wait(30))
    execution_arn = sandbox.start({})
    deadline = time.monotonic() + 30
    while sandbox.run_lock_holder() != execution_arn:
        assert time.monotonic() < deadline, "the run never took the lock"
        time.sleep(0.05)

    # moto cannot stop or time out an execution mid-task: the sandbox announces the end as Step
    # Functions would, and EventBridge delivers it to the stack's rules.
    ended = sandbox.now()
    sandbox.announce_status(execution_arn, status)

    holder, expires = sandbox.run_lock()
    assert holder == execution_arn
    # Not at once: its delete step, if one was under way, may run on for its timeout.
    assert ended + timedelta(minutes=5) < expires <= ended + LONGEST_TASK + timedelta(seconds=5)
    assert any(status in alert for alert in sandbox.alerts())
    gate.set()
    sandbox.wait(execution_arn)
    # Once that time has passed, the next applying run is not refused with RunInProgress.
    sandbox.travel(seconds=LONGEST_TASK.total_seconds() + 1)
    sandbox.chime_backend.faults.clear()
    assert sandbox.run({}).status == "SUCCEEDED"


def test_a_lock_held_by_another_execution_is_not_released_by_this_ones_end(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "false"})
    other = "arn:aws:states:us-east-1:123456789012:execution:rotation-RotationStateMachine:other"
    sandbox.client("dynamodb").put_item(
        TableName=sandbox.stack.table_name,
        Item={
            "VoiceConnectorId": {"S": "#run-lock"},
            "Username": {"S": "#run-lock"},
            "HeldBy": {"S": other},
            "ExpiresAt": {"S": "2999-01-01T00:00:00.000000+00:00"},
        },
    )

    execution = sandbox.run({"DryRun": True})

    assert execution.status == "SUCCEEDED"
    assert sandbox.run_lock_holder() == other
