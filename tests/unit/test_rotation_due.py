"""When a connector gets a successor credential: each rule of ``decide``, and their order."""

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credential_rotation.domain.rotation_due import RotationDecision, RotationReason, decide

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ROTATE_AFTER_DAYS = 30
ROTATE_AFTER = timedelta(days=ROTATE_AFTER_DAYS)
ONE_SECOND = timedelta(seconds=1)
ZONES = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)))


def ago(days: int = 0, seconds: int = 0) -> datetime:
    return NOW - timedelta(days=days, seconds=seconds)


def decided(
    first_seen: dict[str, datetime], rotate: bool = True, pending: str | None = None
) -> RotationDecision:
    return decide(first_seen, NOW, rotate, ROTATE_AFTER_DAYS, pending)


def test_reasons_have_the_wire_values_the_audit_records() -> None:
    assert [reason.value for reason in RotationReason] == [
        "rotation-off",
        "no-credentials",
        "resume-pending-successor",
        "revoking-the-current-or-last-credential",
        "youngest-older-than-rotate-after-days",
        "youngest-is-recent",
    ]


# --- one rule at a time -----------------------------------------------------------------------------


def test_a_run_that_does_not_rotate_is_off() -> None:
    assert decided({"vc-old": ago(days=400)}, rotate=False) == RotationDecision(False, RotationReason.OFF)


def test_off_wins_over_no_credentials() -> None:
    assert decided({}, rotate=False) == RotationDecision(False, RotationReason.OFF)


def test_off_wins_over_a_pending_successor() -> None:
    decision = decided({"vc-old": ago(days=400)}, rotate=False, pending="vc-pending")

    assert decision == RotationDecision(False, RotationReason.OFF)


def test_a_connector_without_credentials_is_never_enrolled() -> None:
    assert decided({}) == RotationDecision(False, RotationReason.NO_CREDENTIALS)


def test_no_credentials_wins_over_a_pending_successor() -> None:
    assert decided({}, pending="vc-pending") == RotationDecision(False, RotationReason.NO_CREDENTIALS)


def test_a_pending_successor_is_resumed_even_when_the_youngest_is_recent() -> None:
    decision = decided({"vc-fresh": NOW}, pending="vc-pending")

    assert decision == RotationDecision(True, RotationReason.RESUME)


def test_resume_wins_over_due() -> None:
    decision = decided({"vc-old": ago(days=400)}, pending="vc-pending")

    assert decision == RotationDecision(True, RotationReason.RESUME)


def test_an_empty_pending_name_is_still_a_pending_successor() -> None:
    # Only "no pending successor" (None) lets the age rules decide.
    assert decided({"vc-fresh": NOW}, pending="") == RotationDecision(True, RotationReason.RESUME)


def test_a_youngest_older_than_rotate_after_days_is_due() -> None:
    assert decided({"vc-old": ago(days=31)}) == RotationDecision(True, RotationReason.DUE)


def test_a_youngest_of_exactly_rotate_after_days_is_not_due() -> None:
    assert decided({"vc-a": NOW - ROTATE_AFTER}) == RotationDecision(False, RotationReason.NOT_DUE)


def test_one_second_past_rotate_after_days_is_due() -> None:
    decision = decided({"vc-a": NOW - ROTATE_AFTER - ONE_SECOND})

    assert decision == RotationDecision(True, RotationReason.DUE)


def test_a_recent_youngest_is_not_due() -> None:
    assert decided({"vc-a": ago(days=1)}) == RotationDecision(False, RotationReason.NOT_DUE)


def test_only_the_youngest_username_counts() -> None:
    first_seen = {"vc-ancient": ago(days=1000), "vc-old": ago(days=400), "vc-recent": ago(days=29)}

    assert decided(first_seen) == RotationDecision(False, RotationReason.NOT_DUE)


def test_all_usernames_past_rotate_after_days_is_due() -> None:
    first_seen = {"vc-ancient": ago(days=1000), "vc-old": ago(days=31)}

    assert decided(first_seen) == RotationDecision(True, RotationReason.DUE)


