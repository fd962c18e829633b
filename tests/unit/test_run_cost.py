"""The run-cost benchmark's counting and pricing (benchmarks/run_cost.py), over synthetic histories and
counts whose answers are worked out here by hand, not by the functions under test. Nothing is deployed."""

from collections import Counter

import pytest
from moto.stepfunctions.parser.api import HistoryEventType

from benchmarks.run_cost import (
    CHILD_STARTED,
    Invoked,
    Measurement,
    asl_states,
    express_usd,
    fleet_layout,
    lambda_gb_seconds,
    lambda_usd,
    linear_fit,
    per_thousand,
    retries,
    step_functions_usd,
    transitions_by_state,
)


def event(event_id: int, previous: int, kind: str, name: str | None = None) -> dict:
    made: dict = {"id": event_id, "previousEventId": previous, "type": kind}
    if name is not None:
        details = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        made[details] = {"name": name}
    return made


def history_with_a_retry_and_interleaved_iterations() -> list[dict]:
    """Pass, then a Task whose first attempt fails and is retried, then an inline Map whose two
    iterations (a Choice, then a Task) interleave in the history, as parallel iterations do."""
    return [
        event(1, 0, "ExecutionStarted"),
        event(2, 1, "PassStateEntered", "Start"),
        event(3, 2, "PassStateExited", "Start"),
        event(4, 3, "TaskStateEntered", "Resolve"),
        event(5, 4, "LambdaFunctionScheduled"),
        event(6, 5, "LambdaFunctionStarted"),
        event(7, 6, "LambdaFunctionFailed"),
        event(8, 7, "LambdaFunctionScheduled"),  # the retry: no new StateEntered
        event(9, 8, "LambdaFunctionStarted"),
        event(10, 9, "LambdaFunctionSucceeded"),
        event(11, 10, "TaskStateExited", "Resolve"),
        event(12, 11, "MapStateEntered", "Each"),
        event(13, 12, "MapStateStarted"),
        event(14, 13, "MapIterationStarted"),
        event(15, 13, "MapIterationStarted"),
        event(16, 14, "ChoiceStateEntered", "Due"),
        event(17, 15, "ChoiceStateEntered", "Due"),
        event(18, 16, "ChoiceStateExited", "Due"),
        event(19, 17, "ChoiceStateExited", "Due"),
        event(20, 18, "TaskStateEntered", "Work"),
        event(21, 19, "TaskStateEntered", "Work"),
        event(22, 20, "LambdaFunctionScheduled"),
        event(23, 21, "LambdaFunctionScheduled"),
        event(24, 22, "LambdaFunctionSucceeded"),
        event(25, 23, "LambdaFunctionSucceeded"),
        event(26, 24, "TaskStateExited", "Work"),
        event(27, 25, "TaskStateExited", "Work"),
        event(28, 27, "MapStateSucceeded"),
        event(29, 28, "MapStateExited", "Each"),
        event(30, 29, "SucceedStateEntered", "Done"),
        event(31, 30, "ExecutionSucceeded"),
    ]


def test_every_state_entered_counts_once_and_a_retry_counts_once_more():
    counted = transitions_by_state(history_with_a_retry_and_interleaved_iterations())

    assert counted == {"Start": 1, "Resolve": 2, "Each": 1, "Due": 2, "Work": 2, "Done": 1}
    assert retries(history_with_a_retry_and_interleaved_iterations()) == 1


def test_an_attempt_on_another_branch_is_not_taken_for_a_retry():
    # Two iterations each scheduling once: two entries of "Work", no retry, however they interleave.
    history = history_with_a_retry_and_interleaved_iterations()
    without_the_retry = [item for item in history if item["id"] not in (7, 8, 9)]
    for item in without_the_retry:
        if item["id"] == 10:
            item["previousEventId"] = 6

    assert transitions_by_state(without_the_retry)["Resolve"] == 1
    assert transitions_by_state(without_the_retry)["Work"] == 2
    assert retries(without_the_retry) == 0


def test_a_childs_history_with_moto_enum_types_and_a_task_integration_retried_twice():
    # moto's event manager keeps a Distributed Map child's event types as its HistoryEventType members.
    child = [
        {"id": 1, "previousEventId": 17, "type": HistoryEventType.TaskStateEntered,
         "stateEnteredEventDetails": {"name": "PlanConnector"}},
        {"id": 2, "previousEventId": 1, "type": HistoryEventType.TaskScheduled},
        {"id": 3, "previousEventId": 2, "type": HistoryEventType.TaskFailed},
        {"id": 4, "previousEventId": 3, "type": HistoryEventType.TaskScheduled},
        {"id": 5, "previousEventId": 4, "type": HistoryEventType.TaskFailed},
        {"id": 6, "previousEventId": 5, "type": HistoryEventType.TaskScheduled},
    ]  # fmt: skip

    assert transitions_by_state(child) == {"PlanConnector": 3}


