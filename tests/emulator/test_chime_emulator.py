"""The Chime SDK Voice emulator answers as the botocore model says the service does."""

import threading

import boto3
import pytest
from moto import mock_aws

from sandbox import chime_emulator
from sandbox.chime_emulator import ERROR_STATUS
from tests.support.sandbox import new_connector

LIST = "ListVoiceConnectorTerminationCredentials"
PUT = "PutVoiceConnectorTerminationCredentials"
DELETE = "DeleteVoiceConnectorTerminationCredentials"
UNKNOWN_ID = "abcdefghijklmnopqrstu"


def operation_call(chime, operation: str, connector_id: str):
    calls = {
        LIST: lambda: chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id),
        PUT: lambda: chime.put_voice_connector_termination_credentials(
            VoiceConnectorId=connector_id, Credentials=[{"Username": "u", "Password": "p"}]
        ),
        DELETE: lambda: chime.delete_voice_connector_termination_credentials(
            VoiceConnectorId=connector_id, Usernames=["u"]
        ),
    }
    return calls[operation]


def test_a_created_connector_can_be_read_and_deleted(chime):
    created = chime.create_voice_connector(Name="pbx", RequireEncryption=True, AwsRegion="us-east-1")
    connector = created["VoiceConnector"]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert len(connector["VoiceConnectorId"]) == 22
    assert connector["VoiceConnectorArn"].endswith(f":vc/{connector['VoiceConnectorId']}")
    fetched = chime.get_voice_connector(VoiceConnectorId=connector["VoiceConnectorId"])["VoiceConnector"]
    assert fetched["Name"] == "pbx"
    chime.delete_voice_connector(VoiceConnectorId=connector["VoiceConnectorId"])
    with pytest.raises(chime.exceptions.NotFoundException):
        chime.get_voice_connector(VoiceConnectorId=connector["VoiceConnectorId"])


def test_list_voice_connectors_pages(chime):
    created = {new_connector(chime) for _ in range(5)}
    seen, token, pages = [], None, 0
    while True:
        page = chime.list_voice_connectors(MaxResults=2, **({"NextToken": token} if token else {}))
        pages += 1
        seen += [item["VoiceConnectorId"] for item in page["VoiceConnectors"]]
        token = page.get("NextToken")
        if not token:
            break
    assert (pages, set(seen), len(seen)) == (3, created, 5)


def test_credentials_are_put_replaced_listed_and_deleted(chime, backend):
    connector_id = new_connector(chime, ["a", "b"])
    chime.put_voice_connector_termination_credentials(
        VoiceConnectorId=connector_id, Credentials=[{"Username": "a", "Password": "new"}]
    )
    listed = chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)
    assert listed["Usernames"] == ["a", "b"]
    assert "Password" not in str(listed)
    assert backend.voice_connectors[connector_id].credentials["a"] == "new"
    response = chime.delete_voice_connector_termination_credentials(
        VoiceConnectorId=connector_id, Usernames=["a", "never-there"]
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)["Usernames"] == [
        "b"
    ]


@pytest.mark.parametrize("operation", [LIST, PUT, DELETE])
def test_an_unknown_connector_is_not_found(chime, operation):
    with pytest.raises(chime.exceptions.NotFoundException) as raised:
        operation_call(chime, operation, UNKNOWN_ID)()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("bad_id", ["ABCDEFGHIJKLMNOPQRSTU", "short", "a" * 23, "../x"])
def test_a_malformed_connector_id_is_a_bad_request(chime, bad_id):
    with pytest.raises(chime.exceptions.BadRequestException) as raised:
        chime.list_voice_connector_termination_credentials(VoiceConnectorId=bad_id)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_empty_lists_and_empty_fields_are_bad_requests(chime):
    connector_id = new_connector(chime, ["a"])
    with pytest.raises(chime.exceptions.BadRequestException):
        chime.delete_voice_connector_termination_credentials(VoiceConnectorId=connector_id, Usernames=[])
    with pytest.raises(chime.exceptions.BadRequestException):
        chime.put_voice_connector_termination_credentials(VoiceConnectorId=connector_id, Credentials=[])
    with pytest.raises(chime.exceptions.BadRequestException):
        chime.put_voice_connector_termination_credentials(
            VoiceConnectorId=connector_id, Credentials=[{"Username": "", "Password": "p"}]
        )
    assert chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)["Usernames"] == [
        "a"
    ]


