"""Properties the staleness policy keeps whatever the listing, the ledger and the settings.

The expectations are written from the rules, not from the module's helpers, so a wrong helper cannot
confirm itself.
"""

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credential_rotation.domain.policy import (
    Plan,
    PolicySettings,
    Reason,
    confirm_deletions,
    is_protected,
    judge,
)

ZONES = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)))
# Few letters, both cases: equal usernames, shared prefixes and names that sort close come up often.
USERNAMES = st.text(alphabet="abAB1", min_size=1, max_size=3)
PATTERNS = st.sampled_from(["*", "a*", "*b", "?", "A?", "[ab]*", "[!a]?", "b1"])
POLICIES = st.builds(
    PolicySettings,
    max_age_days=st.integers(min_value=1, max_value=5),
    min_keep=st.integers(min_value=1, max_value=5),
    protected_patterns=st.lists(PATTERNS, max_size=2).map(tuple),
    # No grace half the time: the rules before grace still get their share of examples.
    grace_days=st.one_of(st.just(0), st.integers(min_value=1, max_value=5)),
)
# Hundreds of examples for each of a score of properties: a minute of the run, so in the slow tier.
pytestmark = pytest.mark.slow
EXAMPLES = settings(max_examples=250, deadline=None)


@dataclass(frozen=True)
class Scenario:
    usernames: list[str]
    first_seen: dict[str, datetime]
    now: datetime
    policy: PolicySettings
    current: str | None = None

    def dated(self) -> dict[str, datetime]:
        return {username: self.first_seen.get(username, self.now) for username in self.usernames}

    def is_candidate(self, username: str) -> bool:
        seen = self.dated()[username]
        return (
            username != self.current
            and seen < self.now
            and not is_protected(username, self.policy.protected_patterns)
            and self.now - seen > timedelta(days=self.policy.max_age_days)
        )

    def rank(self, username: str) -> tuple[datetime, bool]:
        """Youth: the later first-seen date, and on one date AWSCURRENT. Never the name."""
        return self.dated()[username], username == self.current

    def younger(self, username: str) -> list[str]:
        return [other for other in self.dated() if self.rank(other) > self.rank(username)]

    def younger_than(self, username: str) -> int:
        return len(self.younger(username))

    def peers(self, username: str) -> list[str]:
        """The usernames nothing tells apart from this one, itself included."""
        return [other for other in self.dated() if self.rank(other) == self.rank(username)]

    def existed(self, username: str) -> timedelta:
        seen = self.dated()[username]
        return self.now - seen if seen < self.now else timedelta(0)

    def has_settled_successor(self, username: str) -> bool:
        """Some younger username has existed for at least ``grace_days`` days."""
        return any(
            self.existed(other) >= timedelta(days=self.policy.grace_days) for other in self.younger(username)
        )


def ages(max_age_days: int, grace_days: int = 0) -> st.SearchStrategy[timedelta]:
    max_age = timedelta(days=max_age_days)
    grace = timedelta(days=grace_days)
    one_second = timedelta(seconds=1)
    boundaries = st.sampled_from(
        [
            timedelta(0),
            -one_second,
            max_age - one_second,
            max_age,
            max_age + one_second,
            grace - one_second,
            grace,
            grace + one_second,
        ]
    )
    # Whole days make equal dates, and so ties at MinKeep, common.
    whole_days = st.integers(min_value=0, max_value=3 * max_age_days).map(lambda days: timedelta(days=days))
    anywhere = st.timedeltas(min_value=-timedelta(days=1), max_value=3 * max_age)
    # Dated after now by a later run: new, and existed for zero days, not for a negative time.
    after_now = st.timedeltas(min_value=-timedelta(days=grace_days + 1), max_value=-one_second)
    return st.one_of(boundaries, whole_days, anywhere, after_now)


def dates(now: datetime, max_age_days: int, grace_days: int = 0) -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda age, zone: (now - age).astimezone(zone), ages(max_age_days, grace_days), st.sampled_from(ZONES)
    )


def records(
    now: datetime, max_age_days: int, max_size: int, grace_days: int = 0
) -> st.SearchStrategy[dict[str, datetime]]:
    return st.dictionaries(USERNAMES, dates(now, max_age_days, grace_days), max_size=max_size)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    policy = draw(POLICIES)
    now = draw(
        st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.sampled_from(ZONES)
        )
    )
    usernames = draw(st.lists(USERNAMES, max_size=8))
    # Some listed usernames have no record (judged new); some records belong to usernames no longer listed.
    first_seen = {
        username: draw(dates(now, policy.max_age_days, policy.grace_days))
        for username in usernames
        if draw(st.booleans())
    }
    first_seen |= draw(records(now, policy.max_age_days, max_size=2, grace_days=policy.grace_days))
    # The username the secret's AWSCURRENT names: usually listed, sometimes not (removed by hand), or none.
    listed = st.sampled_from(usernames) if usernames else st.nothing()
    current = draw(st.one_of(st.none(), listed, USERNAMES))
    return Scenario(usernames, first_seen, now, policy, current)


