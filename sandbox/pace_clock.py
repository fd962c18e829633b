"""The clock the functions' pace of Chime calls waits by in the sandbox: it skips waits instead of sleeping.

On AWS a paced call sleeps until its slot (``adapters/chime_pace.py``). Offline that would make every test
that throttles wait in real time. This clock reads the (travelled) system time plus every wait skipped so
far, and a wait only moves that offset on. The emulator's rate limits count time by the same clock, so a
skipped wait frees a limit's window as a real one would. Waits of concurrent workers add up here where on
AWS they overlap, so time runs faster than real under contention: this is for behaviour, and the pacing
benchmark (``benchmarks/pacing.py``) measures speed in a virtual time that is exact.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from credential_rotation.runtime import wiring
from sandbox import chime_emulator


class SkippingClock:
    def __init__(self) -> None:
        self._skipped = 0.0
        self._lock = threading.Lock()
        self.waits: list[float] = []

    def now(self) -> float:
        return time.time() + self._skipped

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._skipped += max(0.0, seconds)
            self.waits.append(seconds)


@contextmanager
def installed(clock: SkippingClock) -> Iterator[SkippingClock]:
    saved = wiring.pace_clock, chime_emulator.clock
    wiring.pace_clock, chime_emulator.clock = clock, clock.now
    try:
        yield clock
    finally:
        wiring.pace_clock, chime_emulator.clock = saved
