"""The staleness policy, rule by rule."""

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from credential_rotation.domain.policy import (
    Plan,
    PolicySettings,
    Reason,
    Verdict,
    confirm_deletions,
    is_protected,
    judge,
    youngest_first,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=90)
SETTINGS = PolicySettings(max_age_days=90, min_keep=1)


def ago(days: int = 0, seconds: int = 0) -> datetime:
    return NOW - timedelta(days=days, seconds=seconds)


def reasons(plan: Plan) -> dict[str, Reason]:
    return {verdict.username: verdict.reason for verdict in plan.verdicts}


# --- one reason at a time ---------------------------------------------------------------------------


def test_reasons_have_the_wire_values_the_audit_records() -> None:
    assert [reason.value for reason in Reason] == [
        "current",
        "new",
        "protected",
        "young",
        "kept-for-min-keep",
        "tied",
        "in-grace",
        "in-use",
        "evidence-stale",
        "revoke-blocked",
        "stale",
        "revoked",
        "unmanaged",
    ]


def test_a_username_without_a_record_is_new_dated_now() -> None:
    plan = judge(["vc-unrecorded"], {}, NOW, SETTINGS)

    assert plan.verdicts == (Verdict("vc-unrecorded", Reason.NEW, NOW, 0),)


def test_a_username_recorded_by_this_run_is_new() -> None:
    plan = judge(["vc-a", "vc-old"], {"vc-a": NOW, "vc-old": ago(days=400)}, NOW, SETTINGS)

    assert plan.reason_of("vc-a") is Reason.NEW


def test_a_username_recorded_after_now_is_new_and_zero_days_old() -> None:
    plan = judge(["vc-a"], {"vc-a": NOW + timedelta(days=3)}, NOW, SETTINGS)

    assert plan.verdicts[0].reason is Reason.NEW
    assert plan.verdicts[0].age_days == 0


def test_new_wins_over_protected() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=1, protected_patterns=("svc-*",))

    plan = judge(["svc-pbx"], {"svc-pbx": NOW}, NOW, settings)

    assert plan.reason_of("svc-pbx") is Reason.NEW


def test_an_old_protected_username_is_protected_not_stale() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=1, protected_patterns=("svc-*",))
    first_seen = {"svc-pbx": ago(days=1000), "vc-young": ago(days=1)}

    plan = judge(first_seen, first_seen, NOW, settings)

    assert reasons(plan) == {"svc-pbx": Reason.PROTECTED, "vc-young": Reason.YOUNG}
    assert plan.stale == ()


def test_protected_wins_over_young() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=1, protected_patterns=("svc-*",))

    plan = judge(["svc-pbx"], {"svc-pbx": ago(days=1)}, NOW, settings)

    assert plan.reason_of("svc-pbx") is Reason.PROTECTED


def test_age_of_exactly_max_age_days_is_young() -> None:
    first_seen = {"vc-boundary": NOW - MAX_AGE, "vc-new": NOW}

    plan = judge(first_seen, first_seen, NOW, SETTINGS)

    assert plan.reason_of("vc-boundary") is Reason.YOUNG
    assert plan.stale == ()


def test_one_second_past_max_age_days_is_a_candidate() -> None:
    first_seen = {"vc-boundary": NOW - MAX_AGE - timedelta(seconds=1), "vc-new": NOW}

    plan = judge(first_seen, first_seen, NOW, SETTINGS)

    assert plan.reason_of("vc-boundary") is Reason.STALE
    assert plan.stale == ("vc-boundary",)


def test_age_days_counts_whole_days_rounded_down() -> None:
    plan = judge(["vc-a"], {"vc-a": ago(days=2, seconds=23 * 3600)}, NOW, SETTINGS)

    assert plan.verdicts[0].age_days == 2


