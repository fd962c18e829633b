"""The ports: exactly what the task logic (``tasks/``) asks of the world outside it.

Each is a ``typing.Protocol``. The adapters (``adapters/``) satisfy them over boto3, the test fakes
(``tests/support/fakes.py``) in memory, and mypy checks both against them. A port speaks the domain's
types and raises the domain's errors, or the service's own error where the state machine's Retry and
Catch match on its name (a throttle, a server fault); the task logic never inspects an SDK error.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, Self

from credential_rotation.domain.call_records import CallRecord
from credential_rotation.domain.evidence import ConnectorCalls, IndexState
from credential_rotation.domain.ledger_records import LedgerRecord, LedgerView
from credential_rotation.domain.models import RecordRef, ReportLocation
from credential_rotation.domain.secret_versions import SecretState, StoredCredential
from credential_rotation.domain.targets import OrganizationAccount, Target
from credential_rotation.domain.watch import CallCounts


class VoiceConnectors(Protocol):
    """A Region's voice connectors and their termination credentials (Chime SDK Voice)."""

    def voice_connector_ids(self) -> Iterator[str]: ...

    def usernames(self, voice_connector_id: str) -> tuple[str, ...]: ...

    def put(self, voice_connector_id: str, username: str, password: str) -> None: ...

    def call_record_bucket(self) -> str | None:
        """The bucket the account's call detail records go to (GetGlobalSettings), None when not set."""
        ...

    def delete(
        self, voice_connector_id: str, usernames: Sequence[str], on_refused: Callable[[], object]
    ) -> None:
        """Delete ``usernames`` in one call. When the service's answer proves nothing was deleted (a
        refusal), ``on_refused`` runs before the service's error is raised again; when the answer may have
        come after the deletion took effect, the error is raised as it is; when no answer came at all,
        DeletionOutcomeUnknown."""
        ...


