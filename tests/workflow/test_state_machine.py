"""The real ASL and handlers, run by moto's Step Functions interpreter over the emulator."""

import json

import pytest

from credential_rotation.adapters.chime_pace import TRIES
from sandbox.session import state_machine_of
from tests.support.sandbox import connector

DELETE = "DeleteVoiceConnectorTerminationCredentials"
LIST = "ListVoiceConnectorTerminationCredentials"


def published(sandbox, audit_schema) -> dict:
    """The run's one SNS audit message, valid against the schema."""
    (message,) = sandbox.audit_messages()
    event = message["Body"]
    audit_schema.validate(event)
    assert message["Attributes"] == {
        "Outcome": event["Outcome"],
        "DryRun": str(event["DryRun"]).lower(),
        "Trigger": event["Trigger"],
    }
    return event


def reasons(sandbox, event: dict, voice_connector_id: str) -> dict[str, str]:
    """Every username's reason on the connector, from the report the event names."""
    return connector(sandbox.report(event), voice_connector_id)["Reasons"]


def chime_calls(sandbox, operation: str) -> list:
    return [call for call in sandbox.chime_backend.calls if call.operation == operation]


def test_a_real_run_deletes_the_stale_and_keeps_the_rest(sandbox, fleet, audit_schema):
    fleet.age(
        {"pbx": {"old": ["sip-old-1", "sip-old-2"], "young": ["sip-new"]}, "sbc": {"old": ["sip-only"]}}
    )

    execution = sandbox.run({"DryRun": False})

    assert execution.status == "SUCCEEDED"
    event = published(sandbox, audit_schema)
    assert execution.output["Outcome"] == event["Outcome"] == "SUCCEEDED"
    assert execution.output["Report"] == event["Report"]
    assert event["DryRun"] is False
    assert event["Trigger"] == "manual"
    assert event["Policy"] == {
        "MaxAgeDays": 90,
        "MinKeep": 1,
        "ProtectedUsernames": [],
        "MaxDeletions": 20,
        "GraceDays": 7,
        "Rotate": False,
        "RotateAfterDays": 60,
        "UsernamePrefix": "sip-",
        # Evidence off (QuietDays 0) and no revoke: the stack's defaults.
        "QuietDays": 0,
        "RetireWhenSwitched": True,
        "EvidenceMaxLagHours": 24,
        "RevokeUsernames": [],
        "RevokeReason": None,
        # The stack's own prefix, named after the stack ("rotation" in the sandbox).
        "SecretNamePrefix": "chime-voice-connector/rotation/",
    }
    pbx = connector(event, fleet.ids["pbx"])
    assert pbx["Stale"] == pbx["Deleted"] == ["sip-old-1", "sip-old-2"]
    assert pbx["Counts"] == {"young": 1, "stale": 2}
    assert reasons(sandbox, event, fleet.ids["pbx"]) == {
        "sip-new": "young",
        "sip-old-1": "stale",
        "sip-old-2": "stale",
    }
    sbc = connector(event, fleet.ids["sbc"])
    assert sbc["Deleted"] == []
    assert reasons(sandbox, event, fleet.ids["sbc"]) == {"sip-only": "kept-for-min-keep"}
    assert sandbox.usernames(fleet.ids["pbx"]) == ["sip-new"]
    assert sandbox.usernames(fleet.ids["sbc"]) == ["sip-only"]
    assert len(chime_calls(sandbox, DELETE)) == 1  # one call per connector with work, none for the other


def test_a_dry_run_judges_everything_and_changes_nothing(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old-1", "sip-old-2"], "young": ["sip-new"]}})

    execution = sandbox.run({"DryRun": True})

    assert execution.status == "SUCCEEDED"
    event = published(sandbox, audit_schema)
    assert event["DryRun"] is True
    pbx = connector(event, fleet.ids["pbx"])
    assert pbx["Stale"] == ["sip-old-1", "sip-old-2"]
    assert pbx["Deleted"] == []
    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["sip-new", "sip-old-1", "sip-old-2"]
    assert chime_calls(sandbox, DELETE) == []
    assert "ApplyPlans" not in execution.states_entered()


def test_the_stack_default_is_a_dry_run(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})

    execution = sandbox.fire_schedule()

    event = published(sandbox, audit_schema)
    assert (execution.status, event["Trigger"], event["DryRun"]) == ("SUCCEEDED", "schedule", True)
    # FleetTargets is empty: the schedule starts single-account runs, and no fleet run.
    assert state_machine_of(execution.arn) == sandbox.stack.state_machine_arn
    fleet_runs = sandbox.client("stepfunctions").list_executions(
        stateMachineArn=sandbox.stack.physical_ids["FleetStateMachine"]
    )
    assert fleet_runs["executions"] == []
    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["sip-new", "sip-old"]


