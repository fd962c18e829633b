"""Fleet mode's rollback watch, its run-level step: which connectors the run deleted on.

Single-account mode selects them from the apply Map's results in the execution's state (watching.py). A
fleet run's apply results are not in its state (a Distributed Map's results do not come back): each apply
child recorded its change in the audit bucket, so the selection reads those records, applies the same test
(``watching.deleted_on``), and writes the watch Map's item file beside apply.json. Then the state machine
waits WatchMinutes once for the whole run, and one child per selected connector runs single-account mode's
own watch states through the connector's spoke role.
"""

from dataclasses import dataclass
from typing import Any

from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.fleet import FleetItem, FleetRun, ItemsLocation
from credential_rotation.ports import FleetDocuments
from credential_rotation.tasks.fleet import fleet_key, result_key, run_prefix
from credential_rotation.tasks.watching import deleted_on

WATCH_PHASE = "watch"


@dataclass(frozen=True)
class FleetWatchSelection:
    # 0: nothing to watch (nothing deleted, or WatchMinutes 0), and no item file.
    watch_seconds: int
    items: ItemsLocation | None

    def to_wire(self) -> dict[str, Any]:
        return {"WatchSeconds": self.watch_seconds, "Items": self.items.to_wire() if self.items else None}


def select_fleet_watched(run: FleetRun, records: FleetDocuments) -> FleetWatchSelection:
    """The connectors whose apply child may have deleted, written as the watch Map's item file."""
    if run.watch_seconds <= 0:
        # The watch is off: no need to read a single record.
        return FleetWatchSelection(watch_seconds=0, items=None)
    watched = [item for item, change in apply_results(run.execution_arn, records) if deleted_on(change)]
    if not watched:
        return FleetWatchSelection(watch_seconds=0, items=None)
    key = fleet_key(run.execution_arn, "watch.json")
    written = records.put_items(key, [item.to_wire() for item in watched])
    return FleetWatchSelection(
        watch_seconds=run.watch_seconds,
        items=ItemsLocation(bucket=records.bucket, key=key, sha256=written.sha256, count=len(watched)),
    )


def apply_results(execution_arn: str, records: FleetDocuments) -> list[tuple[FleetItem, dict[str, Any]]]:
    """Every apply child's recorded change, each checked to be this run's, filed where its own connector's
    result goes (else RunRecordMismatch: a record no task of this run wrote must not steer a restore)."""
    results = []
    for ref, document in records.documents(f"{run_prefix(execution_arn)}fleet/results/apply/"):
        try:
            item = FleetItem.model_validate(document)
        except ValueError:
            raise RunRecordMismatch(f"the run record {ref.key} is not a connector's result") from None
        if (
            document.get("ExecutionArn") != execution_arn
            or document.get("Phase") != "apply"
            or ref.key != result_key(execution_arn, "apply", item)
        ):
            raise RunRecordMismatch(f"the run record {ref.key} is the result of another connector or run")
        results.append((item, document))
    return results
