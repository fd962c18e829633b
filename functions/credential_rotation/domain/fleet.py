"""Fleet mode's documents and rules, pure: what a fleet run's Distributed Maps read, what each child
workflow leaves behind, and the deletion limits of the whole run and of each account.

A fleet run rotates every voice connector of its targets (accounts by Regions, ``targets.py``). Each
connector is one item of a Distributed Map and is judged exactly as in single-account mode, by the same
tasks; what differs is only where the connector is (the spoke role of its account and Region) and that
the run's limits are summed over the fleet before anything is deleted anywhere.
"""

from collections.abc import Iterable, Mapping, Sequence
from itertools import zip_longest

from pydantic import Field

from credential_rotation.domain.models import RecordRef, RotationEntry, Run, WireModel
from credential_rotation.domain.targets import Target

# One item per connector in a Distributed Map's item file; beyond this a fleet is split across schedules.
MAX_FLEET_CONNECTORS = 10_000
# Per account, in one run (fleet mode's own limit, beside the run's MaxDeletions).
DEFAULT_MAX_DELETIONS_PER_ACCOUNT = 100


class FleetItem(WireModel):
    """One connector of the fleet: what discovery writes, one per line of the item file."""

    voice_connector_id: str
    account: str
    region: str

    @property
    def target(self) -> Target:
        return Target(account=self.account, region=self.region)


class TargetFailure(WireModel):
    """An account and Region where nothing could be done (its spoke role, or listing its connectors,
    failed): reported, and the rest of the fleet goes on."""

    account: str
    region: str
    error: str
    cause: str


class DiscoveryRecord(WireModel):
    """What discovery found: every target, the connectors per target, and where it failed."""

    execution_arn: str
    targets: tuple[str, ...]
    connectors: dict[str, int]
    failures: tuple[TargetFailure, ...]


class FleetRun(Run):
    """A fleet run: the single-account run's policy and clock, and the fleet's own limit and targets."""

    max_deletions_per_account: int = Field(ge=0)
    targets: int


class ItemsLocation(WireModel):
    """Where a Distributed Map's ItemReader finds its items (s3:getObject, a JSON array)."""

    bucket: str
    key: str
    # Of the file's bytes as written: a reader checks it (the file is read by key, like any run record).
    sha256: str
    count: int

    @property
    def ref(self) -> RecordRef:
        return RecordRef(key=self.key, sha256=self.sha256)


class ApplyItem(FleetItem):
    """A connector the apply phase acts on: due a successor or with something stale, and its plan."""

    plan: RecordRef
    stale_count: int
    rotation: RotationEntry


def target_name(target: Target | FleetItem | TargetFailure) -> str:
    return f"{target.account}/{target.region}"


def interleave(discovered: Mapping[Target, Sequence[str]]) -> list[FleetItem]:
    """One item per connector, round-robin over the targets: the Map starts its children in item order,
    so its concurrency is spread over every account and Region instead of spent on one at a time (each
    account and Region has its own Chime SDK rate limit)."""
    columns = [
        [FleetItem(voice_connector_id=vc, account=target.account, region=target.region) for vc in sorted(ids)]
        for target, ids in sorted(discovered.items())
    ]
    return [item for row in zip_longest(*columns) for item in row if item is not None]


def deletion_limit_refusal(
    stale_by_account: Mapping[str, int], max_deletions: int, max_deletions_per_account: int
) -> str | None:
    """Why the run must delete nothing, or None: the fleet's plans together, or one account's, would
    delete more than the run allows. Checked before any deletion anywhere, as single-account mode
    checks MaxDeletions over its plans."""
    total = sum(stale_by_account.values())
    if total > max_deletions:
        return (
            f"the fleet's plans would delete {total} credentials, more than MaxDeletions ({max_deletions}): "
            "nothing was deleted; raise MaxDeletions for this run or narrow its Targets"
        )
    over = sorted(account for account, stale in stale_by_account.items() if stale > max_deletions_per_account)
    if over:
        named = ", ".join(over[:10]) + (f" and {len(over) - 10} more" if len(over) > 10 else "")
        return (
            f"the plans would delete more than MaxDeletionsPerAccount ({max_deletions_per_account}) in "
            f"account {named}: nothing was deleted; raise MaxDeletionsPerAccount or exclude the account"
        )
    return None


def stale_by_account(items: Iterable[ApplyItem]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in items:
        totals[item.account] = totals.get(item.account, 0) + item.stale_count
    return totals
