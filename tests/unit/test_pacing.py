"""The pace of Chime calls (domain/pacing.py): booking spreads calls one interval apart, a throttle slows the
pace once per burst, a pace that was never throttled costs nothing, and a record gone wrong is named."""

import itertools
import math

import pytest
from pydantic import ValidationError

from credential_rotation.domain.pacing import (
    DECREASE,
    FORGET_AFTER,
    INCREASE,
    INITIAL_RATE,
    LONGEST_QUEUE,
    MAX_RATE,
    MIN_RATE,
    MalformedPace,
    Pace,
    Slot,
    book,
    slow_down,
)
from tests.unit.test_revoke import settings

NOW = 1_000_000.0


def pace(rate: float = 2.0, next_at: float = NOW, epoch: int = 3, slowed_at: float = NOW - 10) -> Pace:
    return Pace(rate=rate, next_at=next_at, epoch=epoch, slowed_at=slowed_at, version=7)


def test_without_a_pace_a_call_goes_at_once_and_nothing_is_written():
    slot, written = book(None, NOW)

    assert slot == Slot(at=NOW, epoch=None)
    assert written is None


def test_calls_booked_one_after_another_are_one_interval_apart_in_order():
    current = pace(rate=2.0, next_at=NOW)
    slots = []
    for _ in range(4):
        slot, current = book(current, NOW)
        slots.append(slot.at)

    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert slots[0] == NOW
    assert all(0.4 < gap <= 0.5 for gap in gaps), gaps  # 1/rate, the rate growing a little as calls wait
    assert current.version == 7 + 4


def test_the_rate_grows_only_while_calls_wait_for_their_slot():
    idle = pace(rate=2.0, next_at=NOW - 5)
    _, after_idle = book(idle, NOW)
    busy = pace(rate=2.0, next_at=NOW + 3)
    _, after_busy = book(busy, NOW)

    assert after_idle.rate == 2.0
    assert after_busy.rate == pytest.approx(2.0 + INCREASE / 2.0)  # INCREASE a second of schedule booked


def test_the_rate_never_grows_past_its_ceiling():
    _, booked = book(pace(rate=MAX_RATE, next_at=NOW + 1), NOW)

    assert booked.rate == MAX_RATE


def test_a_first_throttle_starts_the_pace_at_its_initial_rate():
    started = slow_down(None, Slot(at=NOW, epoch=None), NOW)

    assert started == Pace(
        rate=INITIAL_RATE, next_at=NOW + 1 / INITIAL_RATE, epoch=1, slowed_at=NOW, version=1
    )


def test_a_throttle_slows_the_pace_and_pushes_the_next_slot_one_new_interval_out():
    slowed = slow_down(pace(rate=2.0, next_at=NOW), Slot(at=NOW, epoch=3), NOW)

    assert slowed.rate == pytest.approx(2.0 * DECREASE)
    assert slowed.epoch == 4
    assert slowed.slowed_at == NOW
    assert slowed.next_at == pytest.approx(NOW + 1 / (2.0 * DECREASE))
    assert slowed.version == 8


def test_a_throttle_of_a_call_booked_before_the_last_slow_down_does_not_slow_it_again():
    assert slow_down(pace(epoch=4), Slot(at=NOW, epoch=3), NOW) is None
    assert slow_down(pace(epoch=4), Slot(at=NOW, epoch=None), NOW) is None


def test_the_pace_never_slows_below_its_floor():
    slowed = slow_down(pace(rate=MIN_RATE), Slot(at=NOW, epoch=3), NOW)

    assert slowed.rate == MIN_RATE


def test_a_pace_lapses_a_while_after_its_last_throttle():
    old = pace(rate=0.5, next_at=NOW + 100, slowed_at=NOW - FORGET_AFTER)

    assert book(old, NOW) == (Slot(at=NOW, epoch=None), None)
    restarted = slow_down(old, Slot(at=NOW, epoch=None), NOW)
    assert restarted.rate == INITIAL_RATE
    assert restarted.version == old.version + 1  # written over the lapsed item, conditionally


def test_a_slot_booked_further_out_than_any_queue_could_be_is_not_waited_for():
    # A record gone wrong, or written by someone else: the pace must not hold every call for hours.
    slot, booked = book(pace(next_at=NOW + LONGEST_QUEUE + 1), NOW)

    assert slot.at == NOW
    assert booked.next_at == pytest.approx(NOW + 1 / booked.rate)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", 0.0),
        ("rate", MIN_RATE / 2),
        ("rate", MAX_RATE * 2),
        ("rate", math.nan),
        ("next_at", math.inf),
        ("slowed_at", math.nan),
        ("epoch", -1),
        ("version", -1),
    ],
)
def test_a_pace_out_of_range_is_named_malformed(field, value):
    fields = {"rate": 2.0, "next_at": NOW, "epoch": 1, "slowed_at": NOW, "version": 1, field: value}

    with pytest.raises(MalformedPace):
        Pace(**fields)


def test_with_a_ceiling_the_pace_is_in_force_from_the_first_call_and_never_faster():
    slot, current = book(None, NOW, ceiling=2.0)
    assert slot.at == NOW
    assert current is not None
    assert current.rate == 2.0
    slots = [slot.at]
    for _ in range(5):
        slot, current = book(current, NOW, ceiling=2.0)
        slots.append(slot.at)

    assert [later - earlier for earlier, later in itertools.pairwise(slots)] == [0.5] * 5
    assert current.rate == 2.0  # calls wait, but the rate does not grow past the ceiling


def test_with_a_ceiling_a_first_throttle_starts_no_faster_than_it():
    started = slow_down(None, Slot(at=NOW, epoch=None), NOW, ceiling=3.0)

    assert started.rate == 3.0
    assert slow_down(None, Slot(at=NOW, epoch=None), NOW, ceiling=50.0).rate == INITIAL_RATE


@pytest.mark.parametrize(
    ("given", "accepted"), [("0", True), ("2", True), ("0.5", True), ("0.3", False), ("101", False)]
)
def test_the_ceiling_parameter_is_none_or_a_rate_the_pace_can_hold(given, accepted):
    if accepted:
        assert settings(CHIME_CALLS_PER_SECOND=given).chime_calls_per_second == float(given)
    else:
        with pytest.raises(ValidationError, match="CHIME_CALLS_PER_SECOND"):
            settings(CHIME_CALLS_PER_SECOND=given)
