"""The pace of Chime SDK Voice calls in one account and Region: a shared schedule that adapts to throttling.

Chime publishes no rate limit for its management API, and the limit it enforces is shared by every caller in
the account and Region. Each Lambda invocation sees only its own calls, so backing off alone (each worker
sleeping at random after a throttle) either wastes the limit (everyone asleep) or floods it (everyone
retrying). Instead, every call of a run in one account and Region books a slot on one schedule, kept in the
ledger table (``adapters/pace_table.py``):

- **Booking** (the generic cell rate algorithm): a call goes at ``max(now, next_at)`` and moves ``next_at``
  one interval (``1 / rate``) on. Calls of concurrent workers are spread evenly instead of colliding.
- **Additive increase**: a call that had to wait for its slot raises the rate by ``INCREASE`` calls a
  second for each second of schedule it books, so the rate grows by ``INCREASE`` a second whatever it is
  (a pace that never makes anyone wait is not the bottleneck, and does not grow without a throttle to tell
  it where the limit is).
- **Multiplicative decrease**: a throttled call slows the pace to ``DECREASE`` of its rate and pushes the
  next slot one new interval past now. Calls booked before that slow-down (an older ``epoch``) were booked at
  the rate just corrected: a throttle of one books again without slowing the pace twice.

The schedule engages only once a throttle is seen: until then there is no pace, calls go at once, and the
only cost is reading that there is none. It lapses ``FORGET_AFTER`` after its last slow-down, so a rate
learned one night does not hold back a run a week later. An operator who shares the account's limit with
other tools can set a ceiling (ChimeCallsPerSecond): the pace is then in force from the first call, at
the ceiling, and never faster.

Pure: no clock, no I/O. Times are seconds since the epoch, as ``time.time()`` gives them; the clock that
sleeps is the adapter's.
"""

import math
from dataclasses import dataclass, replace

# The first pace after a throttle, in calls a second. The service's limit is unknown: a few throttles bring
# a pace that starts high down to it (each takes DECREASE of the rate), where one that starts too low would
# climb back INCREASE a second.
INITIAL_RATE = 10.0
# The slowest pace: a worker's ten tries (adapters/chime_pace.py) fit in its budget even there, so a throttle
# that outlasts them reaches the state machine as the throttle it is.
MIN_RATE = 0.5
MAX_RATE = 100.0
DECREASE = 0.9
INCREASE = 0.3
# How long a learned pace outlives its last throttle.
FORGET_AFTER = 24 * 3600.0
# A booked slot further ahead than this is not a pace, it is a record gone wrong (or tampered with): it is
# not waited for (see ``book``).
LONGEST_QUEUE = 15 * 60.0


class MalformedPace(ValueError):
    """The pace record is not one this module writes (a value out of range or of the wrong type)."""


@dataclass(frozen=True)
class Pace:
    """One account and Region's schedule. ``version`` orders the writes: a write conditional on the version
    read is lost to any write in between, and the loser reads again."""

    rate: float
    next_at: float
    epoch: int
    slowed_at: float
    version: int

    def __post_init__(self) -> None:
        numbers = (self.rate, self.next_at, self.slowed_at)
        if not all(isinstance(value, float) and math.isfinite(value) for value in numbers):
            raise MalformedPace("rate, next_at and slowed_at must be finite numbers")
        if not MIN_RATE <= self.rate <= MAX_RATE:
            raise MalformedPace(f"rate must be between {MIN_RATE} and {MAX_RATE} calls a second")
        if self.epoch < 0 or self.version < 0:
            raise MalformedPace("epoch and version must not be negative")

    def lapsed(self, now: float) -> bool:
        return now - self.slowed_at >= FORGET_AFTER


@dataclass(frozen=True)
class Slot:
    """A booked call: when it may go, and the pace's epoch it was booked in (None: no pace was in force)."""

    at: float
    epoch: int | None


def book(pace: Pace | None, now: float, ceiling: float | None = None) -> tuple[Slot, Pace | None]:
    """The slot of a call made ``now``, and the pace to write back (None: nothing to write).

    ``ceiling`` (the stack's ChimeCallsPerSecond): the most calls a second the run may make in the account
    and Region, throttled or not. With one, the pace is in force from the first call, at the ceiling."""
    if pace is None or pace.lapsed(now):
        if ceiling is None:
            return Slot(at=now, epoch=None), None
        version = 1 if pace is None else pace.version + 1
        pace = Pace(rate=ceiling, next_at=now, epoch=1, slowed_at=now, version=version)
    runaway = pace.next_at > now + LONGEST_QUEUE
    at = now if runaway else max(now, pace.next_at)
    waited = at > now
    top = MAX_RATE if ceiling is None else ceiling
    rate = min(top, pace.rate + INCREASE / pace.rate) if waited else min(top, pace.rate)
    return Slot(at=at, epoch=pace.epoch), replace(
        pace, rate=rate, next_at=at + 1.0 / rate, version=pace.version + 1
    )


def slow_down(pace: Pace | None, slot: Slot, now: float, ceiling: float | None = None) -> Pace | None:
    """The pace after ``slot``'s call was throttled at ``now`` (None: nothing to write)."""
    if pace is None or pace.lapsed(now):
        initial = INITIAL_RATE if ceiling is None else min(INITIAL_RATE, ceiling)
        return Pace(
            rate=initial,
            next_at=now + 1.0 / initial,
            epoch=1,
            slowed_at=now,
            version=1 if pace is None else pace.version + 1,
        )
    if slot.epoch != pace.epoch:
        return None  # booked before the last slow-down, which already answered this burst
    rate = max(MIN_RATE, pace.rate * DECREASE)
    return replace(
        pace,
        rate=rate,
        next_at=max(min(pace.next_at, now + LONGEST_QUEUE), now + 1.0 / rate),
        epoch=pace.epoch + 1,
        slowed_at=now,
        version=pace.version + 1,
    )
