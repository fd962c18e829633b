"""Prints what a person wants to see of a run: the path it took, its retries, and its audit event."""

import json
from typing import Any, TextIO

from sandbox.executions import Execution
from sandbox.template import REPOSITORY

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
) -> None:
    out.write(f"\n=== {title}\n")
    out.write(f"states   {state_path(execution)}\n")
    retries = execution.retries()
    if retries:
        for retry, wait in zip(retries, waits, strict=False):
            out.write(
                f"retry    {retry.state} after {retry.error}: waited {wait.delay:.2f}s "
                f"(full jitter under a {wait.cap:g}s cap)\n"
            )
    else:
        out.write("retries  none\n")
    out.write(f"status   {execution.status}" + (f" ({execution.error})" if execution.error else "") + "\n")
    for message in messages:
        attributes = " ".join(f"{key}={value}" for key, value in sorted(message["Attributes"].items()))
        out.write(f"audit    SNS message with attributes {attributes}\n")
        out.write(_indent(json.dumps(message["Body"], indent=2)) + "\n")


def _indent(text: str) -> str:
    return "\n".join("         " + line for line in text.splitlines())