def judged(scenario: Scenario) -> Plan:
    return judge(scenario.usernames, scenario.first_seen, scenario.now, scenario.policy, scenario.current)


# --- judge ------------------------------------------------------------------------------------------


@EXAMPLES
@given(scenarios())
def test_never_fewer_than_min_keep_left_and_never_none(scenario: Scenario) -> None:
    plan = judged(scenario)
    listed = len(set(scenario.usernames))

    assert len(plan.kept) >= min(scenario.policy.min_keep, listed)
    assert listed == 0 or plan.kept


@EXAMPLES
@given(scenarios())
def test_no_protected_username_is_stale(scenario: Scenario) -> None:
    for username in judged(scenario).stale:
        assert not is_protected(username, scenario.policy.protected_patterns)


@EXAMPLES
@given(scenarios())
def test_no_new_or_young_username_is_stale(scenario: Scenario) -> None:
    dated = scenario.dated()
    for username in judged(scenario).stale:
        assert dated[username] < scenario.now
        assert scenario.now - dated[username] > timedelta(days=scenario.policy.max_age_days)


@EXAMPLES
@given(scenarios())
def test_the_min_keep_youngest_are_never_stale(scenario: Scenario) -> None:
    for username in judged(scenario).stale:
        assert scenario.younger_than(username) >= scenario.policy.min_keep


@EXAMPLES
@given(scenarios())
def test_stale_in_grace_and_kept_for_min_keep_are_exactly_the_candidates(scenario: Scenario) -> None:
    plan = judged(scenario)
    candidates = {username for username in scenario.usernames if scenario.is_candidate(username)}

    assert set(plan.stale) <= candidates
    assert {
        verdict.username
        for verdict in plan.verdicts
        if verdict.reason in (Reason.STALE, Reason.KEPT_FOR_MIN_KEEP, Reason.TIED, Reason.IN_GRACE)
    } == candidates


@EXAMPLES
@given(scenarios())
def test_every_username_gets_the_first_reason_that_applies(scenario: Scenario) -> None:
    dated = scenario.dated()
    policy = scenario.policy
    for verdict in judged(scenario).verdicts:
        seen = dated[verdict.username]
        if verdict.username == scenario.current:
            expected = Reason.CURRENT
        elif seen >= scenario.now:
            expected = Reason.NEW
        elif is_protected(verdict.username, policy.protected_patterns):
            expected = Reason.PROTECTED
        elif scenario.now - seen <= timedelta(days=policy.max_age_days):
            expected = Reason.YOUNG
        elif (
            scenario.younger_than(verdict.username) + len(scenario.peers(verdict.username)) <= policy.min_keep
        ):
            expected = Reason.KEPT_FOR_MIN_KEEP
        elif scenario.younger_than(verdict.username) < policy.min_keep:
            # MinKeep's count ends among usernames nothing tells apart: choosing would be a coin toss.
            expected = Reason.TIED
        elif scenario.has_settled_successor(verdict.username):
            expected = Reason.STALE
        else:
            expected = Reason.IN_GRACE
        assert verdict.reason is expected


@EXAMPLES
@given(scenarios())
def test_every_username_gets_exactly_one_verdict_in_username_order(scenario: Scenario) -> None:
    plan = judged(scenario)
    judged_usernames = [verdict.username for verdict in plan.verdicts]

    assert judged_usernames == sorted(set(scenario.usernames))
    assert sorted(plan.stale + plan.kept) == judged_usernames
    assert list(plan.stale) == sorted(plan.stale)
    assert list(plan.kept) == sorted(plan.kept)
    for verdict in plan.verdicts:
        assert plan.reason_of(verdict.username) is verdict.reason


