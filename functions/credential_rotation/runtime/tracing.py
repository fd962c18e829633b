"""X-Ray tracing when the stack turns it on (parameter Tracing=Active), and no cost at all when it is off.

Powertools' Tracer imports the X-Ray SDK even when tracing is disabled, which adds about 200 ms to every
cold start. So the decision is made once, at import, from POWERTOOLS_TRACE_DISABLED (which the template
sets from the Tracing parameter), and the Tracer module is only imported when tracing is on.
"""

from collections.abc import Callable
from os import environ
from typing import Any

Handler = Callable[[Any, Any], Any]


def tracing_enabled() -> bool:
    return environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() not in ("true", "1")


def traced(handler: Handler) -> Handler:
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    # Tracer() patches boto3, so every AWS call of the handler is a subsegment. Responses and errors are
    # not captured as trace metadata: they hold usernames (a listing, a deletion, the audit event).
    return Tracer().capture_lambda_handler(handler, capture_response=False, capture_error=False)
