"""Makes Step Functions' retry waits instant in the sandbox, and records them.

moto's interpreter waits with a real ``time.sleep`` in its retrier, after drawing the full-jitter delay
with ``random.uniform(0, cap)``. Both are replaced here: every wait is recorded with its cap (the
exponential interval, before jitter) and its drawn delay, so tests can assert the backoff schedule.
"""

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from unittest import mock

from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl, retrier_decl


@dataclass(frozen=True)
class RetryWait:
    cap: float
    delay: float


@dataclass
class RetryClock:
    waits: list[RetryWait] = field(default_factory=list)
    # With full jitter a delay is random in [0, cap]; "max" draws the cap itself, for exact assertions.
    jitter: str = "random"
    _pending_caps: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _uniform(self, low: float, high: float) -> float:
        delay = high if self.jitter == "max" else random.uniform(low, high)
        with self._lock:
            self._pending_caps[threading.get_ident()] = high
        return delay

    def _sleep(self, seconds: float) -> None:
        with self._lock:
            cap = self._pending_caps.pop(threading.get_ident(), seconds)
            self.waits.append(RetryWait(cap=cap, delay=seconds))

    @property
    def caps(self) -> list[float]:
        return [wait.cap for wait in self.waits]

    @contextmanager
    def installed(self) -> Iterator["RetryClock"]:
        with (
            mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=self._sleep)),
            mock.patch.object(jitter_strategy_decl, "random", SimpleNamespace(uniform=self._uniform)),
        ):
            yield self
