"""The run's metrics as the functions emit them (EMF lines in their logs), and what tracing imports. (That the
stack deploys with tracing off is the template's Tracing default: tests/template/test_operations.py.)"""

import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import pytest

from credential_rotation.adapters.chime_pace import TRIES
from credential_rotation.adapters.run_metrics import NAMESPACE, run_counts
from sandbox.session import Sandbox
from sandbox.template import REPOSITORY
from tests.support.aws import offline_process_environment

LIST = "ListVoiceConnectorTerminationCredentials"
THROTTLED = "ThrottledClientException"
SERVICE = {"service": "voice-connector-credential-rotation"}
OLD, YOUNG = 120, 10
FLEET = {
    "retiring": {"old": ["pbx-a1", "pbx-a2"], "young": ["pbx-a3"]},  # a1, a2 stale
    "due": {"old": ["pbx-b1"]},  # due a successor; b1 kept for MinKeep
    "quiet": {"young": ["pbx-c1"]},
}


def applying_sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    # Made in the test's body, not in a fixture's setup: pytest's output capture puts its own sys.stdout
    # back when the test's call phase begins, and the functions' EMF lines (printed) would miss the
    # sandbox's log store. Logger lines are unaffected (their handlers hold the store itself).
    return sandbox_factory(parameters={"DryRun": "false", "Rotate": "true"})


def seed(sandbox: Sandbox) -> dict[str, str]:
    """Credentials OLD and YOUNG days old, as dry runs saw them appear."""
    ids = {name: sandbox.create_voice_connector(name, spec.get("old", [])) for name, spec in FLEET.items()}
    assert sandbox.run({"DryRun": True}).status == "SUCCEEDED"
    sandbox.travel(days=OLD - YOUNG)
    for name, spec in FLEET.items():
        if spec.get("young"):
            sandbox.put_credentials(ids[name], spec["young"])
    assert sandbox.run({"DryRun": True}).status == "SUCCEEDED"
    sandbox.travel(days=YOUNG)
    sandbox.audit_messages()
    sandbox.chime_backend.calls.clear()
    return ids


def emitted_since(sandbox: Sandbox, start: int) -> list[dict]:
    """The metrics emitted after the first `start`, each value summed (EMF writes a list)."""
    records = sandbox.metrics()[start:]
    for record in records:
        assert record["Namespace"] == NAMESPACE
        record["Values"] = {name: sum(values) for name, values in record["Values"].items()}
    return records


def test_a_scheduled_run_emits_its_reports_numbers_once_and_per_connector(sandbox_factory):
    sandbox = applying_sandbox(sandbox_factory)
    ids = seed(sandbox)
    start = len(sandbox.metrics())
    assert start > 0  # the observing runs' numbers reached the log store

    execution = sandbox.fire_schedule()

    (event,) = sandbox.audit_events()
    report = sandbox.report(event)
    records = emitted_since(sandbox, start)
    retiring = sorted(sandbox.usernames(ids["retiring"]))
    assert execution.status == "SUCCEEDED", execution.error
    (run,) = [record for record in records if record["Dimensions"] == SERVICE]
    assert run["Values"] == run_counts(report)
    # Read from outside too, so that a wrong run_counts cannot confirm itself.
    assert run["Values"] == {
        "CredentialsListed": 5,
        "CredentialsStale": 2,  # pbx-a1, pbx-a2
        "CredentialsDeleted": 2,
        "CredentialsUnconfirmed": 0,
        "CredentialsUnmanaged": 0,
        "SuccessorsIssued": 1,  # on "due"
        "CredentialsKeptByGuard": 1,  # pbx-b1, kept for MinKeep
        "ConnectorsFailed": 0,
        "CredentialsInUse": 0,
        "CredentialsHeldForEvidence": 0,
        "Runs": 1,
        "RunsFailed": 0,
    }
    assert retiring == ["pbx-a3"]
    per_connector = {
        record["Dimensions"]["VoiceConnectorId"]: record["Values"]
        for record in records
        if record["Dimensions"].keys() == {"service", "VoiceConnectorId"}
    }
    assert sorted(per_connector) == sorted(ids.values())
    assert len(records) == 1 + len(ids)
    summed = sum((Counter(values) for values in per_connector.values()), Counter())
    assert {name: summed[name] for name in run["Values"] if name not in ("Runs", "RunsFailed")} == {
        name: value for name, value in run["Values"].items() if name not in ("Runs", "RunsFailed")
    }
    assert per_connector[ids["due"]]["SuccessorsIssued"] == 1
    assert per_connector[ids["retiring"]]["CredentialsDeleted"] == 2


