"""ResolveRun's task logic (tasks/starting.py) over fakes: a run is resolved, and locked when it may change
connectors, or refused with a named reason before anything is listed or locked."""

from datetime import UTC, datetime

import pytest

from credential_rotation.domain.models import ResolveRunRequest, Run
from credential_rotation.domain.settings import Settings
from credential_rotation.tasks.run_input import MAX_VOICE_CONNECTORS
from credential_rotation.tasks.starting import Refusal, start_run
from tests.support.fakes import FakeRunLock, FakeVoiceConnectors, fault

NOW = datetime(2026, 4, 15, 3, 0, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:rotation:run-1"
OTHER = "arn:aws:states:us-east-1:123456789012:execution:rotation:run-0"
SETTINGS = Settings.model_validate(
    {
        "LEDGER_TABLE_NAME": "ledger",
        "AUDIT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:audit",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "AUDIT_BUCKET_NAME": "audit",
        "FINGERPRINT_KEY_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:key",
        "DEFAULT_DRY_RUN": "true",
        "DEFAULT_MAX_AGE_DAYS": "90",
        "DEFAULT_MIN_KEEP": "1",
        "DEFAULT_MAX_DELETIONS": "10",
        "DEFAULT_PROTECTED_USERNAMES": "",
        "DEFAULT_VOICE_CONNECTOR_IDS": "",
        "MAX_CONCURRENCY": "5",
        "DEFAULT_ROTATE": "false",
        "DEFAULT_ROTATE_AFTER_DAYS": "60",
        "DEFAULT_GRACE_DAYS": "7",
        "DEFAULT_USERNAME_PREFIX": "sip-",
        "SECRET_NAME_PREFIX": "chime-voice-connector/rotation/",
    }
)


def connectors(*ids: str) -> FakeVoiceConnectors:
    chime = FakeVoiceConnectors()
    for vc_id in ids:
        chime.add_connector(vc_id, ["sip-a"])
    return chime


def start(execution_input: object, chime: FakeVoiceConnectors, lock: FakeRunLock) -> Run | Refusal:
    request = ResolveRunRequest.parse({"Input": execution_input, "ExecutionArn": ARN, "StartedAt": NOW})
    return start_run(request, SETTINGS, chime, lock, NOW)


def test_a_dry_run_is_resolved_over_every_connector_and_takes_no_lock():
    lock = FakeRunLock()

    run = start({"Trigger": "schedule"}, connectors("vc-b", "vc-a"), lock)

    assert isinstance(run, Run)
    assert (run.dry_run, run.trigger, run.voice_connector_ids) == (True, "schedule", ("vc-a", "vc-b"))
    assert lock.held_by is None


def test_an_applying_run_takes_the_lock_and_its_retry_takes_it_again():
    lock = FakeRunLock()
    chime = connectors("vc-a")

    first = start({"DryRun": False}, chime, lock)
    retried = start({"DryRun": False}, chime, lock)

    assert isinstance(first, Run)
    assert isinstance(retried, Run)
    assert lock.held_by == ARN


def test_an_applying_run_beside_another_is_refused_with_the_inputs_trigger():
    lock = FakeRunLock()
    lock.acquire(OTHER, NOW)

    answer = start({"DryRun": False, "Trigger": "schedule"}, connectors("vc-a"), lock)

    assert isinstance(answer, Refusal)
    assert (answer.error, answer.trigger, answer.dry_run) == ("RunInProgress", "schedule", False)
    assert lock.held_by == OTHER
    assert answer.to_wire()["Refused"]["Error"] == "RunInProgress"


def test_an_invalid_input_is_refused_before_anything_is_listed_or_locked():
    lock = FakeRunLock()
    chime = connectors("vc-a")
    chime.fail_next("voice_connector_ids", fault("ServiceFailureException"))

    answer = start({"DryRun": False, "MaxAgeDays": "ninety"}, chime, lock)

    assert isinstance(answer, Refusal)
    assert answer.error == "InvalidInput"
    assert "MaxAgeDays" in answer.cause
    # The input's own DryRun counts where it is valid; the scripted listing fault was never reached.
    assert answer.dry_run is False
    assert lock.held_by is None
    assert chime.faults.fired == []


def test_more_connectors_than_one_run_processes_is_refused_and_locks_nothing():
    lock = FakeRunLock()
    many = connectors(*(f"vc-{index:03}" for index in range(MAX_VOICE_CONNECTORS + 1)))

    answer = start({"DryRun": False}, many, lock)

    assert isinstance(answer, Refusal)
    assert answer.error == "TooManyVoiceConnectors"
    assert lock.held_by is None


@pytest.mark.parametrize("method", ["voice_connector_ids", "acquire"])
def test_a_service_failure_is_no_refusal_it_fails_the_task_for_the_state_machine_to_retry(method):
    lock, chime = FakeRunLock(), connectors("vc-a")
    (chime if method == "voice_connector_ids" else lock).fail_next(method, fault("ServiceUnavailable"))

    with pytest.raises(Exception, match="ServiceUnavailable") as raised:
        start({"DryRun": False}, chime, lock)

    assert type(raised.value).__name__ == "ServiceUnavailable"
