"""What the ledger knows of a connector's usernames, as the task logic reads it: one record per username
(its state and dates), and the rows that could not be read. The DynamoDB item format is the adapter's
(``adapters/ledger.py``); the life of a record is described there.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

PRESENT, GONE, DELETED, ISSUING = "present", "gone", "deleted", "issuing"
STATES = frozenset({PRESENT, GONE, DELETED, ISSUING})

# How long a delete step's mark may be live: the longest function timeout in template.yaml (300 s), with
# room to spare, counted from the RetiringAt the step wrote (its own start). The same bound as
# adapters/run_lock.py's LONGEST_TASK, and a test holds the two equal. A listed username whose mark is
# older was not deleted by the step that marked it, or came back since.
MARK_LIFETIME = timedelta(minutes=6)


@dataclass(frozen=True)
class LedgerRecord:
    username: str
    state: str
    # None only while "issuing": chosen by CreateSecret, not yet seen on the connector.
    first_seen_at: datetime | None
    # The execution whose delete step was about to delete it (set just before the delete call).
    retiring_by: str | None = None
    # When that step started (None on a mark written before marks were dated).
    retiring_at: datetime | None = None
    # The execution that deleted it (state "deleted").
    deleted_by: str | None = None
    # Set for a successor this workflow issued: the secret version that holds it.
    secret_version_id: str | None = None
    issued_at: datetime | None = None
    issued_by: str | None = None
    # When AWSCURRENT moved to it.
    promoted_at: datetime | None = None


@dataclass(frozen=True)
class LedgerProblem:
    """A row the ledger cannot read: which username (when that much is readable) and what is wrong."""

    username: str | None
    problem: str


@dataclass(frozen=True)
class LedgerView:
    records: dict[str, LedgerRecord]
    problems: tuple[LedgerProblem, ...] = ()

    @property
    def unreadable(self) -> frozenset[str]:
        """Usernames whose row is malformed: judged as new, never dated over, never marked."""
        return frozenset(problem.username for problem in self.problems if problem.username is not None)

    def first_seen(self) -> dict[str, datetime]:
        """The date of every username whose life is current."""
        return {
            username: record.first_seen_at
            for username, record in self.records.items()
            if record.state == PRESENT and record.first_seen_at is not None
        }

    def by_version(self) -> dict[str, LedgerRecord]:
        """The successors this workflow created, by the secret version that holds each."""
        return {
            record.secret_version_id: record
            for record in self.records.values()
            if record.secret_version_id is not None
        }

    @property
    def promoted_any(self) -> bool:
        """Whether this workflow ever moved the connector's AWSCURRENT to a credential it issued."""
        return any(record.promoted_at is not None for record in self.records.values())


@dataclass(frozen=True)
class Observation:
    """A listing recorded: the first-seen date of every listed username the ledger can date."""

    first_seen: dict[str, datetime]
    view: LedgerView
