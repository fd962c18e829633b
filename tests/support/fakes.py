"""In-memory fakes of the ports (``credential_rotation/ports.py``), for direct unit tests of the task logic.

Each fake has the port's method signatures exactly, keeps the adapter's semantics (the ledger's conditional
writes, Secrets Manager's stages, the run records' digests), and adds what a test needs to make the world
misbehave: ``fail_next`` scripts a failure of a named method (before the call takes effect, or after it
with ``after=True``), and hooks let another writer act between a read and a write. A failure is an
exception whose class NAME is the service's (``service_error``), since the state machine matches names;
``FunctionCrashed`` is the function dying (a timeout, a killed process), which nothing may catch.

What the fakes do not model: pagination, eventual consistency, the SDK's own retries, request validation
beyond what the adapters check, IAM, KMS, and the contents of the items the adapters write beyond what
their readers parse back (see each class).
"""

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from credential_rotation.adapters.run_lock import LEASE, LONGEST_TASK
from credential_rotation.domain.call_records import CallRecord
from credential_rotation.domain.errors import (
    DeletionOutcomeUnknown,
    MalformedIndexRow,
    RunInProgress,
    RunRecordMismatch,
    UntrustedSuccessor,
)
from credential_rotation.domain.evidence import ConnectorCalls, IndexState, Usage
from credential_rotation.domain.ledger_records import (
    DELETED,
    GONE,
    ISSUING,
    PRESENT,
    LedgerProblem,
    LedgerRecord,
    LedgerView,
)
from credential_rotation.domain.models import RecordRef, ReportLocation
from credential_rotation.domain.secret_versions import (
    CURRENT,
    PENDING,
    PREVIOUS,
    SecretState,
    StoredCredential,
    parse_successor,
    secret_name,
)
from credential_rotation.domain.targets import ACTIVE, OrganizationAccount, Target, unknown_parent
from credential_rotation.domain.watch import CallCounts
from credential_rotation.ports import RunRecord

if TYPE_CHECKING:
    from credential_rotation.ports import (
        AlertPager,
        AuditPublisher,
        CallRecordStore,
        ConnectorHealth,
        ConnectorSecrets,
        IndexingQueue,
        Ledger,
        OrganizationAccounts,
        RunLock,
        RunRecords,
        UsageIndex,
        VoiceConnectors,
    )


class ServiceError(Exception):
    """The base of every error the fakes raise in a service's name."""


@cache
def service_error(name: str) -> type[ServiceError]:
    """The exception class a service raises under ``name`` (one class per name, so tests can catch it)."""
    return type(name, (ServiceError,), {"__module__": __name__})


def fault(name: str) -> ServiceError:
    """An instance of the service's error ``name``, for ``fail_next``."""
    return service_error(name)(f"injected by the fake: {name}")


class FunctionCrashed(BaseException):
    """The Lambda function died here (timed out, killed): like SystemExit, no code of its own catches it."""


# The HTTP status class of the Chime SDK Voice errors the fakes may answer (sandbox/chime_emulator.py).
CHIME_REFUSALS = (
    "BadRequestException",
    "UnauthorizedClientException",
    "ForbiddenException",
    "NotFoundException",
    "ThrottledClientException",
)
CHIME_SERVER_FAULTS = ("ServiceFailureException", "ServiceUnavailableException")


@dataclass
class _Fault:
    error: BaseException
    after: bool
    skip: int


@dataclass
class Faults:
    """Scripted failures by method name. One call of the method takes at most one fault; ``skip`` lets
    that many calls through first. ``after``: the call takes effect, then the error is raised."""

    pending: dict[str, list[_Fault]] = field(default_factory=dict)
    # (method, error class name) of every fault that fired: a test that injects one asserts it fired.
    fired: list[tuple[str, str]] = field(default_factory=list)

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.pending.setdefault(method, []).append(_Fault(error, after, skip))

    def take(self, method: str) -> _Fault | None:
        queue = self.pending.get(method)
        if not queue:
            return None
        head = queue[0]
        if head.skip:
            head.skip -= 1
            return None
        queue.pop(0)
        self.fired.append((method, type(head.error).__name__))
        return head

    def call[T](self, method: str, effect: Callable[[], T]) -> T:
        """Run ``effect`` as one call of ``method``, with the fault scripted for it, if any."""
        scripted = self.take(method)
        if scripted is not None and not scripted.after:
            raise scripted.error
        result = effect()
        if scripted is not None:
            raise scripted.error
        return result


@dataclass(frozen=True)
class MalformedRow:
    """A row parse_row cannot read: what is wrong with it, and the raw attributes a condition reads (as
    stored, so FirstSeenAt is text). A write to it changes those and leaves it malformed (the fault is
    taken to lie in an attribute the write does not set), except start_life's PutItem, which replaces it."""

    problem: LedgerProblem
    state: str | None = PRESENT
    first_seen_at: str | None = None
    retiring_by: str | None = None
    retiring_at: str | None = None
    deleted_by: str | None = None
    secret_version_id: str | None = None


# A ledger row as the fake keeps it: readable, malformed, or absent.
Row = LedgerRecord | MalformedRow | None


def _stamp(moment: datetime | None) -> str | None:
    """A date as the ledger stores it, compared as DynamoDB compares it: as a string."""
    return None if moment is None else moment.isoformat()


