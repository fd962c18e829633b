"""Builds statemachine/fleet.asl.json from statemachine/rotation.asl.json: `make asl` writes it, and a test
fails when the committed file is not what this builds (tests/template/test_fleet_asl.py).

A fleet run judges, changes and watches each connector with single-account mode's own states: the planning
child is the PlanConnector state, the apply child is ApplyPlans' item processor and the watch child is
WatchConnectors' item processor, each task told the account and Region of its connector (``Account``,
``Region``). Deriving them keeps every retry policy, catch and
safety choice in one place; what only the fleet has (discovery, the limits over the whole fleet, the
result records, the fleet's audit) is written out here.
"""

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "statemachine" / "rotation.asl.json"
FLEET = ROOT / "statemachine" / "fleet.asl.json"

TRANSIENT_LAMBDA_ERRORS = {
    "Comment": "Transient Lambda service errors",
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 1,
    "BackoffRate": 2.0,
    "MaxAttempts": 3,
    "MaxDelaySeconds": 10,
    "JitterStrategy": "FULL",
}
S3_FAULTS = {
    "Comment": "S3 throttling or faults the SDK's own retries did not outlast",
    "ErrorEquals": ["SlowDown", "InternalError", "ServiceUnavailable"],
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 4,
    "MaxDelaySeconds": 20,
    "JitterStrategy": "FULL",
}
# Where the connector is: every per-connector task of a fleet run is told its account and Region.
WHERE = {"Account.$": "$.Item.Account", "Region.$": "$.Item.Region"}


def _to_publish(result_path: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": "PublishFleetAudit"}]


def _record(phase: str, result: dict[str, Any] | str) -> dict[str, Any]:
    """A child's last state: what it ended with, written where the fleet's audit finds it."""
    parameters: dict[str, Any] = {"Step": "RecordResult", "Phase": phase, "ExecutionArn.$": "$.ExecutionArn"}
    if isinstance(result, str):
        parameters["Result.$"] = result
    else:
        parameters["Result"] = result
    return {
        "Type": "Task",
        "Resource": "${FleetRunFunctionArn}",
        "Comment": "The connector's result goes to the audit bucket: a Distributed Map's results do not come "
        "back into the run's state.",
        "Parameters": parameters,
        "Retry": [S3_FAULTS, TRANSIENT_LAMBDA_ERRORS],
        "End": True,
    }


def _plan_child(single: dict[str, Any]) -> dict[str, Any]:
    plan = copy.deepcopy(single["States"]["PlanConnectors"]["ItemProcessor"]["States"]["PlanConnector"])
    plan["Parameters"] = {
        "VoiceConnectorId.$": "$.Item.VoiceConnectorId",
        **WHERE,
        "Policy.$": "$.Policy",
        "Now.$": "$.Now",
        "ExecutionArn.$": "$.ExecutionArn",
    }
    # The plan record is what the fleet reads next; the summary need not travel.
    plan["ResultPath"] = None
    plan["Catch"][0]["Next"] = "RecordPlanningFailed"
    return {
        # Standard, though Express would cost less for one short task: moto's interpreter parses only
        # STANDARD children, and the sandbox runs the ASL that is deployed (docs/fleet.md, Choices).
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "PlanConnector",
        "States": {
            "PlanConnector": plan,
            "RecordPlanningFailed": _record(
                "plan",
                {
                    "VoiceConnectorId.$": "$.Item.VoiceConnectorId",
                    **WHERE,
                    "Step": "PlanConnector",
                    "Error.$": "$.Error",
                },
            ),
        },
    }


def _child(single: dict[str, Any], map_name: str, phase: str) -> dict[str, Any]:
    """A single-account Map's item processor as a fleet child: every task told where the connector is, and
    every ending state recording the connector's result."""
    processor = copy.deepcopy(single["States"][map_name]["ItemProcessor"])
    states = processor["States"]
    for name, state in states.items():
        if state["Type"] == "Task":
            state["Parameters"] = {**state["Parameters"], **WHERE}
        elif state["Type"] == "Pass" and state.get("End"):
            # ConnectorDone, Watched and every *Failed state: the same result, with the connector's place,
            # recorded by the state itself (a Pass then a recording Task would cost each connector one more
            # state transition, for nothing).
            states[name] = _record(phase, {**state["Parameters"], **WHERE})
    processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    return processor


def _apply_child(single: dict[str, Any]) -> dict[str, Any]:
    return _child(single, "ApplyPlans", "apply")


def _watch_child(single: dict[str, Any]) -> dict[str, Any]:
    return _child(single, "WatchConnectors", "watch")


def _watch_item_selector(single: dict[str, Any]) -> dict[str, Any]:
    """Single-account mode's watch item, from an item of the watch file (an object, not an id); ``Item``
    carries the connector's account and Region to the tasks (WHERE)."""
    selector = copy.deepcopy(single["States"]["WatchConnectors"]["ItemSelector"])
    selector["VoiceConnectorId.$"] = "$$.Map.Item.Value.VoiceConnectorId"
    return {"Item.$": "$$.Map.Item.Value", **selector}


def _item_reader(location: str) -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": f"{location}.Bucket", "Key.$": f"{location}.Key"},
    }


