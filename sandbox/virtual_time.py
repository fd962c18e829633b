"""Virtual time for threads: a clock that moves only when every thread it runs is waiting on it.

The pacing benchmark runs many workers (a Map's concurrent iterations) against a rate limit that counts
seconds. In real time that would take as long as the run it models; here a worker's ``sleep`` parks it,
and when the last running worker parks, the clock jumps to the earliest wake-up and releases the workers
due then. Work between sleeps takes no virtual time at all, so what is measured is the schedule alone:
waits, backoffs and the limit, not this machine's speed.

A thread must be counted in (``enter``) before it starts and out (``leave``) when it ends, or the clock
could move while it is about to run, or never move again.
"""

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Sleeper:
    wake: float
    order: int
    released: bool = field(default=False, compare=False)


class VirtualClock:
    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._condition = threading.Condition()
        self._running = 0
        self._sleepers: list[_Sleeper] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def enter(self) -> None:
        with self._condition:
            self._running += 1

    def leave(self) -> None:
        with self._condition:
            self._running -= 1
            self._advance()

    def sleep(self, seconds: float) -> None:
        with self._condition:
            sleeper = _Sleeper(self._now + max(0.0, seconds), next(self._order))
            heapq.heappush(self._sleepers, sleeper)
            self._running -= 1
            self._advance()
            while not sleeper.released:
                self._condition.wait()

    def thread(self, target: Callable[[], object]) -> threading.Thread:
        """A thread running ``target`` on this clock, counted in now and out when ``target`` returns."""
        self.enter()

        def run() -> None:
            try:
                target()
            finally:
                self.leave()

        return threading.Thread(target=run, daemon=True)

    def _advance(self) -> None:
        if self._running or not self._sleepers:
            return
        self._now = max(self._now, self._sleepers[0].wake)
        while self._sleepers and self._sleepers[0].wake <= self._now:
            heapq.heappop(self._sleepers).released = True
            self._running += 1
        self._condition.notify_all()
