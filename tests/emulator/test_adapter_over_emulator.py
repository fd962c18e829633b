"""The Chime SDK Voice adapter over the emulator: modelled errors surface under the service's names."""

import boto3
import pytest
from botocore.exceptions import ClientError

from credential_rotation.adapters.chime import VoiceConnectorCredentials, proves_nothing_deleted
from credential_rotation.domain.errors import DeletionOutcomeUnknown
from credential_rotation.runtime.wiring import CHIME_CLIENT_CONFIG
from sandbox.aws_faults import TRANSPORT_ERRORS
from sandbox.chime_emulator import ERROR_STATUS
from tests.support.sandbox import new_connector

OPERATIONS = {
    "usernames": ("ListVoiceConnectorTerminationCredentials", lambda adapter, vc: adapter.usernames(vc)),
    "delete": (
        "DeleteVoiceConnectorTerminationCredentials",
        lambda adapter, vc: adapter.delete(vc, ["u"], on_refused=lambda: None),
    ),
    "voice_connector_ids": ("ListVoiceConnectors", lambda adapter, vc: list(adapter.voice_connector_ids())),
}


@pytest.fixture
def adapter(emulated_chime) -> VoiceConnectorCredentials:
    return VoiceConnectorCredentials(
        boto3.client("chime-sdk-voice", region_name="us-east-1", config=CHIME_CLIENT_CONFIG)
    )


@pytest.mark.parametrize("method", sorted(OPERATIONS))
@pytest.mark.parametrize("error", sorted(ERROR_STATUS))
def test_each_modelled_error_surfaces_once_under_its_own_name(adapter, backend, method, error):
    connector_id = new_connector(adapter._client, ["u"])
    operation, call = OPERATIONS[method]
    backend.faults.script(operation, [error])
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the class name is what is asserted
        call(adapter, connector_id)
    # The exception's class name is the error name Step Functions retries or catches on.
    assert type(raised.value).__name__ == error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == ERROR_STATUS[error]
    attempts = [call for call in backend.calls if call.operation == operation]
    assert len(attempts) == 1  # one attempt: the retry policy belongs to the state machine


def test_every_voice_connector_is_found_across_pages(adapter, monkeypatch):
    created = {new_connector(adapter._client) for _ in range(5)}
    monkeypatch.setattr("credential_rotation.adapters.chime.PAGE_SIZE", 2)
    assert set(adapter.voice_connector_ids()) == created


def test_delete_removes_the_listed_usernames_in_one_call(adapter, backend):
    connector_id = new_connector(adapter._client, ["a", "b", "c"])
    adapter.delete(connector_id, ["a", "c"], on_refused=pytest.fail)
    assert adapter.usernames(connector_id) == ("b",)
    deletes = [
        call for call in backend.calls if call.operation == "DeleteVoiceConnectorTerminationCredentials"
    ]
    assert len(deletes) == 1


def test_delete_of_nothing_is_refused_before_any_call(adapter, backend):
    connector_id = new_connector(adapter._client, ["a"])
    with pytest.raises(ValueError, match="must not be empty"):
        adapter.delete(connector_id, [], on_refused=pytest.fail)
    assert all(call.operation != "DeleteVoiceConnectorTerminationCredentials" for call in backend.calls)


def test_the_transport_errors_are_the_ones_botocore_has():
    names = {error.__name__ for error in TRANSPORT_ERRORS}
    assert {
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "EndpointConnectionError",
    } <= names


@pytest.mark.parametrize("error", TRANSPORT_ERRORS, ids=lambda error: error.__name__)
def test_a_delete_whose_answer_is_lost_is_an_unknown_outcome(adapter, backend, monkeypatch, error):
    connector_id = new_connector(adapter._client, ["a", "b"])
    real_delete = adapter._client.delete_voice_connector_termination_credentials

    def delete_then_lose_the_answer(**request):
        real_delete(**request)  # the service acted
        raise error(endpoint_url="https://voice-chime.us-east-1.amazonaws.com", error="lost", proxy_url="p")

    monkeypatch.setattr(
        adapter._client, "delete_voice_connector_termination_credentials", delete_then_lose_the_answer
    )

    with pytest.raises(DeletionOutcomeUnknown, match=error.__name__):
        adapter.delete(connector_id, ["a"], on_refused=pytest.fail)
    assert adapter.usernames(connector_id) == ("b",)


@pytest.mark.parametrize("error", sorted(ERROR_STATUS))
def test_only_a_refusal_proves_that_a_delete_deleted_nothing(adapter, backend, error):
    connector_id = new_connector(adapter._client, ["u"])
    backend.faults.script("DeleteVoiceConnectorTerminationCredentials", [error])
    refusals = []

    with pytest.raises(ClientError) as raised:
        adapter.delete(connector_id, ["u"], on_refused=lambda: refusals.append(True))

    # The service's own error leaves the adapter, by name, for the state machine's Retry to match.
    assert type(raised.value).__name__ == error
    assert proves_nothing_deleted(raised.value) is (ERROR_STATUS[error] < 500)
    assert refusals == ([True] if ERROR_STATUS[error] < 500 else [])


def test_an_answer_without_a_status_proves_nothing():
    assert not proves_nothing_deleted(
        ClientError({"Error": {"Code": "Odd"}}, "DeleteVoiceConnectorTerminationCredentials")
    )
