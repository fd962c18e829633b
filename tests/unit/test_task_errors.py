"""What leaves a function when it fails: the error's name, for the state machine, and a message that carries
no value of the input, the API or the ledger."""

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from pydantic import BaseModel

from credential_rotation.domain.errors import InvalidInput, RunRecordMismatch
from credential_rotation.runtime.task import MAX_MESSAGE_CHARACTERS, sanitized, task
from sandbox.lambda_runtime import LambdaContext

SECRET = "sip-london-2025"  # stands for any username or password a message could carry
CONTEXT = LambdaContext("f", "arn:aws:lambda:us-east-1:123456789012:function:f", 256, "request")


class Username(BaseModel):
    username: int


def pydantic_error() -> Exception:
    try:
        Username(username=SECRET)
    except Exception as error:
        return error
    raise AssertionError("pydantic accepted it")


def service_error(code: str, status: int) -> ClientError:
    error_class = type(code, (ClientError,), {})
    return error_class(
        {
            "Error": {"Code": code, "Message": f"Username {SECRET} is invalid"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "DeleteVoiceConnectorTerminationCredentials",
    )


LEAKY = [
    service_error("BadRequestException", 400),
    service_error("ServiceFailureException", 500),
    pydantic_error(),
    KeyError(SECRET),
    ValueError(f"bad value {SECRET}"),
    ConnectionClosedError(endpoint_url=f"https://voice-chime.us-east-1.amazonaws.com/?u={SECRET}"),
    ReadTimeoutError(endpoint_url=f"https://voice-chime.us-east-1.amazonaws.com/?u={SECRET}"),
]


@pytest.mark.parametrize("error", LEAKY, ids=lambda error: type(error).__name__)
def test_an_error_keeps_its_name_and_loses_every_value(error):
    clean = sanitized(error)

    assert type(clean).__name__ == type(error).__name__
    assert SECRET not in str(clean)
    assert "withheld" in str(clean)
    assert clean.__cause__ is None


def test_a_service_error_still_says_which_call_failed_and_how():
    clean = sanitized(service_error("ThrottledClientException", 429))

    assert str(clean).startswith(
        "DeleteVoiceConnectorTerminationCredentials answered ThrottledClientException (HTTP 429)"
    )


def test_the_projects_own_errors_keep_their_class_and_message_cut_to_a_bound():
    clean = sanitized(RunRecordMismatch("the run record runs/x/plans/y.json " + "x" * 5_000))

    assert type(clean) is RunRecordMismatch
    assert str(clean).startswith("the run record runs/x/plans/y.json")
    assert len(str(clean)) == MAX_MESSAGE_CHARACTERS


@pytest.mark.parametrize(
    "error",
    [*LEAKY, InvalidInput("execution input: DryRun: must not be null")],
    ids=lambda e: type(e).__name__,
)
def test_a_handler_raises_the_clean_error_from_its_own_frame(error):
    @task(Logger(service="test"))
    def handler(event: dict, context: object) -> dict:
        raise error

    with pytest.raises(Exception) as raised:  # noqa: PT011 (the class is made at run time)
        handler({}, CONTEXT)

    assert type(raised.value).__name__ == type(error).__name__
    assert SECRET not in str(raised.value)
    # The traceback the runtime logs ends where the clean error was raised: no deeper frame, no locals.
    assert raised.value.__suppress_context__
    assert raised.traceback[-1].name == "_errors_without_values"


def test_a_function_death_is_not_an_error_the_handler_may_catch():
    class Died(BaseException):
        pass

    @task(Logger(service="test"))
    def handler(event: dict, context: object) -> dict:
        raise Died

    with pytest.raises(Died):
        handler({}, CONTEXT)