def _first_seen_text(row: Row) -> str | None:
    """FirstSeenAt as a condition compares it."""
    if isinstance(row, LedgerRecord):
        return _stamp(row.first_seen_at)
    return None if row is None else row.first_seen_at


def _retiring_at_text(row: Row) -> str | None:
    """RetiringAt as a condition compares it."""
    if isinstance(row, LedgerRecord):
        return _stamp(row.retiring_at)
    return None if row is None else row.retiring_at


def _state(row: Row) -> str | None:
    return None if row is None else row.state


def _marked(
    row: LedgerRecord | MalformedRow, by: str | None, at: datetime | None
) -> LedgerRecord | MalformedRow:
    """The row with RetiringBy and RetiringAt set (or, with None, removed)."""
    if isinstance(row, MalformedRow):
        return replace(row, retiring_by=by, retiring_at=_stamp(at))
    return replace(row, retiring_by=by, retiring_at=at)


class InMemoryLedger:
    """The ledger (adapters/ledger.py's CredentialLedger), one row per (connector, username): a
    LedgerRecord, or a MalformedRow (``plant_problem``) that reads back as a LedgerProblem.

    Every conditional write is evaluated as the adapter's condition expression would be, on the attributes
    as stored (dates compared as the strings the adapter writes), malformed rows included. A write on a
    row that does not exist creates one only where DynamoDB would: PutItem, and UpdateItem without a
    condition (``mark_deleted``, which then makes a row with no FirstSeenAt: malformed).

    Not modelled: the attributes parse_row does not read back (GoneAt, DeletedAt) are kept aside in
    ``moments``; paging of the query; throughput.

    Test hooks: ``fail_next(method, error, after=..., skip=...)`` fails one row write of ``method`` (or
    one ``read``/``first_seen``); ``mark_deleted`` and ``unmark_retiring`` swallow an Exception and
    return False, as the adapter swallows an SDK error. ``before_write(method, callback)`` runs
    ``callback(voice_connector_id, username)`` once, just before the next row write of ``method``
    evaluates its condition: another writer acting between this one's read and its write.
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], LedgerRecord | MalformedRow] = {}
        self.moments: dict[tuple[str, str], dict[str, datetime]] = {}
        self.faults = Faults()
        self.writes: list[tuple[str, str, str]] = []  # (method, connector, username) of each write made
        self._hooks: dict[str, list[Callable[[str, str], object]]] = {}

    # Test set-up and inspection.

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def before_write(self, method: str, callback: Callable[[str, str], object]) -> None:
        self._hooks.setdefault(method, []).append(callback)

    def plant(self, voice_connector_id: str, record: LedgerRecord) -> None:
        self.rows[(voice_connector_id, record.username)] = record

    def plant_problem(
        self,
        voice_connector_id: str,
        username: str,
        problem: str = "FirstSeenAt: not an ISO 8601 date and time",
        *,
        state: str | None = PRESENT,
        first_seen_at: str | None = "last tuesday",
        retiring_by: str | None = None,
        retiring_at: str | None = None,
        secret_version_id: str | None = None,
    ) -> None:
        """A row parse_row cannot read, with the raw attributes a condition would read."""
        self.rows[(voice_connector_id, username)] = MalformedRow(
            LedgerProblem(username, problem),
            state=state,
            first_seen_at=first_seen_at,
            retiring_by=retiring_by,
            retiring_at=retiring_at,
            secret_version_id=secret_version_id,
        )

    def row(self, voice_connector_id: str, username: str) -> Row:
        return self.rows.get((voice_connector_id, username))

    def record(self, voice_connector_id: str, username: str) -> LedgerRecord:
        """The row, which the test expects to be a readable record."""
        row = self.rows.get((voice_connector_id, username))
        assert isinstance(row, LedgerRecord), f"no readable row for {username!r}: {row!r}"
        return row

    # The port.

    def read(self, voice_connector_id: str) -> LedgerView:
        def query() -> LedgerView:
            records: dict[str, LedgerRecord] = {}
            problems: list[LedgerProblem] = []
            # A query returns a partition's items in sort-key order.
            for (vc_id, _), row in sorted(self.rows.items(), key=lambda item: item[0][1].encode()):
                if vc_id != voice_connector_id:
                    continue
                if isinstance(row, MalformedRow):
                    problems.append(row.problem)
                else:
                    records[row.username] = row
            return LedgerView(records, tuple(problems))

        return self.faults.call("read", query)

    def start_life(
        self, voice_connector_id: str, username: str, now: datetime, previous: LedgerRecord | None
    ) -> bool:
        def holds(row: Row) -> bool:
            if previous is None:
                return row is None
            return (
                _state(row) == previous.state
                and _first_seen_text(row) == _stamp(previous.first_seen_at or now)
                and row is not None
                and row.retiring_by == previous.retiring_by
                and _retiring_at_text(row) == _stamp(previous.retiring_at)
            )

        # PutItem replaces the whole item: whatever the row held before is gone.
        return self._write(
            "start_life",
            voice_connector_id,
            username,
            holds,
            lambda row: LedgerRecord(username=username, state=PRESENT, first_seen_at=now),
        )

    def date_successor(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> bool:
        def dated(row: Row) -> LedgerRecord | MalformedRow:
            if isinstance(row, MalformedRow):
                return replace(row, state=PRESENT, first_seen_at=_stamp(now))
            return replace(self._record(row), state=PRESENT, first_seen_at=now)

        return self._write(
            "date_successor",
            voice_connector_id,
            record.username,
            lambda row: _state(row) == ISSUING,
            dated,
        )

    def end_life(self, voice_connector_id: str, record: LedgerRecord, now: datetime) -> None:
        def ended(row: Row) -> LedgerRecord | MalformedRow:
            moments = self.moments.setdefault((voice_connector_id, record.username), {})
            if record.retiring_by:
                moments["DeletedAt"] = now
                return replace(self._existing(row), state=DELETED, deleted_by=record.retiring_by)
            moments["GoneAt"] = now
            return replace(self._existing(row), state=GONE)

        self._write(
            "end_life",
            voice_connector_id,
            record.username,
            lambda row: (
                _state(row) == PRESENT and _first_seen_text(row) == _stamp(record.first_seen_at or now)
            ),
            ended,
        )

    def first_seen(self, voice_connector_id: str, username: str) -> datetime | None:
        def get() -> datetime | None:
            row = self.rows.get((voice_connector_id, username))
            return row.first_seen_at if isinstance(row, LedgerRecord) else None

        return self.faults.call("first_seen", get)

    def record_issuing(
        self, voice_connector_id: str, username: str, secret_version_id: str, issued_at: datetime, by: str
    ) -> bool:
        return self._write(
            "record_issuing",
            voice_connector_id,
            username,
            lambda row: row is None,
            lambda row: LedgerRecord(
                username=username,
                state=ISSUING,
                first_seen_at=None,
                secret_version_id=secret_version_id,
                issued_at=issued_at,
                issued_by=by,
            ),
        )

    def record_promoted(
        self, voice_connector_id: str, username: str, verified_at: datetime, promoted_at: datetime
    ) -> None:
        def promoted(row: Row) -> LedgerRecord | MalformedRow:
            if isinstance(row, MalformedRow):
                return replace(row, state=PRESENT, first_seen_at=row.first_seen_at or _stamp(verified_at))
            existing = self._record(row)
            first_seen = existing.first_seen_at or verified_at
            return replace(existing, state=PRESENT, first_seen_at=first_seen, promoted_at=promoted_at)

        won = self._write(
            "record_promoted",
            voice_connector_id,
            username,
            lambda row: row is not None and row.secret_version_id is not None,
            promoted,
        )
        if not won:
            # The adapter lets this one through: the SDK raises it under this name.
            raise fault("ConditionalCheckFailedException")

    def mark_retiring(
        self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str, at: datetime
    ) -> tuple[str, ...]:
        return tuple(
            username
            for username in usernames
            if self._write(
                "mark_retiring",
                voice_connector_id,
                username,
                lambda row: _state(row) == PRESENT,
                lambda row: _marked(self._existing(row), execution_arn, at),
            )
        )

    def unmark_retiring(self, voice_connector_id: str, usernames: Iterable[str], execution_arn: str) -> bool:
        try:
            for username in usernames:
                self._write(
                    "unmark_retiring",
                    voice_connector_id,
                    username,
                    lambda row: row is not None and row.retiring_by == execution_arn,
                    lambda row: _marked(self._existing(row), None, None),
                )
        except Exception:
            return False
        return True

    def mark_deleted(
        self, voice_connector_id: str, usernames: Iterable[str], deleted_at: datetime, execution_arn: str
    ) -> bool:
        def deleted(username: str) -> Callable[[Row], LedgerRecord | MalformedRow]:
            def update(row: Row) -> LedgerRecord | MalformedRow:
                self.moments.setdefault((voice_connector_id, username), {})["DeletedAt"] = deleted_at
                if row is None:
                    # UpdateItem without a condition creates the item: State and DeletedAt, no FirstSeenAt.
                    return MalformedRow(
                        LedgerProblem(username, "FirstSeenAt: missing"),
                        state=DELETED,
                        first_seen_at=None,
                        deleted_by=execution_arn,
                    )
                return replace(row, state=DELETED, deleted_by=execution_arn)

            return update

        try:
            for username in usernames:
                self._write("mark_deleted", voice_connector_id, username, lambda row: True, deleted(username))
        except Exception:
            return False
        return True

    # One row write: the hook, the scripted fault, the condition, the change.

    def _write(
        self,
        method: str,
        voice_connector_id: str,
        username: str,
        condition: Callable[[Row], bool],
        change: Callable[[Row], LedgerRecord | MalformedRow],
    ) -> bool:
        hooks = self._hooks.get(method)
        if hooks:
            hooks.pop(0)(voice_connector_id, username)
        key = (voice_connector_id, username)

        def conditional_write() -> bool:
            row = self.rows.get(key)
            if not condition(row):
                return False
            self.rows[key] = change(row)
            self.writes.append((method, voice_connector_id, username))
            return True

        return self.faults.call(method, conditional_write)

    @staticmethod
    def _record(row: Row) -> LedgerRecord:
        assert isinstance(row, LedgerRecord)
        return row

    @staticmethod
    def _existing(row: Row) -> LedgerRecord | MalformedRow:
        # Every condition that leads to changing an existing row requires that it exists.
        assert row is not None
        return row


@dataclass(frozen=True)
class DeleteCall:
    voice_connector_id: str
    usernames: tuple[str, ...]


@dataclass
class _DeleteFault:
    kind: str  # refused | server-fault | lost | crash
    error: str | None
    took_effect: bool


class FakeVoiceConnectors:
    """Voice connectors and their termination credentials (adapters/chime.py over the Chime SDK Voice API).

    ``connectors`` maps a connector id to its usernames, in the order they were put; the passwords are kept
    apart and only compared (``holds``). An unknown connector answers NotFoundException. Deleting a
    username that is not there is not an error (as the service answers).

    Faults of ``delete``, as the adapter turns the service's answers into the port's behaviour:
    ``refuse_next_delete(name)`` (a 4xx: nothing deleted, ``on_refused`` runs, the error raised by name);
    ``fail_next_delete(name, took_effect)`` (a 5xx, raised as it is, ``on_refused`` not run);
    ``lose_next_delete(took_effect)`` (no answer: DeletionOutcomeUnknown); ``crash_next_delete(took_effect)``
    (the function dies). ``fail_next("usernames"|"put"|"voice_connector_ids", error, after=...)`` fails the
    other calls. ``before_delete(callback)`` runs ``callback(voice_connector_id, usernames)`` once, just
    before the next delete call: a person acting at that moment.

    Not modelled: paging of ListVoiceConnectors, the service's username and password validation.
    """

    def __init__(self, connectors: Mapping[str, Iterable[str]] | None = None) -> None:
        self.connectors: dict[str, list[str]] = {}
        self._passwords: dict[tuple[str, str], str] = {}
        self.faults = Faults()
        self.delete_calls: list[DeleteCall] = []
        self.put_calls: list[tuple[str, str]] = []  # (connector, username): never the password
        self._delete_faults: list[_DeleteFault] = []
        self._before_delete: list[Callable[[str, tuple[str, ...]], object]] = []
        # GetGlobalSettings' VoiceConnector.CdrBucket.
        self.cdr_bucket: str | None = None
        for vc_id, usernames in (connectors or {}).items():
            self.add_connector(vc_id, usernames)

    # Test set-up and inspection.

    def add_connector(self, voice_connector_id: str, usernames: Iterable[str] = ()) -> None:
        self.connectors[voice_connector_id] = []
        for username in usernames:
            self.set_credential(voice_connector_id, username, f"password-of-{username}")

    def set_credential(self, voice_connector_id: str, username: str, password: str) -> None:
        """A credential a person (or the test) puts, outside the port."""
        listed = self.connectors[voice_connector_id]
        if username not in listed:
            listed.append(username)
        self._passwords[(voice_connector_id, username)] = password

    def remove_credential(self, voice_connector_id: str, username: str) -> None:
        """A credential a person removes, outside the port."""
        self.connectors[voice_connector_id].remove(username)
        del self._passwords[(voice_connector_id, username)]

    def holds(self, voice_connector_id: str, username: str, password: str) -> bool:
        return self._passwords.get((voice_connector_id, username)) == password

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def refuse_next_delete(self, error: str) -> None:
        assert error in CHIME_REFUSALS, f"{error} is not a refusal (4xx)"
        self._delete_faults.append(_DeleteFault("refused", error, took_effect=False))

    def fail_next_delete(self, error: str, *, took_effect: bool) -> None:
        assert error in CHIME_SERVER_FAULTS, f"{error} is not a server fault (5xx)"
        self._delete_faults.append(_DeleteFault("server-fault", error, took_effect))

    def lose_next_delete(self, *, took_effect: bool) -> None:
        self._delete_faults.append(_DeleteFault("lost", None, took_effect))

    def crash_next_delete(self, *, took_effect: bool = True) -> None:
        self._delete_faults.append(_DeleteFault("crash", None, took_effect))

    def before_delete(self, callback: Callable[[str, tuple[str, ...]], object]) -> None:
        self._before_delete.append(callback)

    # The port.

    def voice_connector_ids(self) -> Iterator[str]:
        return iter(self.faults.call("voice_connector_ids", lambda: list(self.connectors)))

    def call_record_bucket(self) -> str | None:
        return self.faults.call("call_record_bucket", lambda: self.cdr_bucket)

    def usernames(self, voice_connector_id: str) -> tuple[str, ...]:
        return self.faults.call("usernames", lambda: tuple(self._connector(voice_connector_id)))

    def put(self, voice_connector_id: str, username: str, password: str) -> None:
        def put() -> None:
            self._connector(voice_connector_id)
            self.put_calls.append((voice_connector_id, username))
            self.set_credential(voice_connector_id, username, password)

        self.faults.call("put", put)

    def delete(
        self, voice_connector_id: str, usernames: Sequence[str], on_refused: Callable[[], object]
    ) -> None:
        if not usernames:
            raise ValueError("usernames must not be empty: the API would be called for nothing")
        batch = tuple(usernames)
        if self._before_delete:
            self._before_delete.pop(0)(voice_connector_id, batch)
        self.delete_calls.append(DeleteCall(voice_connector_id, batch))
        if voice_connector_id not in self.connectors:
            scripted: _DeleteFault | None = _DeleteFault("refused", "NotFoundException", took_effect=False)
        else:
            scripted = self._delete_faults.pop(0) if self._delete_faults else None
        if scripted is None:
            self._remove(voice_connector_id, batch)
            return
        if scripted.took_effect:
            self._remove(voice_connector_id, batch)
        match scripted.kind:
            case "refused":
                on_refused()
                raise fault(str(scripted.error))
            case "server-fault":
                raise fault(str(scripted.error))
            case "lost":
                raise DeletionOutcomeUnknown(
                    "the delete call's answer was lost (injected by the fake): the service may have deleted"
                )
            case _:
                raise FunctionCrashed("the function died during the delete call")

    def _remove(self, voice_connector_id: str, usernames: Iterable[str]) -> None:
        for username in usernames:
            if username in self.connectors[voice_connector_id]:
                self.remove_credential(voice_connector_id, username)

    def _connector(self, voice_connector_id: str) -> list[str]:
        if voice_connector_id not in self.connectors:
            raise fault("NotFoundException")
        return self.connectors[voice_connector_id]


@dataclass
class _Version:
    secret_string: str
    stages: list[str]


@dataclass
class _Secret:
    arn: str
    versions: dict[str, _Version] = field(default_factory=dict)
    deleted: bool = False


class FakeConnectorSecrets:
    """One secret per connector (adapters/secret_store.py over Secrets Manager): versions by id, each with
    its SecretString and staging labels.

    As in Secrets Manager: the ClientRequestToken is the new version's id; a label is on one version at a
    time (putting a version with AWSPENDING takes it off the version that had it); when AWSCURRENT moves,
    AWSPREVIOUS moves to the version it left; a version with no label is deprecated and not described.
    The secret's first version (``enrol``) is AWSCURRENT and holds no credential. A secret scheduled for
    deletion (``schedule_deletion``) is still described, with ``deleted``, and refuses reads and writes
    (InvalidRequestException); a missing secret or version answers ResourceNotFoundException.
    ``store_pending`` with a token already used is a no-op for the same SecretString and
    ResourceExistsException for another.

    Test hooks: ``plant(...)`` writes a version as anyone with PutSecretValue could, ``fail_next``;
    ``reads`` lists every value read, so a test can say which steps read none.
    Not modelled: KMS, resource policies, versions' creation dates, the rotation configuration.
    """

    def __init__(self, prefix: str = "chime-voice-connector/test/") -> None:
        self.prefix = prefix
        self.secrets: dict[str, _Secret] = {}
        self.faults = Faults()
        self.reads: list[tuple[str, str]] = []  # (connector, version) of every value read

    # Test set-up and inspection.

    def name(self, voice_connector_id: str) -> str:
        return secret_name(self.prefix, voice_connector_id)

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def plant(
        self, voice_connector_id: str, secret_string: str, stages: Sequence[str], version_id: str
    ) -> str:
        """A version written outside the workflow, with these labels (moved from wherever they were)."""
        self._put_version(self._secret(voice_connector_id), version_id, secret_string, list(stages))
        return version_id

    def schedule_deletion(self, voice_connector_id: str) -> None:
        self._secret(voice_connector_id).deleted = True

    def stages(self, voice_connector_id: str) -> dict[str, str]:
        """Each label and the version it is on."""
        secret = self._secret(voice_connector_id)
        return {stage: vid for vid, version in secret.versions.items() for stage in version.stages}

    def value(self, voice_connector_id: str, version_id: str) -> dict[str, Any]:
        result = json.loads(self._secret(voice_connector_id).versions[version_id].secret_string)
        assert isinstance(result, dict)
        return result

    # The port.

    def state(self, voice_connector_id: str) -> SecretState | None:
        def describe() -> SecretState | None:
            secret = self.secrets.get(voice_connector_id)
            if secret is None:
                return None
            versions = {vid: tuple(v.stages) for vid, v in secret.versions.items() if v.stages}
            return SecretState(arn=secret.arn, versions=versions, deleted=secret.deleted)

        return self.faults.call("state", describe)

    def read(self, voice_connector_id: str, version_id: str) -> StoredCredential:
        def get() -> StoredCredential:
            self.reads.append((voice_connector_id, version_id))
            secret = self._writable(voice_connector_id)
            version = secret.versions.get(version_id)
            if version is None:
                raise fault("ResourceNotFoundException")
            return parse_successor(version.secret_string, version_id)

        return self.faults.call("read", get)

    def enrol(self, voice_connector_id: str, token: str) -> None:
        def create() -> None:
            if voice_connector_id in self.secrets:
                return  # ResourceExistsException, which the adapter suppresses
            secret = _Secret(
                arn=f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{self.name(voice_connector_id)}-AbCdEf"
            )
            self.secrets[voice_connector_id] = secret
            enrolment = {"VoiceConnectorId": voice_connector_id, "Username": None}
            enrolment |= {"Password": None, "IssuedAt": None}
            self._put_version(secret, token, json.dumps(enrolment), [CURRENT])

        self.faults.call("enrol", create)

    def store_pending(
        self, voice_connector_id: str, token: str, username: str, password: str, issued_at: datetime
    ) -> str:
        value = json.dumps(
            {
                "VoiceConnectorId": voice_connector_id,
                "Username": username,
                "Password": password,
                "IssuedAt": issued_at.isoformat(),
            }
        )

        def put() -> str:
            secret = self._writable(voice_connector_id)
            existing = secret.versions.get(token)
            if existing is not None:
                if existing.secret_string != value:
                    raise fault("ResourceExistsException")
                return token
            self._put_version(secret, token, value, [PENDING])
            return token

        return self.faults.call("store_pending", put)

    def promote(self, voice_connector_id: str, version_id: str) -> None:
        def promote() -> None:
            secret = self._writable(voice_connector_id)
            if version_id not in secret.versions:
                raise UntrustedSuccessor("the successor's version is no longer in the connector's secret")
            current = next((vid for vid, v in secret.versions.items() if CURRENT in v.stages), None)
            if current != version_id:
                self._move(secret, CURRENT, version_id)
                if current is not None:
                    self._move(secret, PREVIOUS, current)
            if PENDING in secret.versions[version_id].stages:
                secret.versions[version_id].stages.remove(PENDING)

        self.faults.call("promote", promote)

    # Secrets Manager's bookkeeping.

    def _secret(self, voice_connector_id: str) -> _Secret:
        secret = self.secrets.get(voice_connector_id)
        if secret is None:
            raise fault("ResourceNotFoundException")
        return secret

    def _writable(self, voice_connector_id: str) -> _Secret:
        secret = self._secret(voice_connector_id)
        if secret.deleted:
            raise fault("InvalidRequestException")
        return secret

    def _put_version(self, secret: _Secret, version_id: str, secret_string: str, stages: list[str]) -> None:
        secret.versions[version_id] = _Version(secret_string, [])
        for stage in stages:
            self._move(secret, stage, version_id)

    @staticmethod
    def _move(secret: _Secret, stage: str, version_id: str) -> None:
        for version in secret.versions.values():
            if stage in version.stages:
                version.stages.remove(stage)
        secret.versions[version_id].stages.append(stage)


def encode(document: Mapping[str, Any]) -> bytes:
    """As adapters/run_records.py encodes a record, so that digests agree."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")