@pytest.mark.parametrize("operation", [LIST, PUT, DELETE])
@pytest.mark.parametrize(("error", "status"), sorted(ERROR_STATUS.items()))
def test_every_modelled_error_can_be_injected(chime, backend, operation, error, status):
    connector_id = new_connector(chime, ["u"])
    backend.faults.script(operation, [error])
    with pytest.raises(getattr(chime.exceptions, error)) as raised:
        operation_call(chime, operation, connector_id)()
    assert type(raised.value).__name__ == error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)["Usernames"] == [
        "u"
    ]
    assert backend.calls[-2].outcome == error


def test_a_script_plays_in_order_then_service_resumes(chime, backend):
    connector_id = new_connector(chime)
    backend.faults.script(LIST, ["ThrottledClientException", None, "ServiceFailureException"])
    outcomes = []
    for _ in range(4):
        try:
            chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)
            outcomes.append("ok")
        except chime.exceptions.ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    assert outcomes == ["ThrottledClientException", "ok", "ServiceFailureException", "ok"]


def test_a_script_can_target_one_connector(chime, backend):
    first, second = new_connector(chime), new_connector(chime)
    backend.faults.script(LIST, ["NotFoundException"], voice_connector_id=second)
    chime.list_voice_connector_termination_credentials(VoiceConnectorId=first)
    with pytest.raises(chime.exceptions.NotFoundException):
        chime.list_voice_connector_termination_credentials(VoiceConnectorId=second)


def test_an_unmodelled_error_cannot_be_scripted(backend):
    with pytest.raises(ValueError, match="not a modelled error"):
        backend.faults.script(LIST, ["AccessDenied"])


def test_a_rate_limit_throttles_then_recovers(chime, backend):
    connector_id = new_connector(chime)
    backend.faults.rate_limit(max_calls=2, per_seconds=3600, operation=LIST)
    for _ in range(2):
        chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)
    with pytest.raises(chime.exceptions.ThrottledClientException):
        chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)
    chime.get_voice_connector(VoiceConnectorId=connector_id)  # other operations are not limited
    backend.faults.clear()
    chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)


def test_a_rate_limit_window_slides(chime, backend):
    connector_id = new_connector(chime)
    backend.faults.rate_limit(max_calls=1, per_seconds=0.05)
    chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)
    threading.Event().wait(0.06)
    chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)


def test_a_before_hook_sees_the_request(chime, backend):
    connector_id = new_connector(chime, ["a", "b"])
    seen = []
    backend.faults.before(DELETE, lambda _backend, params: seen.append(params))
    chime.delete_voice_connector_termination_credentials(VoiceConnectorId=connector_id, Usernames=["a"])
    assert seen == [{"VoiceConnectorId": connector_id, "Usernames": ["a"]}]


def test_the_call_log_records_operations_and_never_a_password(chime, backend):
    connector_id = new_connector(chime, ["alice"])
    with pytest.raises(chime.exceptions.NotFoundException):
        chime.list_voice_connector_termination_credentials(VoiceConnectorId=UNKNOWN_ID)
    assert [(call.operation, call.outcome) for call in backend.calls] == [
        ("CreateVoiceConnector", "ok"),
        (PUT, "ok"),
        (LIST, "NotFoundException"),
    ]
    assert backend.calls[1].voice_connector_id == connector_id
    assert "secret-alice" not in repr(backend.calls)


def test_state_does_not_survive_into_the_next_mock(aws_environment):
    chime_emulator.install()
    with mock_aws():
        new_connector(boto3.client("chime-sdk-voice", region_name="us-east-1"))
    with mock_aws():
        fresh = boto3.client("chime-sdk-voice", region_name="us-east-1")
        assert fresh.list_voice_connectors()["VoiceConnectors"] == []


def test_concurrent_puts_all_land(chime):
    connector_id = new_connector(chime)

    def put(index: int) -> None:
        chime.put_voice_connector_termination_credentials(
            VoiceConnectorId=connector_id, Credentials=[{"Username": f"user-{index}", "Password": "p"}]
        )

    threads = [threading.Thread(target=put, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = chime.list_voice_connector_termination_credentials(VoiceConnectorId=connector_id)["Usernames"]
    assert sorted(listed) == sorted(f"user-{index}" for index in range(8))
