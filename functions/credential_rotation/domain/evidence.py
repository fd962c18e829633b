"""Whether the call-record index can be trusted for one connector in one run, and what it says.

The index (``tasks/indexing.py``) counts, per connector and username, the calls that authenticated with it
and the last time one did. It is evidence only while it is complete and current:

- STALE: the index has never indexed a record, its newest record is older than the allowed lag, records
  failed to index (they wait in the dead-letter queue), or a backfill is still running. Deletions that
  depend on the evidence are held (reason ``evidence-stale``): with a stale index, "not used lately" may
  only mean "not indexed yet".
- NO_AUTH_USER: the connector's calls are indexed, and none carried ``SipAuthUser`` (an allowed-host
  list admits them, not a credential). The records cannot tell its usernames apart: none is called
  unused, and the timer rules alone judge them, as without evidence.
- FRESH: the evidence stands. A username used within QuietDays is in use and kept; one never seen since
  the index covers (``since``) is reported unused.

Pure: the index's state, the connector's usage and the run's clock in, an Evidence out.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class EvidenceState(StrEnum):
    OFF = "off"
    FRESH = "fresh"
    STALE = "stale"
    NO_AUTH_USER = "no-sip-auth-user"


@dataclass(frozen=True)
class Usage:
    """A username's calls on one connector, as the index counted them."""

    last_used_at: datetime
    calls: int


@dataclass(frozen=True)
class ConnectorCalls:
    """A connector's indexed calls: per username, and how many carried no SipAuthUser."""

    by_username: Mapping[str, Usage] = field(default_factory=dict)
    unauthenticated: int = 0

    @property
    def authenticated(self) -> int:
        return sum(usage.calls for usage in self.by_username.values())


@dataclass(frozen=True)
class IndexState:
    """The index's watermark: the newest call indexed and when, since when it is complete, and what
    failed or is still to come."""

    # The start of the newest call indexed (None: nothing indexed yet).
    newest_call_at: datetime | None
    # When a record last moved the watermark.
    indexed_at: datetime | None
    # From when on every record is indexed: the backfill's look-back, else the first record indexed.
    covers_since: datetime | None
    # Records that failed to index for good (the dead-letter queue's depth).
    failed_records: int = 0
    # Days of the backfill still to index.
    backfill_pending: int = 0


@dataclass(frozen=True)
class Evidence:
    state: EvidenceState
    # Why it is not FRESH, in words for a person (never a username).
    why: str | None = None
    # FRESH only: from when on the index is complete.
    since: datetime | None = None
    calls: ConnectorCalls = field(default_factory=ConnectorCalls)

    @property
    def decisive(self) -> bool:
        """Whether the evidence may decide a username's fate (keep it as in use, or retire it early)."""
        return self.state is EvidenceState.FRESH

    def last_used(self, username: str) -> datetime | None:
        usage = self.calls.by_username.get(username)
        return usage.last_used_at if usage else None


OFF = Evidence(EvidenceState.OFF)


def assess(index: IndexState | None, calls: ConnectorCalls, now: datetime, max_lag: timedelta) -> Evidence:
    """The evidence for one connector at ``now`` (the run's start)."""
    why = _stale_because(index, now, max_lag)
    if why is not None:
        return Evidence(EvidenceState.STALE, why=why, calls=calls)
    if index is None or index.covers_since is None:  # pragma: no cover - _stale_because said stale
        raise AssertionError("a fresh index has a watermark")
    if calls.unauthenticated and not calls.by_username:
        return Evidence(
            EvidenceState.NO_AUTH_USER,
            why="the connector's calls carry no SipAuthUser: its usernames cannot be told apart",
            calls=calls,
        )
    return Evidence(EvidenceState.FRESH, since=index.covers_since, calls=calls)


def _stale_because(index: IndexState | None, now: datetime, max_lag: timedelta) -> str | None:
    if index is None or index.newest_call_at is None or index.covers_since is None:
        return "no call detail record has been indexed yet"
    if index.failed_records:
        return (
            f"{index.failed_records} call detail records failed to index (the dead-letter queue holds them)"
        )
    if index.backfill_pending:
        return f"the backfill has {index.backfill_pending} days of records still to index"
    lag = now - index.newest_call_at
    if lag > max_lag:
        hours = int(lag.total_seconds() // 3600)
        return (
            f"the newest call indexed started {hours} hours before the run, more than the "
            f"{int(max_lag.total_seconds() // 3600)} hours allowed"
        )
    return None
