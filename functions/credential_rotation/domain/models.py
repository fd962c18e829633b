"""The documents that pass between the state machine's tasks.

Field names are PascalCase on the wire, as everywhere else in Step Functions and the AWS APIs.
"""

from collections import Counter
from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_pascal

from credential_rotation.domain.errors import MalformedTaskInput
from credential_rotation.domain.evidence import EvidenceState
from credential_rotation.domain.policy import PolicySettings, Reason
from credential_rotation.domain.rotation_due import RotationReason
from credential_rotation.domain.targets import Target
from credential_rotation.domain.unmanaged import Unmanageable
from credential_rotation.domain.watch import WatchVerdict

Trigger = Literal["schedule", "manual"]


def describe(error: ValidationError, source: str) -> str:
    """One clause per problem, each naming the field. Values are never echoed: they may be usernames."""
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        field = _field_name(detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}" if field else message)
    return f"{source}: " + "; ".join(problems)


def _field_name(location: tuple[int | str, ...]) -> str:
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        # pydantic also names the branch of a union it tried ('list[...]', 'int'); that is noise here.
        elif "[" not in part and part not in ("int", "bool", "str", "none"):
            name += f".{part}" if name else part
    return name


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, frozen=True)

    @classmethod
    def parse(cls, event: Any) -> Self:
        try:
            return cls.model_validate(event)
        except ValidationError as error:
            raise MalformedTaskInput(describe(error, f"{cls.__name__} task input")) from None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Policy(WireModel):
    """The effective policy of a run: execution input over stack defaults."""

    max_age_days: int
    min_keep: int
    protected_usernames: tuple[str, ...]
    max_deletions: int
    grace_days: int
    rotate: bool
    rotate_after_days: int
    username_prefix: str
    # Call-record evidence (0: off), and what the evidence may do.
    quiet_days: int = 0
    retire_when_switched: bool = False
    evidence_max_lag_hours: int = 24
    # Revoke: usernames or glob patterns removed now, and why (a person's words, for the audit and the page).
    revoke_usernames: tuple[str, ...] = ()
    revoke_reason: str | None = None

    def settings(self) -> PolicySettings:
        return PolicySettings(
            max_age_days=self.max_age_days,
            min_keep=self.min_keep,
            protected_patterns=self.protected_usernames,
            grace_days=self.grace_days,
            quiet_days=self.quiet_days,
            retire_when_switched=self.retire_when_switched,
            revoke_patterns=self.revoke_usernames,
        )


class Run(WireModel):
    execution_arn: str
    started_at: AwareDatetime
    trigger: Trigger
    dry_run: bool
    policy: Policy
    voice_connector_ids: tuple[str, ...]
    max_concurrency: int
    # How long to watch a connector after deleting on it (0: no watch). A stack parameter only.
    watch_seconds: int = 0


class ResolveRunRequest(WireModel):
    input: Any = None
    execution_arn: str
    started_at: AwareDatetime


class RecordRef(WireModel):
    """Where a task stored a record in the audit bucket, and the SHA-256 of its bytes: what the state
    carries instead of the record, so that a reader can tell the record is the one that was written."""

    key: str = Field(min_length=1, max_length=1024)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ReportLocation(WireModel):
    bucket: str
    key: str
    version_id: str | None


class ConnectorTask(WireModel):
    """What every per-connector task receives: the connector, the run's policy, its clock and its id.

    In fleet mode the connector is in another account or Region (``Account`` and ``Region``, both or
    neither): the task reaches it through that account's spoke role, and the ledger keys it there."""

    voice_connector_id: str
    policy: Policy
    # The run's start time is the clock for every judgement in the run, so all connectors are judged
    # against the same instant and a retried task judges exactly as the first attempt did.
    now: AwareDatetime
    execution_arn: str
    account: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")

    @model_validator(mode="after")
    def _account_and_region_together(self) -> Self:
        if (self.account is None) != (self.region is None):
            raise ValueError("Account and Region: give both (a fleet run's connector) or neither")
        return self

    @property
    def target(self) -> Target | None:
        """The account and Region of a fleet run's connector; None in single-account mode."""
        if self.account is None or self.region is None:
            return None
        return Target(account=self.account, region=self.region)


class RotationEntry(WireModel):
    due: bool
    reason: RotationReason


class UnmanagedCredential(WireModel):
    """A credential the ledger cannot key (see unmanaged.py): kept, and named by fingerprint only."""

    fingerprint: str
    why: Unmanageable


class LedgerRowProblem(WireModel):
    """A malformed ledger row: whose (when readable) and what is wrong, never the values."""

    username: str | None
    problem: str


class EvidenceEntry(WireModel):
    """What the call records said of a connector when it was judged (in the plan and the report)."""

    state: EvidenceState
    why: str | None = None
    # FRESH only: from when on every call is indexed.
    since: AwareDatetime | None = None
    # Per username listed and seen in a call: the last call's start and the calls counted.
    last_used: dict[str, AwareDatetime] = {}
    calls: dict[str, int] = {}
    # FRESH only: usernames listed and never seen in a call since ``since``.
    unused: tuple[str, ...] = ()
    # Retired before MaxAgeDays: quiet while a younger username authenticates calls.
    switched: tuple[str, ...] = ()
    # Calls admitted without a SipAuthUser (an allowed-host list).
    unauthenticated_calls: int = 0
    # The phone system has not switched: fingerprints of the usernames still calling more than GraceDays
    # after this workflow's successor was issued, and the secret that holds the successor.
    not_switched: tuple[str, ...] = ()
    successor_secret: str | None = None


