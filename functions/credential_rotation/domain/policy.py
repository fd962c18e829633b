"""The staleness policy: which usernames of ONE voice connector are stale.

Pure: usernames, first-seen dates, the run's clock and the settings come in; a plan with one reason per
username goes out. The Chime SDK Voice API lists usernames without dates, so the dates come from the
ledger, which records a username's first sighting with the run's start time before judging.

Rules of ``judge``:

- A username listed twice counts once. A username with no first-seen record is dated ``now``.
- Each username gets the first reason that applies:
  CURRENT when the connector's secret names it AWSCURRENT (the credential the phone system is told to use);
  NEW when first seen at or after ``now`` (recorded by this very run);
  PROTECTED when it equals a ``protected_patterns`` entry or matches it as a glob (``fnmatch``,
  case-sensitive): ``svc[1]`` protects both ``svc[1]`` and ``svc1``;
  YOUNG when its age (``now - first_seen``) is at most ``max_age_days`` days;
  otherwise it is a candidate.
- The ``min_keep`` youngest usernames, counted over all of them whatever their reason, are kept:
  candidates among them get KEPT_FOR_MIN_KEEP. Deleting a connector's last credential switches
  authentication off, so a plan never leaves fewer than ``min(min_keep, number of usernames)``.
- Youngest first: latest first-seen first, and among equal dates the AWSCURRENT one first. Nothing else
  orders usernames: not their names, not the order the API lists them in.
- No coin tosses: when the ``min_keep`` youngest would have to be chosen among usernames with the same
  first-seen date (all of a connector's credentials get one date when the workflow first meets them),
  none of those tied usernames is deleted: candidates among them get TIED.
- Grace: a remaining candidate is STALE only if some username ranked younger than it has existed for at
  least ``grace_days`` days (its successor had time to reach the phone system); otherwise it is
  IN_GRACE. A username first seen after ``now`` has existed for zero days.
- ``now`` and every first-seen date must be timezone-aware.

Revoke (``revoke_patterns``, a run's ``Revoke``): a credential known or suspected to be compromised goes
whatever its age, grace, MinKeep or use. A listed username that equals or matches a revoke pattern, and
is not PROTECTED, is REVOKED, AWSCURRENT included, and is deleted with the stale ones (under MaxDeletions).
The rest of the connector is judged as usual, with MinKeep counted over the usernames not revoked. Never
below one credential: when every listed username is revoked, they are REVOKE_BLOCKED (kept, for a person)
unless ``successor_coming`` (a successor is issued in this run before the delete step, which judges the
listing again with the successor on it).

With call-record evidence (``evidence``, see evidence.py; ``quiet_days`` above 0):

- FRESH evidence: a username that authenticated a call within ``quiet_days`` of ``now`` is IN_USE, after
  CURRENT, NEW and PROTECTED and before everything else: never deleted, whatever its age, grace or MinKeep.
  With ``retire_when_switched``, a username still YOUNG is a candidate all the same when it has been quiet
  for ``quiet_days`` (its last call, or the start of the evidence when it has none, is older) and a
  username ranked younger has authenticated calls: the phone system switched to its successor. Such a
  candidate needs no grace (the successor's calls prove it reached the phone system), and MinKeep and
  ties hold as for any other; it is marked ``switched``.
- STALE evidence: what would be STALE is EVIDENCE_STALE instead, and kept: whether it is still in use
  cannot be told.
- Evidence of no use (NO_AUTH_USER) or no evidence (OFF): the rules above, unchanged.

``confirm_deletions`` repeats the judgement on a fresh listing just before deleting, so a username added,
removed, protected or renewed since planning can only reduce what is deleted.

Error messages never name a username: the Lambda runtime logs them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase

from credential_rotation.domain.evidence import OFF, Evidence, EvidenceState

_ONE_DAY = timedelta(days=1)


class Reason(StrEnum):
    CURRENT = "current"
    NEW = "new"
    PROTECTED = "protected"
    YOUNG = "young"
    KEPT_FOR_MIN_KEEP = "kept-for-min-keep"
    TIED = "tied"
    IN_GRACE = "in-grace"
    # Evidence: authenticated a call within QuietDays.
    IN_USE = "in-use"
    # Would be stale, but the call-record index is not current enough to say it is unused.
    EVIDENCE_STALE = "evidence-stale"
    # Revoked, but it is the connector's last credential and no successor comes in this run.
    REVOKE_BLOCKED = "revoke-blocked"
    STALE = "stale"
    # Named by the run's Revoke: deleted whatever its age, grace, MinKeep or use.
    REVOKED = "revoked"
    # Not a verdict of ``judge``: the ledger cannot key the username (see unmanaged.py), so it is kept.
    UNMANAGED = "unmanaged"


DELETED_REASONS = frozenset({Reason.STALE, Reason.REVOKED})


@dataclass(frozen=True)
class PolicySettings:
    max_age_days: int
    min_keep: int
    protected_patterns: tuple[str, ...] = ()
    grace_days: int = 0
    # 0: no call-record evidence. Otherwise the days without a call that make a username quiet.
    quiet_days: int = 0
    retire_when_switched: bool = False
    revoke_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_age_days < 1:
            raise ValueError(f"max_age_days must be at least 1, got {self.max_age_days}")
        if self.min_keep < 1:
            raise ValueError(f"min_keep must be at least 1, got {self.min_keep}")
        if self.grace_days < 0:
            raise ValueError(f"grace_days must not be negative, got {self.grace_days}")
        if self.quiet_days < 0:
            raise ValueError(f"quiet_days must not be negative, got {self.quiet_days}")

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.grace_days)


@dataclass(frozen=True)
class Verdict:
    username: str
    reason: Reason
    first_seen: datetime
    age_days: int
    # Retired before MaxAgeDays: quiet while its successor authenticates calls.
    switched: bool = False


@dataclass(frozen=True)
class Plan:
    verdicts: tuple[Verdict, ...]

    @property
    def stale(self) -> tuple[str, ...]:
        """What the plan deletes: the stale and the revoked."""
        return tuple(verdict.username for verdict in self.verdicts if verdict.reason in DELETED_REASONS)

    @property
    def revoked(self) -> tuple[str, ...]:
        return tuple(verdict.username for verdict in self.verdicts if verdict.reason is Reason.REVOKED)

    @property
    def switched(self) -> tuple[str, ...]:
        return tuple(verdict.username for verdict in self.verdicts if verdict.switched)

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(verdict.username for verdict in self.verdicts if verdict.reason not in DELETED_REASONS)

    def reason_of(self, username: str) -> Reason:
        for verdict in self.verdicts:
            if verdict.username == username:
                return verdict.reason
        raise KeyError("the username is not in this plan")


def is_protected(username: str, patterns: Iterable[str]) -> bool:
    # Equality first: a pattern is also the name a person typed, and "svc[1]" as a glob matches only "svc1".
    return any(username == pattern or fnmatchcase(username, pattern) for pattern in patterns)


def youngest_first(dated: Mapping[str, datetime], current: str | None = None) -> tuple[frozenset[str], ...]:
    """Usernames from youngest to oldest, in tiers of usernames that nothing tells apart: the same
    first-seen date, and both AWSCURRENT or both not (AWSCURRENT comes first among its date)."""
    tiers: dict[tuple[datetime, bool], set[str]] = {}
    for username, seen in dated.items():
        tiers.setdefault((seen, username == current), set()).add(username)
    return tuple(frozenset(tiers[rank]) for rank in sorted(tiers, reverse=True))


def _kept_youngest(tiers: tuple[frozenset[str], ...], min_keep: int) -> tuple[set[str], set[str]]:
    """The usernames MinKeep keeps: whole tiers while they fit, then, if the count ends inside a tier, that
    whole tier as tied (choosing within it would be a coin toss)."""
    kept: set[str] = set()
    for tier in tiers:
        room = min_keep - len(kept)
        if room <= 0:
            break
        if len(tier) > room:
            return kept, set(tier)
        kept |= tier
    return kept, set()


def judge(
    usernames: Iterable[str],
    first_seen: Mapping[str, datetime],
    now: datetime,
    settings: PolicySettings,
    current: str | None = None,
    evidence: Evidence = OFF,
    successor_coming: bool = False,
) -> Plan:
    """Judge one connector; ``current`` is the username its secret's AWSCURRENT names, if any."""
    _require_aware(now, "now")
    for seen in first_seen.values():
        _require_aware(seen, "first_seen")
    if settings.quiet_days == 0:
        evidence = OFF

    # Keyed by username, so a username listed twice counts once.
    dated = {username: first_seen.get(username, now) for username in usernames}
    revoked = {username for username in dated if is_revoked(username, settings)}
    blocked = set()
    if revoked and revoked == set(dated) and not successor_coming:
        revoked, blocked = set(), revoked
    # MinKeep counts what stays: a revoked username is never one of the youngest it keeps.
    tiers = youngest_first(
        {username: seen for username, seen in dated.items() if username not in revoked}, current
    )
    kept, tied = _kept_youngest(tiers, settings.min_keep)
    # For each username, how long the longest-standing username ranked younger than it has existed, and
    # whether one ranked younger has authenticated calls.
    settled_younger: dict[str, timedelta] = {}
    younger_used: dict[str, bool] = {}
    longest, used = timedelta(-1), False
    for tier in tiers:
        for username in tier:
            settled_younger[username] = longest
            younger_used[username] = used
        longest = max([longest, *(_existed(dated[username], now) for username in tier)])
        used = used or any(evidence.last_used(username) is not None for username in tier)
    verdicts = []
    for username in sorted(dated):
        switched = False
        if username in revoked or username in blocked:
            revocation = Reason.REVOKED if username in revoked else Reason.REVOKE_BLOCKED
            verdicts.append(_verdict(username, revocation, dated[username], now))
            continue
        reason = _exemption(username, dated[username], now, settings, current, evidence)
        if (
            reason is Reason.YOUNG
            and younger_used[username]
            and _switched_from(username, now, settings, evidence)
        ):
            reason, switched = None, True
        if reason is None and username in kept:
            reason = Reason.KEPT_FOR_MIN_KEEP
        elif reason is None and username in tied:
            reason = Reason.TIED
        elif reason is None:
            successor_settled = switched or settled_younger[username] >= settings.grace
            reason = Reason.STALE if successor_settled else Reason.IN_GRACE
        if reason is Reason.STALE and evidence.state is EvidenceState.STALE:
            reason = Reason.EVIDENCE_STALE
        verdicts.append(_verdict(username, reason, dated[username], now, switched and reason is Reason.STALE))
    return Plan(verdicts=tuple(verdicts))


