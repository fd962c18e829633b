"""What one rotation run costs per voice connector: Step Functions state transitions, Lambda invocations and
offline wall time, in single-account mode and in fleet mode, with Rotate off and on, and the projected
US dollars per 1,000 connector-runs on AWS.

Each measurement deploys template.yaml into a fresh sandbox (``sandbox/session.py``: moto executes the real
``statemachine/rotation.asl.json`` or ``fleet.asl.json``, the real handlers run in-process), gives every
connector two credentials, dates them by dry runs through virtual time (``sip-old`` first seen 100 days
before the measured run, ``sip-young`` 70 days before), then measures one applying run (several in
single-account mode past its limit, below). Only the measured run is counted, never the dry runs that dated
the credentials. Its input is the repository's own event file with the limits raised so that every
connector is acted on (``MaxDeletions`` and, in fleet mode, ``MaxDeletionsPerAccount`` 10,000):

- **Rotate off**, ``events/rotate-all.json``: one stale credential per connector (``sip-old``, older than
  ``MaxAgeDays`` 90), deleted; ``sip-young`` is kept.
- **Rotate on**, ``events/rotate-with-successors.json`` (``"Rotate": true``): the youngest credential is
  older than ``RotateAfterDays`` 60, so each connector is issued a successor (CreateSecret, SetSecret,
  TestSecret, FinishSecret) and its stale credential is deleted.

The run is checked before it is counted: it must succeed and delete (and, Rotate on, issue) on every
connector.

**Single-account mode** processes at most 100 connectors per execution (``MAX_VOICE_CONNECTORS`` in
``tasks/run_input.py``: ResolveRun refuses an account with more, ``TooManyVoiceConnectors``, and says to
list them in ``VoiceConnectorIds`` across several schedules). So 1,000 connectors are measured as what an
operator would have to run: 10 executions of 100, each naming its connectors in ``VoiceConnectorIds``,
one after the other (the run lock allows one applying run at a time; the sandbox's clock passes the
ended run's lease between them). Its per-connector figures sum over the 10 executions. Single-account mode
also runs the rollback watch (WaitAfterDeleting, then CheckConnector on each connector it deleted on, at
the stack's default ``WatchMinutes`` 10, in virtual time); fleet mode runs it too (WatchFleet, a third
Distributed Map), since after the README's fleet rows were measured.

**State transitions, as AWS bills Standard workflows.** Counted from the execution histories:

- every ``*StateEntered`` event (Task, Choice, Pass, Map, Wait, Succeed, Fail, Parallel): each state
  entered is one transition, Map states included. The iterations of single-account mode's inline Maps are
  in the parent's history (``get_execution_history``), and their states are counted there; an inline
  iteration itself is not billed;
- plus one per retry: a Retry attempt is billed as a transition, but the history shows it as another
  ``LambdaFunctionScheduled`` (``TaskScheduled`` for an integration) inside the same state entry, with no
  new ``StateEntered``. Each scheduled event is traced back through ``previousEventId`` to the
  ``StateEntered`` of its state; every entry's scheduled events beyond the first are its retries;
- plus, in fleet mode, one per child workflow execution that a Distributed Map starts (AWS: "you'll be
  charged one state transition for each child workflow execution that the Distributed Map state starts"),
  and the children's own states, counted from each child's history as above.

Not counted: ``ExecutionStarted``/``ExecutionSucceeded``, ``*StateExited``, the Lambda events, and the Map
bookkeeping events (``MapStateStarted``, ``MapRunStarted``, ``MapRunSucceeded``...): none is a state
entered. A run without faults has no retries; the count would include them.

**Where moto keeps the children.** moto 5.2.5 records each Distributed Map as a Map Run
(``list_map_runs`` on the parent names its ARNs; ``describe_map_run`` counts its child executions), but it
does not expose the child executions: ``list_executions`` reads only ``stateMachineArn`` (no ``mapRunArn``),
and each Map Run's children write their history events into one throw-away ``EventManager``. So this
module wraps moto's ``DistributedItemProcessorWorker._eval_job`` (moto's code, not ours) to give each child
an event manager of its own, keeps its history and times it; the children found are checked against the
parent's Map Runs and their execution counts.

**Lambda invocations** are counted where the sandbox runs them (``sandbox/lambda_runtime.py`` replaces
moto's ``LambdaSimpleBackend.invoke``; this module wraps that replacement without editing it), timed with
``perf_counter`` around the whole in-process invocation; every attempt is a request, a failed one too.
They include ReleaseRunLock, which the run's end invokes through EventBridge. The request count is exact.
The measured in-process duration stands in for the billed duration, rounded up to 1 ms as Lambda bills,
and is not AWS's: there is no network round trip to AWS (lower) and no cold start, but moto's own work,
which grows with what it stores (the tables, the buckets), and the other processes on this machine's cores
count in it (higher). The mean per function is shown, so a growth with size can be seen.

**Prices** (us-east-1, on-demand, without free tiers, as the project's brief states them; not re-read live,
this machine has no network): Step Functions Standard $0.025 per 1,000 state transitions; Lambda $0.20 per
1M requests plus $0.0000166667 per GB-second at the template's ``MemorySize`` (read from ``Globals``,
256 MB); Express $1.00 per 1M requests plus $0.00001667 per GB-second (first 1,000 hours), each execution's
memory billed in 64 MB blocks and its duration rounded up to the next 100 ms.

**Fleet with Express children** (the alternative, not what is deployed: moto cannot run
``ExecutionType: EXPRESS``): the parent stays Standard and keeps its own transitions and the one per child
started; each child is an Express request, whose duration is ESTIMATED as the child's measured offline wall
time (from the moment its worker takes the item to its last state: its Lambda invocations in-process plus
the interpreter, sharing this machine's cores with the Map's other children), rounded up to 100 ms, in one
64 MB block (the child's definition and payloads are a few KiB). The Lambda invocations are the same. Shown
twice: every child Express, and only the planning Map's (PlanFleet: one read-mostly task), the apply
children staying Standard as docs/fleet.md chooses (they change credentials: exactly once, with a history).

**Wall time** is the measured run's, from StartExecution until its history is read and its end announced,
over moto in one process: it compares versions of the workflow on one machine, it is not AWS's latency.

**Sizes.** The default is 10 and 100 connectors (about 2 minutes here). 1,000 is opt-in
(``--sizes 10,100,1000``): on this 2-core machine, shared (load average 2 to 5), it took 43 minutes in all,
set-up included (creating and dating the connectors, 2 to 3 minutes a scenario): single-account 1,000
(10 runs of 100) 6 minutes with Rotate off and 14 with it on, fleet 1,000 8 and 13 minutes. Fleet mode at
1,000 is past the 10 minutes the brief allows a default, so the default stops at 100. The time grows faster
than the connectors because moto's own work grows with what it stores: a PlanConnector invocation took
about 0.04 s at 10 connectors, 0.06 s at 100 and 0.4 to 0.5 s at 1,000 (single-account mode's 1,000 too,
10 runs of 100 over an account of 1,000). The counts per connector do not depend on it.

**Measure a checkout no one is changing.** The handlers are imported once per process, but every scenario
deploys ``template.yaml`` and the ASL afresh from the working tree: the report names the commit measured,
counts the product paths that differ from it, and says so when the commit changed during the run.

    make bench     # or: .venv/bin/python -m benchmarks.run_cost [--sizes 10,100] [--json]

``--json`` prints the raw numbers as JSON on stdout instead of the Markdown; progress goes to stderr.
"""