def test_first_seen_is_reported_in_utc_whatever_zone_it_came_in() -> None:
    paris_summer = timezone(timedelta(hours=2))
    recorded = datetime(2025, 1, 10, 9, 0, tzinfo=paris_summer)

    verdict = judge(["vc-a"], {"vc-a": recorded}, NOW, SETTINGS).verdicts[0]

    assert verdict.first_seen == recorded
    assert verdict.first_seen.tzinfo is UTC
    assert verdict.first_seen.hour == 7


def test_an_instant_equal_to_now_in_another_zone_is_still_new() -> None:
    same_instant = NOW.astimezone(timezone(timedelta(hours=-8)))

    plan = judge(["vc-a"], {"vc-a": same_instant}, NOW, SETTINGS)

    assert plan.reason_of("vc-a") is Reason.NEW


# --- MinKeep ----------------------------------------------------------------------------------------


def test_min_keep_keeps_the_youngest_candidates() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=2)
    first_seen = {"vc-100": ago(days=100), "vc-200": ago(days=200), "vc-300": ago(days=300)}

    plan = judge(first_seen, first_seen, NOW, settings)

    assert reasons(plan) == {
        "vc-100": Reason.KEPT_FOR_MIN_KEEP,
        "vc-200": Reason.KEPT_FOR_MIN_KEEP,
        "vc-300": Reason.STALE,
    }


def test_min_keep_counts_new_and_young_usernames() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=2)
    first_seen = {"vc-new": NOW, "vc-young": ago(days=10), "vc-100": ago(days=100), "vc-200": ago(days=200)}

    plan = judge(first_seen, first_seen, NOW, settings)

    assert plan.stale == ("vc-100", "vc-200")


def test_min_keep_counts_protected_usernames_by_their_age() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=2, protected_patterns=("svc-*",))
    first_seen = {"svc-pbx": ago(days=150), "vc-100": ago(days=100), "vc-200": ago(days=200)}

    plan = judge(first_seen, first_seen, NOW, settings)

    assert reasons(plan) == {
        "svc-pbx": Reason.PROTECTED,
        "vc-100": Reason.KEPT_FOR_MIN_KEEP,
        "vc-200": Reason.STALE,
    }


def test_a_lone_stale_username_is_kept_so_authentication_stays_on() -> None:
    plan = judge(["vc-only"], {"vc-only": ago(days=1000)}, NOW, SETTINGS)

    assert plan.reason_of("vc-only") is Reason.KEPT_FOR_MIN_KEEP
    assert plan.stale == ()


def test_min_keep_larger_than_the_listing_keeps_everything() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=5)
    first_seen = {"vc-a": ago(days=100), "vc-b": ago(days=200)}

    plan = judge(first_seen, first_seen, NOW, settings)

    assert plan.stale == ()
    assert plan.kept == ("vc-a", "vc-b")


def test_min_keep_never_chooses_among_usernames_of_the_same_date() -> None:
    # Adoption: the workflow met all three on the same night. Which one the phone system uses, nothing
    # says; keeping the one whose name sorts last would be a coin toss, and could delete the one in use.
    same_day = ago(days=200)
    first_seen = {"vc-2024-01-15": same_day, "vc-2024-03-01": same_day, "vc-2024-02-10": same_day}

    plan = judge(first_seen, first_seen, NOW, SETTINGS)

    assert reasons(plan) == dict.fromkeys(first_seen, Reason.TIED)
    assert plan.stale == ()


def test_a_tie_that_fits_within_min_keep_is_kept_for_min_keep() -> None:
    same_day = ago(days=200)
    first_seen = {"vc-a": same_day, "vc-b": same_day, "vc-older": ago(days=300)}

    plan = judge(first_seen, first_seen, NOW, PolicySettings(max_age_days=90, min_keep=2))

    assert reasons(plan) == {
        "vc-a": Reason.KEPT_FOR_MIN_KEEP,
        "vc-b": Reason.KEPT_FOR_MIN_KEEP,
        "vc-older": Reason.STALE,
    }


