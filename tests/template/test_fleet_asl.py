"""The fleet state machine is built from the single-account one (tools/fleet_asl.py): the committed file
is exactly what the builder makes, and the builder keeps every per-connector state of single-account mode
as it is, with the connector's account and Region added."""

import json
from pathlib import Path

import pytest

from sandbox.template import load_template
from tools import fleet_asl

ROOT = Path(__file__).resolve().parents[2]
MAPS = ("PlanFleet", "ApplyFleet", "WatchFleet")


def load(name: str) -> dict:
    return json.loads((ROOT / "statemachine" / name).read_text())


def test_the_committed_fleet_state_machine_is_what_the_builder_makes():
    # Regenerate with `make asl` after changing statemachine/rotation.asl.json.
    assert (ROOT / "statemachine" / "fleet.asl.json").read_text() == fleet_asl.render()


@pytest.mark.parametrize(
    ("single_map", "fleet_map", "phase"),
    [("ApplyPlans", "ApplyFleet", "apply"), ("WatchConnectors", "WatchFleet", "watch")],
)
def test_each_fleet_child_is_single_account_modes_item_processor_told_where_the_connector_is(
    single_map, fleet_map, phase
):
    single = load("rotation.asl.json")["States"][single_map]["ItemProcessor"]["States"]
    fleet = load("fleet.asl.json")["States"][fleet_map]["ItemProcessor"]["States"]

    assert set(fleet) == set(single)
    for name, state in single.items():
        child = fleet[name]
        if state["Type"] == "Task":
            assert child["Parameters"] == state["Parameters"] | fleet_asl.WHERE
            assert child["Retry"] == state["Retry"]
            assert child["Catch"] == state["Catch"]
            assert child["Resource"] == state["Resource"]
        elif state.get("End"):
            # The same result, with the connector's place, recorded by the ending state itself.
            assert child["Type"] == "Task"
            assert child["End"] is True
            assert child["Parameters"]["Step"] == "RecordResult"
            assert child["Parameters"]["Phase"] == phase
            assert child["Parameters"]["Result"] == state["Parameters"] | fleet_asl.WHERE
        else:
            assert child == state


def test_every_fleet_task_that_touches_a_connector_is_told_its_account_and_region():
    fleet = load("fleet.asl.json")["States"]
    for map_name in MAPS:
        for name, state in fleet[map_name]["ItemProcessor"]["States"].items():
            if state["Type"] == "Task" and "FleetRun" not in state["Resource"]:
                assert state["Parameters"]["Account.$"] == "$.Item.Account", name
                assert state["Parameters"]["Region.$"] == "$.Item.Region", name


def test_every_fleet_task_runs_a_function_the_fleet_state_machine_may_invoke():
    template = load_template()
    machine = template["Resources"]["FleetStateMachine"]["Properties"]
    substitutions = machine["DefinitionSubstitutions"]
    invokable = template["Resources"]["FleetStateMachineInvokePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ][0]["Resource"]
    fleet = load("fleet.asl.json")["States"]
    tasks = [state for state in fleet.values() if state["Type"] == "Task"]
    for map_name in MAPS:
        tasks += [s for s in fleet[map_name]["ItemProcessor"]["States"].values() if s["Type"] == "Task"]
    placeholders = {task["Resource"].removeprefix("${").removesuffix("}") for task in tasks}
    functions = sorted(substitutions[name]["Fn::GetAtt"][0] for name in placeholders)
    fleet_functions = (
        "FleetRun",
        "PlanConnector",
        "IssueSuccessor",
        "DeleteCredentials",
        "PublishAudit",
        "WatchDeletions",
    )
    assert functions == sorted(f"{name}Function" for name in fleet_functions)
    # The state machine's role may invoke exactly those.
    assert sorted(item["Fn::GetAtt"][0] for item in invokable) == functions


def test_the_fleet_waits_once_for_the_whole_run_and_only_after_something_was_deleted():
    fleet = load("fleet.asl.json")["States"]
    single = load("rotation.asl.json")["States"]
    # One Wait, at the top: a Wait in each child would hold a worker per connector for WatchMinutes.
    assert [name for name, state in fleet.items() if state["Type"] == "Wait"] == ["WaitAfterDeleting"]
    for map_name in MAPS:
        assert all(state["Type"] != "Wait" for state in fleet[map_name]["ItemProcessor"]["States"].values())
    assert fleet["ApplyFleet"]["Next"] == "SelectWatched"
    assert fleet["SelectWatched"]["Next"] == "WatchAnything"
    assert fleet["WatchAnything"]["Choices"] == single["WatchAnything"]["Choices"]
    assert fleet["WatchAnything"]["Default"] == "PublishFleetAudit"
    assert fleet["WaitAfterDeleting"]["SecondsPath"] == single["WaitAfterDeleting"]["SecondsPath"]
    assert fleet["WaitAfterDeleting"]["Next"] == "WatchFleet"
    assert fleet["WatchFleet"]["Next"] == "PublishFleetAudit"
    # Whatever fails in the watch, the run still publishes its audit trail.
    for name in ("SelectWatched", "WatchFleet"):
        assert fleet[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.WatchError", "Next": "PublishFleetAudit"}
        ]


def test_the_watch_map_reads_the_selected_connectors_and_gives_each_child_single_account_modes_item():
    fleet = load("fleet.asl.json")["States"]["WatchFleet"]
    single = load("rotation.asl.json")["States"]["WatchConnectors"]
    assert fleet["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert fleet["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.WatchSelection.Items.Bucket",
        "Key.$": "$.WatchSelection.Items.Key",
    }
    expected = single["ItemSelector"] | {"VoiceConnectorId.$": "$$.Map.Item.Value.VoiceConnectorId"}
    assert fleet["ItemSelector"] == expected | {"Item.$": "$$.Map.Item.Value"}
    assert fleet["MaxConcurrencyPath"] == single["MaxConcurrencyPath"]