# ruff: noqa: E402  (the Lambda package is put on the path before it is imported, as the runtime does)

import argparse
import json
import math
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any
from unittest import mock

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "functions") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "functions"))

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as distributed_worker,
)
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

from credential_rotation.domain.targets import Target
from credential_rotation.tasks.run_input import MAX_VOICE_CONNECTORS
from sandbox.executions import Execution
from sandbox.fleet import Fleet
from sandbox.session import Sandbox
from sandbox.template import load_template

DEFAULT_SIZES = (10, 100)  # 1,000 is opt-in: see "Sizes" above
OLD, YOUNG = "sip-old", "sip-young"
OLD_DAYS, YOUNG_DAYS = 100, 70  # how long before the measured run each was first seen
# Fleet layout: the connectors spread round-robin over accounts x these Regions, at most this many a target.
FLEET_REGIONS = ("us-east-1", "eu-west-1")
CONNECTORS_PER_TARGET = 25
RAISED_LIMITS = {"MaxDeletions": 10_000}
FLEET_LIMITS = RAISED_LIMITS | {"MaxDeletionsPerAccount": 10_000}
RUN_DEADLINE_SECONDS = 3_600.0

# Prices, us-east-1, on-demand, US dollars, without free tiers: the figures the project's brief states
# (https://aws.amazon.com/step-functions/pricing/, https://aws.amazon.com/lambda/pricing/), not re-read
# live: this machine has no network. Check them on those pages before quoting a total.
PRICES = {
    "standard_transition": 0.025 / 1_000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second": 0.0000166667,
    "express_request": 1.00 / 1_000_000,
    "express_gb_second": 0.00001667,  # the first 1,000 hours a month
}
EXPRESS_MEMORY_BLOCK_MB = 64
EXPRESS_DURATION_STEP_MS = 100
# AWS's quotas the paragraph on bounds uses.
HISTORY_EVENTS_LIMIT = 25_000  # events in one execution's history (Standard)
PAYLOAD_LIMIT_BYTES = 256 * 1024  # a state's input or output, and an execution's input
INLINE_MAP_CONCURRENCY = 40  # an inline Map's iterations at once; a Distributed Map runs up to 10,000

ATTEMPTS = frozenset({"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"})
CHILD_STARTED = "(child execution started)"


# Counting and pricing (pure: tests/unit/test_run_cost.py)


def event_type(event: Mapping[str, Any]) -> str:
    """The event's type, whether from the API (a string) or from moto's event manager (an Enum)."""
    kind = event["type"]
    return str(getattr(kind, "value", kind))