def _verdict(username: str, reason: Reason, seen: datetime, now: datetime, switched: bool = False) -> Verdict:
    return Verdict(
        username=username,
        reason=reason,
        first_seen=seen.astimezone(UTC),
        # A date after ``now`` was recorded by a later run: the username is new, not negatively old.
        age_days=max(0, (now - seen) // _ONE_DAY),
        switched=switched,
    )


def is_revoked(username: str, settings: PolicySettings) -> bool:
    """Whether the run's Revoke names the username (and it is not protected)."""
    return is_protected(username, settings.revoke_patterns) and not is_protected(
        username, settings.protected_patterns
    )


def confirm_deletions(
    planned_stale: Iterable[str],
    fresh_usernames: Iterable[str],
    first_seen: Mapping[str, datetime],
    now: datetime,
    settings: PolicySettings,
    current: str | None = None,
    evidence: Evidence = OFF,
) -> tuple[str, ...]:
    """The planned usernames that are still listed and still stale when judged on the fresh listing.

    Judging the whole fresh listing counts usernames added since planning toward MinKeep, so what is
    returned can be deleted without leaving fewer than ``min(min_keep, len(fresh))``; judging it on fresh
    evidence keeps a username that authenticated a call since planning.
    """
    still_stale = set(judge(fresh_usernames, first_seen, now, settings, current, evidence).stale)
    return tuple(sorted(still_stale.intersection(planned_stale)))


def _exemption(
    username: str,
    seen: datetime,
    now: datetime,
    settings: PolicySettings,
    current: str | None,
    evidence: Evidence,
) -> Reason | None:
    """Why a username is kept whatever MinKeep says, or None when it is a candidate for deletion."""
    if username == current:
        return Reason.CURRENT
    if seen >= now:
        return Reason.NEW
    if is_protected(username, settings.protected_patterns):
        return Reason.PROTECTED
    if _in_use(username, now, settings, evidence):
        return Reason.IN_USE
    if now - seen <= timedelta(days=settings.max_age_days):
        return Reason.YOUNG
    return None


def _in_use(username: str, now: datetime, settings: PolicySettings, evidence: Evidence) -> bool:
    last_used = evidence.last_used(username)
    # A call dated after ``now`` (indexed since the run began) is as recent as can be.
    return (
        evidence.decisive and last_used is not None and now - last_used <= timedelta(days=settings.quiet_days)
    )


def _switched_from(username: str, now: datetime, settings: PolicySettings, evidence: Evidence) -> bool:
    """Whether the username has been quiet for QuietDays on decisive evidence, under RetireWhenSwitched.
    A username with no call at all is quiet only once the evidence has covered QuietDays."""
    if not (settings.retire_when_switched and evidence.decisive and evidence.since is not None):
        return False
    quiet_from = evidence.last_used(username) or evidence.since
    return now - quiet_from > timedelta(days=settings.quiet_days)


def _existed(seen: datetime, now: datetime) -> timedelta:
    return max(timedelta(0), now - seen)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
