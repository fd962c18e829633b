"""Fleet mode's run-level steps (the per-connector steps are single-account mode's own tasks):

- ``start_fleet_run``: resolve the input and the Targets, discover every target's connectors through its
  spoke role, write the item file the planning Map reads, and take the run lock when the run may change
  anything. A target whose role or listing fails is reported and the rest go on.
- ``record_result``: what a child workflow ended with, written where the fleet's steps find it (a
  Distributed Map's results do not come back into the execution's state).
- ``check_fleet_limits``: every plan of the run, summed per run and per account against MaxDeletions and
  MaxDeletionsPerAccount before anything is deleted anywhere; the item file of the apply Map.
"""

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from credential_rotation.domain.errors import (
    DeletionLimitExceeded,
    InvalidInput,
    RotationError,
    RunInProgress,
    RunRecordMismatch,
    TooManyVoiceConnectors,
)
from credential_rotation.domain.fleet import (
    DEFAULT_MAX_DELETIONS_PER_ACCOUNT,
    MAX_FLEET_CONNECTORS,
    ApplyItem,
    DiscoveryRecord,
    FleetItem,
    FleetRun,
    ItemsLocation,
    TargetFailure,
    deletion_limit_refusal,
    interleave,
    stale_by_account,
    target_name,
)
from credential_rotation.domain.models import PlanRecord, RecordRef, ResolveRunRequest
from credential_rotation.domain.record_keys import execution_name, plan_key
from credential_rotation.domain.settings import Settings
from credential_rotation.domain.targets import NoTargets, Target, TooManyTargets, parse_targets, resolve
from credential_rotation.ports import FleetDocuments, OrganizationAccounts, RunLock, VoiceConnectors
from credential_rotation.tasks.run_input import MAX_DELETIONS_LIMIT, refusal_context, resolve_run
from credential_rotation.tasks.starting import Refusal

REFUSALS = (InvalidInput, NoTargets, TooManyTargets, TooManyVoiceConnectors, RunInProgress)
FLEET_FIELDS = ("Targets", "MaxDeletionsPerAccount")
# Targets discovered at once: each is an AssumeRole and a ListVoiceConnectors in its own account.
DISCOVERY_THREADS = 8


def run_prefix(execution_arn: str) -> str:
    return f"runs/{execution_name(execution_arn)}/"


def fleet_key(execution_arn: str, name: str) -> str:
    return f"{run_prefix(execution_arn)}fleet/{name}"


def result_key(execution_arn: str, phase: str, item: FleetItem) -> str:
    return fleet_key(
        execution_arn, f"results/{phase}/{item.account}/{item.region}/{item.voice_connector_id}.json"
    )


@dataclass(frozen=True)
class FleetStart:
    run: FleetRun
    items: ItemsLocation
    discovery: RecordRef
    targets_failed: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "Run": self.run.to_wire(),
            "Items": self.items.to_wire(),
            "Discovery": {"Record": self.discovery.to_wire(), "TargetsFailed": self.targets_failed},
        }


def split_fleet_input(raw: object, default_targets: Any = None) -> tuple[dict[str, Any], Any, int]:
    """The input without the fleet's own fields (checked as single-account mode's input), the Targets
    document (``default_targets``, the FleetTargets parameter, when the input has none) and
    MaxDeletionsPerAccount."""
    if not isinstance(raw, dict):
        raise InvalidInput("execution input: must be a JSON object")
    problems = []
    if "VoiceConnectorIds" in raw:
        problems.append(
            "VoiceConnectorIds: a fleet run rotates every voice connector of its Targets; narrow the Targets"
        )
    per_account = raw.get("MaxDeletionsPerAccount", DEFAULT_MAX_DELETIONS_PER_ACCOUNT)
    if type(per_account) is not int or not 0 <= per_account <= MAX_DELETIONS_LIMIT:
        problems.append(f"MaxDeletionsPerAccount: must be a whole number from 0 to {MAX_DELETIONS_LIMIT}")
    targets = raw.get("Targets", default_targets)
    if targets is None:
        problems.append("Targets: required in a fleet run (the stack's FleetTargets parameter is empty)")
    if problems:
        raise InvalidInput("execution input: " + "; ".join(problems))
    rest = {key: value for key, value in raw.items() if key not in FLEET_FIELDS}
    return rest, targets, per_account