class PlanRecord(WireModel):
    """A connector's plan as stored in the audit bucket: every username's reason, and what is stale."""

    execution_arn: str
    voice_connector_id: str
    now: AwareDatetime
    reasons: dict[str, Reason]
    stale: tuple[str, ...]
    current: str | None
    unmanaged: tuple[UnmanagedCredential, ...]
    ledger_problems: tuple[LedgerRowProblem, ...]
    rotation: RotationEntry
    evidence: EvidenceEntry | None = None

    def counts(self) -> dict[Reason, int]:
        """Usernames per reason, the unmanaged ones included (the plan's summary and the fleet report)."""
        counts = Counter(self.reasons.values())
        counts.update({Reason.UNMANAGED: len(self.unmanaged)} if self.unmanaged else {})
        return dict(counts)


class PlanSummary(WireModel):
    """What the state carries of a connector's plan: counts and where the plan is, never a username."""

    voice_connector_id: str
    record: RecordRef
    # Usernames per reason (unmanaged ones included).
    counts: dict[Reason, int]
    stale_count: int
    # The stale usernames' size as a JSON list: what naming them in the audit event costs.
    stale_bytes: int
    ledger_problems: int
    rotation: RotationEntry


class DeletionLimitRequest(WireModel):
    # Plan summaries, and for a connector whose planning failed its error (no StaleCount).
    plans: tuple[dict[str, Any], ...]
    max_deletions: int
    # The run's policy as the audit event repeats it, for the size of that event.
    policy: dict[str, Any]


class DeletionRequest(ConnectorTask):
    plan: RecordRef


class OutcomeRecord(WireModel):
    """What the delete step did on a connector, as stored in the audit bucket."""

    execution_arn: str
    voice_connector_id: str
    deleted: tuple[str, ...]
    # Planned as stale, but no longer present or no longer stale when the delete step re-listed.
    skipped: tuple[str, ...]
    ledger_updated: bool


class DeletionSummary(WireModel):
    deleted: int
    skipped: int
    outcome: RecordRef
    ledger_updated: bool


IssueStep = Literal["CreateSecret", "SetSecret", "TestSecret", "FinishSecret"]


class Successor(WireModel):
    """A successor credential as the state machine and the audit event see it: never its password. One
    username of a fixed, short format: it is the one username the state carries."""

    username: str
    secret_arn: str
    version_id: str
    issued_at: AwareDatetime
    # True once AWSCURRENT names it: the phone system is told to use it.
    promoted: bool = False


class IssueRequest(ConnectorTask):
    """One step of issuing a successor, in the order of Secrets Manager's rotation contract."""

    step: IssueStep
    successor: Successor | None = None


class ExecutionStatusChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    execution_arn: str = Field(alias="executionArn", pattern=r"^arn:aws[a-z-]*:states:")
    status: str
    # Milliseconds since the epoch, as Step Functions sends it (null while running).
    stop_date: AwareDatetime | None = Field(alias="stopDate", default=None)


class ExecutionEnded(BaseModel):
    """EventBridge's "Step Functions Execution Status Change" event, as far as ReleaseRunLock reads it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    detail: ExecutionStatusChange

    @classmethod
    def parse(cls, event: Any) -> Self:
        try:
            return cls.model_validate(event)
        except ValidationError as error:
            raise MalformedTaskInput(describe(error, "execution status change event")) from None


class WatchSelectRequest(WireModel):
    """The run's changes (one per connector, as ApplyPlans ended them) and how long to watch."""

    changes: tuple[dict[str, Any], ...]
    watch_seconds: int = Field(ge=0)


class WatchSelection(WireModel):
    """The connectors a run deleted on, to watch; WatchSeconds 0 when there is nothing to watch."""

    watch_seconds: int
    voice_connector_ids: tuple[str, ...]


class WatchRequest(ConnectorTask):
    watch_seconds: int = Field(ge=1)


class CallCountsEntry(WireModel):
    attempts: int
    failures: int
    # Named as CloudWatch names the metric's class (Sip4xxCodes), not as the alias generator would.
    sip_4xx: int = Field(alias="Sip4xx")


class RestoreSummary(WireModel):
    """What a restore put back, as the state carries it: counts and the record's digest."""

    restored: int
    not_restorable: int
    record: RecordRef


class WatchResult(WireModel):
    voice_connector_id: str
    verdict: WatchVerdict
    signals: tuple[str, ...]
    watched: CallCountsEntry
    baseline: CallCountsEntry
    restore: RestoreSummary | None = None


class RestoreRequest(ConnectorTask):
    step: Literal["RestoreDeleted"]


class RestoreRecord(WireModel):
    """What a restore did on a connector, as stored in the audit bucket."""

    execution_arn: str
    voice_connector_id: str
    restored: tuple[str, ...]
    # Deleted by this run, but not issued by this workflow, or its secret version is gone or not what
    # this workflow wrote: a person must put it back.
    not_restorable: tuple[str, ...]
    # Back on the connector already (a person, or an earlier attempt): nothing to do.
    already_listed: tuple[str, ...]
