"""Runs the real handlers in-process as the sandbox's Lambda functions.

moto's Docker-free Lambda backend runs no code. Its ``invoke`` is replaced so that the function's own
configuration (the Handler and Environment that the template gave it) decides what runs: the handler is
imported from the source tree and called as the python3.13 runtime would. An exception becomes an
``Unhandled`` function error whose errorType is the exception's class name, which is what Step Functions
matches in Retry and Catch.
"""

import importlib
import io
import json
import logging
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

# Environment variables are process-wide; invocations run on the Map's worker threads.
_ENVIRONMENT_LOCK = threading.Lock()
# The function each worker thread is running, so that a fault can be aimed at one function's calls.
_CURRENT = threading.local()


def current_function() -> str | None:
    return getattr(_CURRENT, "function", None)


@contextmanager
def running(function_name: str) -> Iterator[None]:
    """This thread runs the function: its AWS calls and log records are that function's."""
    _CURRENT.function = function_name
    try:
        yield
    finally:
        _CURRENT.function = None


class FunctionFailed(Exception):
    """An invocation answered with an error that Lambda itself raises (a timeout, a service fault)."""

    def __init__(self, error_type: str) -> None:
        super().__init__(f"injected by the sandbox: {error_type}")
        self.lambda_error_type = error_type


@dataclass
class LambdaContext:
    """The attributes of the runtime's context object that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/sandbox"
    log_stream_name: str = "sandbox"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class FunctionLogs(io.TextIOBase):
    """Where the functions' log lines go, as CloudWatch Logs would keep them: one entry per line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.extend(line for line in text.splitlines() if line.strip())
        return len(text)


class InvocationStdout(io.TextIOBase):
    """sys.stdout while the sandbox runs: what a function prints goes to its logs, as in Lambda.

    Powertools Metrics prints its embedded-metric-format lines; the invocations run on the Map's worker
    threads, so the routing is per thread. Everything else still reaches the real stdout.
    """

    def __init__(self, original: Any, logs: FunctionLogs) -> None:
        self._original = original
        self._logs = logs
        self._local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target = self._logs if getattr(self._local, "invoking", False) else self._original
        return target.write(text)

    def flush(self) -> None:
        # pytest may have closed the stream it lent, by the time a late flush arrives.
        if not getattr(self._original, "closed", False):
            self._original.flush()

    @contextmanager
    def invoking(self) -> Iterator[None]:
        # pytest swaps sys.stdout around each test: take it over again, keeping pytest's as the original.
        if sys.stdout is not self:
            self._original, sys.stdout = sys.stdout, self
        self._local.invoking = True
        try:
            yield
        finally:
            self._local.invoking = False


def _capture_stream_handlers(logs: FunctionLogs, service: str | None = None) -> None:
    # Powertools binds its handler to sys.stdout when a handler module is imported; point every such
    # handler (or one a previous sandbox captured) at this session's log store. The functions' own logger
    # (named after their service) writes to the log store whatever stream it was first given: another
    # Logger of that service, made earlier in the process (a unit test's, under pytest's capture), sets
    # up the handler that the functions' Logger then reuses.
    for candidate in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(candidate, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and (
                handler.stream is sys.stdout
                or isinstance(handler.stream, FunctionLogs)
                or (service is not None and getattr(candidate, "name", None) == service)
            ):
                _point(handler, logs)


def _point(handler: logging.StreamHandler, logs: FunctionLogs) -> None:
    if getattr(handler.stream, "closed", False):
        # setStream would flush the old stream first, and a closed one cannot be flushed.
        with handler.lock or threading.RLock():
            handler.stream = logs
    else:
        handler.setStream(logs)


@dataclass(frozen=True)
class Invocation:
    function_name: str
    error_type: str | None
    # The error a failed handler's decorator cleaned (its __context__), for a test that must say what went
    # wrong: the sandbox keeps it in memory only, as no log line may carry its text.
    withheld: str | None = None


def load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


@contextmanager
def in_process_lambda(
    record: Callable[[Invocation], None],
    logs: FunctionLogs,
    lambda_fault: Callable[[str], str | None] = lambda function_name: None,
) -> Iterator[None]:
    """While active, every Lambda invoke in moto runs the function's real handler.

    ``lambda_fault(function_name)`` may answer an error type for the invocation instead of running it.
    """

    def invoke(
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: Any,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        function = backend.get_function(function_name, qualifier)
        with _ENVIRONMENT_LOCK:
            os.environ.update(function.environment_vars)
        level = function.environment_vars.get("AWS_LAMBDA_LOG_LEVEL")
        if level:
            # The Python runtime sets its root logger to the function's application log level.
            logging.getLogger().setLevel(level)
        context = LambdaContext(
            function_name=function.function_name,
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=str(uuid.uuid4()),
        )
        event = json.loads(body) if body else {}
        handler = load_handler(function.handler)
        _capture_stream_handlers(logs, function.environment_vars.get("POWERTOOLS_SERVICE_NAME"))
        try:
            injected = lambda_fault(function.function_name)
            if injected is not None:
                raise FunctionFailed(injected)
            with stdout.invoking(), running(function.function_name):
                result = handler(event, context)
        except BaseException as error:
            if not isinstance(error, Exception) and not hasattr(error, "lambda_error_type"):
                raise
            # The runtime's own errors (a crash, a timeout) have names that are not class names.
            error_type = getattr(error, "lambda_error_type", type(error).__name__)
            response_headers["x-amz-function-error"] = "Unhandled"
            original = error.__context__ if error.__suppress_context__ else None
            withheld = "".join(traceback.format_exception(original)) if original is not None else None
            record(Invocation(function.function_name, error_type, withheld))
            return json.dumps(
                {
                    "errorType": error_type,
                    "errorMessage": str(error),
                    "stackTrace": traceback.format_tb(error.__traceback__),
                }
            ).encode()
        record(Invocation(function.function_name, None))
        return json.dumps(result).encode()

    stdout = InvocationStdout(sys.stdout, logs)
    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke), mock.patch.object(sys, "stdout", stdout):
        yield
