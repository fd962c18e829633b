"""The Chime SDK Voice adapter over the emulator: modelled errors surface under the service's names."""

import boto3
import pytest
from moto import mock_aws

from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.wiring import CHIME_CLIENT_CONFIG
from sandbox.chime_emulator import ERROR_STATUS, chimesdkvoice_backends
from tests.emulator.test_chime_emulator import fake_credentials, new_connector  # noqa: F401 - fixture

OPERATIONS = {
    "usernames": ("ListVoiceConnectorTerminationCredentials", lambda adapter, vc: adapter.usernames(vc)),
    "delete": ("DeleteVoiceConnectorTerminationCredentials", lambda adapter, vc: adapter.delete(vc, ["u"])),
    "voice_connector_ids": ("ListVoiceConnectors", lambda adapter, vc: list(adapter.voice_connector_ids())),
}


@pytest.fixture
def adapter(fake_credentials):  # noqa: F811 - the fixture imported above
    with mock_aws():
        yield VoiceConnectorCredentials(
            boto3.client("chime-sdk-voice", region_name="us-east-1", config=CHIME_CLIENT_CONFIG)
        )


@pytest.fixture
def backend(adapter):
    return chimesdkvoice_backends["123456789012"]["us-east-1"]


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
    monkeypatch.setattr("credential_rotation.chime.PAGE_SIZE", 2)
    assert set(adapter.voice_connector_ids()) == created


def test_delete_removes_the_listed_usernames_in_one_call(adapter, backend):
    connector_id = new_connector(adapter._client, ["a", "b", "c"])
    adapter.delete(connector_id, ["a", "c"])
    assert adapter.usernames(connector_id) == ("b",)
    deletes = [
        call for call in backend.calls if call.operation == "DeleteVoiceConnectorTerminationCredentials"
    ]
    assert len(deletes) == 1


def test_delete_of_nothing_is_refused_before_any_call(adapter, backend):
    connector_id = new_connector(adapter._client, ["a"])
    with pytest.raises(ValueError, match="must not be empty"):
        adapter.delete(connector_id, [])
    assert all(call.operation != "DeleteVoiceConnectorTerminationCredentials" for call in backend.calls)
