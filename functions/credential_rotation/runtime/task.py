"""The one decorator every handler wears: logger context, tracing when on, retryable failures counted, and
errors that leave the function without a username or a password in them.

What a function raises is logged by the Lambda runtime ("[ERROR] <type>: <message>" and the traceback)
and travels into the execution history and the audit event. The project's own errors (``errors.py``) are
written to name fields and steps, never values. Any other error may carry a value: the SDK's errors quote
the service's message, pydantic's quote the input, a ``KeyError`` quotes its key. So every error is raised
again under its own name (the name is what the state machine's Retry and Catch match) with a message
that says what failed and withholds the rest, from this frame, so the traceback shows no deeper frame.

Importing this module also pins the AWS SDK's loggers at WARNING. With Lambda's advanced logging
controls at DEBUG (``LoggingConfig`` ``ApplicationLogLevel: DEBUG``), the Python runtime sets the root
logger to DEBUG, and botocore's DEBUG records carry request and response bodies: passwords and usernames.
"""

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from botocore.exceptions import BotoCoreError, ClientError

from credential_rotation.adapters.run_metrics import count_retryable_failure
from credential_rotation.domain.errors import RotationError
from credential_rotation.runtime.tracing import traced

# Loggers whose records can carry request or response bodies, pinned above DEBUG whatever the root says.
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "aws_xray_sdk", "aws_lambda_powertools")
# The Lambda runtime logs the whole message; Step Functions keeps an error's cause. Keep both short.
MAX_MESSAGE_CHARACTERS = 500

Handler = Callable[[Any, Any], Any]


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_sdk_loggers()


def withheld(error: BaseException) -> str:
    """What can be said of an error without repeating a value it may carry."""
    if isinstance(error, RotationError):
        return str(error)
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "unknown")
        return (
            f"{error.operation_name} answered {details.get('Code', 'an error')} (HTTP {status}); the "
            "service's message is withheld because it may name a credential"
        )
    if isinstance(error, BotoCoreError):
        return (
            f"the AWS SDK failed with {type(error).__name__}; its text is withheld (it may quote a request)"
        )
    return f"{type(error).__name__}; its text is withheld because it may carry a username"


def sanitized(error: Exception) -> Exception:
    """The same error name, a message without values, and no chained cause."""
    message = withheld(error)[:MAX_MESSAGE_CHARACTERS]
    if isinstance(error, RotationError):
        return type(error)(message)
    # A class of the same name: Step Functions matches Retry and Catch on the name alone.
    same_name: type[Exception] = type(type(error).__name__, (Exception,), {"__module__": __name__})
    return same_name(message)


@lambda_handler_decorator
def _errors_without_values(handler: Handler, event: Any, context: Any) -> Any:
    try:
        return handler(event, context)
    except Exception as error:
        count_retryable_failure(type(error).__name__, event)
        raise sanitized(error) from None


def task(logger: Logger) -> Callable[[Handler], Handler]:
    """``@task(logger)`` over a handler: the decorators every task's handler needs, in their order."""

    def decorate(handler: Handler) -> Handler:
        with_context = logger.inject_lambda_context(clear_state=True)(handler)
        return traced(_errors_without_values(with_context))

    return decorate