@pytest.mark.parametrize("burst", [1, 3, 6])
def test_a_throttle_burst_the_pace_absorbs_is_counted_though_no_step_is_retried(burst, sandbox_factory):
    sandbox = applying_sandbox(sandbox_factory)
    ids = seed(sandbox)
    sandbox.chime_backend.faults.script(LIST, [THROTTLED] * burst, voice_connector_id=ids["retiring"])
    start = len(sandbox.metrics())

    execution = sandbox.fire_schedule()

    throttled = [call for call in sandbox.chime_backend.calls if call.outcome == THROTTLED]
    records = emitted_since(sandbox, start)
    assert execution.status == "SUCCEEDED", execution.error
    assert len(throttled) == burst
    assert execution.retries() == []  # made again inside the task, on the account's pace
    counted = [
        record["Values"]["ChimeThrottled"] for record in records if "ChimeThrottled" in record["Values"]
    ]
    assert sum(counted) == burst
    assert not [record for record in records if "RetryableFailures" in record["Values"]]


@pytest.mark.parametrize("attempts", [1, 3])
def test_a_throttle_burst_that_outlasts_the_pace_counts_each_failed_attempt(attempts, sandbox_factory):
    sandbox = applying_sandbox(sandbox_factory)
    ids = seed(sandbox)
    burst = TRIES * attempts
    sandbox.chime_backend.faults.script(LIST, [THROTTLED] * burst, voice_connector_id=ids["retiring"])
    start = len(sandbox.metrics())

    execution = sandbox.fire_schedule()

    records = emitted_since(sandbox, start)
    assert execution.status == "SUCCEEDED", execution.error  # within the retry budget of 6
    assert len(execution.retries()) == attempts
    failures = [record for record in records if "RetryableFailures" in record["Values"]]
    run_level = [
        record["Values"]["RetryableFailures"] for record in failures if record["Dimensions"] == SERVICE
    ]
    on_connector = [
        record["Values"]["RetryableFailures"]
        for record in failures
        if record["Dimensions"] == SERVICE | {"VoiceConnectorId": ids["retiring"]}
    ]
    assert sum(run_level) == attempts
    assert sum(on_connector) == attempts
    assert len(failures) == 2 * attempts  # nothing else counted, on no other connector
    # The pace counts every throttle but the last of each attempt, which it hands to the state machine.
    counted = [
        record["Values"]["ChimeThrottled"] for record in records if "ChimeThrottled" in record["Values"]
    ]
    assert sum(counted) == burst - attempts


HANDLERS = sorted(
    path.stem for path in (REPOSITORY / "functions/credential_rotation/handlers").glob("[!_]*.py")
)


def xray_imported(handler: str, trace_disabled: str) -> bool:
    """Import one handler module in a fresh interpreter; whether the X-Ray SDK came with it."""
    environment = offline_process_environment(
        PYTHONPATH=str(REPOSITORY / "functions"), POWERTOOLS_TRACE_DISABLED=trace_disabled
    )
    probe = (
        f"import sys, credential_rotation.handlers.{handler}; print('aws_xray_sdk' in sys.modules, end='')"
    )
    result = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout == "True"


@pytest.mark.slow  # a fresh interpreter per handler
@pytest.mark.parametrize("handler", HANDLERS)
def test_with_tracing_off_no_handler_imports_the_xray_sdk(handler):
    assert xray_imported(handler, "true") is False


@pytest.mark.slow
def test_with_tracing_on_a_handler_imports_the_xray_sdk():
    assert len(HANDLERS) >= 7
    assert xray_imported("resolve_run", "false") is True