class FakeRunRecords:
    """A run's records (adapters/run_records.py over S3): bytes by key, each handed back as a RecordRef with
    the SHA-256 of those bytes; ``read`` checks the digest, the model, the connector and the run as the
    adapter does. ``tamper(key, change)`` rewrites a stored record (``change`` edits the parsed document).
    A missing key answers NoSuchKey. Not modelled: Object Lock, versions of a record, KMS.
    """

    BUCKET = "fake-audit-bucket"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.faults = Faults()
        self._report_versions = itertools.count(1)

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def tamper(self, key: str, change: Callable[[dict[str, Any]], object]) -> None:
        document = json.loads(self.objects[key])
        change(document)
        self.objects[key] = json.dumps(document).encode()

    def document(self, key: str) -> dict[str, Any]:
        result = json.loads(self.objects[key])
        assert isinstance(result, dict)
        return result

    def put(self, key: str, document: Mapping[str, Any]) -> RecordRef:
        def put_object() -> RecordRef:
            body = encode(document)
            self.objects[key] = body
            return RecordRef(key=key, sha256=hashlib.sha256(body).hexdigest())

        return self.faults.call("put", put_object)

    def read[Record: RunRecord](
        self, ref: RecordRef, model: type[Record], voice_connector_id: str, execution_arn: str
    ) -> Record:
        def get_object() -> Record:
            body = self.objects.get(ref.key)
            if body is None:
                raise fault("NoSuchKey")
            if hashlib.sha256(body).hexdigest() != ref.sha256:
                raise RunRecordMismatch(
                    f"the run record {ref.key} in the audit bucket is not the one this run wrote (its "
                    "SHA-256 differs): it was changed after it was written, and nothing is done on its "
                    "strength"
                )
            document = json.loads(body)
            if not isinstance(document, dict):
                raise RunRecordMismatch(f"the run record {ref.key} is not a JSON object")
            try:
                record = model.model_validate(document)
            except ValidationError:
                raise RunRecordMismatch(f"the run record {ref.key} is not a {model.__name__}") from None
            if (record.voice_connector_id, record.execution_arn) != (voice_connector_id, execution_arn):
                raise RunRecordMismatch(f"the run record {ref.key} is the record of another connector or run")
            return record

        return self.faults.call("read", get_object)

    def put_report(self, key: str, document: Mapping[str, Any]) -> ReportLocation:
        def put_object() -> ReportLocation:
            self.reports[key] = json.loads(encode(document))
            return ReportLocation(bucket=self.BUCKET, key=key, version_id=f"v{next(self._report_versions)}")

        return self.faults.call("put_report", put_object)


