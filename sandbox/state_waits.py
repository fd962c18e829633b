"""Makes the state machine's Wait states pass in virtual time, and lets the world act meanwhile.

moto's interpreter waits for a Wait state's seconds for real (``WaitFunction._wait_interval`` blocks on an
event). The rollback watch waits WatchMinutes after a run deletes: in the sandbox the clock (time-machine)
is moved forward by that much instead, at once, after running what a test asked to happen during the wait
(a phone system placing calls with the credentials it has), so the watch that follows sees those calls at
the times they were placed.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction


@dataclass
class StateWaits:
    # Seconds of each Wait state passed, in order.
    waited: list[int] = field(default_factory=list)
    # Run once per Wait, with its seconds, before the clock moves past it.
    during: list[Callable[[int], object]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def installed(self, shift: Callable[[timedelta], object]) -> Iterator["StateWaits"]:
        def wait_interval(function: Any, env: Any, wait_seconds: int) -> None:
            with self._lock:
                self.waited.append(wait_seconds)
                actions = list(self.during)
            for action in actions:
                action(wait_seconds)
            if wait_seconds > 0:
                shift(timedelta(seconds=wait_seconds))

        with mock.patch.object(WaitFunction, "_wait_interval", wait_interval):
            yield self