@EXAMPLES
@given(scenarios())
def test_dates_are_reported_in_utc_with_whole_non_negative_ages(scenario: Scenario) -> None:
    dated = scenario.dated()
    for verdict in judged(scenario).verdicts:
        seen = dated[verdict.username]
        assert verdict.first_seen == seen
        assert verdict.first_seen.tzinfo is UTC
        assert verdict.age_days == max(0, (scenario.now - seen) // timedelta(days=1))


@EXAMPLES
@given(scenarios(), st.data())
def test_the_plan_ignores_listing_order_and_duplicates(scenario: Scenario, data: st.DataObject) -> None:
    duplicates = (
        data.draw(st.lists(st.sampled_from(scenario.usernames), max_size=4)) if scenario.usernames else []
    )
    reordered = data.draw(st.permutations(scenario.usernames + duplicates))
    reordered_records = dict(reversed(scenario.first_seen.items()))

    assert judge(reordered, reordered_records, scenario.now, scenario.policy, scenario.current) == judged(
        scenario
    )


@EXAMPLES
@given(scenarios(), st.sampled_from(ZONES))
def test_the_plan_ignores_the_zone_dates_are_written_in(scenario: Scenario, zone: timezone) -> None:
    rezoned = {username: seen.astimezone(zone) for username, seen in scenario.first_seen.items()}

    rezoned_now = scenario.now.astimezone(zone)

    assert judge(scenario.usernames, rezoned, rezoned_now, scenario.policy, scenario.current) == judged(
        scenario
    )


# --- confirm_deletions ------------------------------------------------------------------------------


@st.composite
def concurrent_changes(draw: st.DrawFn, scenario: Scenario) -> tuple[list[str], dict[str, datetime]]:
    """A fresh listing and ledger: some usernames removed, some added, some records new or rewritten."""
    still_listed = [username for username in scenario.usernames if draw(st.booleans())]
    added = draw(st.lists(USERNAMES, max_size=3))
    ledger = scenario.first_seen | draw(
        records(scenario.now, scenario.policy.max_age_days, max_size=3, grace_days=scenario.policy.grace_days)
    )
    return still_listed + added, ledger


@EXAMPLES
@given(st.data())
def test_confirmed_deletions_are_planned_listed_still_stale_and_keep_min_keep(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    planned = judged(scenario).stale
    fresh, ledger = data.draw(concurrent_changes(scenario))

    confirmed = confirm_deletions(planned, fresh, ledger, scenario.now, scenario.policy, scenario.current)

    assert set(confirmed) <= set(planned) & set(fresh)
    assert set(confirmed) <= set(judge(fresh, ledger, scenario.now, scenario.policy, scenario.current).stale)
    assert scenario.current not in confirmed
    left = set(fresh) - set(confirmed)
    assert len(left) >= min(scenario.policy.min_keep, len(set(fresh)))
    assert not fresh or left
    assert list(confirmed) == sorted(confirmed)


@EXAMPLES
@given(st.data())
def test_usernames_added_without_other_changes_leave_the_plan_whole(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    planned = judged(scenario).stale
    added = data.draw(st.lists(USERNAMES, max_size=3))
    # Records are only added for usernames that were neither listed nor recorded: every date the plan
    # was judged on stays as it was.
    new_records = data.draw(records(scenario.now, scenario.policy.max_age_days, max_size=3))
    ledger = {
        username: seen for username, seen in new_records.items() if username not in scenario.usernames
    } | scenario.first_seen

    confirmed = confirm_deletions(
        planned, scenario.usernames + added, ledger, scenario.now, scenario.policy, scenario.current
    )

    assert confirmed == planned


# --- the current username and grace -----------------------------------------------------------------


@EXAMPLES
@given(scenarios())
def test_the_current_username_is_never_stale_and_is_current_when_listed(scenario: Scenario) -> None:
    plan = judged(scenario)

    assert scenario.current not in plan.stale
    for verdict in plan.verdicts:
        assert (verdict.reason is Reason.CURRENT) == (verdict.username == scenario.current)


@EXAMPLES
@given(scenarios())
def test_no_stale_username_lacks_a_younger_username_that_existed_for_grace_days(scenario: Scenario) -> None:
    dated = scenario.dated()
    grace = timedelta(days=scenario.policy.grace_days)
    for username in judged(scenario).stale:
        # Younger: a later date, or the same date and AWSCURRENT (never a name that sorts later).
        younger = [
            other
            for other in dated
            if (dated[other], other == scenario.current) > (dated[username], username == scenario.current)
        ]
        assert any(max(timedelta(0), scenario.now - dated[other]) >= grace for other in younger)


@EXAMPLES
@given(scenarios())
def test_candidates_outside_min_keep_are_stale_or_in_grace_exactly_per_the_grace_rule(
    scenario: Scenario,
) -> None:
    plan = judged(scenario)
    outside_min_keep = [
        username
        for username in set(scenario.usernames)
        if scenario.is_candidate(username) and scenario.younger_than(username) >= scenario.policy.min_keep
    ]

    for username in outside_min_keep:
        expected = Reason.STALE if scenario.has_settled_successor(username) else Reason.IN_GRACE
        assert plan.reason_of(username) is expected
    assert {verdict.username for verdict in plan.verdicts if verdict.reason is Reason.IN_GRACE} <= set(
        outside_min_keep
    )


@EXAMPLES
@given(scenarios())
def test_naming_the_current_username_changes_only_its_own_verdict_and_its_dates(scenario: Scenario) -> None:
    """AWSCURRENT is kept; and among usernames of its own date it ranks younger, so their verdicts may
    change too (a tie it settles, a grace it ends). No username of another date changes its verdict."""
    with_current = judged(scenario)
    without = judge(scenario.usernames, scenario.first_seen, scenario.now, scenario.policy)
    dated = scenario.dated()

    for named, unnamed in zip(with_current.verdicts, without.verdicts, strict=True):
        if named.username == scenario.current:
            assert named == dataclasses.replace(unnamed, reason=Reason.CURRENT)
        elif scenario.current in dated and dated[named.username] == dated[scenario.current]:
            # Only what MinKeep and the grace decide may move; an exemption of its own never does.
            if unnamed.reason in (Reason.NEW, Reason.PROTECTED, Reason.YOUNG):
                assert named == unnamed
        else:
            assert named == unnamed


@EXAMPLES
@given(scenarios(), st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)))
def test_usernames_dated_after_now_are_judged_as_if_dated_now(scenario: Scenario, later: timedelta) -> None:
    # Dated at or after now, a username is new and has existed for zero days; moving all of them later
    # by the same time keeps their order among themselves, so no reason and no age may change.
    moved = {
        username: seen + later if seen >= scenario.now else seen
        for username, seen in scenario.dated().items()
    }

    plan = judge(scenario.usernames, moved, scenario.now, scenario.policy, scenario.current)

    assert [(verdict.username, verdict.reason, verdict.age_days) for verdict in plan.verdicts] == [
        (verdict.username, verdict.reason, verdict.age_days) for verdict in judged(scenario).verdicts
    ]


@EXAMPLES
@given(scenarios(), st.integers(min_value=0, max_value=5))
def test_a_longer_grace_only_turns_stale_into_in_grace(scenario: Scenario, more_days: int) -> None:
    longer = dataclasses.replace(scenario.policy, grace_days=scenario.policy.grace_days + more_days)
    plan = judged(scenario)
    graced = judge(scenario.usernames, scenario.first_seen, scenario.now, longer, scenario.current)

    assert set(graced.stale) <= set(plan.stale)
    for before, after in zip(plan.verdicts, graced.verdicts, strict=True):
        if after != before:
            assert before.reason is Reason.STALE
            assert after == dataclasses.replace(before, reason=Reason.IN_GRACE)


@EXAMPLES
@given(st.data())
def test_a_planned_username_named_current_at_confirmation_is_not_deleted(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    planned = judged(scenario).stale
    renamed = data.draw(st.sampled_from(planned) if planned else st.none())

    confirmed = confirm_deletions(
        planned, scenario.usernames, scenario.first_seen, scenario.now, scenario.policy, renamed
    )

    # Naming another username current can only take deletions away: the one named is kept, and the only
    # other verdicts it can change are those it unties. The username that was current becomes a candidate,
    # and a planned username first seen at the same moment as it now ties with it (both kept).
    assert renamed not in confirmed
    assert set(confirmed) <= set(planned) - {renamed}
    lost = set(planned) - {renamed} - set(confirmed)
    assert all(
        scenario.current is not None
        and scenario.first_seen[username] == scenario.first_seen[scenario.current]
        for username in lost
    ), lost


@EXAMPLES
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_order_the_api_lists_usernames_in(scenario: Scenario, random) -> None:
    listed = list(scenario.usernames)
    random.shuffle(listed)

    shuffled = judge(listed, scenario.first_seen, scenario.now, scenario.policy, scenario.current)

    assert shuffled == judged(scenario)


@EXAMPLES
@given(scenarios())
def test_the_plan_does_not_depend_on_the_usernames_names(scenario: Scenario) -> None:
    """Renamed so that their order reverses, the same credentials get the same reasons: no rule but
    protection reads a name (the scenario's patterns are left out here)."""
    unprotected = dataclasses.replace(
        scenario, policy=dataclasses.replace(scenario.policy, protected_patterns=())
    )
    names = sorted(set(unprotected.usernames) | set(unprotected.first_seen) | {unprotected.current or ""})
    renamed = dict(zip(names, [f"n{index:03d}" for index in reversed(range(len(names)))], strict=True))
    plan = judged(unprotected)

    other = judge(
        [renamed[username] for username in unprotected.usernames],
        {renamed[username]: seen for username, seen in unprotected.first_seen.items()},
        unprotected.now,
        unprotected.policy,
        renamed.get(unprotected.current) if unprotected.current else None,
    )

    assert {renamed[verdict.username]: verdict.reason for verdict in plan.verdicts} == {
        verdict.username: verdict.reason for verdict in other.verdicts
    }
