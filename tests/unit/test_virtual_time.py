"""The benchmark's virtual clock (sandbox/virtual_time.py): it moves only when every thread waits on it, to
the earliest wake-up, and releases exactly the threads due then."""

import threading

from sandbox.virtual_time import VirtualClock


def test_sleepers_wake_in_virtual_order_and_the_clock_jumps_to_each_wake_up():
    clock = VirtualClock(start=100.0)
    woke: list[tuple[float, str]] = []
    lock = threading.Lock()

    def sleeper(name: str, seconds: float, times: int):
        def run():
            for _ in range(times):
                clock.sleep(seconds)
                with lock:
                    woke.append((clock.now(), name))

        return run

    threads = [clock.thread(sleeper("a", 1.0, 3)), clock.thread(sleeper("b", 2.5, 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(woke) == [(101.0, "a"), (102.0, "a"), (102.5, "b"), (103.0, "a"), (105.0, "b")]
    assert clock.now() == 105.0


def test_the_clock_stands_still_while_any_thread_runs():
    clock = VirtualClock()
    running = threading.Event()
    release = threading.Event()
    seen: list[float] = []

    def busy():
        running.set()
        release.wait(timeout=10)  # work, not a sleep on the clock
        seen.append(clock.now())

    def sleeper():
        clock.sleep(50.0)

    threads = [clock.thread(busy), clock.thread(sleeper)]
    for thread in threads:
        thread.start()
    running.wait(timeout=10)
    assert clock.now() == 0.0  # the sleeper waits, but the busy thread has not finished
    release.set()
    for thread in threads:
        thread.join(timeout=10)

    assert seen == [0.0]
    assert clock.now() == 50.0