def test_a_dry_run_still_dates_new_usernames(sandbox, audit_schema):
    connector_id = sandbox.create_voice_connector("pbx", ["sip-a"])
    sandbox.run({"DryRun": True})
    sandbox.travel(days=100)

    sandbox.run({"DryRun": True})

    events = [message["Body"] for message in sandbox.audit_messages()]
    assert reasons(sandbox, events[0], connector_id) == {"sip-a": "new"}
    assert reasons(sandbox, events[1], connector_id) == {"sip-a": "kept-for-min-keep"}


def test_throttling_is_retried_with_exponential_backoff_then_succeeds(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
    # Each attempt of the step outlasts the pace's own tries: the state machine retries it.
    sandbox.chime_backend.faults.script(DELETE, ["ThrottledClientException"] * (TRIES * 3))

    execution = sandbox.run({"DryRun": False})

    assert execution.status == "SUCCEEDED"
    assert [(retry.state, retry.error) for retry in execution.retries()] == [
        ("DeleteCredentials", "ThrottledClientException")
    ] * 3
    assert sandbox.retry_clock.caps == [1, 2, 4]
    assert connector(published(sandbox, audit_schema), fleet.ids["pbx"])["Deleted"] == ["sip-old"]


def test_service_faults_are_retried_then_succeed(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
    sandbox.chime_backend.faults.script(LIST, ["ServiceFailureException", "ServiceUnavailableException"])

    execution = sandbox.run({"DryRun": False})

    assert execution.status == "SUCCEEDED"
    assert [retry.error for retry in execution.retries()] == [
        "ServiceFailureException",
        "ServiceUnavailableException",
    ]
    assert sandbox.retry_clock.caps == [2, 4]
    assert sandbox.usernames(fleet.ids["pbx"]) == ["sip-new"]


def test_full_jitter_waits_at_most_the_capped_interval(sandbox_factory):
    sandbox = sandbox_factory(jitter="random")
    sandbox.create_voice_connector("pbx", ["sip-a"])
    sandbox.chime_backend.faults.script(LIST, ["ThrottledClientException"] * (TRIES * 6))
    sandbox.run({"DryRun": True})
    assert sandbox.retry_clock.caps == [1, 2, 4, 8, 16, 20]
    assert all(0 <= wait.delay <= wait.cap for wait in sandbox.retry_clock.waits)


def test_exhausted_retries_fail_that_connector_only(sandbox, fleet, audit_schema):
    fleet.age(
        {"pbx": {"old": ["sip-old"], "young": ["sip-new"]}, "sbc": {"old": ["sip-x"], "young": ["sip-y"]}}
    )
    sandbox.chime_backend.faults.script(
        DELETE, ["ThrottledClientException"] * (TRIES * 7), voice_connector_id=fleet.ids["pbx"]
    )

    execution = sandbox.run({"DryRun": False})

    assert (execution.status, execution.error) == ("FAILED", "PartiallyFailed")
    assert sandbox.retry_clock.caps == [1, 2, 4, 8, 16, 20]
    event = published(sandbox, audit_schema)
    assert json.loads(execution.cause)["Report"] == event["Report"]
    assert event["Outcome"] == "PARTIAL"
    pbx = connector(event, fleet.ids["pbx"])
    assert pbx["Error"]["Error"] == "ThrottledClientException"
    assert pbx["Deleted"] == []
    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["sip-new", "sip-old"]
    assert connector(event, fleet.ids["sbc"])["Deleted"] == ["sip-x"]


@pytest.mark.parametrize(
    "error", ["NotFoundException", "BadRequestException", "ForbiddenException", "UnauthorizedClientException"]
)
def test_permanent_errors_are_not_retried_and_fail_only_their_connector(sandbox, fleet, audit_schema, error):
    fleet.age(
        {"pbx": {"old": ["sip-old"], "young": ["sip-new"]}, "sbc": {"old": ["sip-x"], "young": ["sip-y"]}}
    )
    sandbox.chime_backend.faults.script(LIST, [error], voice_connector_id=fleet.ids["pbx"])

    execution = sandbox.run({"DryRun": False})

    assert execution.retries() == []
    event = published(sandbox, audit_schema)
    assert event["Outcome"] == "PARTIAL"
    assert connector(event, fleet.ids["pbx"])["Error"]["Error"] == error
    assert connector(event, fleet.ids["sbc"])["Deleted"] == ["sip-x"]
    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["sip-new", "sip-old"]


def test_an_unknown_connector_among_several_is_partial(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
    missing = "abcdefghijklmnopqrstu"

    execution = sandbox.run({"DryRun": False, "VoiceConnectorIds": [fleet.ids["pbx"], missing]})

    event = published(sandbox, audit_schema)
    assert (execution.status, event["Outcome"]) == ("FAILED", "PARTIAL")
    assert connector(event, missing)["Error"]["Error"] == "NotFoundException"
    assert connector(event, fleet.ids["pbx"])["Deleted"] == ["sip-old"]


def test_no_voice_connectors_is_a_successful_run_with_nothing_to_do(sandbox, audit_schema):
    execution = sandbox.run({"DryRun": False})

    assert execution.status == "SUCCEEDED"
    assert published(sandbox, audit_schema)["VoiceConnectors"] == []


def test_a_plan_over_the_deletion_limit_deletes_nothing(sandbox, fleet, audit_schema):
    fleet.age(
        {"pbx": {"old": ["sip-a", "sip-b"], "young": ["sip-new"]}, "sbc": {"old": ["sip-x"], "young": ["y"]}}
    )

    execution = sandbox.run({"DryRun": False, "MaxDeletions": 2})

    assert (execution.status, execution.error) == ("FAILED", "DeletionLimitExceeded")
    event = published(sandbox, audit_schema)
    assert event["Error"]["Cause"].startswith("the plan deletes 3 usernames and MaxDeletions is 2")
    assert connector(event, fleet.ids["pbx"])["Stale"] == ["sip-a", "sip-b"]
    assert all(item["Deleted"] == [] for item in event["VoiceConnectors"])
    assert chime_calls(sandbox, DELETE) == []
    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["sip-a", "sip-b", "sip-new"]


def test_a_plan_at_the_deletion_limit_runs(sandbox, fleet):
    fleet.age({"pbx": {"old": ["sip-a", "sip-b"], "young": ["sip-new"]}})

    assert sandbox.run({"DryRun": False, "MaxDeletions": 2}).status == "SUCCEEDED"
    assert sandbox.usernames(fleet.ids["pbx"]) == ["sip-new"]


def test_protected_usernames_are_never_deleted(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["break-glass", "sip-old"], "young": ["sip-new"]}})

    sandbox.run({"DryRun": False, "ProtectedUsernames": ["break-*"]})

    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["break-glass", "sip-new"]
    event = published(sandbox, audit_schema)
    assert reasons(sandbox, event, fleet.ids["pbx"])["break-glass"] == "protected"


def test_a_protected_name_protects_itself_even_where_it_is_also_a_glob(sandbox, fleet, audit_schema):
    # As a glob, "svc[1]" matches "svc1" only: "svc[1]" itself used to be deleted.
    fleet.age({"pbx": {"old": ["svc[1]", "svc1", "sip-old"], "young": ["sip-new"]}})

    sandbox.run({"DryRun": False, "ProtectedUsernames": ["svc[1]"]})

    assert sorted(sandbox.usernames(fleet.ids["pbx"])) == ["sip-new", "svc1", "svc[1]"]
    event = published(sandbox, audit_schema)
    assert connector(event, fleet.ids["pbx"])["Deleted"] == ["sip-old"]


def test_the_delete_step_rechecks_min_keep_against_a_fresh_listing(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old-1", "sip-old-2"], "young": ["sip-new"]}})
    pbx = fleet.ids["pbx"]
    lists = []

    def someone_deletes_the_young_one(backend, params):
        # The second listing of this connector is the delete step's re-check: by then a person has
        # removed the young credential, so deleting the plan's two would leave the connector with none.
        lists.append(params)
        if len(lists) == 2:
            sandbox.chime_backend.faults.clear()
            backend_client = sandbox.client("chime-sdk-voice")
            backend_client.delete_voice_connector_termination_credentials(
                VoiceConnectorId=pbx, Usernames=["sip-new"]
            )

    sandbox.chime_backend.faults.before(LIST, someone_deletes_the_young_one)

    execution = sandbox.run({"DryRun": False, "MinKeep": 1})

    assert execution.status == "SUCCEEDED"
    # Re-judged on the fresh listing, the two old ones are the youngest left, first seen the same night:
    # MinKeep would have to choose one of them, and does not toss a coin. Neither is deleted.
    assert sandbox.usernames(pbx) == ["sip-old-1", "sip-old-2"]
    event = published(sandbox, audit_schema)
    entry = connector(event, pbx)
    assert (entry["Stale"], entry["Deleted"]) == (["sip-old-1", "sip-old-2"], [])
    assert connector(sandbox.report(event), pbx)["Skipped"] == ["sip-old-1", "sip-old-2"]


def test_usernames_already_gone_at_delete_time_are_not_an_error(sandbox, fleet, audit_schema):
    fleet.age({"pbx": {"old": ["sip-old-1", "sip-old-2"], "young": ["sip-new"]}})
    pbx = fleet.ids["pbx"]

    def someone_deletes_one_first(backend, params):
        sandbox.chime_backend.faults.clear()
        sandbox.client("chime-sdk-voice").delete_voice_connector_termination_credentials(
            VoiceConnectorId=pbx, Usernames=["sip-old-1"]
        )

    sandbox.chime_backend.faults.before(DELETE, someone_deletes_one_first)

    execution = sandbox.run({"DryRun": False})

    assert execution.status == "SUCCEEDED"
    assert sandbox.usernames(pbx) == ["sip-new"]
    assert connector(published(sandbox, audit_schema), pbx)["Deleted"] == ["sip-old-1", "sip-old-2"]


def test_a_failed_execution_summarises_the_run_and_names_its_report(sandbox, audit_schema):
    execution = sandbox.run({"MaxAgeDays": 0})

    cause = json.loads(execution.cause)
    event = published(sandbox, audit_schema)
    assert (cause["Outcome"], cause["Error"], cause["Report"]) == ("FAILED", "InvalidInput", event["Report"])
    assert cause["Cause"] == event["Error"]["Cause"]
    assert cause["ExecutionArn"] == execution.arn


def test_every_run_writes_its_whole_report_under_object_lock(sandbox, fleet, audit_schema, report_schema):
    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})

    sandbox.run({"DryRun": False})

    event = published(sandbox, audit_schema)
    report = sandbox.report(event)
    report_schema.validate(report)
    location = event["Report"]
    assert location["Key"].startswith(f"reports/{event['StartedAt'][:10].replace('-', '/')}/")
    # Its encryption with the audit key and its lock mode and retention are asserted in
    # tests/security/test_encryption.py (the deployed audit bucket).
    # The event is the report's essentials: the same outcome, connectors, deletions.
    assert report["Outcome"] == event["Outcome"]
    assert [entry["Deleted"] for entry in report["VoiceConnectors"]] == [
        entry["Deleted"] for entry in event["VoiceConnectors"]
    ]
    # The locked version cannot be deleted: the report cannot be quietly rewritten.
    with pytest.raises(Exception, match="AccessDenied"):
        sandbox.client("s3").delete_object(
            Bucket=location["Bucket"], Key=location["Key"], VersionId=location["VersionId"]
        )


