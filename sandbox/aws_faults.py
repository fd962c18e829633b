"""Faults for any AWS call the functions make (the Chime SDK Voice emulator's calls included), and for
the Lambda invocations themselves.

A fault can be aimed at one function's calls (``function``: the end of its name, e.g. the template's
logical id "DeleteCredentialsFunction"), since several functions make the same call.

Hooked into botocore's ``before-call`` and ``after-call`` events of boto3's default session, which both
the handlers and the tests use. A scripted error is answered before the call reaches moto, after the
SDK's own retries would have run: it stands for a fault that outlasted them. A crash lets the call take
effect and then kills the Lambda function before it can return, as a timeout or an out-of-memory kill
would.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.lambda_runtime import current_function

# HTTP status of the errors the tests inject, as the services answer them.
ERROR_STATUS = {
    "BadRequestException": 400,
    "UnauthorizedClientException": 401,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ThrottledClientException": 429,
    "ServiceFailureException": 500,
    "ServiceUnavailableException": 503,
    "ThrottledException": 400,
    "InternalErrorException": 500,
    "ThrottlingException": 400,
    "InternalServiceError": 500,
    "ProvisionedThroughputExceededException": 400,
    "InternalServerError": 500,
    "InternalError": 500,
    "KMSThrottlingException": 400,
    "AccessDeniedException": 400,
}


class LambdaCrashed(BaseException):
    """The function died after its AWS call took effect and before it returned.

    Lambda reports a process that died as ``Runtime.ExitError`` (not a class name), and Step Functions
    matches that name; the sandbox's runtime answers with it. A BaseException, like SystemExit: the
    function's own code must not be able to catch its own death.
    """

    lambda_error_type = "Runtime.ExitError"


class LambdaTimedOut(BaseException):
    """The function ran out of time during its AWS call, after the call took effect."""

    lambda_error_type = "Sandbox.Timedout"


def _error_response(code: str, status: int) -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": f"injected by the sandbox: {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


# Every error botocore raises when a request's answer never arrives: below the service, so whether the
# service acted on the request is unknown. Read from botocore itself, so a new one is tested too.
TRANSPORT_ERRORS: tuple[type[BotoCoreError], ...] = tuple(
    sorted(
        (
            error
            for error in vars(botocore.exceptions).values()
            if isinstance(error, type)
            and issubclass(error, (botocore.exceptions.HTTPClientError, botocore.exceptions.ConnectionError))
        ),
        key=lambda error: error.__name__,
    )
)


def _transport_error(error: type[BotoCoreError]) -> BotoCoreError:
    # Every botocore transport error formats its message from some of these.
    return error(endpoint_url="https://sandbox.invalid/", error="injected by the sandbox", proxy_url="p")


@dataclass
class Fault:
    service: str
    operation: str
    error: str | None  # None: the function dies after the call instead of answering an error
    death: type[Exception] = LambdaCrashed
    function: str | None = None  # None: whichever function makes the call
    skip: int = 0  # matching calls let through before this one takes effect
    after: bool = False  # the call takes effect first: a death (error None) or an error answered after it
    # A botocore transport error (the answer never arrived) raised instead of a service error.
    transport: type[BotoCoreError] | None = None


@dataclass
class AwsFaults:
    pending: list[Fault] = field(default_factory=list)
    injected: list[Fault] = field(default_factory=list)
    # function name suffix -> error types its next invocations answer without running
    invocations: dict[str, list[str]] = field(default_factory=dict)
    failed_invocations: list[tuple[str, str]] = field(default_factory=list)

    def script(self, service: str, operation: str, errors: list[str], function: str | None = None) -> None:
        """The next calls of ``operation`` answer these errors, one call each."""
        self.pending.extend(Fault(service, operation, error, function=function) for error in errors)

    def crash_after(self, service: str, operation: str, times: int = 1, function: str | None = None) -> None:
        self.pending.extend(
            Fault(service, operation, None, function=function, after=True) for _ in range(times)
        )

    def fail_after(self, service: str, operation: str, error: str, function: str | None = None) -> None:
        """The call takes effect, then the caller gets ``error`` anyway (a server fault on the way back)."""
        self.pending.append(Fault(service, operation, error, function=function, after=True))

    def lose_answer(
        self,
        service: str,
        operation: str,
        error: type[BotoCoreError],
        after: bool,
        function: str | None = None,
    ) -> None:
        """The next call's answer never arrives: botocore raises ``error`` (a closed connection, a timeout),
        before the call reached the service (``after`` false) or after it took effect (``after`` true)."""
        self.pending.append(Fault(service, operation, None, function=function, after=after, transport=error))

    def time_out_after(
        self, service: str, operation: str, times: int = 1, function: str | None = None, skip: int = 0
    ) -> None:
        """The function times out after its next call of ``operation`` (after ``skip`` more of them)."""
        self.pending.extend(
            Fault(service, operation, None, LambdaTimedOut, function=function, skip=skip, after=True)
            for _ in range(times)
        )

    def fail_invocations(self, function: str, errors: list[str]) -> None:
        """The function's next invocations answer these errors (e.g. Lambda.ServiceException) unrun."""
        self.invocations.setdefault(function, []).extend(errors)

    def take_invocation_fault(self, function_name: str) -> str | None:
        for suffix, errors in self.invocations.items():
            if errors and function_name.endswith(suffix):
                error = errors.pop(0)
                self.failed_invocations.append((suffix, error))
                return error
        return None

    def clear(self) -> None:
        self.pending.clear()
        self.invocations.clear()

    def _take(self, service: str, operation: str, after: bool) -> Fault | None:
        caller = current_function() or ""
        for fault in self.pending:
            if (fault.service, fault.operation, fault.after) == (service, operation, after) and (
                fault.function is None or caller.endswith(fault.function)
            ):
                if fault.skip:
                    fault.skip -= 1
                    return None
                self.pending.remove(fault)
                self.injected.append(fault)
                return fault
        return None

    def _before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict] | None:
        fault = self._take(model.service_model.service_id.hyphenize(), model.name, after=False)
        if fault is None:
            return None
        if fault.transport is not None:
            raise _transport_error(fault.transport)
        status = ERROR_STATUS.get(fault.error, 500)
        return AWSResponse("https://sandbox.invalid/", status, {}, None), _error_response(fault.error, status)

    def _after_call(self, model: Any, http_response: Any, **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        fault = self._take(model.service_model.service_id.hyphenize(), model.name, after=True)
        if fault is None:
            return
        if fault.transport is not None:
            raise _transport_error(fault.transport)
        if fault.error is None:
            raise fault.death(f"the function died after {model.name} took effect")
        # Named as botocore names a modelled error, which is the name Step Functions matches.
        error_class = type(fault.error, (ClientError,), {})
        raise error_class(_error_response(fault.error, ERROR_STATUS.get(fault.error, 500)), model.name)

    @contextmanager
    def installed(self) -> Iterator["AwsFaults"]:
        # Clients copy the session's handlers when they are built: install before any client exists.
        events = boto3._get_default_session().events
        events.register("before-call", self._before_call, unique_id="sandbox-aws-faults-before")
        events.register("after-call", self._after_call, unique_id="sandbox-aws-faults-after")
        try:
            yield self
        finally:
            events.unregister("before-call", unique_id="sandbox-aws-faults-before")
            events.unregister("after-call", unique_id="sandbox-aws-faults-after")