def test_only_the_tier_the_min_keep_count_ends_in_is_tied() -> None:
    same_day = ago(days=200)
    first_seen = {"vc-young": ago(days=100), "vc-a": same_day, "vc-b": same_day, "vc-older": ago(days=300)}

    plan = judge(first_seen, first_seen, NOW, PolicySettings(max_age_days=90, min_keep=2))

    assert reasons(plan) == {
        "vc-young": Reason.KEPT_FOR_MIN_KEEP,
        "vc-a": Reason.TIED,
        "vc-b": Reason.TIED,
        "vc-older": Reason.STALE,
    }


def test_awscurrent_tells_usernames_of_the_same_date_apart() -> None:
    same_day = ago(days=200)
    first_seen = {"vc-a": same_day, "vc-b": same_day}

    plan = judge(first_seen, first_seen, NOW, SETTINGS, current="vc-a")

    # vc-a is the one the phone system is told to use: it is the younger of the two for MinKeep.
    assert reasons(plan) == {"vc-a": Reason.CURRENT, "vc-b": Reason.STALE}


def test_youngest_first_orders_tiers_by_date_then_awscurrent_first() -> None:
    same_day = ago(days=5)
    dated = {"B": same_day, "a": same_day, "cur": same_day, "old": ago(days=9), "fresh": ago(days=1)}

    assert youngest_first(dated, current="cur") == (
        frozenset({"fresh"}),
        frozenset({"cur"}),
        frozenset({"B", "a"}),
        frozenset({"old"}),
    )


def test_ties_compare_instants_not_wall_clocks() -> None:
    utc_instant = ago(days=200)
    same_instant_elsewhere = utc_instant.astimezone(timezone(timedelta(hours=9)))

    assert youngest_first({"vc-b": utc_instant, "vc-a": same_instant_elsewhere}) == (
        frozenset({"vc-a", "vc-b"}),
    )


# --- protected globs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "pattern", "protected"),
    [
        ("svc-pbx", "svc-pbx", True),
        ("svc-pbx", "*", True),
        ("svc-pbx", "svc-*", True),
        ("my-svc-pbx", "svc-*", False),
        ("trunk-1", "trunk-?", True),
        ("trunk-10", "trunk-?", False),
        ("edge-a", "edge-[ab]", True),
        ("edge-c", "edge-[ab]", False),
        ("edge-c", "edge-[!ab]", True),
        ("SVC-pbx", "svc-*", False),
        ("svc-pbx", "SVC-*", False),
        # A pattern protects the name it spells too: as a glob, "svc[1]" matches only "svc1".
        ("svc[1]", "svc[1]", True),
        ("svc1", "svc[1]", True),
        ("svc*", "svc*", True),
        ("svc[!1]", "svc[!1]", True),
    ],
)
def test_is_protected_matches_globs_case_sensitively(username: str, pattern: str, protected: bool) -> None:
    assert is_protected(username, [pattern]) is protected


def test_is_protected_needs_only_one_matching_pattern() -> None:
    assert is_protected("svc-pbx", ("edge-*", "svc-*"))
    assert not is_protected("svc-pbx", ("edge-*", "trunk-*"))


def test_no_patterns_protect_nothing() -> None:
    assert not is_protected("svc-pbx", ())


def test_judge_does_not_protect_a_username_differing_only_in_case() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=1, protected_patterns=("svc-*",))
    first_seen = {"SVC-old": ago(days=400), "vc-new": NOW}

    plan = judge(first_seen, first_seen, NOW, settings)

    assert plan.stale == ("SVC-old",)


# --- listing shape ----------------------------------------------------------------------------------


