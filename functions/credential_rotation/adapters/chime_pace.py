"""Every Chime SDK Voice call of a task goes through the account and Region's pace (``domain/pacing.py``).

A throttled call is tried again here, in the same invocation, on the next slot of the shared pace, instead of
failing the step at once: a Step Functions retry costs a state transition and a Lambda invocation and waits
blind, where a slot is the pace all workers share. Two bounds keep a task within its Lambda timeout: at
most ``TRIES`` attempts, and no slot later than ``BUDGET_SECONDS`` after the call began. Past either, the
step fails as before (the service's ThrottledClientException, or ChimeRateLimited when no slot came in
time), and the state machine's Retry takes over.

Only a throttle (HTTP 429) is tried again: it proves the service did nothing, so repeating a delete or a put
is safe. Every other answer goes back to the caller untouched.
"""

import threading
import time
from collections.abc import Callable
from typing import Protocol

from botocore.exceptions import ClientError

from credential_rotation.domain.errors import ChimeRateLimited
from credential_rotation.domain.pacing import Pace, Slot, book, slow_down

THROTTLE = "ThrottledClientException"
# A task makes at most two Chime calls (a listing then a delete): two budgets and the calls themselves fit
# in the timeout of every function that calls Chime for one connector (a test holds the template to it).
BUDGET_SECONDS = 40.0
TRIES = 10
# A write lost to another worker's booking is read and tried again; this many losses in a row is a fault.
MOST_CONFLICTS = 50


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Seconds since the epoch: the pace is shared by workers on different machines."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PaceStore(Protocol):
    """``adapters/pace_table.py`` over DynamoDB; the benchmark's in-memory store behaves the same."""

    def read(self, scope: str) -> tuple[Pace | None, bool]: ...

    def write(self, scope: str, pace: Pace, read: Pace | None, existed: bool) -> bool: ...


class ChimePace:
    """``on_throttle`` is told of every throttle the pace absorbs (the run's ChimeThrottled metric): the
    state machine's history shows only those that outlast it. ``ceiling``: the stack's ChimeCallsPerSecond
    (None: no ceiling, the pace engages at the first throttle)."""

    def __init__(
        self,
        table: PaceStore,
        scope: str,
        clock: Clock,
        on_throttle: Callable[[], object] = lambda: None,
        ceiling: float | None = None,
    ) -> None:
        self._table = table
        self._ceiling = ceiling
        self._scope = scope
        self._clock = clock
        self._on_throttle = on_throttle
        self.throttles = 0  # this pace's throttles, for the tests
        self._lock = threading.Lock()

    def call[T](self, send: Callable[[], T]) -> T:
        deadline = self._clock.now() + BUDGET_SECONDS
        attempt = 0
        while attempt < TRIES:
            slot = self._book(deadline)
            wait = slot.at - self._clock.now()
            if wait > 0:
                self._clock.sleep(wait)
            attempt += 1
            try:
                return send()
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != THROTTLE or attempt == TRIES:
                    raise
                with self._lock:
                    self.throttles += 1
                self._on_throttle()
                self._slow_down(slot)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _book(self, deadline: float) -> Slot:
        """Book the next slot, unless it is past ``deadline``: then nothing is booked (a slot booked and not
        used would be lost to every worker) and ChimeRateLimited hands the wait to the state machine."""
        for _ in range(MOST_CONFLICTS):
            read, existed = self._table.read(self._scope)
            now = self._clock.now()
            slot, booked = book(read, now, self._ceiling)
            if slot.at > deadline:
                raise ChimeRateLimited(
                    f"the next slot of this account and Region's pace of Chime calls is "
                    f"{slot.at - now:.1f} s away, past the step's {BUDGET_SECONDS:.0f} s budget: "
                    "nothing was called"
                )
            if booked is None or self._table.write(self._scope, booked, read, existed):
                return slot
        raise ChimeRateLimited(f"{MOST_CONFLICTS} bookings in a row lost to other workers' writes")

    def _slow_down(self, slot: Slot) -> None:
        for _ in range(MOST_CONFLICTS):
            read, existed = self._table.read(self._scope)
            slowed = slow_down(read, slot, self._clock.now(), self._ceiling)
            if slowed is None or self._table.write(self._scope, slowed, read, existed):
                return
        raise ChimeRateLimited(f"{MOST_CONFLICTS} slow-downs in a row lost to other workers' writes")
