"""Start executions, wait for them with a deadline, and read what they did from their history."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
SCHEDULED = frozenset({"LambdaFunctionScheduled", "TaskScheduled"})


@dataclass(frozen=True)
class Retry:
    state: str
    error: str


@dataclass
class Execution:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(repr=False)

    @property
    def audit_event(self) -> dict[str, Any] | None:
        """The audit event: the output of a succeeded run, the cause of a failed one (when it fits)."""
        if self.status == "SUCCEEDED":
            return self.output
        try:
            parsed = json.loads(self.cause or "")
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) and "SchemaVersion" in parsed else None

    def largest_state_bytes(self) -> int:
        """The largest input or output any state or task had (UTF-8 bytes): what Step Functions holds to its
        256 KiB limit, whose breach (States.DataLimitExceeded) no Catch takes."""
        sizes = [0]
        for event in self.history:
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    sizes += [
                        len(details[field].encode())
                        for field in ("input", "output")
                        if isinstance(details.get(field), str)
                    ]
        return max(sizes)

    def states_entered(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if event["type"].endswith("StateEntered")
        ]

    def retries(self) -> list[Retry]:
        """Each failed attempt of a task that the retry policy answered with another attempt."""
        following: dict[int, list[dict[str, Any]]] = {}
        for event in self.history:
            following.setdefault(event.get("previousEventId", 0), []).append(event)
        retries = []
        for event in self.history:
            failure = event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")
            retried = any(after["type"] in SCHEDULED for after in following.get(event["id"], []))
            if failure and retried:
                retries.append(Retry(self._state_of(event), failure.get("error", "")))
        return retries

    def _state_of(self, event: dict[str, Any]) -> str:
        by_id = {item["id"]: item for item in self.history}
        cursor: dict[str, Any] | None = event
        while cursor is not None:
            if cursor["type"].endswith("StateEntered"):
                return cursor["stateEnteredEventDetails"]["name"]
            cursor = by_id.get(cursor.get("previousEventId"))
        return "?"


def wait_for(client: Any, execution_arn: str, deadline_seconds: float = 120.0) -> Execution:
    """Poll until the execution ends; a deadline turns a hang into a clear failure."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        description = client.describe_execution(executionArn=execution_arn)
        if description["status"] in FINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"execution {execution_arn} still {description['status']} after {deadline_seconds}s"
            )
        time.sleep(0.05)
    history = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**request)
        history.extend(page["events"])
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    output = description.get("output")
    return Execution(
        arn=execution_arn,
        status=description["status"],
        output=json.loads(output) if output else None,
        error=description.get("error"),
        cause=description.get("cause"),
        history=history,
    )