class FakeRunLock:
    """One applying run at a time (adapters/run_lock.py): a lease held by one execution until it expires;
    the same execution may take it again. Not modelled: the ledger table it shares."""

    def __init__(self) -> None:
        self.held_by: str | None = None
        self.expires_at: datetime | None = None
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def acquire(self, execution_arn: str, now: datetime) -> None:
        def put() -> None:
            free = self.held_by is None or self.expires_at is None or self.expires_at < now
            if not free and self.held_by != execution_arn:
                raise RunInProgress(f"execution {self.held_by} is applying changes until it ends")
            self.held_by, self.expires_at = execution_arn, now + LEASE

        self.faults.call("acquire", put)

    def release(self, execution_arn: str) -> bool:
        def delete() -> bool:
            if self.held_by != execution_arn:
                return False
            self.held_by = self.expires_at = None
            return True

        return self.faults.call("release", delete)

    def end_with(self, execution_arn: str, ended_at: datetime) -> bool:
        def update() -> bool:
            expires = ended_at + LONGEST_TASK
            if self.held_by != execution_arn or self.expires_at is None or not self.expires_at > expires:
                return False
            self.expires_at = expires
            return True

        return self.faults.call("end_with", update)


class FakeAuditPublisher:
    """The audit topic (adapters/audit_topic.py over SNS): the events published, in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def publish(self, event: dict[str, Any]) -> str:
        def publish() -> str:
            self.events.append(json.loads(json.dumps(event)))
            return f"message-{len(self.events)}"

        return self.faults.call("publish", publish)


class FakeCallRecordBucket:
    """The CDR bucket (adapters/call_record_store.py over S3): objects by (bucket, key), listed in key order
    ``page_size`` at a time. ``fail_next("read"|"keys", error)`` fails a call."""

    def __init__(self, page_size: int = 1_000) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.page_size = page_size
        self.faults = Faults()
        self.reads: list[tuple[str, str]] = []

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def write(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[(bucket, key)] = body

    def read(self, bucket: str, key: str) -> bytes:
        def read() -> bytes:
            self.reads.append((bucket, key))
            if (bucket, key) not in self.objects:
                raise fault("NoSuchKey")
            return self.objects[(bucket, key)]

        return self.faults.call("read", read)

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> tuple[list[str], str | None]:
        def keys() -> tuple[list[str], str | None]:
            matching = sorted(
                key
                for stored_bucket, key in self.objects
                if stored_bucket == bucket
                and key.startswith(prefix)
                and (start_after is None or key > start_after)
            )
            page = matching[: self.page_size]
            return page, page[-1] if len(matching) > self.page_size else None

        return self.faults.call("keys", keys)


class InMemoryUsageIndex:
    """The call-record index (adapters/usage_index.py over DynamoDB): counts once per transaction id, dates
    that only move forward, the watermark and the backfill's pending days. ``fail_next("count"|"advance"|
    "calls"|"state", error, after=...)`` fails a call; ``unreadable`` makes ``calls`` of a connector raise
    MalformedIndexRow, as a row the adapter cannot parse does."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.usage: dict[tuple[str, str], Usage] = {}
        self.unauthenticated: dict[str, int] = {}
        self.newest_by_connector: dict[str, datetime] = {}
        self.watermark: IndexState | None = None
        self.pending: set[str] = set()
        self.unreadable: set[str] = set()
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def count(self, call: CallRecord, indexed_at: datetime) -> bool:
        def count() -> bool:
            if (call.voice_connector_id, call.transaction_id) in self.seen:
                return False
            self.seen.add((call.voice_connector_id, call.transaction_id))
            if call.sip_auth_user is None:
                self.unauthenticated[call.voice_connector_id] = (
                    self.unauthenticated.get(call.voice_connector_id, 0) + 1
                )
                return True
            key = (call.voice_connector_id, call.sip_auth_user)
            # The count, and a first LastUsedAt for a username never seen (``advance`` moves it forward).
            previous = self.usage.get(key)
            self.usage[key] = Usage(
                last_used_at=previous.last_used_at if previous else call.started_at,
                calls=(previous.calls if previous else 0) + 1,
            )
            return True

        return self.faults.call("count", count)

    def advance(self, calls: Sequence[CallRecord], indexed_at: datetime) -> None:
        def advance() -> None:
            if not calls:
                return
            for call in calls:
                vc_id = call.voice_connector_id
                if call.sip_auth_user is not None:
                    key = (vc_id, call.sip_auth_user)
                    usage = self.usage.get(key, Usage(call.started_at, 0))
                    self.usage[key] = Usage(max(usage.last_used_at, call.started_at), usage.calls)
                self.newest_by_connector[vc_id] = max(
                    call.started_at, self.newest_by_connector.get(vc_id, call.started_at)
                )
            newest = max(call.started_at for call in calls)
            oldest = min(call.started_at for call in calls)
            state = self.watermark or IndexState(None, None, None)
            self.watermark = replace(
                state,
                newest_call_at=max(newest, state.newest_call_at) if state.newest_call_at else newest,
                indexed_at=indexed_at,
                covers_since=state.covers_since or oldest,
            )

        self.faults.call("advance", advance)

    def calls(self, voice_connector_id: str) -> ConnectorCalls:
        def calls() -> ConnectorCalls:
            if voice_connector_id in self.unreadable:
                raise MalformedIndexRow("a call-index row's LastUsedAt is not an ISO 8601 date and time")
            return ConnectorCalls(
                by_username={
                    username: usage
                    for (vc_id, username), usage in self.usage.items()
                    if vc_id == voice_connector_id
                },
                unauthenticated=self.unauthenticated.get(voice_connector_id, 0),
            )

        return self.faults.call("calls", calls)

    def state(self) -> IndexState | None:
        def state() -> IndexState | None:
            if self.watermark is None and not self.pending:
                return None
            return replace(self.watermark or IndexState(None, None, None), backfill_pending=len(self.pending))

        return self.faults.call("state", state)

    def begin_backfill(self, days: Iterable[str], covers_since: datetime) -> None:
        def begin() -> None:
            self.pending.update(days)
            state = self.watermark or IndexState(None, None, None)
            if state.covers_since is None or state.covers_since > covers_since:
                state = replace(state, covers_since=covers_since)
            self.watermark = state

        self.faults.call("begin_backfill", begin)

    def finish_backfill_day(self, day: str) -> None:
        self.faults.call("finish_backfill_day", lambda: self.pending.discard(day))


