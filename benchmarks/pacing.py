"""Throttling near the rate floor: how long a run takes under a sustained Chime rate limit, in virtual time,
and whether every connector completes.

What runs, and what is modelled:

- **Ours, unchanged:** the Chime adapter (``adapters/chime.py``) and the pace it books every call on
  (``adapters/chime_pace.py``, ``domain/pacing.py``), over a pace store with the DynamoDB adapter's
  semantics (a write conditional on the version read), and the emulator's rate limiter
  (``sandbox/chime_emulator.py``'s ``Faults.rate_limit``: more than ``rate`` calls in any one second are
  answered ThrottledClientException, and a throttled call does not count).
- **The state machine, modelled:** a Map of ``concurrency`` workers takes the connectors in order, first
  all plans (one ListVoiceConnectorTerminationCredentials each), then all applies (a fresh listing and one
  delete each: one stale username per connector), so 3 calls a connector. A step that fails with a throttle
  (or ChimeRateLimited) is retried as the ASL's own Retry says (read from ``statemachine/rotation.asl.json``:
  interval, backoff, cap, attempts, full jitter); a step out of retries fails its connector.
- **Time:** ``sandbox/virtual_time.py``. Waits and backoffs take virtual seconds; the calls, Lambda and
  Step Functions themselves take none. The floor is the calls divided by the rate.

"before" is the adapter without a pace (one attempt per call, as before this change): the Step Functions
retries alone. Fleet mode is modelled as its Distributed Map sees one account and Region: the run's
``MaxConcurrency`` workers all on it (the worst case: on AWS they are spread over the targets).

    .venv/bin/python -m benchmarks.pacing [--runs N] [--sizes 20,100,1000] [--rates 2,10]
"""

# ruff: noqa: E402  (the Lambda package is put on the path before it is imported, as the runtime does)

import argparse
import json
import random
import statistics
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "functions") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "functions"))

from botocore.exceptions import ClientError

from credential_rotation.adapters.chime import VoiceConnectorCredentials
from credential_rotation.adapters.chime_pace import ChimePace
from credential_rotation.domain.errors import ChimeRateLimited
from credential_rotation.domain.pacing import Pace
from sandbox import chime_emulator
from sandbox.chime_emulator import ERROR_STATUS, Faults
from sandbox.virtual_time import VirtualClock

ASL = REPOSITORY / "statemachine" / "rotation.asl.json"
# template.yaml's MaxConcurrency: its default (single-account mode's Map) and its largest value (fleet
# mode's Distributed Map, all on one account and Region).
MODES = {"single": 5, "fleet": 40}
CALLS_PER_CONNECTOR = 3
THROTTLES = ("ThrottledClientException", "ChimeRateLimited")


@dataclass(frozen=True)
class Retrier:
    interval: float
    backoff: float
    max_delay: float
    max_attempts: int


def throttle_retriers(asl: Path = ASL) -> dict[str, Retrier]:
    """DeleteCredentials' Retry for the throttle and for the pace's own error (the same in every Chime
    step), by error name."""
    document = json.loads(asl.read_text())
    step = document["States"]["ApplyPlans"]["ItemProcessor"]["States"]["DeleteCredentials"]
    retriers = {}
    for retry in step["Retry"]:
        for error in retry["ErrorEquals"]:
            if error in THROTTLES:
                retriers[error] = Retrier(
                    retry["IntervalSeconds"],
                    retry["BackoffRate"],
                    retry["MaxDelaySeconds"],
                    retry["MaxAttempts"],
                )
    missing = set(THROTTLES) - set(retriers)
    if missing:
        raise LookupError(f"DeleteCredentials has no Retry for {sorted(missing)}")
    return retriers


