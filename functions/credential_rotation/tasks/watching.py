"""The rollback watch: after a run deletes on connectors, wait, look at their calls, and put back what this
workflow can put back where the deletion broke them.

Three steps, each a task of the state machine (WatchDeletions, after ApplyPlans):

1. ``select_watched``: the connectors the run deleted on (none: no wait at all).
2. After one Wait of ``WatchMinutes``, ``watch_connector`` per connector: its outbound calls since the
   wait began against the week before (domain/watch.py).
3. On a broken verdict, ``restore_deleted`` (run by the issuing function, the only one that reads a
   credential's value): every username this run deleted on the connector that this workflow issued, and
   whose secret version still holds what was issued, is put back. The rest are named for a person. What
   it did is a record in the audit bucket; the state carries counts and its digest.

A restored username is listed again: the next run dates it afresh (a new life), and with evidence on keeps
it in use for as long as the phone system calls with it.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from credential_rotation.domain.errors import MalformedSecret
from credential_rotation.domain.ledger_records import DELETED, PRESENT, LedgerRecord
from credential_rotation.domain.models import (
    CallCountsEntry,
    RestoreRecord,
    RestoreRequest,
    RestoreSummary,
    WatchRequest,
    WatchResult,
    WatchSelection,
)
from credential_rotation.domain.record_keys import restore_key
from credential_rotation.domain.watch import CallCounts, judge_watch
from credential_rotation.ports import ConnectorHealth, ConnectorSecrets, Ledger, RunRecords, VoiceConnectors

# The baseline a connector's calls are compared with: the week before the watch.
BASELINE = timedelta(days=7)


def select_watched(changes: Iterable[Mapping[str, Any]], watch_seconds: int) -> WatchSelection:
    """The connectors with a deletion (a failed one included: it may have deleted before it failed)."""
    watched = tuple(change["VoiceConnectorId"] for change in changes if deleted_on(change))
    return WatchSelection(watch_seconds=watch_seconds if watched else 0, voice_connector_ids=watched)


def deleted_on(change: Mapping[str, Any]) -> bool:
    """Whether a connector's change (as its apply states ended it) may have deleted a credential: the same
    test in both modes, so that a fleet run watches what a single-account run would."""
    return isinstance(change.get("VoiceConnectorId"), str) and (
        int((change.get("Deletion") or {}).get("Deleted", 0)) > 0 or change.get("Step") == "DeleteCredentials"
    )


def watch_connector(request: WatchRequest, health: ConnectorHealth, now: datetime) -> WatchResult:
    """``now`` is when the wait ended: the watch window is the ``watch_seconds`` before it."""
    start = now - timedelta(seconds=request.watch_seconds)
    watched = health.outbound(request.voice_connector_id, start, now)
    baseline = health.outbound(request.voice_connector_id, start - BASELINE, start)
    judgement = judge_watch(watched, baseline)
    return WatchResult(
        voice_connector_id=request.voice_connector_id,
        verdict=judgement.verdict,
        signals=judgement.signals,
        watched=_entry(watched),
        baseline=_entry(baseline),
    )


def restore_deleted(
    request: RestoreRequest,
    ledger: Ledger,
    secrets: ConnectorSecrets,
    chime: VoiceConnectors,
    records: RunRecords,
) -> tuple[RestoreSummary, RestoreRecord]:
    vc_id = request.voice_connector_id
    listed = set(chime.usernames(vc_id))
    restored, not_restorable, already = [], [], []
    for record in _deleted_by(ledger.read(vc_id).records.values(), request.execution_arn):
        if record.username in listed:
            already.append(record.username)
        elif _put_back(record, vc_id, secrets, chime):
            restored.append(record.username)
        else:
            not_restorable.append(record.username)
    outcome = RestoreRecord(
        execution_arn=request.execution_arn,
        voice_connector_id=vc_id,
        restored=tuple(sorted(restored)),
        not_restorable=tuple(sorted(not_restorable)),
        already_listed=tuple(sorted(already)),
    )
    summary = RestoreSummary(
        restored=len(restored),
        not_restorable=len(not_restorable),
        record=records.put(restore_key(request.execution_arn, vc_id, request.target), outcome.to_wire()),
    )
    return summary, outcome


def _deleted_by(records: Iterable[LedgerRecord], execution_arn: str) -> list[LedgerRecord]:
    """What this run deleted: recorded as deleted by it, or still marked by its delete step (the deletion
    took effect but was not recorded)."""
    return sorted(
        (
            record
            for record in records
            if (record.state == DELETED and record.deleted_by == execution_arn)
            or (record.state == PRESENT and record.retiring_by == execution_arn)
        ),
        key=lambda record: record.username,
    )


def _put_back(record: LedgerRecord, vc_id: str, secrets: ConnectorSecrets, chime: VoiceConnectors) -> bool:
    """Put a deleted credential back when this workflow issued it and its version still holds it."""
    if record.secret_version_id is None:
        return False
    try:
        stored = secrets.read(vc_id, record.secret_version_id)
    except MalformedSecret:
        return False
    except Exception as error:  # a version Secrets Manager no longer has: not restorable, not a failure
        if type(error).__name__ != "ResourceNotFoundException":
            raise
        return False
    if stored.username != record.username or stored.voice_connector_id != vc_id:
        return False
    chime.put(vc_id, record.username, stored.password)
    return True


def _entry(counts: CallCounts) -> CallCountsEntry:
    return CallCountsEntry(attempts=counts.attempts, failures=counts.failures, sip_4xx=counts.sip_4xx)