def _state_entries(history: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    return {
        event["id"]: event["stateEnteredEventDetails"]["name"]
        for event in history
        if event_type(event).endswith("StateEntered")
    }


def _entry_of(event_id: int, previous: Mapping[int, int | None], entries: Mapping[int, str]) -> int | None:
    """The StateEntered event an event belongs to: the nearest one up its previousEventId chain."""
    cursor: int | None = event_id
    seen = 0
    while cursor is not None and cursor not in entries and seen <= len(previous):
        cursor = previous.get(cursor)
        seen += 1
    return cursor if cursor in entries else None


def transitions_by_state(history: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Billed state transitions of one execution's history, by state name: one per state entered, plus
    one per retry (each scheduled attempt of a state entry after its first)."""
    entries = _state_entries(history)
    previous = {event["id"]: event.get("previousEventId") for event in history}
    counted: Counter[str] = Counter(entries.values())
    attempts: Counter[int] = Counter()
    for event in history:
        if event_type(event) in ATTEMPTS:
            entry = _entry_of(event["id"], previous, entries)
            if entry is None:
                raise ValueError(f"event {event['id']} ({event_type(event)}) belongs to no state entered")
            attempts[entry] += 1
    for entry, count in attempts.items():
        counted[entries[entry]] += count - 1
    return counted


def retries(history: Sequence[Mapping[str, Any]]) -> int:
    """Attempts beyond the first of every state entry."""
    return sum(transitions_by_state(history).values()) - len(_state_entries(history))


def step_functions_usd(transitions: float) -> float:
    return transitions * PRICES["standard_transition"]


def lambda_billed_ms(milliseconds: float) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return max(1, math.ceil(milliseconds))


def lambda_gb_seconds(durations_ms: Iterable[float], memory_mb: int) -> float:
    return sum(lambda_billed_ms(ms) for ms in durations_ms) / 1000 * memory_mb / 1024


def lambda_usd(durations_ms: Sequence[float], memory_mb: int) -> float:
    return (
        len(durations_ms) * PRICES["lambda_request"]
        + lambda_gb_seconds(durations_ms, memory_mb) * PRICES["lambda_gb_second"]
    )


def express_billed_ms(milliseconds: float) -> int:
    """Express bills an execution's duration rounded up to the next 100 ms (so at least 100 ms)."""
    steps = max(1, math.ceil(milliseconds / EXPRESS_DURATION_STEP_MS))
    return steps * EXPRESS_DURATION_STEP_MS


def express_usd(durations_ms: Sequence[float], memory_mb: int = EXPRESS_MEMORY_BLOCK_MB) -> float:
    """Express executions of these durations, each in memory_mb rounded up to 64 MB blocks."""
    blocks = max(1, math.ceil(memory_mb / EXPRESS_MEMORY_BLOCK_MB))
    gb = blocks * EXPRESS_MEMORY_BLOCK_MB / 1024
    gb_seconds = sum(express_billed_ms(ms) for ms in durations_ms) / 1000 * gb
    return len(durations_ms) * PRICES["express_request"] + gb_seconds * PRICES["express_gb_second"]


def per_thousand(amount: float, connector_runs: int) -> float:
    """An amount measured over connector_runs, scaled to 1,000 connector-runs."""
    return amount * 1_000 / connector_runs


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(fixed, per unit) of the least-squares line through the points; one point: (0, y / x)."""
    if len(points) == 1:
        x, y = points[0]
        return 0.0, y / x
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return mean_y - slope * mean_x, slope


def template_memory_mb() -> int:
    """The functions' MemorySize: the template's Globals, refusing a function that sets its own."""
    template = load_template()
    memory = int(template["Globals"]["Function"]["MemorySize"])
    own = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function" and "MemorySize" in resource["Properties"]
    ]
    if own:
        raise RuntimeError(f"functions with a MemorySize of their own, not priced here: {own}")
    return memory


# What the measurement runs: the product as the working tree has it (others may be changing it).
PRODUCT_PATHS = ("functions", "statemachine", "template.yaml", "sandbox", "events")


def code_revision() -> str:
    """The commit measured, and how many product paths differ from it in the working tree."""

    def git(*arguments: str) -> str:
        # A fixed git command on this repository: nothing untrusted reaches the command line.
        done = subprocess.run(  # noqa: S603
            ["git", *arguments],  # noqa: S607
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", *PRODUCT_PATHS).splitlines()
    return f"{commit} (+{len(changed)} uncommitted product paths)" if changed else commit


def execution_timeout_seconds() -> int:
    return int(json.loads((REPOSITORY / "statemachine" / "rotation.asl.json").read_text())["TimeoutSeconds"])


# What the sandbox ran


@dataclass(frozen=True)
class Invoked:
    function: str  # the template's logical id (the function name less the stack's prefix)
    milliseconds: float
    failed: bool


@dataclass(frozen=True)
class Child:
    map_run_arn: str
    milliseconds: float
    history: list[dict[str, Any]]


class Meter:
    """Counts and times every Lambda invocation the sandbox runs, and keeps every Distributed Map child's
    own history, from ``installed()`` on; ``take()`` hands over what was recorded since the last take."""

    def __init__(self, stack_name: str) -> None:
        self._prefix = f"{stack_name}-"
        self._lock = threading.Lock()
        self._invoked: list[Invoked] = []
        self._children: list[Child] = []

    @contextmanager
    def installed(self) -> Iterator["Meter"]:
        """Wraps the sandbox's in-process invoke (install it first) and moto's Distributed Map worker."""
        run_invocation = LambdaSimpleBackend.invoke
        run_child = distributed_worker.DistributedItemProcessorWorker._eval_job
        meter = self

        def invoke(backend: LambdaSimpleBackend, function_name: str, *args: Any, **kwargs: Any) -> Any:
            started = perf_counter()
            failed = True
            try:
                answer = run_invocation(backend, function_name, *args, **kwargs)
                response_headers = args[3] if len(args) > 3 else kwargs.get("response_headers", {})
                failed = "x-amz-function-error" in response_headers
                return answer
            finally:
                meter._record_invocation(function_name, (perf_counter() - started) * 1000, failed)

        def eval_job(worker: Any, env: Any, job: Any) -> None:
            # moto gives the children of one Map Run a single event manager it then drops: give this
            # child one of its own, as its own execution has in AWS.
            events = EventManager()
            env.event_manager = events
            started = perf_counter()
            try:
                run_child(worker, env, job)
            finally:
                arn = worker._map_run_record.map_run_arn
                meter._record_child(
                    arn,
                    (perf_counter() - started) * 1000,
                    [dict(item) for item in events.get_event_history()],
                )

        with (
            mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
            mock.patch.object(distributed_worker.DistributedItemProcessorWorker, "_eval_job", eval_job),
        ):
            yield self

    def _record_invocation(self, function_name: str, milliseconds: float, failed: bool) -> None:
        name = function_name.rsplit(":", 1)[-1].removeprefix(self._prefix)
        with self._lock:
            self._invoked.append(Invoked(name, milliseconds, failed))

    def _record_child(self, map_run_arn: str, milliseconds: float, history: list[dict[str, Any]]) -> None:
        with self._lock:
            self._children.append(Child(map_run_arn, milliseconds, history))

    def take(self) -> tuple[list[Invoked], list[Child]]:
        with self._lock:
            taken = self._invoked, self._children
            self._invoked, self._children = [], []
        return taken


# One measured scenario


@dataclass
class Measurement:
    mode: str  # "single" or "fleet"
    rotate: bool
    connectors: int
    executions: int
    wall_seconds: float  # the measured executions, StartExecution to their history read
    setup_seconds: float  # deploying, creating and dating the connectors (not counted anywhere else)
    parent_transitions: Counter[str]  # by state, with CHILD_STARTED for each child a Distributed Map started
    child_transitions: dict[str, Counter[str]]  # by the Distributed Map state that started them, by state
    retries: int
    invocations: list[Invoked]
    child_ms: dict[str, list[float]]  # each child's offline wall time, by its Distributed Map state
    history_events: list[int]  # each measured execution's history length
    largest_child_history_events: int
    largest_state_bytes: int  # the largest input or output of a state in the measured executions
    largest_child_state_bytes: int

    @property
    def transitions(self) -> Counter[str]:
        total = Counter(self.parent_transitions)
        for counted in self.child_transitions.values():
            total.update(counted)
        return total

    @property
    def children(self) -> int:
        return sum(len(durations) for durations in self.child_ms.values())

    def per_connector(self, amount: float) -> float:
        return amount / self.connectors

    def lambda_ms(self) -> list[float]:
        return [invoked.milliseconds for invoked in self.invocations]

    def usd(self, memory_mb: int) -> dict[str, float]:
        """Dollars for this measurement's connector-runs: as deployed (Standard children), and for fleet
        mode with Express children (both Maps', or the planning Map's only)."""
        lambdas = lambda_usd(self.lambda_ms(), memory_mb)
        standard = step_functions_usd(sum(self.transitions.values()))
        costs = {"step_functions": standard, "lambda": lambdas, "total": standard + lambdas}
        if self.mode == "fleet":
            parent = step_functions_usd(sum(self.parent_transitions.values()))
            express = parent + express_usd([ms for durations in self.child_ms.values() for ms in durations])
            costs["express_step_functions"] = express
            costs["express_total"] = express + lambdas
            planning = "PlanFleet"
            standard_apply = sum(
                sum(counted.values())
                for state, counted in self.child_transitions.items()
                if state != planning
            )
            express_planning = (
                parent + step_functions_usd(standard_apply) + express_usd(self.child_ms.get(planning, []))
            )
            costs["express_planning_total"] = express_planning + lambdas
        return costs

    def as_json(self, memory_mb: int) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "rotate": self.rotate,
            "connectors": self.connectors,
            "executions": self.executions,
            "wall_seconds": self.wall_seconds,
            "setup_seconds": self.setup_seconds,
            "transitions": sum(self.transitions.values()),
            "transitions_by_state": dict(self.transitions),
            "parent_transitions_by_state": dict(self.parent_transitions),
            "child_transitions_by_map": {
                state: dict(counted) for state, counted in self.child_transitions.items()
            },
            "retries": self.retries,
            "children": self.children,
            "child_ms_by_map": self.child_ms,
            "invocations": len(self.invocations),
            "invocations_by_function": dict(Counter(invoked.function for invoked in self.invocations)),
            "failed_invocations": sum(invoked.failed for invoked in self.invocations),
            "lambda_invocations": [[i.function, i.milliseconds, i.failed] for i in self.invocations],
            "lambda_gb_seconds": lambda_gb_seconds(self.lambda_ms(), memory_mb),
            "history_events": self.history_events,
            "largest_child_history_events": self.largest_child_history_events,
            "largest_state_bytes": self.largest_state_bytes,
            "largest_child_state_bytes": self.largest_child_state_bytes,
            "usd": self.usd(memory_mb),
            "usd_per_1000_connector_runs": {
                name: per_thousand(amount, self.connectors) for name, amount in self.usd(memory_mb).items()
            },
        }


def _event_input(rotate: bool) -> dict[str, Any]:
    name = "rotate-with-successors.json" if rotate else "rotate-all.json"
    return dict(json.loads((REPOSITORY / "events" / name).read_text()))


def _wait_for_the_lock(sandbox: Sandbox) -> None:
    """The ended run's lease still holds the run lock for a few minutes: let the sandbox's clock pass it,
    as the next schedule would."""
    lock = sandbox.run_lock()
    if lock is not None and lock[1] > sandbox.now():
        sandbox.travel(seconds=(lock[1] - sandbox.now()).total_seconds() + 1)


def _history_of(events: Sequence[Mapping[str, Any]], name: str) -> Execution:
    plain = [dict(event) | {"type": event_type(event)} for event in events]
    return Execution(arn=name, status="SUCCEEDED", output=None, error=None, cause=None, history=plain)


@dataclass
class Counted:
    """What the measured executions left: their histories, the children, the invocations."""

    executions: list[Execution] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    invocations: list[Invoked] = field(default_factory=list)
    wall_seconds: float = 0.0


def _map_states(sandbox: Sandbox, execution: Execution) -> dict[str, str]:
    """Each Map Run of the execution -> the Distributed Map state that started it, checked against
    moto's own records of the Map Runs."""
    entries = _state_entries(execution.history)
    previous = {event["id"]: event.get("previousEventId") for event in execution.history}
    started = {}
    for event in execution.history:
        if event["type"] == "MapRunStarted":
            entry = _entry_of(event["id"], previous, entries)
            if entry is None:
                raise RuntimeError(f"Map Run {event['id']} started by no state")
            started[event["mapRunStartedEventDetails"]["mapRunArn"]] = entries[entry]
    listed = sandbox.client("stepfunctions").list_map_runs(executionArn=execution.arn)["mapRuns"]
    if {run["mapRunArn"] for run in listed} != set(started):
        raise RuntimeError("the Map Runs moto lists are not the ones the history started")
    return started


def _measurement(
    sandbox: Sandbox, mode: str, rotate: bool, connectors: int, counted: Counted, setup_seconds: float
) -> Measurement:
    parent: Counter[str] = Counter()
    child_transitions: dict[str, Counter[str]] = {}
    child_ms: dict[str, list[float]] = {}
    map_states: dict[str, str] = {}
    retried = 0
    for execution in counted.executions:
        parent.update(transitions_by_state(execution.history))
        retried += retries(execution.history)
        map_states.update(_map_states(sandbox, execution))
    stepfunctions = sandbox.client("stepfunctions")
    children_by_run = Counter(child.map_run_arn for child in counted.children)
    for arn, found in children_by_run.items():
        if arn not in map_states:
            raise RuntimeError(f"a child of Map Run {arn}, which no measured execution started")
        started = stepfunctions.describe_map_run(mapRunArn=arn)["executionCounts"]["total"]
        if started != found:
            raise RuntimeError(f"Map Run {arn} started {started} children; {found} histories kept")
    largest_child_events = largest_child_bytes = 0
    for number, child in enumerate(counted.children):
        state = map_states[child.map_run_arn]
        child_transitions.setdefault(state, Counter()).update(transitions_by_state(child.history))
        child_ms.setdefault(state, []).append(child.milliseconds)
        retried += retries(child.history)
        largest_child_events = max(largest_child_events, len(child.history))
        largest_child_bytes = max(
            largest_child_bytes, _history_of(child.history, f"child-{number}").largest_state_bytes()
        )
    if counted.children:
        parent[CHILD_STARTED] = len(counted.children)
    return Measurement(
        mode=mode,
        rotate=rotate,
        connectors=connectors,
        executions=len(counted.executions),
        wall_seconds=counted.wall_seconds,
        setup_seconds=setup_seconds,
        parent_transitions=parent,
        child_transitions=child_transitions,
        retries=retried,
        invocations=counted.invocations,
        child_ms=child_ms,
        history_events=[len(execution.history) for execution in counted.executions],
        largest_child_history_events=largest_child_events,
        largest_state_bytes=max(execution.largest_state_bytes() for execution in counted.executions),
        largest_child_state_bytes=largest_child_bytes,
    )


def _check_single(sandbox: Sandbox, execution: Execution, connectors: Sequence[str], rotate: bool) -> None:
    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    if execution.status != "SUCCEEDED":
        raise RuntimeError(f"measured run {execution.status}: {execution.error} {execution.cause}")
    acted = {entry["VoiceConnectorId"]: entry for entry in event["VoiceConnectors"]}
    if set(acted) != set(connectors):
        raise RuntimeError("the measured run did not judge exactly its connectors")
    for entry in acted.values():
        if entry["Deleted"] != [OLD] or (entry["Issued"] is not None) != rotate:
            raise RuntimeError(f"a connector was not rotated as set up: {entry}")


def measure_single(connectors: int, rotate: bool) -> Measurement:
    """Single-account mode: runs of at most MAX_VOICE_CONNECTORS, as an operator must split them."""
    started = perf_counter()
    split = connectors > MAX_VOICE_CONNECTORS
    with Sandbox(parameters={"DryRun": "true"}) as sandbox:
        meter = Meter("rotation")
        with meter.installed():
            ids = [sandbox.create_voice_connector(f"pbx-{n}", [OLD]) for n in range(connectors)]
            batches = [
                ids[at : at + MAX_VOICE_CONNECTORS] for at in range(0, connectors, MAX_VOICE_CONNECTORS)
            ]

            def runs(execution_input: dict[str, Any]) -> Iterator[tuple[list[str], Execution, float]]:
                for batch in batches:
                    _wait_for_the_lock(sandbox)
                    named = {"VoiceConnectorIds": batch} if split else {}
                    began = perf_counter()
                    execution = sandbox.run(execution_input | RAISED_LIMITS | named, RUN_DEADLINE_SECONDS)
                    yield batch, execution, perf_counter() - began

            def add_young() -> None:
                for vc in ids:
                    sandbox.put_credentials(vc, [YOUNG])

            _date(sandbox, lambda: [execution for _, execution, _ in runs({"DryRun": True})], add_young)
            meter.take()
            setup = perf_counter() - started
            counted = Counted()
            for batch, execution, seconds in runs(_event_input(rotate)):
                _check_single(sandbox, execution, batch, rotate)
                counted.executions.append(execution)
                counted.wall_seconds += seconds
            counted.invocations, counted.children = meter.take()
            return _measurement(sandbox, "single", rotate, connectors, counted, setup)


def _date(sandbox: Sandbox, dry_runs: Callable[[], list[Execution]], add_young: Callable[[], None]) -> None:
    """sip-old first seen OLD_DAYS before the measured run, sip-young YOUNG_DAYS before: each dated by
    dry runs, as the nightly schedule dates what it lists."""
    sandbox.audit_messages()
    for execution in dry_runs():
        if execution.status != "SUCCEEDED":
            raise RuntimeError(f"a dating dry run {execution.status}: {execution.error}")
    sandbox.travel(days=OLD_DAYS - YOUNG_DAYS)
    add_young()
    for execution in dry_runs():
        if execution.status != "SUCCEEDED":
            raise RuntimeError(f"a dating dry run {execution.status}: {execution.error}")
    sandbox.travel(days=YOUNG_DAYS)
    sandbox.audit_messages()


def fleet_layout(connectors: int) -> tuple[int, list[int]]:
    """(accounts, connectors per target in account-major, Region-minor order): as few accounts as keep
    every target at or under CONNECTORS_PER_TARGET, the connectors dealt round-robin over the targets."""
    targets_needed = math.ceil(connectors / CONNECTORS_PER_TARGET)
    accounts = max(1, math.ceil(targets_needed / len(FLEET_REGIONS)))
    targets = accounts * len(FLEET_REGIONS)
    return accounts, [len(range(n, connectors, targets)) for n in range(targets)]


def measure_fleet(connectors: int, rotate: bool) -> Measurement:
    started = perf_counter()
    with Sandbox(parameters={"DryRun": "true"}) as sandbox:
        meter = Meter("rotation")
        with meter.installed():
            fleet = Fleet(sandbox)
            accounts, _ = fleet_layout(connectors)
            ou, ids = fleet.organization(accounts)
            targets = [Target(account, region) for account in ids for region in FLEET_REGIONS]
            for target in targets:
                fleet.deploy_spoke(target.account, target.region)
            placed = []
            for n in range(connectors):
                target = targets[n % len(targets)]
                vc = fleet.create_voice_connector(target.account, target.region, f"pbx-{n}", [OLD])
                placed.append((target, vc))
            scope = {"Targets": {"OrganizationalUnitIds": [ou], "Regions": list(FLEET_REGIONS)}}

            def run(execution_input: dict[str, Any]) -> tuple[Execution, float]:
                _wait_for_the_lock(sandbox)
                began = perf_counter()
                arn = sandbox.start_fleet(scope | execution_input | FLEET_LIMITS)
                execution = sandbox.wait(arn, RUN_DEADLINE_SECONDS)
                return execution, perf_counter() - began

            def add_young() -> None:
                for target, vc in placed:
                    fleet.put_credentials(target.account, target.region, vc, [YOUNG])

            _date(sandbox, lambda: [run({"DryRun": True})[0]], add_young)
            meter.take()
            setup = perf_counter() - started
            execution, seconds = run(_event_input(rotate))
            _check_fleet(sandbox, execution, connectors, rotate)
            counted = Counted(executions=[execution], wall_seconds=seconds)
            counted.invocations, counted.children = meter.take()
            return _measurement(sandbox, "fleet", rotate, connectors, counted, setup)


def _check_fleet(sandbox: Sandbox, execution: Execution, connectors: int, rotate: bool) -> None:
    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    if execution.status != "SUCCEEDED":
        raise RuntimeError(f"measured fleet run {execution.status}: {execution.error} {execution.cause}")
    totals = event["Totals"]
    expected = {"Connectors": connectors, "ConnectorsFailed": 0, "Deleted": connectors}
    expected["Issued"] = connectors if rotate else 0
    if {name: totals[name] for name in expected} != expected:
        raise RuntimeError(f"the fleet was not rotated as set up: {totals}")


# The report

MODES = (("single", False), ("single", True), ("fleet", False), ("fleet", True))


def scenario_label(mode: str, rotate: bool) -> str:
    return f"{mode}, Rotate {'on' if rotate else 'off'}"


def template_max_concurrency() -> int:
    return int(load_template()["Parameters"]["MaxConcurrency"]["Default"])


def _money(amount: float) -> str:
    return f"${amount:.4f}"


def _executions_cell(measurement: Measurement) -> str:
    if measurement.mode == "single" and measurement.executions > 1:
        per_run = math.ceil(measurement.connectors / measurement.executions)
        return f"{measurement.executions} runs of {per_run}"
    return str(measurement.executions)


def main_table(measurements: Sequence[Measurement], memory_mb: int) -> list[str]:
    lines = [
        "| Mode | Rotate | Connectors | Executions | Wall s / connector (offline) | Transitions / connector "
        "| Lambda invocations / connector | Lambda GB-s / connector | Step Functions | Lambda "
        "| Total (Standard children) | Total, Express children | Total, Express planning children |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for measurement in measurements:
        usd = {
            name: per_thousand(amount, measurement.connectors)
            for name, amount in measurement.usd(memory_mb).items()
        }
        inline = "n/a (inline Maps)"
        express = _money(usd["express_total"]) if "express_total" in usd else inline
        planning = _money(usd["express_planning_total"]) if "express_planning_total" in usd else inline
        gb_seconds = lambda_gb_seconds(measurement.lambda_ms(), memory_mb)
        cells = [
            measurement.mode,
            "on" if measurement.rotate else "off",
            f"{measurement.connectors:,}",
            _executions_cell(measurement),
            f"{measurement.per_connector(measurement.wall_seconds):.3f}",
            f"{measurement.per_connector(sum(measurement.transitions.values())):.2f}",
            f"{measurement.per_connector(len(measurement.invocations)):.2f}",
            f"{measurement.per_connector(gb_seconds):.4f}",
            _money(usd["step_functions"]),
            _money(usd["lambda"]),
            _money(usd["total"]),
            express,
            planning,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _largest_of_each(measurements: Sequence[Measurement]) -> list[Measurement]:
    largest: dict[tuple[str, bool], Measurement] = {}
    for measurement in measurements:
        key = (measurement.mode, measurement.rotate)
        if key not in largest or measurement.connectors > largest[key].connectors:
            largest[key] = measurement
    return [largest[key] for key in MODES if key in largest]


def asl_states(definition: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Every state of a definition in its order: (state, the Map whose iterations run it or "", that
    Map's mode)."""
    found: list[tuple[str, str, str]] = []

    def walk(states: Mapping[str, Any], within: str, mode: str) -> None:
        for name, state in states.items():
            found.append((name, within, mode))
            if state["Type"] == "Map":
                processor = state.get("ItemProcessor") or state["Iterator"]
                walk(processor["States"], name, processor.get("ProcessorConfig", {}).get("Mode", "INLINE"))

    walk(definition["States"], "", "")
    return found


def _places() -> dict[str, dict[str, str]]:
    """state -> {mode: where it runs}, in the order of rotation.asl.json, then fleet.asl.json."""
    places: dict[str, dict[str, str]] = {}
    for mode, file_name in (("single", "rotation.asl.json"), ("fleet", "fleet.asl.json")):
        definition = json.loads((REPOSITORY / "statemachine" / file_name).read_text())
        for state, within, map_mode in asl_states(definition):
            if not within:
                where = "run"
            elif map_mode == "DISTRIBUTED":
                where = f"child of {within}"
            else:
                where = f"each iteration of {within}"
            places.setdefault(state, {})[mode] = where
    places[CHILD_STARTED] = {"fleet": "run (one per child)"}
    return places


def state_table(measurements: Sequence[Measurement]) -> list[str]:
    """Transitions per connector by state, for the largest run of each scenario."""
    chosen = _largest_of_each(measurements)
    places = _places()
    counted = set().union(*(measurement.transitions for measurement in chosen))
    states = [state for state in places if state in counted] + sorted(counted - set(places))
    header = " | ".join(f"{scenario_label(m.mode, m.rotate)}, {m.connectors:,}" for m in chosen)
    lines = [f"| State | Runs | {header} |", "|---|---|" + "---:|" * len(chosen)]
    for state in states:
        modes = {m.mode for m in chosen if m.transitions.get(state)}
        where = "; ".join(
            f"{mode}: {place}" for mode, place in places.get(state, {}).items() if mode in modes
        )
        cells = []
        for measurement in chosen:
            count = measurement.transitions.get(state, 0)
            cells.append(f"{measurement.per_connector(count):.3f}" if count else "")
        lines.append(f"| {state} | {where} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"**{m.per_connector(sum(m.transitions.values())):.3f}**" for m in chosen)
    lines.append(f"| **all** | | {totals} |")
    return lines


def function_table(measurements: Sequence[Measurement]) -> list[str]:
    """Lambda invocations per connector by function, and their mean in-process duration."""
    chosen = _largest_of_each(measurements)
    functions: list[str] = []
    for measurement in chosen:
        for invoked in measurement.invocations:
            if invoked.function not in functions:
                functions.append(invoked.function)
    header = " | ".join(f"{scenario_label(m.mode, m.rotate)}, {m.connectors:,}" for m in chosen)
    lines = [
        f"| Function | {header} |",
        "|---|" + "---:|" * len(chosen),
    ]
    for function in functions:
        cells = []
        for measurement in chosen:
            durations = [i.milliseconds for i in measurement.invocations if i.function == function]
            if durations:
                mean = sum(durations) / len(durations)
                cells.append(f"{measurement.per_connector(len(durations)):.3f} (mean {mean:.0f} ms)")
            else:
                cells.append("")
        lines.append(f"| {function} | " + " | ".join(cells) + " |")
    return lines


@dataclass(frozen=True)
class Bounds:
    single_worst: str  # the Rotate setting whose history grows the most per connector
    single_history_fixed: float
    single_history_per_connector: float
    single_connectors_by_history: int
    single_state_fixed: float
    single_state_bytes_per_connector: float
    single_connectors_by_payload: int
    fleet_parent_history_events: int
    fleet_child_history_events: int
    fleet_parent_state_bytes: int
    fleet_child_state_bytes: int
    fleet_child_ms_max: float
    max_concurrency: int
    timeout_seconds: int


def bounds(measurements: Sequence[Measurement]) -> Bounds | None:
    """What limits a run's size, from the measured histories and states (single: the worse of Rotate off
    and on, fitted over every measured execution; fleet: the largest seen)."""
    single = [m for m in measurements if m.mode == "single"]
    fleet = [m for m in measurements if m.mode == "fleet"]
    if not single or not fleet:
        return None
    history_fits, state_fits = [], []
    for rotate in (False, True):
        runs = [m for m in single if m.rotate == rotate]
        if not runs:
            continue
        history = [(m.connectors / m.executions, events) for m in runs for events in m.history_events]
        state = [(m.connectors / m.executions, float(m.largest_state_bytes)) for m in runs]
        history_fits.append((linear_fit(history), rotate))
        state_fits.append(linear_fit(state))
    history_fit, worst = max(history_fits, key=lambda fitted: fitted[0][1])
    state_fit = max(state_fits, key=lambda fit: fit[1])
    return Bounds(
        single_worst=f"Rotate {'on' if worst else 'off'}",
        single_history_fixed=history_fit[0],
        single_history_per_connector=history_fit[1],
        single_connectors_by_history=int((HISTORY_EVENTS_LIMIT - history_fit[0]) // history_fit[1]),
        single_state_fixed=state_fit[0],
        single_state_bytes_per_connector=state_fit[1],
        single_connectors_by_payload=int((PAYLOAD_LIMIT_BYTES - state_fit[0]) // state_fit[1]),
        fleet_parent_history_events=max(max(m.history_events) for m in fleet),
        fleet_child_history_events=max(m.largest_child_history_events for m in fleet),
        fleet_parent_state_bytes=max(m.largest_state_bytes for m in fleet),
        fleet_child_state_bytes=max(m.largest_child_state_bytes for m in fleet),
        fleet_child_ms_max=max(ms for m in fleet for durations in m.child_ms.values() for ms in durations),
        max_concurrency=template_max_concurrency(),
        timeout_seconds=execution_timeout_seconds(),
    )


def bounds_paragraph(found: Bounds, fleet_sizes: Sequence[int]) -> str:
    largest_fleet = max(fleet_sizes)
    per_child = found.timeout_seconds * found.max_concurrency / (2 * largest_fleet)
    quota = min(found.single_connectors_by_history, found.single_connectors_by_payload)
    cap = (
        f"ResolveRun's cap of {MAX_VOICE_CONNECTORS} connectors a run binds first: an account with more is "
        f"several runs, each costing per connector what the {MAX_VOICE_CONNECTORS}-connector run costs."
        if quota > MAX_VOICE_CONNECTORS
        else f"So a quota binds before ResolveRun's cap of {MAX_VOICE_CONNECTORS} connectors a run."
    )
    return (
        f"**Where the cost is bounded.** Single-account mode keeps every connector's states in one "
        f"execution: its history grows by about {found.single_history_per_connector:.1f} events per "
        f"connector (plus {found.single_history_fixed:.0f} a run; {found.single_worst}), so the 25,000-event "
        "history quota would stop "
        f"a run at about {found.single_connectors_by_history:,} connectors; its largest state grows by "
        f"about {found.single_state_bytes_per_connector:,.0f} bytes per connector (plus "
        f"{found.single_state_fixed:,.0f} bytes), so the 256 KiB payload quota would stop it at about "
        f"{found.single_connectors_by_payload:,}. {cap} Inline Maps run at most "
        f"{INLINE_MAP_CONCURRENCY} iterations at once "
        f"(MaxConcurrency defaults to {found.max_concurrency}). Fleet mode's parent history stays at "
        f"{found.fleet_parent_history_events} events and its largest state at "
        f"{found.fleet_parent_state_bytes:,} bytes whatever the fleet's size (the items are read from S3 "
        f"and the Maps' results written to S3), and each child's history is at most "
        f"{found.fleet_child_history_events} events and its state {found.fleet_child_state_bytes:,} bytes: "
        f"neither quota bounds the fleet. What bounds it is time: at MaxConcurrency "
        f"{found.max_concurrency} each Map runs {found.max_concurrency} children at once, and the run must "
        f"end within TimeoutSeconds {found.timeout_seconds:,}, so with {largest_fleet:,} connectors "
        f"through both Maps a child may take {per_child:.1f} s on average (the slowest child here took "
        f"{found.fleet_child_ms_max / 1000:.2f} s offline; Express children may run 5 minutes)."
    )


def transition_fits(measurements: Sequence[Measurement]) -> dict[str, tuple[float, float]]:
    """Each scenario's transitions per execution as (fixed, per connector), fitted over its sizes (at
    least two executions of different sizes)."""
    fits = {}
    for mode, rotate in MODES:
        runs = [m for m in measurements if (m.mode, m.rotate) == (mode, rotate)]
        if len({m.connectors / m.executions for m in runs}) > 1:
            points = [(m.connectors / m.executions, sum(m.transitions.values()) / m.executions) for m in runs]
            fits[scenario_label(mode, rotate)] = linear_fit(points)
    return fits


def fits_paragraph(fits: Mapping[str, tuple[float, float]]) -> str:
    parts = [f"{label}: {fixed:.0f} + {slope:.2f} per connector" for label, (fixed, slope) in fits.items()]
    return (
        "**Fixed and per connector.** State transitions per execution, fitted over the sizes measured: "
        + "; ".join(parts)
        + " (fleet mode's per connector counts the two child executions each connector starts)"
        + f". Each transition is ${PRICES['standard_transition'] * 1e6:.0f} per million, so one state "
        "less per connector saves $0.025 per 1,000 connector-runs; the fixed part is spread over at most "
        f"{MAX_VOICE_CONNECTORS} connectors a run in single-account mode, over the whole fleet in fleet mode."
    )


def report(
    measurements: Sequence[Measurement], memory_mb: int, elapsed: float, load: str, revision: str = ""
) -> str:
    lines = [
        "## Cost of a rotation run per connector (offline: moto + in-process handlers)",
        "",
        f"USD per 1,000 connector-runs, us-east-1 on-demand prices as the brief states them; Lambda at "
        f"{memory_mb} MB (template Globals), billed duration = measured in-process duration rounded up to "
        "1 ms (not AWS's: no network and no cold start here, but moto's own work, which grows with what it "
        "stores, and this machine's load count in it). Express children: each child's measured offline "
        "wall time rounded up to 100 ms, one 64 MB block (an estimate). Single-account mode processes at "
        f"most {MAX_VOICE_CONNECTORS} connectors a run: more are measured as runs of "
        f"{MAX_VOICE_CONNECTORS} naming their VoiceConnectorIds, as ResolveRun asks. Single-account mode "
        "also runs the rollback watch (CheckConnector per connector deleted on); so does fleet mode "
        "(WatchFleet).",
        "",
        *main_table(measurements, memory_mb),
        "",
        "### Transitions per connector, by state (largest run of each scenario)",
        "",
        *state_table(measurements),
        "",
        "### Lambda invocations per connector, by function (largest run of each scenario)",
        "",
        *function_table(measurements),
        "",
    ]
    found = bounds(measurements)
    if found is not None:
        fleet_sizes = [m.connectors for m in measurements if m.mode == "fleet"]
        lines += [bounds_paragraph(found, fleet_sizes), ""]
    fits = transition_fits(measurements)
    if fits:
        lines += [fits_paragraph(fits), ""]
    lines.append(
        f"Benchmark took {elapsed:.0f} s (load average at the start {load}); retries in the measured runs: "
        f"{sum(m.retries for m in measurements)}; code measured: {revision or 'not recorded'}."
    )
    return "\n".join(lines)


def as_json(
    measurements: Sequence[Measurement], memory_mb: int, elapsed: float, load: str, revision: str = ""
) -> dict[str, Any]:
    found = bounds(measurements)
    return {
        "code": revision,
        "prices": PRICES,
        "memory_mb": memory_mb,
        "express_memory_block_mb": EXPRESS_MEMORY_BLOCK_MB,
        "elapsed_seconds": elapsed,
        "load_average_at_start": load,
        "measurements": [measurement.as_json(memory_mb) for measurement in measurements],
        "bounds": None if found is None else found.__dict__,
        "transitions_per_execution_fit": {
            label: {"fixed": fixed, "per_connector": slope}
            for label, (fixed, slope) in transition_fits(measurements).items()
        },
    }


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("sizes are whole numbers of connectors, at least 1: e.g. 10,100")
    return sizes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_cost", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help=f"connectors per scenario, comma-separated (default {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON instead")
    arguments = parser.parse_args(argv)
    memory_mb = template_memory_mb()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    before = code_revision()
    started = perf_counter()
    measurements = []
    for size in arguments.sizes:
        for mode, rotate in MODES:
            began = perf_counter()
            measure = measure_single if mode == "single" else measure_fleet
            measurements.append(measure(size, rotate))
            print(
                f"{scenario_label(mode, rotate)}, {size} connectors: {perf_counter() - began:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    elapsed = perf_counter() - started
    after = code_revision()
    revision = before if after == before else f"{before} at the start, {after} at the end"
    if arguments.json:
        print(json.dumps(as_json(measurements, memory_mb, elapsed, load, revision), indent=2))
    else:
        print(report(measurements, memory_mb, elapsed, load, revision))


if __name__ == "__main__":
    main()