class InMemoryPaceStore:
    """``adapters/pace_table.py``'s semantics in memory: a write lands only on the version it read."""

    def __init__(self) -> None:
        self._paces: dict[str, Pace] = {}
        self._lock = threading.Lock()

    def read(self, scope: str) -> tuple[Pace | None, bool]:
        with self._lock:
            pace = self._paces.get(scope)
        return pace, pace is not None

    def write(self, scope: str, pace: Pace, read: Pace | None, existed: bool) -> bool:
        with self._lock:
            current = self._paces.get(scope)
            if (current.version if current else None) != (read.version if read else None):
                return False
            self._paces[scope] = pace
            return True


class LimitedChime:
    """The two Chime operations a run makes, answered behind the emulator's rate limiter."""

    def __init__(self, faults: Faults, usernames: dict[str, list[str]]) -> None:
        self._faults = faults
        self._usernames = usernames
        self._lock = threading.Lock()
        self.answered: dict[str, int] = {"ok": 0, "ThrottledClientException": 0}

    def _admit(self, operation: str, voice_connector_id: str) -> None:
        with self._lock:
            error = self._faults.injected_error(operation, voice_connector_id)
            self.answered[error or "ok"] += 1
        if error:
            status = ERROR_STATUS[error]
            raise ClientError(
                {
                    "Error": {"Code": error, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                operation,
            )

    def holding(self, username: str) -> int:
        """How many connectors still have ``username``."""
        return sum(username in usernames for usernames in self._usernames.values())

    def list_voice_connector_termination_credentials(self, VoiceConnectorId: str) -> dict[str, Any]:
        self._admit("ListVoiceConnectorTerminationCredentials", VoiceConnectorId)
        return {"Usernames": list(self._usernames[VoiceConnectorId])}

    def delete_voice_connector_termination_credentials(
        self,
        VoiceConnectorId: str,
        Usernames: list[str],
    ) -> None:
        self._admit("DeleteVoiceConnectorTerminationCredentials", VoiceConnectorId)
        self._usernames[VoiceConnectorId] = [
            u for u in self._usernames[VoiceConnectorId] if u not in Usernames
        ]


@dataclass
class RunResult:
    connectors: int
    rate: float
    concurrency: int
    paced: bool
    seconds: float
    failed: int
    calls: int
    throttled: int
    stale_left: int

    @property
    def floor(self) -> float:
        return self.connectors * CALLS_PER_CONNECTOR / self.rate

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor


@dataclass
class _Map:
    """A Map state: ``concurrency`` workers over the items, each step retried as the ASL says."""

    clock: VirtualClock
    retriers: dict[str, Retrier]
    rng: random.Random
    failed: set[str] = field(default_factory=set)

    def run(self, items: list[str], concurrency: int, step: Callable[[str], None]) -> None:
        queue = deque(items)
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    item = queue.popleft()
                if item not in self.failed:
                    self._retried(item, step)

        threads = [self.clock.thread(worker) for _ in range(min(concurrency, len(items)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _retried(self, item: str, step: Callable[[str], None]) -> None:
        # Step Functions counts the attempts of each retrier apart.
        attempts = dict.fromkeys(THROTTLES, 0)
        while True:
            try:
                step(item)
                return
            except (ClientError, ChimeRateLimited) as error:
                name = (
                    type(error).__name__
                    if isinstance(error, ChimeRateLimited)
                    else error.response["Error"]["Code"]
                )
                retrier = self.retriers.get(name)
                if retrier is None or attempts[name] == retrier.max_attempts:
                    self.failed.add(item)
                    return
                cap = min(retrier.max_delay, retrier.interval * retrier.backoff ** attempts[name])
                attempts[name] += 1
                self.clock.sleep(self.rng.uniform(0, cap))


def run_once(connectors: int, rate: int, concurrency: int, *, paced: bool, seed: int) -> RunResult:
    clock = VirtualClock(start=1_000_000.0)
    saved = chime_emulator.clock
    chime_emulator.clock = clock.now
    try:
        faults = Faults()
        faults.rate_limit(max_calls=rate, per_seconds=1.0)
        ids = [f"vc{number:05d}" for number in range(connectors)]
        client = LimitedChime(faults, {vc: ["sip-stale", "sip-current"] for vc in ids})
        pace = ChimePace(InMemoryPaceStore(), "this-account/us-east-1", clock) if paced else None
        chime = VoiceConnectorCredentials(client, pace)  # type: ignore[arg-type]
        steps = _Map(clock, throttle_retriers(), random.Random(seed))  # noqa: S311 (jitter, as Step Functions draws it)
        started = clock.now()
        steps.run(ids, concurrency, chime.usernames)
        steps.run(ids, concurrency, lambda vc: _apply(chime, vc))
        return RunResult(
            connectors=connectors,
            rate=rate,
            concurrency=concurrency,
            paced=paced,
            seconds=clock.now() - started,
            failed=len(steps.failed),
            calls=client.answered["ok"],
            throttled=client.answered["ThrottledClientException"],
            stale_left=client.holding("sip-stale"),
        )
    finally:
        chime_emulator.clock = saved


def _apply(chime: VoiceConnectorCredentials, voice_connector_id: str) -> None:
    if "sip-stale" in chime.usernames(voice_connector_id):
        chime.delete(voice_connector_id, ["sip-stale"], on_refused=lambda: None)


def table(sizes: list[int], rates: list[int], runs: int, out: Any = sys.stdout) -> list[dict[str, Any]]:
    rows = []
    for mode, concurrency in MODES.items():
        for rate in rates:
            for size in sizes:
                for paced in (False, True):
                    count = runs if size <= 100 else max(1, runs // 4)
                    results = [
                        run_once(size, rate, concurrency, paced=paced, seed=seed) for seed in range(count)
                    ]
                    rows.append(_row(mode, results))
                    print(_line(rows[-1]), file=out, flush=True)
    return rows


def _row(mode: str, results: list[RunResult]) -> dict[str, Any]:
    first = results[0]
    return {
        "mode": mode,
        "concurrency": first.concurrency,
        "rate": first.rate,
        "connectors": first.connectors,
        "pace": "paced" if first.paced else "before",
        "runs": len(results),
        "runs_with_failures": sum(result.failed > 0 for result in results),
        "most_failed": max(result.failed for result in results),
        "floor_s": first.floor,
        "mean_s": statistics.fmean(result.seconds for result in results),
        "worst_s": max(result.seconds for result in results),
        "worst_ratio": max(result.ratio for result in results),
        "throttled_per_call": statistics.fmean(result.throttled / result.calls for result in results),
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"| {row['mode']} ({row['concurrency']}) | {row['rate']:g}/s | {row['connectors']} | {row['pace']} | "
        f"{row['runs_with_failures']}/{row['runs']} (most {row['most_failed']}) | {row['floor_s']:.0f} | "
        f"{row['mean_s']:.0f} | {row['worst_s']:.0f} | {row['worst_ratio']:.2f}x | "
        f"{row['throttled_per_call']:.2f} |"
    )


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=16, help="runs per row (a quarter for 1,000 connectors)")
    parser.add_argument("--sizes", default="20,100,1000")
    parser.add_argument("--rates", default="2,10")
    parser.add_argument("--json", action="store_true", help="the rows as JSON instead of a table")
    options = parser.parse_args(arguments)
    sizes = [int(size) for size in options.sizes.split(",")]
    rates = [int(rate) for rate in options.rates.split(",")]
    # The table as it is measured; with --json it goes to stderr, and stdout has the rows as JSON.
    out = sys.stderr if options.json else sys.stdout
    print(
        "| Mode (MaxConcurrency) | Limit | Connectors | Pace | Runs with a failed connector | Floor (s) "
        "| Mean (s) | Worst (s) | Worst / floor | Throttled per call |\n" + "|---" * 10 + "|",
        file=out,
    )
    rows = table(sizes, rates, options.runs, out)
    if options.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
