"""Plan one connector: list it, date its usernames, find its current credential, judge, and store the plan.

The plan itself (every username's reason, the stale ones) goes to the audit bucket; the state machine
gets a summary of counts and the plan's digest. The whole run is then held to its blast-radius cap and to
what one audit event can name, before anything is deleted.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from credential_rotation.domain.current_credential import current_username
from credential_rotation.domain.errors import AuditLimitExceeded, DeletionLimitExceeded
from credential_rotation.domain.evidence import OFF, Evidence, EvidenceState
from credential_rotation.domain.ledger_records import LedgerRecord
from credential_rotation.domain.models import (
    ConnectorTask,
    DeletionLimitRequest,
    EvidenceEntry,
    LedgerRowProblem,
    PlanRecord,
    PlanSummary,
    RotationEntry,
    UnmanagedCredential,
)
from credential_rotation.domain.policy import Plan, Reason, is_revoked, judge
from credential_rotation.domain.record_keys import plan_key
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.domain.rotation_due import decide
from credential_rotation.domain.unmanaged import sort_listing
from credential_rotation.ports import ConnectorSecrets, Ledger, RunRecords, VoiceConnectors
from credential_rotation.tasks.audit import MAX_MESSAGE_BYTES, largest_event_bytes
from credential_rotation.tasks.evidence_reading import EvidenceReader
from credential_rotation.tasks.observation import observe


def plan_connector(
    task: ConnectorTask,
    chime: VoiceConnectors,
    ledger: Ledger,
    secrets: ConnectorSecrets,
    records: RunRecords,
    fingerprints: Fingerprints,
    evidence_reader: EvidenceReader | None = None,
) -> tuple[PlanSummary, PlanRecord]:
    """The plan, as the state machine carries it (counts and the record's digest) and as stored."""
    vc_id = task.voice_connector_id
    listing = sort_listing(chime.usernames(vc_id))
    # Recording is observation, not change: a dry run records first-seen dates too.
    observed = observe(ledger, vc_id, listing.managed, task.now)
    secret = secrets.state(vc_id)
    current = current_username(secret, observed.view, listing.managed)
    evidence = evidence_reader.read(vc_id, task.policy, task.now) if evidence_reader else OFF
    settings = task.policy.settings()
    revoking = {username for username in listing.managed if is_revoked(username, settings)}
    rotation = decide(
        {username: observed.first_seen.get(username, task.now) for username in listing.managed},
        task.now,
        rotate=task.policy.rotate,
        rotate_after_days=task.policy.rotate_after_days,
        # A pending successor that is not on the connector is finished all the same: SetSecret puts it,
        # once CreateSecret has checked that this workflow created it.
        pending=secret.unfinished() if secret is not None and not secret.deleted else None,
        revoking_current_or_all=bool(revoking) and (current in revoking or revoking == set(listing.managed)),
    )
    plan = judge(
        usernames=listing.managed,
        first_seen=observed.first_seen,
        now=task.now,
        settings=settings,
        current=current,
        evidence=evidence,
        # Issued before the delete step, which judges again with it listed.
        successor_coming=rotation.due,
    )
    record = PlanRecord(
        execution_arn=task.execution_arn,
        voice_connector_id=vc_id,
        now=task.now,
        reasons={verdict.username: verdict.reason for verdict in plan.verdicts},
        stale=plan.stale,
        current=current,
        unmanaged=tuple(
            UnmanagedCredential(fingerprint=fingerprints.of(vc_id, username), why=why)
            for username, why in listing.unmanaged
        ),
        ledger_problems=tuple(
            LedgerRowProblem(username=problem.username, problem=problem.problem)
            for problem in observed.view.problems
        ),
        rotation=RotationEntry(due=rotation.due, reason=rotation.reason),
        evidence=evidence_entry(
            evidence,
            listing.managed,
            plan.switched,
            not_switched(
                plan, evidence, observed.view.records.get(current or ""), task.now, task.policy.grace_days
            ),
            secret.arn if secret is not None else None,
            lambda usernames: fingerprints.of_all(vc_id, usernames),
        ),
    )
    summary = PlanSummary(
        voice_connector_id=vc_id,
        record=records.put(plan_key(task.execution_arn, vc_id, task.target), record.to_wire()),
        counts=record.counts(),
        stale_count=len(plan.stale),
        stale_bytes=len(json.dumps(list(plan.stale), separators=(",", ":"))),
        ledger_problems=len(observed.view.problems),
        rotation=record.rotation,
    )
    return summary, record


def not_switched(
    plan: Plan, evidence: Evidence, successor: LedgerRecord | None, now: datetime, grace_days: int
) -> tuple[str, ...]:
    """The usernames the phone system still calls with although AWSCURRENT names a successor this
    workflow issued more than GraceDays ago: each kept in use, with a call since the successor was issued."""
    if successor is None or successor.issued_at is None or not evidence.decisive:
        return ()
    if now - successor.issued_at <= timedelta(days=grace_days):
        return ()
    return tuple(
        verdict.username
        for verdict in plan.verdicts
        if verdict.reason is Reason.IN_USE
        and verdict.username != successor.username
        and (evidence.last_used(verdict.username) or successor.issued_at) > successor.issued_at
    )


def evidence_entry(
    evidence: Evidence,
    listed: Iterable[str],
    switched: Iterable[str],
    still_calling: Sequence[str],
    successor_secret: str | None,
    fingerprint: Callable[[Sequence[str]], list[str]],
) -> EvidenceEntry | None:
    """What the plan records of the evidence: None when the run asked for none."""
    if evidence.state is EvidenceState.OFF:
        return None
    listed = tuple(listed)
    seen = {username: usage for username, usage in evidence.calls.by_username.items() if username in listed}
    return EvidenceEntry(
        state=evidence.state,
        why=evidence.why,
        since=evidence.since,
        last_used={username: usage.last_used_at for username, usage in seen.items()},
        calls={username: usage.calls for username, usage in seen.items()},
        unused=tuple(sorted(set(listed) - set(seen))) if evidence.decisive else (),
        switched=tuple(sorted(switched)),
        unauthenticated_calls=evidence.calls.unauthenticated,
        not_switched=tuple(fingerprint(still_calling)),
        successor_secret=successor_secret if still_calling else None,
    )


@dataclass(frozen=True)
class RunLimits:
    planned: int
    largest_event: int


def check_run_limits(request: DeletionLimitRequest) -> RunLimits:
    """The CheckDeletionLimit task: the run's plans held to MaxDeletions and to one audit event."""
    largest = largest_event_bytes(request.plans, request.policy)
    return RunLimits(enforce_run_limits(request.plans, request.max_deletions, largest), largest)


def enforce_run_limits(plans: Iterable[Mapping[str, Any]], max_deletions: int, largest_event: int) -> int:
    """Refuse the run when its plans together exceed MaxDeletions, or when its audit event could outgrow an
    SNS message (``largest_event`` is audit.largest_event_bytes of these plans); return the planned count.

    A connector whose planning failed carries no StaleCount and adds nothing.
    """
    planned = sum(int(plan.get("StaleCount", 0)) for plan in plans)
    if planned > max_deletions:
        raise DeletionLimitExceeded(
            f"the plan deletes {planned} usernames and MaxDeletions is {max_deletions}: nothing was deleted"
        )
    if largest_event > MAX_MESSAGE_BYTES:
        raise AuditLimitExceeded(
            f"the plan's {planned} stale usernames could make an audit event of {largest_event} bytes, and "
            f"an SNS message holds {MAX_MESSAGE_BYTES}: a run that deleted them could not name every "
            "deletion, so nothing was deleted. Run fewer voice connectors at a time (VoiceConnectorIds), or "
            "delete by hand"
        )
    return planned


def plans_with_work(plans: Iterable[Mapping[str, Any]]) -> Iterator[int]:
    """The places in ``plans`` of the connectors ApplyPlans has something to do on: a successor due, or
    stale usernames. A plan that failed has neither. On a night with nothing due, a connector costs its
    planning only: no state transition of ApplyPlans."""
    for place, plan in enumerate(plans):
        rotation = plan.get("Rotation")
        due = isinstance(rotation, Mapping) and rotation.get("Due") is True
        stale = plan.get("StaleCount")
        if due or (isinstance(stale, int) and stale > 0):
            yield place
