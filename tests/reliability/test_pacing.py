"""Throttling near the rate floor, end to end in the sandbox: the real state machine over connectors whose
account and Region answer no more than two calls a second, with the functions' pace of Chime calls
(adapters/chime_pace.py) waiting by the sandbox's skipping clock (sandbox/pace_clock.py).

What each test holds: under a sustained limit far below what the Map's workers would call at, every
connector completes and only the stale usernames go; the throttles were real (the emulator answered them)
and the pace that absorbed them is the account and Region's, in the ledger table.
"""

from credential_rotation.adapters.pace_table import PaceTable
from credential_rotation.runtime.wiring import LOCAL_PACE_SCOPE
from sandbox.stack import REGION
from tests.support.sandbox import Fleet

CONNECTORS = 12


def test_a_run_under_a_sustained_rate_limit_completes_every_connector(sandbox_factory):
    sandbox = sandbox_factory(parameters={"DryRun": "true", "MaxConcurrency": "10"})
    fleet = Fleet(sandbox)
    fleet.age({f"pbx-{n}": {"old": [f"sip-old-{n}"], "young": [f"sip-young-{n}"]} for n in range(CONNECTORS)})
    sandbox.chime_backend.faults.rate_limit(max_calls=2, per_seconds=1.0)

    execution = sandbox.wait(sandbox.start({"DryRun": False, "GraceDays": 0}), deadline_seconds=600)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    sandbox.chime_backend.faults.clear()  # the test's own listings are not the run's
    for n in range(CONNECTORS):
        assert sandbox.usernames(fleet.ids[f"pbx-{n}"]) == [f"sip-young-{n}"]
    throttled = [call for call in sandbox.chime_backend.calls if call.outcome == "ThrottledClientException"]
    assert throttled, "the limit never throttled: the test shows nothing"
    pace, _ = PaceTable(sandbox.client("dynamodb"), sandbox.stack.physical_ids["LedgerTable"]).read(
        f"{LOCAL_PACE_SCOPE}/{REGION}"
    )
    assert pace is not None
    assert pace.rate < 10.0  # slowed below its first rate by the throttles