def _result_writer(phase: str) -> dict[str, Any]:
    return {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {
            "Bucket": "${AuditBucketName}",
            "Prefix.$": f"States.Format('runs/{{}}/fleet/map/{phase}', $$.Execution.Name)",
        },
    }


def build(single: dict[str, Any]) -> dict[str, Any]:
    publish = copy.deepcopy(single["States"]["PublishAudit"])
    publish["Comment"] = (
        "Every path ends here: the fleet's report (every connector, from the run's records in the audit "
        "bucket) and its one audit event. Its result (a small summary) replaces the state."
    )
    publish["Parameters"] = {"Mode": "fleet", "State.$": "$"}
    publish["Catch"][0]["Next"] = "AuditNotPublished"
    states: dict[str, Any] = {
        "CaptureExecution": {
            "Type": "Pass",
            "Comment": "Keep the raw input apart, so that any input can be resolved, refused or reported.",
            "Parameters": {
                "Input.$": "$",
                "ExecutionArn.$": "$$.Execution.Id",
                "StartedAt.$": "$$.Execution.StartTime",
            },
            "Next": "ResolveFleet",
        },
        "ResolveFleet": {
            "Type": "Task",
            "Resource": "${FleetRunFunctionArn}",
            "Comment": "Input and Targets resolved, every target's connectors discovered through its spoke "
            "role (a target that fails is reported, the rest go on), the item file written, the lock taken.",
            "Parameters": {
                "Step": "ResolveFleet",
                "Input.$": "$.Input",
                "ExecutionArn.$": "$.ExecutionArn",
                "StartedAt.$": "$.StartedAt",
            },
            "ResultPath": "$.Input",
            "Retry": [S3_FAULTS, TRANSIENT_LAMBDA_ERRORS],
            "Catch": _to_publish("$.RunError"),
            "Next": "FleetRefused",
        },
        "FleetRefused": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Input.Refused", "IsPresent": True, "Next": "Refused"}],
            "Default": "Resolved",
        },
        "Refused": {
            "Type": "Pass",
            "Parameters": {
                "ExecutionArn.$": "$.ExecutionArn",
                "StartedAt.$": "$.StartedAt",
                "Refused.$": "$.Input",
            },
            "Next": "PublishFleetAudit",
        },
        "Resolved": {
            "Type": "Pass",
            "Parameters": {
                "ExecutionArn.$": "$.ExecutionArn",
                "StartedAt.$": "$.StartedAt",
                "Run.$": "$.Input.Run",
                "Items.$": "$.Input.Items",
                "Discovery.$": "$.Input.Discovery",
            },
            "Next": "AnyConnectors",
        },
        "AnyConnectors": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Items.Count", "NumericGreaterThan": 0, "Next": "PlanFleet"}],
            "Default": "PublishFleetAudit",
        },
        "PlanFleet": {
            "Type": "Map",
            "Comment": "One child per connector: list, date, judge and store the plan, exactly as "
            "single-account mode does.",
            "ItemReader": _item_reader("$.Items"),
            "ItemSelector": {
                "Item.$": "$$.Map.Item.Value",
                "Policy.$": "$.Run.Policy",
                "Now.$": "$.Run.StartedAt",
                "ExecutionArn.$": "$.ExecutionArn",
            },
            "ItemProcessor": _plan_child(single),
            "MaxConcurrencyPath": "$.Run.MaxConcurrency",
            "ToleratedFailureCount": 10000,
            "ResultWriter": _result_writer("plan"),
            "ResultPath": "$.PlanMap",
            "Catch": _to_publish("$.RunError"),
            "Next": "CheckFleetLimits",
        },
        "CheckFleetLimits": {
            "Type": "Task",
            "Resource": "${FleetRunFunctionArn}",
            "Comment": "Every plan of the fleet against MaxDeletions and MaxDeletionsPerAccount, before "
            "anything is deleted anywhere; the apply Map's items (connectors due or with something stale).",
            "Parameters": {"Step": "CheckFleetLimits", "Run.$": "$.Run"},
            "ResultPath": "$.Apply",
            "Retry": [S3_FAULTS, TRANSIENT_LAMBDA_ERRORS],
            "Catch": _to_publish("$.RunError"),
            "Next": "DryRunOrApply",
        },
        "DryRunOrApply": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.Run.DryRun", "BooleanEquals": True, "Next": "PublishFleetAudit"},
                {"Variable": "$.Apply.Items.Count", "NumericEquals": 0, "Next": "PublishFleetAudit"},
            ],
            "Default": "ApplyFleet",
        },
        "ApplyFleet": {
            "Type": "Map",
            "Comment": "One child per connector with something to do (Standard: it changes credentials, runs "
            "exactly once, and its history is in the console): single-account mode's own states.",
            "ItemReader": _item_reader("$.Apply.Items"),
            "ItemSelector": {
                "Item.$": "$$.Map.Item.Value",
                "Plan": {
                    "VoiceConnectorId.$": "$$.Map.Item.Value.VoiceConnectorId",
                    "Record.$": "$$.Map.Item.Value.Plan",
                    "StaleCount.$": "$$.Map.Item.Value.StaleCount",
                    "Rotation.$": "$$.Map.Item.Value.Rotation",
                },
                "Policy.$": "$.Run.Policy",
                "Now.$": "$.Run.StartedAt",
                "ExecutionArn.$": "$.ExecutionArn",
                "Successor": None,
                "Deletion": {"Deleted": 0, "Skipped": 0},
            },
            "ItemProcessor": _apply_child(single),
            "MaxConcurrencyPath": "$.Run.MaxConcurrency",
            "ToleratedFailureCount": 10000,
            "ResultWriter": _result_writer("apply"),
            "ResultPath": "$.ApplyMap",
            "Catch": _to_publish("$.RunError"),
            "Next": "SelectWatched",
        },
        "SelectWatched": {
            "Type": "Task",
            "Resource": "${FleetRunFunctionArn}",
            "Comment": "The rollback watch: the connectors this run deleted on, from the apply children's "
            "records, written as the watch Map's item file (none, or WatchMinutes 0: no wait).",
            "Parameters": {"Step": "SelectWatched", "Run.$": "$.Run"},
            "ResultPath": "$.WatchSelection",
            "Retry": [S3_FAULTS, TRANSIENT_LAMBDA_ERRORS],
            "Catch": _to_publish("$.WatchError"),
            "Next": "WatchAnything",
        },
        "WatchAnything": {**copy.deepcopy(single["States"]["WatchAnything"]), "Default": "PublishFleetAudit"},
        # Once for the whole run, never per child: a wait in each child would hold MaxConcurrency workers
        # for WatchMinutes each, and 1,000 connectors would outlast the run's TimeoutSeconds.
        "WaitAfterDeleting": {**copy.deepcopy(single["States"]["WaitAfterDeleting"]), "Next": "WatchFleet"},
        "WatchFleet": {
            "Type": "Map",
            "Comment": "One child per connector the run deleted on: single-account mode's own watch states, "
            "through the connector's spoke role (its metrics and credentials are in its own account). A "
            "watch that fails is recorded on its connector; the others go on.",
            "ItemReader": _item_reader("$.WatchSelection.Items"),
            "ItemSelector": _watch_item_selector(single),
            "ItemProcessor": _watch_child(single),
            "MaxConcurrencyPath": "$.Run.MaxConcurrency",
            "ToleratedFailureCount": 10000,
            "ResultWriter": _result_writer("watch"),
            "ResultPath": "$.WatchMap",
            "Catch": _to_publish("$.WatchError"),
            "Next": "PublishFleetAudit",
        },
        "PublishFleetAudit": publish,
        "ReportOutcome": copy.deepcopy(single["States"]["ReportOutcome"]),
        "RunSucceeded": copy.deepcopy(single["States"]["RunSucceeded"]),
        "RunFailed": copy.deepcopy(single["States"]["RunFailed"]),
        "AuditNotPublished": {
            "Type": "Fail",
            "Comment": "The fleet's audit event could not be published: the execution fails (which pages) "
            "and every connector's records stay in the audit bucket under runs/<execution>/.",
            "Error": "AuditNotPublished",
            "Cause": "The fleet's audit event was not published; its records are in the audit bucket under "
            "runs/<execution name>/ (plans, outcomes, fleet/results).",
        },
    }
    return {
        "Comment": "Rotate the termination credentials of every voice connector of a fleet (accounts by "
        "Regions, through each account's spoke role): discover, plan every connector in a Distributed Map, "
        "hold the fleet's plans to MaxDeletions and MaxDeletionsPerAccount, then (unless dry run) apply "
        "each connector's plan in a second Distributed Map, watch the connectors it deleted on in a third "
        "(after one wait of WatchMinutes), and publish one audit event.",
        "StartAt": "CaptureExecution",
        "TimeoutSeconds": 3600,
        "States": states,
    }


def render(single_path: Path = SINGLE) -> str:
    return json.dumps(build(json.loads(single_path.read_text())), indent=2) + "\n"


if __name__ == "__main__":
    FLEET.write_text(render())
    sys.stdout.write(f"wrote {FLEET.relative_to(ROOT)}\n")
