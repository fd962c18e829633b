"""Prints what a person wants to see of a run: the path it took, its retries, whether it pages, its
metrics and its audit event."""

import json
from typing import Any, TextIO

from sandbox.executions import Execution
from sandbox.template import REPOSITORY

# The statuses template.yaml's RunFailedRule matches.
PAGING_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
TOP_LEVEL_STATES = set(json.loads((REPOSITORY / "statemachine" / "rotation.asl.json").read_text())["States"])


def state_path(execution: Execution) -> str:
    """Top-level states in order; the states inside a Map are counted in brackets after it."""
    steps: list[str] = []
    inner: dict[str, int] = {}

    def close_map() -> None:
        if inner:
            steps[-1] += " [" + ", ".join(f"{name} x{count}" for name, count in inner.items()) + "]"
            inner.clear()

    for name in execution.states_entered():
        if name in TOP_LEVEL_STATES:
            close_map()
            steps.append(name)
        else:
            inner[name] = inner.get(name, 0) + 1
    close_map()
    return " -> ".join(steps)


def print_run(
    out: TextIO,
    title: str,
    execution: Execution,
    messages: list[dict[str, Any]],
    waits: list[Any],
    metrics: list[dict[str, Any]] = (),
) -> None:
    out.write(f"\n=== {title}\n")
    out.write(f"states   {state_path(execution)}\n")
    retries = execution.retries()
    for retry in retries:
        out.write(f"retry    {retry.state} after {retry.error}\n")
    if not retries:
        out.write("retries  none\n")
    if waits:
        drawn = ", ".join(f"{wait.delay:.2f}s of {wait.cap:g}s" for wait in waits)
        out.write(f"waits    {drawn} (full jitter: the wait drawn, of the backoff cap)\n")
    out.write(f"status   {execution.status}" + (f" ({execution.error})" if execution.error else "") + "\n")
    if execution.status in PAGING_STATUSES:
        out.write(f"alert    RunFailedRule pages the alerts topic: {execution.status}, {execution.arn}\n")
    totals: dict[str, float] = {}
    for record in metrics:
        if set(record["Dimensions"]) == {"service"}:  # the per-run records; per connector they repeat
            for name, values in record["Values"].items():
                totals[name] = totals.get(name, 0) + sum(values)
    if totals:
        out.write("metrics  " + " ".join(f"{name}={value:g}" for name, value in totals.items()) + "\n")
    for message in messages:
        attributes = " ".join(f"{key}={value}" for key, value in sorted(message["Attributes"].items()))
        report = message["Body"].get("Report") or {}
        if report:
            out.write(
                f"report   s3://{report['Bucket']}/{report['Key']} (version {report['VersionId']}, "
                "Object Lock: governance): every username's reason\n"
            )
        out.write(f"audit    SNS message with attributes {attributes}\n")
        out.write(_indent(audit_json(message["Body"])) + "\n")


def audit_json(event: dict[str, Any]) -> str:
    """The event as JSON, one line per field and per voice connector, so a run fits on a screen."""
    lines = []
    for key, value in event.items():
        if key == "VoiceConnectors" and value:
            entries = ",\n".join(f"    {json.dumps(entry)}" for entry in value)
            lines.append(f'  "{key}": [\n{entries}\n  ]')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _indent(text: str) -> str:
    return "\n".join("         " + line for line in text.splitlines())