def test_an_attempt_that_belongs_to_no_state_is_refused_rather_than_dropped():
    with pytest.raises(ValueError, match="belongs to no state"):
        transitions_by_state([event(1, 0, "ExecutionStarted"), event(2, 1, "LambdaFunctionScheduled")])


def test_standard_transitions_are_priced_per_thousand():
    assert step_functions_usd(1_000) == pytest.approx(0.025)
    assert step_functions_usd(0) == 0


def test_lambda_bills_each_request_and_each_duration_rounded_up_to_the_millisecond():
    durations = [0.2, 1_000.0, 1_000.4]  # billed 1 + 1,000 + 1,001 ms
    gb_seconds = 2.002 * 256 / 1024

    assert lambda_gb_seconds(durations, 256) == pytest.approx(gb_seconds)
    assert lambda_usd(durations, 256) == pytest.approx(3 * 0.20 / 1e6 + gb_seconds * 0.0000166667)


def test_express_bills_each_execution_in_100_ms_steps_and_64_mb_blocks():
    durations = [1.0, 100.0, 100.5]  # billed 100 + 100 + 200 ms
    assert express_usd(durations) == pytest.approx(3 * 1.00 / 1e6 + 0.4 * 64 / 1024 * 0.00001667)
    # 65 MB is two blocks.
    assert express_usd([100.0], memory_mb=65) == pytest.approx(1e-6 + 0.1 * 128 / 1024 * 0.00001667)


def test_an_amount_over_n_connector_runs_is_scaled_to_a_thousand():
    assert per_thousand(0.5, 100) == pytest.approx(5.0)
    assert per_thousand(0.5, 10_000) == pytest.approx(0.05)


def test_the_fixed_part_and_the_part_per_connector_of_a_line():
    assert linear_fit([(10, 560), (100, 5_150)]) == pytest.approx((50, 51))
    assert linear_fit([(10, 560)]) == pytest.approx((0, 56))


def fleet_measurement(child_ms: dict[str, list[float]]) -> Measurement:
    """A fleet run of 2 connectors: 10 parent states, 2 children per Map, children of 1 and 3 states."""
    return Measurement(
        mode="fleet",
        rotate=False,
        connectors=2,
        executions=1,
        wall_seconds=1.0,
        setup_seconds=0.0,
        parent_transitions=Counter({"Parent": 10, CHILD_STARTED: 4}),
        child_transitions={"PlanFleet": Counter({"PlanConnector": 2}), "ApplyFleet": Counter({"Work": 6})},
        retries=0,
        invocations=[Invoked("F", 10.0, False), Invoked("F", 20.0, False)],
        child_ms=child_ms,
        history_events=[43],
        largest_child_history_events=5,
        largest_state_bytes=100,
        largest_child_state_bytes=100,
    )


def test_a_fleet_run_priced_with_standard_children_and_with_express_children():
    measurement = fleet_measurement({"PlanFleet": [50.0, 50.0], "ApplyFleet": [150.0, 250.0]})
    lambdas = 2 * 0.20 / 1e6 + 0.030 * 0.25 * 0.0000166667
    express = 4 * 1e-6 + (0.1 + 0.1 + 0.2 + 0.3) * 0.0625 * 0.00001667

    usd = measurement.usd(256)

    # Standard: 10 parent states + 4 children started + 8 child states.
    assert usd["step_functions"] == pytest.approx(22 * 0.025 / 1000)
    assert usd["lambda"] == pytest.approx(lambdas)
    # Express: the parent keeps its 14 transitions; the children are Express requests and durations.
    assert usd["express_total"] == pytest.approx(14 * 0.025 / 1000 + express + lambdas)
    # Express planning children only: the 6 apply-child transitions stay Standard.
    planning = 2 * 1e-6 + 0.2 * 0.0625 * 0.00001667
    assert usd["express_planning_total"] == pytest.approx(20 * 0.025 / 1000 + planning + lambdas)


def test_a_single_account_run_has_no_express_alternative():
    measurement = fleet_measurement({})
    measurement.mode = "single"
    assert set(measurement.usd(256)) == {"step_functions", "lambda", "total"}


def test_the_fleet_is_spread_over_as_few_accounts_as_keep_targets_at_25_connectors():
    assert fleet_layout(10) == (1, [5, 5])
    assert fleet_layout(100) == (2, [25, 25, 25, 25])
    accounts, per_target = fleet_layout(1_000)
    assert accounts == 20
    assert per_target == [25] * 40
    assert fleet_layout(51) == (2, [13, 13, 13, 12])


def test_the_states_of_a_definition_with_the_map_that_runs_them():
    definition = {
        "States": {
            "A": {"Type": "Pass"},
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                    "States": {"B": {"Type": "Task"}},
                },
            },
            "N": {"Type": "Map", "Iterator": {"States": {"C": {"Type": "Choice"}}}},
        }
    }

    assert asl_states(definition) == [
        ("A", "", ""),
        ("M", "", ""),
        ("B", "M", "DISTRIBUTED"),
        ("N", "", ""),
        ("C", "N", "INLINE"),
    ]