def test_function_logs_carry_keyed_fingerprints_never_usernames(sandbox, fleet):
    usernames = ["sip-old-secretname", "sip-young-secretname"]
    fleet.age({"pbx": {"old": usernames[:1], "young": usernames[1:]}})

    sandbox.run({"DryRun": False})

    logs = sandbox.function_logs.lines
    assert any("Stale credentials deleted" in line for line in logs)
    assert not [line for line in logs if any(username in line for username in usernames)]
    # An operator with the stack's fingerprint key finds the deletion in the logs.
    fingerprint = sandbox.fingerprints().of(fleet.ids["pbx"], usernames[0])
    assert any("Stale credentials deleted" in line and fingerprint in line for line in logs)


def test_a_ledger_failure_after_the_delete_does_not_hide_the_deletion(
    sandbox, fleet, audit_schema, monkeypatch
):
    from botocore.exceptions import ClientError

    from credential_rotation.runtime import wiring

    fleet.age({"pbx": {"old": ["sip-old"], "young": ["sip-new"]}})
    # The ledger adapter the functions use (built once per container, and the sandbox's functions share
    # this process): its DynamoDB client answers InternalServerError to the UpdateItem that records a
    # deletion, and to no other. The adapter's best-effort write meets a real SDK error.
    client = wiring.ledger()._client
    update_item = client.update_item
    refused = []

    def ledger_down_for_deletions(**params):
        if "DeletedAt" in params["UpdateExpression"]:
            refused.append(params["Key"]["Username"]["S"])
            raise ClientError(
                {
                    "Error": {"Code": "InternalServerError", "Message": "down"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "UpdateItem",
            )
        return update_item(**params)

    monkeypatch.setattr(client, "update_item", ledger_down_for_deletions)

    execution = sandbox.run({"DryRun": False})

    assert execution.status == "SUCCEEDED"
    assert refused == ["sip-old"]  # the fault was met, after the delete
    event = published(sandbox, audit_schema)
    assert connector(event, fleet.ids["pbx"])["Deleted"] == ["sip-old"]
    assert connector(sandbox.report(event), fleet.ids["pbx"])["LedgerUpdated"] is False
    assert sandbox.usernames(fleet.ids["pbx"]) == ["sip-new"]
    monkeypatch.undo()
    sandbox.run({"DryRun": True})
    items = sandbox.client("dynamodb").scan(TableName=sandbox.stack.table_name)["Items"]
    (old,) = [item for item in items if item["Username"]["S"] == "sip-old"]
    # The delete step marked it before deleting: the next listing knows who deleted it.
    assert (old["State"]["S"], old["DeletedBy"]["S"]) == ("deleted", execution.arn)