def test_a_username_dated_after_now_is_not_due() -> None:
    assert decided({"vc-later": NOW + timedelta(days=3)}) == RotationDecision(False, RotationReason.NOT_DUE)


def test_ages_compare_instants_not_wall_clocks() -> None:
    # 29 days and 20 hours ago, written in UTC-8: its wall clock reads more than 30 days before NOW's.
    recent = (NOW - ROTATE_AFTER + timedelta(hours=4)).astimezone(timezone(timedelta(hours=-8)))

    assert decided({"vc-a": recent}) == RotationDecision(False, RotationReason.NOT_DUE)


def test_rotate_after_days_of_one_is_accepted() -> None:
    assert decide({"vc-a": ago(days=1, seconds=1)}, NOW, True, 1).reason is RotationReason.DUE


@pytest.mark.parametrize("rotate", [True, False])
@pytest.mark.parametrize("rotate_after_days", [0, -1, -30])
def test_rotate_after_days_below_one_is_refused(rotate: bool, rotate_after_days: int) -> None:
    with pytest.raises(ValueError, match="rotate_after_days must be at least 1"):
        decide({"vc-a": ago(days=400)}, NOW, rotate, rotate_after_days)


def test_a_decision_is_frozen() -> None:
    decision = decided({"vc-a": ago(days=1)})

    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.due = True  # type: ignore[misc]


# --- properties -------------------------------------------------------------------------------------


def ages(rotate_after_days: int) -> st.SearchStrategy[timedelta]:
    rotate_after = timedelta(days=rotate_after_days)
    boundaries = st.sampled_from(
        [timedelta(0), -ONE_SECOND, rotate_after - ONE_SECOND, rotate_after, rotate_after + ONE_SECOND]
    )
    anywhere = st.timedeltas(min_value=-timedelta(days=2), max_value=3 * rotate_after)
    return st.one_of(boundaries, anywhere)


@st.composite
def situations(draw: st.DrawFn) -> tuple[dict[str, datetime], datetime, bool, int, str | None]:
    rotate_after_days = draw(st.integers(min_value=1, max_value=5))
    now = draw(
        st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.sampled_from(ZONES)
        )
    )
    dated = st.builds(
        lambda age, zone: (now - age).astimezone(zone), ages(rotate_after_days), st.sampled_from(ZONES)
    )
    first_seen = draw(st.dictionaries(st.text(alphabet="ab1", min_size=1, max_size=3), dated, max_size=4))
    rotate = draw(st.booleans())
    pending = draw(st.none() | st.text(alphabet="ab1", max_size=3))
    return first_seen, now, rotate, rotate_after_days, pending


@settings(max_examples=300, deadline=None)
@given(situations())
def test_due_exactly_when_the_rules_say_so(
    situation: tuple[dict[str, datetime], datetime, bool, int, str | None],
) -> None:
    first_seen, now, rotate, rotate_after_days, pending = situation

    decision = decide(first_seen, now, rotate, rotate_after_days, pending)

    youngest_is_old = bool(first_seen) and now - max(first_seen.values()) > timedelta(days=rotate_after_days)
    assert decision.due == (rotate and bool(first_seen) and (pending is not None or youngest_is_old))


@settings(max_examples=300, deadline=None)
@given(situations())
def test_every_decision_has_the_first_reason_that_applies(
    situation: tuple[dict[str, datetime], datetime, bool, int, str | None],
) -> None:
    first_seen, now, rotate, rotate_after_days, pending = situation

    decision = decide(first_seen, now, rotate, rotate_after_days, pending)

    if not rotate:
        expected = RotationDecision(False, RotationReason.OFF)
    elif not first_seen:
        expected = RotationDecision(False, RotationReason.NO_CREDENTIALS)
    elif pending is not None:
        expected = RotationDecision(True, RotationReason.RESUME)
    elif all(now - seen > timedelta(days=rotate_after_days) for seen in first_seen.values()):
        expected = RotationDecision(True, RotationReason.DUE)
    else:
        expected = RotationDecision(False, RotationReason.NOT_DUE)
    assert decision == expected
