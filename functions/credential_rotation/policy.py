"""The staleness policy: which usernames of ONE voice connector are stale.

Pure: usernames, first-seen dates, the run's clock and the settings come in; a plan with one reason per
username goes out. The Chime SDK Voice API lists usernames without dates, so the dates come from the
ledger, which records a username's first sighting with the run's start time before judging.

Rules of ``judge``:

- A username listed twice counts once. A username with no first-seen record is dated ``now``.
- Each username gets the first reason that applies:
  NEW when first seen at or after ``now`` (recorded by this very run);
  PROTECTED when it matches a ``protected_patterns`` glob (``fnmatch``, case-sensitive);
  YOUNG when its age (``now - first_seen``) is at most ``max_age_days`` days;
  otherwise it is a candidate.
- The ``min_keep`` youngest usernames, counted over all of them whatever their reason, are kept:
  candidates among them get KEPT_FOR_MIN_KEEP, the other candidates are STALE. Deleting a connector's
  last credential switches authentication off, so a plan never leaves fewer than
  ``min(min_keep, number of usernames)``.
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
    NEW = "new"
    PROTECTED = "protected"
    YOUNG = "young"
    KEPT_FOR_MIN_KEEP = "kept-for-min-keep"
    STALE = "stale"


@dataclass(frozen=True)
class PolicySettings:
    max_age_days: int
    min_keep: int
    protected_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_age_days < 1:
            raise ValueError(f"max_age_days must be at least 1, got {self.max_age_days}")
        if self.min_keep < 1:
            raise ValueError(f"min_keep must be at least 1, got {self.min_keep}")


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
) -> Plan:
    _require_aware(now, "now")
    for seen in first_seen.values():
        _require_aware(seen, "first_seen")

    # Keyed by username, so a username listed twice counts once.
    dated = {username: first_seen.get(username, now) for username in usernames}
    youngest = set(youngest_first(dated)[: settings.min_keep])
    verdicts = []
    for username in sorted(dated):
        reason = _exemption(username, dated[username], now, settings)
        if reason is None:
            reason = Reason.KEPT_FOR_MIN_KEEP if username in youngest else Reason.STALE
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
) -> tuple[str, ...]:
    """The planned usernames that are still listed and still stale when judged on the fresh listing.

    Judging the whole fresh listing counts usernames added since planning toward MinKeep, so what is
    returned can be deleted without leaving fewer than ``min(min_keep, len(fresh))``.
    """
    still_stale = set(judge(fresh_usernames, first_seen, now, settings).stale)
    return tuple(sorted(still_stale.intersection(planned_stale)))


def _exemption(username: str, seen: datetime, now: datetime, settings: PolicySettings) -> Reason | None:
    """Why a username is kept whatever MinKeep says, or None when it is a candidate for deletion."""
    if seen >= now:
        return Reason.NEW
    if is_protected(username, settings.protected_patterns):
        return Reason.PROTECTED
    if now - seen <= timedelta(days=settings.max_age_days):
        return Reason.YOUNG
    return None


def _require_aware(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
