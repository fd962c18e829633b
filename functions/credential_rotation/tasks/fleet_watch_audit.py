"""The rollback watch in a fleet run's audit trail: per connector in the report (as single-account mode's
report has it), and on each watched connector's deletion (or failure) in the event with the run's counts.
A broken or failed watch pages as in single-account mode (tasks/alerting.py, from the report).

A connector the watch Map was given owes a watch result: one without is reported with ``ResultMissing``,
never silently as unwatched.
"""

from collections.abc import Mapping
from typing import Any

from credential_rotation.ports import RunRecords
from credential_rotation.tasks.audit import error_entry, event_watch, watch_entry

Where = tuple[str, str, str]

LOST_WATCH = {
    "Error": "ResultMissing",
    "Cause": "the watch's child workflow left no result: see the Map Run in the console",
}


def connector_watch(
    where: Where,
    watched: set[Where],
    results: Mapping[Where, Mapping[str, Any]],
    records: RunRecords,
    execution_arn: str,
) -> dict[str, Any] | None:
    """What the watch saw on a connector and put back, as single-account mode's report says it (None: not
    watched)."""
    if where not in watched:
        return None
    result = results.get(where)
    if result is None:
        result = {"VoiceConnectorId": where[2], "Watch": None, "Step": "WatchFleet", "Error": LOST_WATCH}
    return watch_entry(result, records, execution_arn)


def in_event(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A watched connector's watch as the event carries it (verdict and counts, as single-account mode's
    event does); nothing for a connector that was not watched."""
    watch = event_watch(entry.get("Watch"))
    return {"Watch": watch} if watch else {}


def needs_a_person(watch: Mapping[str, Any] | None) -> bool:
    """A deletion broke the connector's calls, or its watch failed: someone must look."""
    if not watch:
        return False
    return watch.get("Verdict") == "broken" or bool(watch.get("Error"))


def watch_totals(connectors: list[Mapping[str, Any]]) -> dict[str, int]:
    """The watch's counts, never cut from the event (unlike the deletions that carry each verdict)."""
    watches = [entry["Watch"] for entry in connectors if entry.get("Watch")]
    return {
        "Watched": len(watches),
        "Healthy": sum(1 for watch in watches if watch["Verdict"] == "healthy"),
        "Quiet": sum(1 for watch in watches if watch["Verdict"] == "quiet"),
        "Broken": sum(1 for watch in watches if watch["Verdict"] == "broken"),
        "Restored": sum(len(watch["Restored"]) for watch in watches),
        "NotRestorable": sum(len(watch["NotRestorable"]) for watch in watches),
        "Failed": sum(1 for watch in watches if watch["Error"]),
    }


def run_watch_error(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The watch as a whole could not run (its selection or its Map failed) after the run deleted: the
    run's error, so that the execution fails and pages, as nothing watched those deletions."""
    return error_entry(state.get("WatchError"))