def test_a_duplicated_username_counts_once() -> None:
    settings = PolicySettings(max_age_days=90, min_keep=2)
    first_seen = {"vc-100": ago(days=100), "vc-200": ago(days=200)}

    # Counted twice, vc-100 would fill both MinKeep places and leave vc-200 stale.
    plan = judge(["vc-100", "vc-100", "vc-200"], first_seen, NOW, settings)

    assert [verdict.username for verdict in plan.verdicts] == ["vc-100", "vc-200"]
    assert plan.stale == ()


def test_records_of_unlisted_usernames_get_no_verdict() -> None:
    plan = judge(["vc-a"], {"vc-a": ago(days=1), "vc-gone": ago(days=500)}, NOW, SETTINGS)

    assert [verdict.username for verdict in plan.verdicts] == ["vc-a"]


def test_an_empty_listing_gives_an_empty_plan() -> None:
    plan = judge([], {}, NOW, SETTINGS)

    assert plan == Plan(verdicts=())
    assert plan.stale == ()
    assert plan.kept == ()


def test_verdicts_stale_and_kept_are_sorted_by_username() -> None:
    first_seen = {"vc-c": ago(days=300), "vc-a": ago(days=200), "vc-d": NOW, "vc-b": ago(days=10)}

    plan = judge(["vc-d", "vc-c", "vc-b", "vc-a"], first_seen, NOW, SETTINGS)

    assert [verdict.username for verdict in plan.verdicts] == ["vc-a", "vc-b", "vc-c", "vc-d"]
    assert plan.stale == ("vc-a", "vc-c")
    assert plan.kept == ("vc-b", "vc-d")


def test_reason_of_an_unknown_username_raises_without_naming_it() -> None:
    plan = judge(["vc-a"], {}, NOW, SETTINGS)

    with pytest.raises(KeyError) as raised:
        plan.reason_of("vc-secret")

    assert "vc-secret" not in str(raised.value)


# --- inputs that are refused ------------------------------------------------------------------------


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        judge(["vc-a"], {}, datetime(2025, 6, 1, 12, 0), SETTINGS)


def test_a_naive_first_seen_is_refused_without_naming_the_username() -> None:
    with pytest.raises(ValueError, match="first_seen must be a timezone-aware") as raised:
        judge(["vc-secret"], {"vc-secret": datetime(2025, 1, 1)}, NOW, SETTINGS)

    assert "vc-secret" not in str(raised.value)


def test_a_naive_first_seen_is_refused_even_for_an_unlisted_username() -> None:
    with pytest.raises(ValueError, match="first_seen"):
        judge(["vc-a"], {"vc-gone": datetime(2025, 1, 1)}, NOW, SETTINGS)


