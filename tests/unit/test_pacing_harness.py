"""The pacing benchmark's model (benchmarks/pacing.py) over the real adapter and pace: under a sustained
rate limit, with the pace, every connector completes; without it (one attempt per call, the state
machine's Retry alone), the same model loses connectors, as the runs before the pace did. The second half
is what shows the model can fail at all. Times are the benchmark's to report, not asserted here."""

import pytest

from benchmarks.pacing import MODES, run_once, throttle_retriers

SEEDS = range(3)


@pytest.mark.parametrize(("mode", "connectors"), [("single", 100), ("fleet", 100)])
def test_with_the_pace_every_connector_completes_under_a_low_sustained_limit(mode, connectors):
    results = [run_once(connectors, 2, MODES[mode], paced=True, seed=seed) for seed in SEEDS]

    assert [result.failed for result in results] == [0, 0, 0]
    assert [result.stale_left for result in results] == [0, 0, 0]


def test_without_the_pace_the_same_limit_loses_connectors():
    results = [run_once(100, 2, MODES["single"], paced=False, seed=seed) for seed in SEEDS]

    assert all(result.failed > 0 for result in results), [result.failed for result in results]
    assert all(result.stale_left >= result.failed for result in results)


def test_the_model_retries_as_the_state_machine_says():
    retriers = throttle_retriers()

    assert retriers["ThrottledClientException"].max_attempts == 6
    assert retriers["ChimeRateLimited"].max_delay == 60