def start_fleet_run(
    request: ResolveRunRequest,
    settings: Settings,
    organization: OrganizationAccounts,
    connectors_in: Callable[[Target], VoiceConnectors],
    records: FleetDocuments,
    lock: RunLock,
    now: datetime,
) -> FleetStart | Refusal:
    try:
        rest, raw_targets, per_account = split_fleet_input(request.input, settings.fleet_targets)
        run = resolve_run(rest, request.execution_arn, request.started_at, settings, lambda: ())
        targets = parse_targets(raw_targets)
        listed = (
            organization.accounts_under(targets.OrganizationalUnitIds)
            if targets.OrganizationalUnitIds
            else ()
        )
        resolved = resolve(targets, listed)
        discovered, failures = _discover(resolved, connectors_in)
        items = interleave(discovered)
        if len(items) > MAX_FLEET_CONNECTORS:
            raise TooManyVoiceConnectors(
                f"the Targets hold {len(items)} voice connectors; one fleet run processes at most "
                f"{MAX_FLEET_CONNECTORS}: split the Targets across several schedules"
            )
        fleet_run = FleetRun(
            **run.model_dump(exclude={"voice_connector_ids"}),
            voice_connector_ids=(),
            max_deletions_per_account=per_account,
            targets=len(resolved),
        )
        if not fleet_run.dry_run:
            lock.acquire(fleet_run.execution_arn, now)
    except REFUSALS as refusal:
        trigger, dry_run = refusal_context(request.input, settings.default_dry_run)
        return Refusal(type(refusal).__name__, str(refusal), trigger, dry_run)
    discovery = records.put(
        fleet_key(request.execution_arn, "discovery.json"),
        DiscoveryRecord(
            execution_arn=request.execution_arn,
            targets=tuple(target_name(target) for target in resolved),
            connectors={target_name(target): len(ids) for target, ids in discovered.items()},
            failures=tuple(failures),
        ).to_wire(),
    )
    items_key = fleet_key(request.execution_arn, "items.json")
    written = records.put_items(items_key, [item.to_wire() for item in items])
    return FleetStart(
        run=fleet_run,
        items=ItemsLocation(bucket=records.bucket, key=items_key, sha256=written.sha256, count=len(items)),
        discovery=discovery,
        targets_failed=len(failures),
    )


def _discover(
    targets: list[Target], connectors_in: Callable[[Target], VoiceConnectors]
) -> tuple[dict[Target, list[str]], list[TargetFailure]]:
    def listing(target: Target) -> list[str] | TargetFailure:
        try:
            return sorted(set(connectors_in(target).voice_connector_ids()))
        except Exception as error:  # one target's failure is reported; the rest of the fleet goes on
            return TargetFailure(
                account=target.account, region=target.region, error=type(error).__name__, cause=_said(error)
            )

    with ThreadPoolExecutor(max_workers=DISCOVERY_THREADS) as pool:
        answers = list(pool.map(listing, targets))
    discovered: dict[Target, list[str]] = {}
    failures: list[TargetFailure] = []
    for target, answer in zip(targets, answers, strict=True):
        if isinstance(answer, TargetFailure):
            failures.append(answer)
        else:
            discovered[target] = answer
    return discovered, failures


def _said(error: Exception) -> str:
    # A RotationError's text is written to carry no value; the SDK's may quote a request.
    if isinstance(error, RotationError):
        return str(error)
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return f"{type(error).__name__}" + (f" ({code})" if code else "") + "; its text is withheld"


def record_result(
    execution_arn: str, phase: str, result: Mapping[str, Any], records: FleetDocuments
) -> RecordRef:
    """What one child workflow ended with (its connector, and its change or its error)."""
    item = FleetItem.model_validate(result)
    document = {"ExecutionArn": execution_arn, "Phase": phase, **dict(result)}
    return records.put(result_key(execution_arn, phase, item), document)


@dataclass(frozen=True)
class LimitCheck:
    items: ItemsLocation
    planned: int
    stale: int

    def to_wire(self) -> dict[str, Any]:
        return {"Items": self.items.to_wire(), "Planned": self.planned, "Stale": self.stale}


def check_fleet_limits(run: FleetRun, records: FleetDocuments) -> LimitCheck:
    """Every plan this run wrote, summed per run and per account; the apply Map's items (connectors due a
    successor or with something stale). Raises DeletionLimitExceeded before anything is deleted."""
    to_apply: list[ApplyItem] = []
    planned = 0
    for ref, target, plan in fleet_plans(run.execution_arn, records):
        planned += 1
        if plan.stale or plan.rotation.due:
            to_apply.append(
                ApplyItem(
                    voice_connector_id=plan.voice_connector_id,
                    account=target.account,
                    region=target.region,
                    plan=ref,
                    stale_count=len(plan.stale),
                    rotation=plan.rotation,
                )
            )
    totals = stale_by_account(to_apply)
    refusal = deletion_limit_refusal(totals, run.policy.max_deletions, run.max_deletions_per_account)
    if refusal is not None:
        raise DeletionLimitExceeded(refusal)
    key = fleet_key(run.execution_arn, "apply.json")
    written = records.put_items(key, [item.to_wire() for item in to_apply])
    return LimitCheck(
        items=ItemsLocation(bucket=records.bucket, key=key, sha256=written.sha256, count=len(to_apply)),
        planned=planned,
        stale=sum(totals.values()),
    )


def fleet_plans(
    execution_arn: str, records: FleetDocuments
) -> Iterator[tuple[RecordRef, Target, PlanRecord]]:
    """Every plan a fleet run wrote, with its digest and its connector's account and Region, each checked
    to be a PlanRecord of this run filed where its own connector's plan goes (else RunRecordMismatch)."""
    for ref, document in records.documents(f"{run_prefix(execution_arn)}plans/"):
        try:
            plan = PlanRecord.model_validate(document)
        except ValidationError:
            raise RunRecordMismatch(f"the run record {ref.key} is not a PlanRecord") from None
        # runs/<run>/plans/<account>/<Region>/<id>.json
        parts = ref.key.split("/")
        if len(parts) != 6:
            raise RunRecordMismatch(f"the run record {ref.key} is not where a fleet run's plan is kept")
        target = Target(account=parts[3], region=parts[4])
        if plan.execution_arn != execution_arn or ref.key != plan_key(
            execution_arn, plan.voice_connector_id, target
        ):
            raise RunRecordMismatch(f"the run record {ref.key} is the record of another connector or run")
        yield ref, target, plan