@pytest.mark.parametrize(
    ("max_age_days", "min_keep", "field"),
    [(0, 1, "max_age_days"), (-3, 1, "max_age_days"), (90, 0, "min_keep"), (90, -1, "min_keep")],
)
def test_settings_below_one_are_refused_naming_the_field(
    max_age_days: int, min_keep: int, field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be at least 1"):
        PolicySettings(max_age_days=max_age_days, min_keep=min_keep)


def test_settings_of_one_are_accepted_and_protect_nothing_by_default() -> None:
    settings = PolicySettings(max_age_days=1, min_keep=1)

    assert settings.protected_patterns == ()


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS.min_keep = 0  # type: ignore[misc]


# --- confirm_deletions: the re-check on a fresh listing ---------------------------------------------

PLANNING_SETTINGS = PolicySettings(max_age_days=90, min_keep=2)
LEDGER = {"vc-100": ago(days=100), "vc-200": ago(days=200), "vc-300": ago(days=300), "vc-400": ago(days=400)}


def planned_stale() -> tuple[str, ...]:
    return judge(LEDGER, LEDGER, NOW, PLANNING_SETTINGS).stale


def test_the_plan_the_confirmation_tests_start_from() -> None:
    assert planned_stale() == ("vc-300", "vc-400")


def test_an_unchanged_listing_confirms_the_whole_plan() -> None:
    assert confirm_deletions(planned_stale(), LEDGER, LEDGER, NOW, PLANNING_SETTINGS) == ("vc-300", "vc-400")


def test_a_username_added_concurrently_counts_toward_min_keep_without_adding_deletions() -> None:
    fresh = [*LEDGER, "vc-added"]

    confirmed = confirm_deletions(planned_stale(), fresh, LEDGER, NOW, PLANNING_SETTINGS)

    # The new username pushes vc-200 out of the MinKeep places, but vc-200 was never planned.
    assert judge(fresh, LEDGER, NOW, PLANNING_SETTINGS).stale == ("vc-200", "vc-300", "vc-400")
    assert confirmed == ("vc-300", "vc-400")


def test_usernames_replaced_concurrently_reduce_deletions_to_keep_min_keep() -> None:
    # Someone deleted the two kept usernames and issued one new one: only two are left on the connector.
    fresh = ["vc-300", "vc-400", "vc-added"]

    confirmed = confirm_deletions(planned_stale(), fresh, LEDGER, NOW, PLANNING_SETTINGS)

    assert confirmed == ("vc-400",)
    assert len(set(fresh) - set(confirmed)) == PLANNING_SETTINGS.min_keep


def test_a_kept_username_removed_concurrently_reduces_deletions() -> None:
    fresh = ["vc-200", "vc-300", "vc-400"]

    assert confirm_deletions(planned_stale(), fresh, LEDGER, NOW, PLANNING_SETTINGS) == ("vc-400",)


def test_a_planned_username_removed_concurrently_is_not_deleted_again() -> None:
    fresh = ["vc-100", "vc-200", "vc-300"]

    assert confirm_deletions(planned_stale(), fresh, LEDGER, NOW, PLANNING_SETTINGS) == ("vc-300",)


def test_a_planned_username_re_recorded_as_young_is_not_deleted() -> None:
    ledger = {**LEDGER, "vc-300": ago(days=1)}

    assert confirm_deletions(planned_stale(), LEDGER, ledger, NOW, PLANNING_SETTINGS) == ("vc-400",)


def test_a_planned_username_that_lost_its_record_is_new_and_not_deleted() -> None:
    ledger = {username: seen for username, seen in LEDGER.items() if username != "vc-400"}

    assert confirm_deletions(planned_stale(), LEDGER, ledger, NOW, PLANNING_SETTINGS) == ("vc-300",)


def test_a_planned_username_now_protected_is_not_deleted() -> None:
    settings = dataclasses.replace(PLANNING_SETTINGS, protected_patterns=("vc-3??",))

    assert confirm_deletions(planned_stale(), LEDGER, LEDGER, NOW, settings) == ("vc-400",)


def test_an_unplanned_stale_username_is_not_deleted() -> None:
    assert confirm_deletions(["vc-400"], LEDGER, LEDGER, NOW, PLANNING_SETTINGS) == ("vc-400",)


def test_an_empty_fresh_listing_confirms_nothing() -> None:
    assert confirm_deletions(planned_stale(), [], LEDGER, NOW, PLANNING_SETTINGS) == ()


def test_confirmed_usernames_are_sorted() -> None:
    confirmed = confirm_deletions(
        ["vc-400", "vc-300"], ["vc-400", "vc-300", "vc-200", "vc-100"], LEDGER, NOW, PLANNING_SETTINGS
    )

    assert confirmed == ("vc-300", "vc-400")


# --- the current username ---------------------------------------------------------------------------


def test_the_current_username_is_current_not_stale() -> None:
    first_seen = {"vc-old": ago(days=400), "vc-new": NOW}

    plan = judge(first_seen, first_seen, NOW, SETTINGS, current="vc-old")

    assert reasons(plan) == {"vc-old": Reason.CURRENT, "vc-new": Reason.NEW}
    assert plan.stale == ()


@pytest.mark.parametrize(
    ("seen", "patterns"),
    [(NOW, ()), (NOW + timedelta(days=1), ()), (ago(days=400), ("vc-*",)), (ago(days=1), ())],
    ids=["new", "after-now", "protected", "young"],
)
def test_current_wins_over_every_other_reason(seen: datetime, patterns: tuple[str, ...]) -> None:
    settings = PolicySettings(max_age_days=90, min_keep=1, protected_patterns=patterns)

    plan = judge(["vc-a"], {"vc-a": seen}, NOW, settings, current="vc-a")

    assert plan.reason_of("vc-a") is Reason.CURRENT


def test_current_wins_over_kept_for_min_keep() -> None:
    first_seen = {"vc-100": ago(days=100), "vc-200": ago(days=200)}

    plan = judge(first_seen, first_seen, NOW, SETTINGS, current="vc-100")

    assert reasons(plan) == {"vc-100": Reason.CURRENT, "vc-200": Reason.STALE}


def test_an_old_current_username_still_counts_toward_min_keep_by_its_age() -> None:
    # The current username is the oldest: the younger one fills the MinKeep place and is kept.
    first_seen = {"vc-100": ago(days=100), "vc-200": ago(days=200), "vc-300": ago(days=300)}

    plan = judge(first_seen, first_seen, NOW, SETTINGS, current="vc-300")

    assert reasons(plan) == {
        "vc-100": Reason.KEPT_FOR_MIN_KEEP,
        "vc-200": Reason.STALE,
        "vc-300": Reason.CURRENT,
    }


def test_an_unlisted_current_username_gets_no_verdict_and_changes_nothing() -> None:
    first_seen = {"vc-100": ago(days=100), "vc-200": ago(days=200)}

    plan = judge(first_seen, first_seen, NOW, SETTINGS, current="vc-gone")

    assert plan == judge(first_seen, first_seen, NOW, SETTINGS)
    assert reasons(plan) == {"vc-100": Reason.KEPT_FOR_MIN_KEEP, "vc-200": Reason.STALE}


def test_the_current_username_is_matched_exactly() -> None:
    first_seen = {"VC-200": ago(days=200), "vc-new": NOW}

    plan = judge(first_seen, first_seen, NOW, SETTINGS, current="vc-200")

    assert plan.reason_of("VC-200") is Reason.STALE


def test_a_planned_username_that_became_current_is_not_deleted() -> None:
    confirmed = confirm_deletions(planned_stale(), LEDGER, LEDGER, NOW, PLANNING_SETTINGS, current="vc-400")

    assert confirmed == ("vc-300",)


# --- grace ------------------------------------------------------------------------------------------

GRACE = PolicySettings(max_age_days=90, min_keep=1, grace_days=7)


def test_grace_days_defaults_to_zero() -> None:
    assert SETTINGS.grace_days == 0
    assert SETTINGS.grace == timedelta(0)
    assert GRACE.grace == timedelta(days=7)


@pytest.mark.parametrize("grace_days", [-1, -7])
def test_negative_grace_days_are_refused(grace_days: int) -> None:
    with pytest.raises(ValueError, match=r"^grace_days must not be negative"):
        PolicySettings(max_age_days=90, min_keep=1, grace_days=grace_days)


def test_a_predecessor_is_in_grace_while_its_successor_is_six_days_old() -> None:
    first_seen = {"vc-old": ago(days=200), "vc-successor": ago(days=6)}

    plan = judge(first_seen, first_seen, NOW, GRACE)

    assert reasons(plan) == {"vc-old": Reason.IN_GRACE, "vc-successor": Reason.YOUNG}
    assert plan.stale == ()
    assert plan.kept == ("vc-old", "vc-successor")


def test_a_predecessor_is_stale_once_its_successor_is_grace_days_old() -> None:
    first_seen = {"vc-old": ago(days=200), "vc-successor": ago(days=7)}

    plan = judge(first_seen, first_seen, NOW, GRACE)

    assert plan.reason_of("vc-old") is Reason.STALE


def test_one_second_short_of_grace_days_is_still_in_grace() -> None:
    first_seen = {"vc-old": ago(days=200), "vc-successor": NOW - GRACE.grace + timedelta(seconds=1)}

    plan = judge(first_seen, first_seen, NOW, GRACE)

    assert plan.reason_of("vc-old") is Reason.IN_GRACE


@pytest.mark.parametrize("successor_seen", [NOW, NOW + timedelta(days=30)], ids=["now", "after-now"])
def test_a_new_successor_has_existed_for_zero_days(successor_seen: datetime) -> None:
    first_seen = {"vc-old": ago(days=200), "vc-successor": successor_seen}
    one_day = PolicySettings(max_age_days=90, min_keep=1, grace_days=1)

    assert judge(first_seen, first_seen, NOW, one_day).reason_of("vc-old") is Reason.IN_GRACE
    # Zero days is long enough when there is no grace: a date after now does not count negatively.
    assert judge(first_seen, first_seen, NOW, SETTINGS).reason_of("vc-old") is Reason.STALE


def test_any_younger_username_can_end_the_grace_even_one_itself_in_grace() -> None:
    first_seen = {"vc-300": ago(days=300), "vc-200": ago(days=200), "vc-2": ago(days=2)}

    plan = judge(first_seen, first_seen, NOW, GRACE)

    # vc-200's only younger username is two days old; vc-300 has vc-200, there for 200 days.
    assert reasons(plan) == {"vc-300": Reason.STALE, "vc-200": Reason.IN_GRACE, "vc-2": Reason.YOUNG}


def test_an_older_username_does_not_end_the_grace() -> None:
    first_seen = {"vc-400": ago(days=400), "vc-200": ago(days=200), "vc-new": NOW}
    settings = PolicySettings(max_age_days=90, min_keep=1, grace_days=7, protected_patterns=("vc-4*",))

    plan = judge(first_seen, first_seen, NOW, settings)

    assert reasons(plan) == {"vc-400": Reason.PROTECTED, "vc-200": Reason.IN_GRACE, "vc-new": Reason.NEW}


def test_a_username_of_the_same_date_does_not_end_the_grace() -> None:
    # Neither of two usernames of one date is the other's successor: only a younger one ends a grace.
    same_day = ago(days=200)
    first_seen = {"vc-a": same_day, "vc-b": same_day, "vc-new": NOW}

    plan = judge(first_seen, first_seen, NOW, GRACE)

    assert reasons(plan) == {"vc-a": Reason.IN_GRACE, "vc-b": Reason.IN_GRACE, "vc-new": Reason.NEW}


def test_a_username_kept_for_min_keep_is_not_in_grace() -> None:
    first_seen = {"vc-100": ago(days=100), "vc-200": ago(days=200)}

    plan = judge(first_seen, first_seen, NOW, GRACE)

    assert reasons(plan) == {"vc-100": Reason.KEPT_FOR_MIN_KEEP, "vc-200": Reason.STALE}


def test_the_current_username_can_end_the_grace_of_its_predecessor() -> None:
    first_seen = {"vc-old": ago(days=200), "vc-current": ago(days=30)}

    plan = judge(first_seen, first_seen, NOW, GRACE, current="vc-current")

    assert reasons(plan) == {"vc-old": Reason.STALE, "vc-current": Reason.CURRENT}


def test_a_planned_username_whose_settled_successor_was_removed_is_not_deleted() -> None:
    ledger = {"vc-old": ago(days=200), "vc-settled": ago(days=30), "vc-fresh": ago(days=1)}
    planned = judge(ledger, ledger, NOW, GRACE).stale

    confirmed = confirm_deletions(planned, ["vc-old", "vc-fresh"], ledger, NOW, GRACE)

    assert planned == ("vc-old",)
    assert confirmed == ()
