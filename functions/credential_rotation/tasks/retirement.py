"""Delete a connector's stale usernames, after checking the plan still holds.

The plan comes from the audit bucket, checked against the digest the state machine carried. The delete
step re-lists first: between planning and now a person or another run may have changed the connector.
Only usernames still present and still stale on the fresh listing are deleted, with MinKeep checked
again against that listing and AWSCURRENT matched again through the ledger. Each is marked in the
ledger just before its delete call, so that a deletion whose answer was lost is never lost with it:

- a refused call (4xx) proves nothing was deleted: its marks are taken back, and the error raised;
- any other failure (a 5xx, a connection closed or timed out) may have deleted: the marks stay, the
  error is raised, and the state machine retries the step, which re-lists and reports as deleted what it
  marked and finds gone. A retry that never comes leaves the marks for the next listing, which records
  those usernames as deleted by this execution.

A mark carries the time this attempt started, and lives MARK_LIFETIME (longer than the function can
run): a listing that still finds a username whose mark is older dates it afresh (tasks/observation.py),
since the delete did not take effect or a person put the username back.

What was deleted goes to the audit bucket as the connector's outcome record.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime

from credential_rotation.domain.current_credential import current_username
from credential_rotation.domain.evidence import OFF
from credential_rotation.domain.ledger_records import DELETED, PRESENT, LedgerView
from credential_rotation.domain.models import DeletionRequest, DeletionSummary, OutcomeRecord, PlanRecord
from credential_rotation.domain.policy import confirm_deletions
from credential_rotation.domain.record_keys import outcome_key
from credential_rotation.domain.unmanaged import sort_listing
from credential_rotation.ports import ConnectorSecrets, Ledger, RunRecords, VoiceConnectors
from credential_rotation.tasks.evidence_reading import EvidenceReader

# Usernames per delete call. The API takes a list and documents no limit; a bounded call keeps a request
# small whatever the plan holds, and each batch is marked just before its own call.
DELETE_BATCH = 100


def retire_stale(
    request: DeletionRequest,
    chime: VoiceConnectors,
    ledger: Ledger,
    secrets: ConnectorSecrets,
    records: RunRecords,
    started_at: datetime,
    evidence_reader: EvidenceReader | None = None,
) -> tuple[DeletionSummary, OutcomeRecord]:
    """What was deleted, as the state machine carries it (counts and the record's digest) and as the
    record holds it. ``started_at`` is when this attempt of the step started, by the function's clock: the
    marks' RetiringAt (each is live for MARK_LIFETIME after it) and the deletions' DeletedAt."""
    vc_id = request.voice_connector_id
    plan = records.read(request.plan, PlanRecord, vc_id, request.execution_arn)
    planned = set(plan.stale)
    fresh = sort_listing(chime.usernames(vc_id)).managed
    view = ledger.read(vc_id)
    current = current_username(secrets.state(vc_id), view, fresh)
    # Evidence read afresh too: a call since planning keeps its username. Judged at the run's clock, so a
    # call indexed since the run began counts as recent, never as old.
    evidence = evidence_reader.read(vc_id, request.policy, request.now) if evidence_reader else OFF
    confirmed = confirm_deletions(
        planned_stale=planned,
        fresh_usernames=fresh,
        first_seen=view.first_seen(),
        now=request.now,
        settings=request.policy.settings(),
        current=current,
        evidence=evidence,
    )
    deleted = _deleted_by_earlier_attempt(view, planned, set(fresh), request.execution_arn)
    for batch in _batches(confirmed):
        marked = ledger.mark_retiring(vc_id, batch, request.execution_arn, started_at)
        if marked:
            _delete(chime, ledger, vc_id, marked, request.execution_arn)
            deleted.update(marked)
    # Best effort: the deletion happened and must reach the audit event, which a failed task would hide.
    ledger_updated = not deleted or ledger.mark_deleted(
        vc_id, sorted(deleted), started_at, request.execution_arn
    )
    outcome = OutcomeRecord(
        execution_arn=request.execution_arn,
        voice_connector_id=vc_id,
        deleted=tuple(sorted(deleted)),
        skipped=tuple(sorted(planned - deleted)),
        ledger_updated=ledger_updated,
    )
    summary = DeletionSummary(
        deleted=len(outcome.deleted),
        skipped=len(outcome.skipped),
        outcome=records.put(outcome_key(request.execution_arn, vc_id, request.target), outcome.to_wire()),
        ledger_updated=ledger_updated,
    )
    return summary, outcome


def _deleted_by_earlier_attempt(
    view: LedgerView, planned: set[str], fresh: set[str], execution_arn: str
) -> set[str]:
    """What an earlier attempt of this very step marked (or even recorded as deleted) and is now gone: it
    deleted them, and this attempt reports them, so the run's audit event keeps every deletion."""
    return {
        username
        for username, record in view.records.items()
        if username in planned
        and username not in fresh
        and (
            (record.state == PRESENT and record.retiring_by == execution_arn)
            or (record.state == DELETED and record.deleted_by == execution_arn)
        )
    }


def _delete(
    chime: VoiceConnectors, ledger: Ledger, vc_id: str, marked: Sequence[str], execution_arn: str
) -> None:
    """One batch. A refusal proves nothing was deleted: its marks are taken back (best effort) before the
    service's error is raised again. Any other failure may have come after the deletion took effect: the
    marks of what the connector still lists are taken back too (it was not deleted, and a mark left on it
    would outlive this step and date it afresh on the next listing); the rest stay for a retry to report."""
    refused = False

    def take_back_marks() -> None:
        nonlocal refused
        refused = True
        ledger.unmark_retiring(vc_id, marked, execution_arn)

    try:
        chime.delete(vc_id, marked, on_refused=take_back_marks)
    except Exception:
        if not refused:
            _unmark_still_listed(chime, ledger, vc_id, marked, execution_arn)
        raise


def _unmark_still_listed(
    chime: VoiceConnectors, ledger: Ledger, vc_id: str, marked: Sequence[str], execution_arn: str
) -> None:
    """Best effort, under the delete's own error: a listing that fails leaves every mark in place."""
    try:
        listed = set(chime.usernames(vc_id))
    except Exception:  # the delete's error is the one the state machine must see
        return
    still_listed = [username for username in marked if username in listed]
    if still_listed:
        ledger.unmark_retiring(vc_id, still_listed, execution_arn)


def _batches(usernames: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(usernames), DELETE_BATCH):
        yield usernames[start : start + DELETE_BATCH]