class Ledger(Protocol):
    """What the workflow knows of each connector's usernames: dates, issued successors, deletion marks.
    Every write that can race another run is conditional on the row read, and says whether it won."""

    def read(self, voice_connector_id: str) -> LedgerView: ...

    def start_life(
        self, voice_connector_id: str, username: str, now: datetime, previous: LedgerRecord | None
    ) -> bool: ...

    def date_successor(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> bool: ...

    def end_life(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> None: ...

    def first_seen(self, voice_connector_id: str, username: str) -> datetime | None: ...

    def record_issuing(
        self, voice_connector_id: str, username: str, secret_version_id: str, issued_at: datetime, by: str
    ) -> bool: ...

    def record_promoted(
        self, voice_connector_id: str, username: str, verified_at: datetime, promoted_at: datetime
    ) -> None: ...

    def mark_retiring(
        self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str, at: datetime
    ) -> tuple[str, ...]:
        """Mark the usernames RetiringBy ``execution_arn`` at ``at`` (when this attempt of the delete step
        started); the ones whose life already ended are left out of the answer."""
        ...

    def unmark_retiring(self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str) -> bool:
        """Best effort: whether every mark was taken back (a failure is swallowed, not raised)."""
        ...

    def mark_deleted(
        self, voice_connector_id: str, usernames: Iterable[str], deleted_at: datetime, execution_arn: str
    ) -> bool:
        """Best effort: whether the deletions were recorded (a failure is swallowed, not raised)."""
        ...


class ConnectorSecrets(Protocol):
    """One secret per connector, its versions staged as in Secrets Manager's rotation contract."""

    def state(self, voice_connector_id: str) -> SecretState | None: ...

    def read(self, voice_connector_id: str, version_id: str) -> StoredCredential: ...

    def enrol(self, voice_connector_id: str, token: str) -> None: ...

    def store_pending(
        self, voice_connector_id: str, token: str, username: str, password: str, issued_at: datetime
    ) -> str: ...

    def promote(self, voice_connector_id: str, version_id: str) -> None: ...


class RunRecord(Protocol):
    """A record one task of one run wrote about one connector."""

    @property
    def execution_arn(self) -> str: ...

    @property
    def voice_connector_id(self) -> str: ...

    @classmethod
    def model_validate(cls, document: Any) -> Self: ...


class RunRecords(Protocol):
    """The run's plans, outcomes and report, each checked by its digest when read back."""

    def put(self, key: str, document: Mapping[str, Any]) -> RecordRef: ...

    def read[Record: RunRecord](
        self, ref: RecordRef, model: type[Record], voice_connector_id: str, execution_arn: str
    ) -> Record: ...

    def put_report(self, key: str, document: Mapping[str, Any]) -> ReportLocation: ...


class RunLock(Protocol):
    """One applying run at a time."""

    def acquire(self, execution_arn: str, now: datetime) -> None: ...

    def release(self, execution_arn: str) -> bool: ...

    def end_with(self, execution_arn: str, ended_at: datetime) -> bool: ...


class ConnectorHealth(Protocol):
    """A connector's outbound calls over a window (CloudWatch, AWS/ChimeVoiceConnector)."""

    def outbound(self, voice_connector_id: str, start: datetime, end: datetime) -> CallCounts: ...


class AlertPager(Protocol):
    """The alerts topic (SNS): a page that asks a person to act; answers the message id."""

    def page(self, subject: str, message: dict[str, Any]) -> str: ...


class AuditPublisher(Protocol):
    """Where the run's audit event goes (SNS); answers the message id."""

    def publish(self, event: dict[str, Any]) -> str: ...


class CallRecordStore(Protocol):
    """The account's call detail record bucket (S3), read only."""

    def read(self, bucket: str, key: str) -> bytes: ...

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> tuple[list[str], str | None]:
        """One page of keys under ``prefix`` after ``start_after``, and where the next page starts (None:
        this was the last)."""
        ...


class UsageIndex(Protocol):
    """What the call detail records say of each connector's usernames (in the ledger's table)."""

    def count(self, call: CallRecord, indexed_at: datetime) -> bool:
        """Count the call once: False when its transaction was counted before (a duplicate delivery)."""
        ...

    def advance(self, calls: Sequence[CallRecord], indexed_at: datetime) -> None:
        """Move each username's LastUsedAt, each connector's newest call and the watermark forward to the
        newest of ``calls`` (never back: records arrive in any order)."""
        ...

    def calls(self, voice_connector_id: str) -> ConnectorCalls:
        """A connector's indexed calls; MalformedIndexRow when a row cannot be read."""
        ...

    def state(self) -> IndexState | None:
        """The watermark and the backfill's progress (failed_records is the dead-letter queue's, not here)."""
        ...

    def begin_backfill(self, days: Iterable[str], covers_since: datetime) -> None: ...

    def finish_backfill_day(self, day: str) -> None: ...


class IndexingQueue(Protocol):
    """The queue the indexer reads, and the dead-letter queue behind it."""

    def send_backfill(
        self, bucket: str, prefixes: Sequence[tuple[str, str | None]], target: Target | None = None
    ) -> None:
        """Ask the indexer to index the objects under each (prefix, start after); ``target``: in fleet
        mode, the account (and the Region of its spoke role) whose bucket it is."""
        ...

    def failed_records(self) -> int:
        """Messages in the dead-letter queue: records that failed to index for good."""
        ...


class OrganizationAccounts(Protocol):
    """The organization's accounts (Organizations, read from the management or a delegated administrator
    account), for fleet mode's Targets."""

    def accounts_under(self, parent_ids: Sequence[str]) -> tuple[OrganizationAccount, ...]:
        """Every account under each of ``parent_ids`` (organizational units, or the root) at any depth,
        whatever its state, each once. A given id the organization does not have raises InvalidInput
        naming it (``targets.unknown_parent``); any other failure is the service's error."""
        ...


class FleetDocuments(Protocol):
    """A fleet run's own documents in the audit bucket (item files, discovery, the children's results),
    beside its per-connector records; read back by digest, or listed by prefix."""

    @property
    def bucket(self) -> str: ...

    def put(self, key: str, document: Mapping[str, Any]) -> RecordRef: ...

    def put_items(self, key: str, items: Sequence[Mapping[str, Any]]) -> RecordRef:
        """A JSON array, what a Distributed Map's ItemReader reads."""
        ...

    def get(self, ref: RecordRef) -> dict[str, Any]: ...

    def items(self, ref: RecordRef) -> list[Any]: ...

    def documents(self, prefix: str) -> Iterable[tuple[RecordRef, dict[str, Any]]]:
        """Every JSON object under ``prefix``, each with the digest of the bytes read."""
        ...
