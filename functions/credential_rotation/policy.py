"""The staleness policy: which usernames of ONE voice connector are stale.

Pure: usernames, first-seen dates, the run's clock and the settings come in; a plan with one reason per
username goes out. The Chime SDK Voice API lists usernames without dates, so the dates come from the
ledger, which records a username's first sighting with the run's start time before judging.

Rules of ``judge``:

- A username listed twice counts once. A username with no first-seen record is dated ``now``.
- Each username gets the first reason that applies:
  CURRENT when the connector's secret names it AWSCURRENT (the credential the phone system is told to use);
  NEW when first seen at or after ``now`` (recorded by this very run);
  PROTECTED when it matches a ``protected_patterns`` glob (``fnmatch``, case-sensitive);
  YOUNG when its age (``now - first_seen``) is at most ``max_age_days`` days;
  otherwise it is a candidate.
- The ``min_keep`` youngest usernames, counted over all of them whatever their reason, are kept:
  candidates among them get KEPT_FOR_MIN_KEEP. Deleting a connector's last credential switches
  authentication off, so a plan never leaves fewer than ``min(min_keep, number of usernames)``.
- Grace: a remaining candidate is STALE only if some younger username has existed for at least
  ``grace_days`` days (its successor had time to reach the phone system); otherwise it is IN_GRACE.
  A username first seen after ``now`` has existed for zero days.
- Youngest first: latest first-seen first; on a tie the username that sorts last is younger, because
  issued usernames carry their issue date.
- ``now`` and every first-seen date must be timezone-aware.

``confirm_deletions`` repeats the judgement on a fresh listing just before deleting, so a username added,
removed, protected or renewed since planning can only reduce what is deleted.

Error messages never name a username: the Lambda runtime logs them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase

_ONE_DAY = timedelta(days=1)


class Reason(StrEnum):
    CURRENT = "current"
    NEW = "new"
    PROTECTED = "protected"
    YOUNG = "young"
    KEPT_FOR_MIN_KEEP = "kept-for-min-keep"
    IN_GRACE = "in-grace"
    STALE = "stale"


@dataclass(frozen=True)
class PolicySettings:
    max_age_days: int
    min_keep: int
    protected_patterns: tuple[str, ...] = ()
    grace_days: int = 0

    def __post_init__(self) -> None:
        if self.max_age_days < 1:
            raise ValueError(f"max_age_days must be at least 1, got {self.max_age_days}")
        if self.min_keep < 1:
            raise ValueError(f"min_keep must be at least 1, got {self.min_keep}")
        if self.grace_days < 0:
            raise ValueError(f"grace_days must not be negative, got {self.grace_days}")

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.grace_days)


@dataclass(frozen=True)
class Verdict:
    username: str
    reason: Reason
    first_seen: datetime
    age_days: int


@dataclass(frozen=True)
class Plan:
    verdicts: tuple[Verdict, ...]

    @property
    def stale(self) -> tuple[str, ...]:
        return tuple(verdict.username for verdict in self.verdicts if verdict.reason is Reason.STALE)

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(verdict.username for verdict in self.verdicts if verdict.reason is not Reason.STALE)

    def reason_of(self, username: str) -> Reason:
        for verdict in self.verdicts:
            if verdict.username == username:
                return verdict.reason
        raise KeyError("the username is not in this plan")


def is_protected(username: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(username, pattern) for pattern in patterns)


def youngest_first(dated: Mapping[str, datetime]) -> tuple[str, ...]:
    """Usernames from youngest to oldest; on equal dates the username that sorts last is younger."""
    return tuple(sorted(dated, key=lambda username: (dated[username], username), reverse=True))


def judge(
    usernames: Iterable[str],
    first_seen: Mapping[str, datetime],
    now: datetime,
    settings: PolicySettings,
    current: str | None = None,
) -> Plan:
    """Judge one connector; ``current`` is the username its secret's AWSCURRENT names, if any."""
    _require_aware(now, "now")
    for seen in first_seen.values():
        _require_aware(seen, "first_seen")

    # Keyed by username, so a username listed twice counts once.
    dated = {username: first_seen.get(username, now) for username in usernames}
    order = youngest_first(dated)
    youngest = set(order[: settings.min_keep])
    verdicts = []
    for username in sorted(dated):
        reason = _exemption(username, dated[username], now, settings, current)
        if reason is None and username in youngest:
            reason = Reason.KEPT_FOR_MIN_KEEP
        elif reason is None:
            younger = order[: order.index(username)]
            successor_settled = any(_existed(dated[other], now) >= settings.grace for other in younger)
            reason = Reason.STALE if successor_settled else Reason.IN_GRACE
        verdicts.append(
            Verdict(
                username=username,
                reason=reason,
                first_seen=dated[username].astimezone(UTC),
                # A date after ``now`` was recorded by a later run: the username is new, not negatively old.
                age_days=max(0, (now - dated[username]) // _ONE_DAY),
            )
        )
    return Plan(verdicts=tuple(verdicts))


def confirm_deletions(
    planned_stale: Iterable[str],
    fresh_usernames: Iterable[str],
    first_seen: Mapping[str, datetime],
    now: datetime,
    settings: PolicySettings,
    current: str | None = None,
) -> tuple[str, ...]:
    """The planned usernames that are still listed and still stale when judged on the fresh listing.

    Judging the whole fresh listing counts usernames added since planning toward MinKeep, so what is
    returned can be deleted without leaving fewer than ``min(min_keep, len(fresh))``.
    """
    still_stale = set(judge(fresh_usernames, first_seen, now, settings, current).stale)
    return tuple(sorted(still_stale.intersection(planned_stale)))


def _exemption(
    username: str, seen: datetime, now: datetime, settings: PolicySettings, current: str | None
) -> Reason | None:
    """Why a username is kept whatever MinKeep says, or None when it is a candidate for deletion."""
    if username == current:
        return Reason.CURRENT
    if seen >= now:
        return Reason.NEW
    if is_protected(username, settings.protected_patterns):
        return Reason.PROTECTED
    if now - seen <= timedelta(days=settings.max_age_days):
        return Reason.YOUNG
    return None


def _existed(seen: datetime, now: datetime) -> timedelta:
    return max(timedelta(0), now - seen)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
