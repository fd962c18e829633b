"""Start executions, wait for them with a deadline, and read what they did from their history."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


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

    def states_entered(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if event["type"].endswith("StateEntered")
        ]

    def retries(self) -> list[Retry]:
        """Each failed attempt of a task that was followed by another attempt of the same task."""
        retries, current = [], {}
        for event in self.history:
            if event["type"].endswith("StateEntered"):
                current[event.get("previousEventId")] = event["stateEnteredEventDetails"]["name"]
            failure = event.get("lambdaFunctionFailedEventDetails") or event.get("taskFailedEventDetails")
            if failure:
                retries.append((self._state_of(event), failure.get("error", "")))
        return [Retry(state, error) for state, error in self._followed_by_retry(retries)]

    def _state_of(self, event: dict[str, Any]) -> str:
        by_id = {item["id"]: item for item in self.history}
        cursor = event
        while cursor is not None:
            if cursor["type"].endswith("StateEntered"):
                return cursor["stateEnteredEventDetails"]["name"]
            cursor = by_id.get(cursor.get("previousEventId"))
        return "?"

    def _followed_by_retry(self, failures: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # A failure is a retry unless it was the last attempt, which Catch or the run's end handled;
        # the attempt count per state tells the two apart.
        scheduled: dict[str, int] = {}
        for event in self.history:
            if event["type"] in ("LambdaFunctionScheduled", "TaskScheduled"):
                state = self._state_of(event)
                scheduled[state] = scheduled.get(state, 0) + 1
        failed_by_state: dict[str, list[str]] = {}
        for state, error in failures:
            failed_by_state.setdefault(state, []).append(error)
        retried = []
        for state, errors in failed_by_state.items():
            attempts = scheduled.get(state, 0)
            entries = sum(1 for name in self.states_entered() if name == state)
            retried.extend((state, error) for error in errors[: max(attempts - entries, 0)])
        return retried


def wait_for(client: Any, execution_arn: str, deadline_seconds: float = 120.0) -> Execution:
    """Poll until the execution ends; a deadline turns a hang into a clear failure."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        description = client.describe_execution(executionArn=execution_arn)
        if description["status"] in FINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still {description['status']} after {deadline_seconds}s")
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