class FakeIndexingQueue:
    """The indexing queue and its dead-letter queue (adapters/indexing_queue.py over SQS)."""

    def __init__(self) -> None:
        self.backfill: list[tuple[str, str, str | None]] = []
        # The fleet account each backfill page names (None: this account's).
        self.targets: list[Target | None] = []
        self.dead_letters = 0
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def send_backfill(
        self, bucket: str, prefixes: Sequence[tuple[str, str | None]], target: Target | None = None
    ) -> None:
        self.faults.call(
            "send_backfill",
            lambda: self.backfill.extend((bucket, prefix, after) for prefix, after in prefixes),
        )
        self.targets.extend([target] * len(prefixes))

    def failed_records(self) -> int:
        return self.faults.call("failed_records", lambda: self.dead_letters)


class FakeAlertPager:
    """The alerts topic (adapters/alert_topic.py over SNS): the pages sent, in order."""

    def __init__(self) -> None:
        self.pages: list[tuple[str, dict[str, Any]]] = []
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def page(self, subject: str, message: dict[str, Any]) -> str:
        def page() -> str:
            self.pages.append((subject, json.loads(json.dumps(message))))
            return f"page-{len(self.pages)}"

        return self.faults.call("page", page)


class FakeConnectorHealth:
    """The connectors' outbound call metrics (adapters/connector_health.py over CloudWatch): calls recorded
    with their minute, summed over the window asked for ([start, end))."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime, bool, bool]] = []  # (connector, at, failed, sip_4xx)
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def record(
        self, voice_connector_id: str, at: datetime, *, failed: bool = False, sip_4xx: bool = False
    ) -> None:
        self.calls.append((voice_connector_id, at, failed, sip_4xx))

    def outbound(self, voice_connector_id: str, start: datetime, end: datetime) -> CallCounts:
        def outbound() -> CallCounts:
            window = [call for call in self.calls if call[0] == voice_connector_id and start <= call[1] < end]
            return CallCounts(
                attempts=len(window),
                failures=sum(1 for call in window if call[2]),
                sip_4xx=sum(1 for call in window if call[3]),
            )

        return self.faults.call("outbound", outbound)


class FakeOrganization:
    """An organization (adapters/organizations.py over Organizations): a root, OUs nested under it, and
    accounts in the root or an OU, each with its state. ``accounts_under`` walks it as the adapter does
    (depth first, each parent's accounts before its OUs, each account once), and names a given parent it
    does not have as the adapter does; the fault's method is ``accounts_under``."""

    def __init__(self, root_id: str = "r-a1b2") -> None:
        self.root_id = root_id
        self.units: dict[str, str] = {}  # OU -> its parent (the root or an OU)
        self.accounts: dict[str, tuple[str, str]] = {}  # account -> (its parent, its state)
        self.faults = Faults()

    def fail_next(self, method: str, error: BaseException, *, after: bool = False, skip: int = 0) -> None:
        self.faults.fail_next(method, error, after=after, skip=skip)

    def add_unit(self, unit_id: str, parent_id: str | None = None) -> str:
        parent = parent_id or self.root_id
        if not self._exists(parent):
            raise ValueError(f"no parent {parent} to add {unit_id} under")
        self.units[unit_id] = parent
        return unit_id

    def add_account(self, account_id: str, parent_id: str | None = None, state: str = ACTIVE) -> str:
        parent = parent_id or self.root_id
        if not self._exists(parent):
            raise ValueError(f"no parent {parent} to add {account_id} under")
        self.accounts[account_id] = (parent, state)
        return account_id

    def _exists(self, parent_id: str) -> bool:
        return parent_id == self.root_id or parent_id in self.units

    def accounts_under(self, parent_ids: Sequence[str]) -> tuple[OrganizationAccount, ...]:
        def walk() -> tuple[OrganizationAccount, ...]:
            found: dict[str, OrganizationAccount] = {}
            visited: set[str] = set()

            def visit(parent_id: str) -> None:
                if parent_id in visited:
                    return
                visited.add(parent_id)
                for account_id, (parent, state) in self.accounts.items():
                    if parent == parent_id:
                        found.setdefault(account_id, OrganizationAccount(account_id, state))
                for unit_id, parent in self.units.items():
                    if parent == parent_id:
                        visit(unit_id)

            for parent_id in parent_ids:
                if not self._exists(parent_id):
                    raise unknown_parent(parent_id)
                visit(parent_id)
            return tuple(found.values())

        return self.faults.call("accounts_under", walk)


if TYPE_CHECKING:
    # mypy holds each fake to its port.
    _ledger: Ledger = InMemoryLedger()
    _chime: VoiceConnectors = FakeVoiceConnectors()
    _secrets: ConnectorSecrets = FakeConnectorSecrets()
    _records: RunRecords = FakeRunRecords()
    _lock: RunLock = FakeRunLock()
    _audit: AuditPublisher = FakeAuditPublisher()
    _pager: AlertPager = FakeAlertPager()
    _health: ConnectorHealth = FakeConnectorHealth()
    _calls: CallRecordStore = FakeCallRecordBucket()
    _index: UsageIndex = InMemoryUsageIndex()
    _queue: IndexingQueue = FakeIndexingQueue()
    _organization: OrganizationAccounts = FakeOrganization()
