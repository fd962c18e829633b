"""The largest run the input contract allows still ends with its audit event.

Step Functions caps a run's state at 256 KiB, and a States.DataLimitExceeded cannot be caught: a run that
outgrows it would end without its audit event. The plans therefore travel in a compact form, and the
publish step's result replaces the state. The fleet here is at the limits: the most voice connectors one
run takes (run_input.MAX_VOICE_CONNECTORS), each with 10 credentials (the only published cap, Terraform's)
of 60-character usernames, and an applying run that deletes all but one on each. Its whole audit event
would not fit an SNS message, so the published one is Truncated.
"""

import json

from credential_rotation.run_input import MAX_VOICE_CONNECTORS
from sandbox.session import Sandbox

CREDENTIALS_PER_CONNECTOR = 10


def username(connector: int, credential: int) -> str:
    return f"trunk-{connector:03d}-{credential:02d}-".ljust(60, "x")


def test_a_run_at_the_limits_deletes_and_publishes_its_audit_event(audit_schema):
    with Sandbox(parameters={"DryRun": "true"}) as sandbox:
        ids = [
            sandbox.create_voice_connector(
                f"pbx-{n}", [username(n, c) for c in range(CREDENTIALS_PER_CONNECTOR)]
            )
            for n in range(MAX_VOICE_CONNECTORS)
        ]
        sandbox.fire_schedule()  # dates every credential
        sandbox.audit_messages()
        sandbox.travel(days=100)

        execution = sandbox.run(
            {"DryRun": False, "GraceDays": 0, "MaxDeletions": 10_000}, deadline_seconds=600
        )

        assert execution.status == "SUCCEEDED", (execution.error, (execution.cause or "")[:500])
        (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
        audit_schema.validate(event)
        assert execution.output == event
        assert len(event["VoiceConnectors"]) == MAX_VOICE_CONNECTORS
        deleted = sum(len(entry["Deleted"]) for entry in event["VoiceConnectors"])
        assert deleted == MAX_VOICE_CONNECTORS * (CREDENTIALS_PER_CONNECTOR - 1)
        assert all(len(sandbox.usernames(vc)) == 1 for vc in ids)
        # Whole, it would not fit an SNS message: it says so and leaves out only the listings and verdicts.
        assert event["Truncated"] is True
        assert len(json.dumps(event, separators=(",", ":")).encode()) < 256 * 1024
        assert all("Listed" not in entry and len(entry["Stale"]) == 9 for entry in event["VoiceConnectors"])
