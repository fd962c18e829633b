"""A fault at every Lambda task and every AWS call it makes, in one applying run that both issues a
successor and deletes a stale credential: the run ends with a truthful outcome, the audit event (or,
when the audit event itself is lost, the failed execution that pages) reports every change, and later
runs converge to exactly what the policy asks.

Budgets (statemachine/rotation.asl.json): Chime throttling 10 tries on the pace in each invocation
(adapters/chime_pace.py), in every invocation the throttle's 6 retries and ChimeRateLimited's 10 allow;
Chime server faults 3, Secrets Manager's InternalServiceError 3, SNS faults 4, Lambda service errors 3, a
died delete step 2. Each burst below is at least one longer than its budget (a throttle burst outlasts
every retry; a short one is absorbed by the pace, which the matrix shows too); DynamoDB, Secrets Manager
throttling and timeouts are not retried by the state machine (the SDK's own retries stand before them), so
one is enough.
"""

import json
import re
from dataclasses import dataclass

import pytest

from sandbox.session import Sandbox
from tests.support.rotation_watch import RotationWatch
from tests.support.sandbox import THROTTLES_PAST_EVERY_RETRY
from tests.support.tally import TRIED

CHIME, SECRETS, DYNAMODB, SNS, S3 = "chime-sdk-voice", "secrets-manager", "dynamodb", "sns", "s3"
LIST_VC = "ListVoiceConnectors"
LIST = "ListVoiceConnectorTerminationCredentials"
PUT = "PutVoiceConnectorTerminationCredentials"
DELETE = "DeleteVoiceConnectorTerminationCredentials"
# Both connectors run these tasks, in parallel: each must meet the whole burst.
PER_CONNECTOR = frozenset({"PlanConnectorFunction"})
ROTATING = {"DryRun": "false", "Rotate": "true", "GraceDays": 7, "RotateAfterDays": 60, "MaxAgeDays": 90}


@dataclass(frozen=True)
class Case:
    function: str  # the template's logical id
    call: str  # "service Operation", or "invocation" for a fault of the Lambda invocation itself
    fault: str
    kind: str  # error | error-after | crash | timeout | invocation
    errors: tuple[str, ...] = ()
    # The state machine absorbs it (a retry that reports what the first attempt did): the run succeeds.
    absorbed: bool = False
    skip: int = 0  # calls of the operation let through first

    @property
    def id(self) -> str:
        return f"{self.function.removesuffix('Function')}: {self.call}: {self.fault}"

    def inject(self, sandbox: Sandbox) -> None:
        faults = sandbox.aws_faults
        copies = 2 if self.function in PER_CONNECTOR else 1
        if self.kind == "invocation":
            faults.fail_invocations(self.function, list(self.errors) * copies)
            return
        service, operation = self.call.split(" ")
        match self.kind:
            case "error":
                faults.script(service, operation, list(self.errors) * copies, function=self.function)
            case "error-after":
                (error,) = self.errors
                faults.fail_after(service, operation, error, function=self.function)
            case "crash":
                faults.crash_after(service, operation, function=self.function)
            case "timeout":
                faults.time_out_after(
                    service, operation, times=copies, function=self.function, skip=self.skip
                )

    def injected(self, sandbox: Sandbox) -> int:
        faults = sandbox.aws_faults
        if self.kind == "invocation":
            return sum(function == self.function for function, _ in faults.failed_invocations)
        return len(faults.injected)


def throttle(function: str, service: str, operation: str, code: str, times: int) -> Case:
    return Case(function, f"{service} {operation}", f"throttled {times}x", "error", (code,) * times)


def server_fault(function: str, service: str, operation: str, code: str, times: int) -> Case:
    return Case(function, f"{service} {operation}", f"server fault {times}x", "error", (code,) * times)


def timeout(function: str, service: str, operation: str) -> Case:
    return Case(function, f"{service} {operation}", "timed out after the call", "timeout")


LAMBDA_FAULTS = [
    ("Lambda.ServiceException", "Lambda service fault 4x", ("Lambda.ServiceException",) * 4),
    # The delete step retries a function that died twice (it re-lists first): three outlast that.
    ("Sandbox.Timedout", "function timed out 3x", ("Sandbox.Timedout",) * 3),
]
CASES = [
    # Every task: the invocation itself fails beyond its retries, or times out.
    *[
        Case(function, "invocation", name, "invocation", errors)
        for function in (
            "ResolveRunFunction",
            "PlanConnectorFunction",
            "CheckDeletionLimitFunction",
            "IssueSuccessorFunction",
            "DeleteCredentialsFunction",
            "PublishAuditFunction",
        )
        for _, name, errors in LAMBDA_FAULTS
    ],
    # ResolveRun: find the connectors, take the run lock.
    throttle("ResolveRunFunction", CHIME, LIST_VC, "ThrottledClientException", THROTTLES_PAST_EVERY_RETRY),
    server_fault("ResolveRunFunction", CHIME, LIST_VC, "ServiceUnavailableException", 4),
    timeout("ResolveRunFunction", CHIME, LIST_VC),
    throttle("ResolveRunFunction", DYNAMODB, "PutItem", "ProvisionedThroughputExceededException", 1),
    server_fault("ResolveRunFunction", DYNAMODB, "PutItem", "InternalServerError", 1),
    # PlanConnector: list, date in the ledger, read the secret's stages, store the plan.
    throttle("PlanConnectorFunction", CHIME, LIST, "ThrottledClientException", THROTTLES_PAST_EVERY_RETRY),
    server_fault("PlanConnectorFunction", CHIME, LIST, "ServiceFailureException", 4),
    timeout("PlanConnectorFunction", CHIME, LIST),
    throttle("PlanConnectorFunction", DYNAMODB, "Query", "ProvisionedThroughputExceededException", 1),
    server_fault("PlanConnectorFunction", DYNAMODB, "Query", "InternalServerError", 1),
    timeout("PlanConnectorFunction", DYNAMODB, "Query"),
    throttle("PlanConnectorFunction", SECRETS, "DescribeSecret", "ThrottlingException", 1),
    server_fault("PlanConnectorFunction", SECRETS, "DescribeSecret", "InternalServiceError", 4),
    server_fault("PlanConnectorFunction", S3, "PutObject", "InternalError", 1),
    timeout("PlanConnectorFunction", S3, "PutObject"),
    # IssueSuccessor: CreateSecret, SetSecret, TestSecret, FinishSecret.
    throttle("IssueSuccessorFunction", SECRETS, "CreateSecret", "ThrottlingException", 1),
    server_fault("IssueSuccessorFunction", SECRETS, "CreateSecret", "InternalServiceError", 4),
    timeout("IssueSuccessorFunction", SECRETS, "CreateSecret"),
    server_fault("IssueSuccessorFunction", SECRETS, "GetSecretValue", "InternalServiceError", 4),
    throttle("IssueSuccessorFunction", CHIME, PUT, "ThrottledClientException", THROTTLES_PAST_EVERY_RETRY),
    server_fault("IssueSuccessorFunction", CHIME, PUT, "ServiceFailureException", 4),
    timeout("IssueSuccessorFunction", CHIME, PUT),
    throttle("IssueSuccessorFunction", CHIME, LIST, "ThrottledClientException", THROTTLES_PAST_EVERY_RETRY),
    server_fault("IssueSuccessorFunction", SECRETS, "UpdateSecretVersionStage", "InternalServiceError", 4),
    timeout("IssueSuccessorFunction", SECRETS, "UpdateSecretVersionStage"),
    server_fault("IssueSuccessorFunction", DYNAMODB, "UpdateItem", "InternalServerError", 1),
    timeout("IssueSuccessorFunction", DYNAMODB, "UpdateItem"),
    # DeleteCredentials: re-list, re-read AWSCURRENT, mark, delete, record.
    throttle(
        "DeleteCredentialsFunction", CHIME, LIST, "ThrottledClientException", THROTTLES_PAST_EVERY_RETRY
    ),
    server_fault("DeleteCredentialsFunction", CHIME, DELETE, "ServiceFailureException", 4),
    throttle(
        "DeleteCredentialsFunction", CHIME, DELETE, "ThrottledClientException", THROTTLES_PAST_EVERY_RETRY
    ),
    Case(
        "DeleteCredentialsFunction",
        f"{CHIME} {DELETE}",
        "throttled 7x, absorbed by the pace",
        "error",
        ("ThrottledClientException",) * 7,
        absorbed=True,
    ),
    throttle("DeleteCredentialsFunction", DYNAMODB, "Query", "ProvisionedThroughputExceededException", 1),
    server_fault("DeleteCredentialsFunction", DYNAMODB, "UpdateItem", "InternalServerError", 1),
    server_fault("DeleteCredentialsFunction", SECRETS, "DescribeSecret", "InternalServiceError", 4),
    server_fault("DeleteCredentialsFunction", S3, "GetObject", "InternalError", 1),
    # After the delete: the outcome record cannot be written, so the step fails having deleted.
    server_fault("DeleteCredentialsFunction", S3, "PutObject", "InternalError", 1),
    Case(
        "DeleteCredentialsFunction",
        f"{CHIME} {DELETE}",
        "crash after the delete, before the ledger write",
        "crash",
        absorbed=True,
    ),
    Case(
        "DeleteCredentialsFunction",
        f"{CHIME} {DELETE}",
        "timed out after the delete",
        "timeout",
        absorbed=True,
    ),
    Case(
        "DeleteCredentialsFunction",
        f"{CHIME} {DELETE}",
        "server fault answered after the delete took effect",
        "error-after",
        ("ServiceFailureException",),
        absorbed=True,
    ),
    Case(
        "DeleteCredentialsFunction",
        f"{DYNAMODB} UpdateItem",
        "timed out after the delete was recorded (the mark, then the record)",
        "timeout",
        absorbed=True,
        skip=1,
    ),
    # PublishAudit: read the records, write the report, release the run lock, publish.
    server_fault("PublishAuditFunction", S3, "GetObject", "InternalError", 1),
    server_fault("PublishAuditFunction", S3, "PutObject", "InternalError", 1),
    server_fault("PublishAuditFunction", SNS, "Publish", "InternalError", 5),
    throttle("PublishAuditFunction", SNS, "Publish", "Throttled", 5),
    server_fault("PublishAuditFunction", SNS, "Publish", "KMSThrottlingException", 5),
    Case(
        "PublishAuditFunction",
        f"{DYNAMODB} DeleteItem",
        "lock release fails (the lease expires instead)",
        "error",
        ("InternalServerError",),
        absorbed=True,
    ),
]


def seeded(sandbox: Sandbox) -> tuple[RotationWatch, str, str]:
    """pbx-due: one 100-day-old credential (a successor is due). pbx-stale: an old credential and a young
    one that has existed for 8 days (the old one is stale)."""
    watch = RotationWatch(sandbox)
    due = watch.add_connector("pbx-due", ["due-old"])
    stale = watch.add_connector("pbx-stale", ["stale-old"])
    watch.run({"Rotate": False})
    sandbox.travel(days=92)
    watch.put("pbx-stale", ["stale-young"])
    watch.run({"Rotate": False})
    sandbox.travel(days=8)
    sandbox.audit_messages()
    return watch, due, stale


def run_with_fault(watch: RotationWatch, case: Case) -> tuple[str, list[dict]]:
    """The scheduled run with the fault; what it changed is checked against what reports it."""
    sandbox = watch.sandbox
    before = watch.listing()
    started = sandbox.now()
    case.inject(sandbox)
    execution = sandbox.fire_schedule()
    events = sandbox.audit_events()
    after = watch.listing()
    for vc in after:
        for username in after[vc] - before[vc]:
            watch.appeared.setdefault((vc, username), started)
    assert case.injected(sandbox) > 0, "the fault never fired: the case tests nothing"

    if events:
        (event,) = events
        outcome = event["Outcome"]
        # The outcome is the execution's, and a fault the state machine could not absorb shows in it.
        assert (execution.status == "SUCCEEDED") == (outcome == "SUCCEEDED")
        if case.absorbed:
            assert outcome == "SUCCEEDED", event
        else:
            assert outcome != "SUCCEEDED"
            failed_steps = [entry["Error"] for entry in event["VoiceConnectors"] if entry["Error"]]
            assert event["Error"] or failed_steps
        for vc in before:
            (entry,) = [item for item in event["VoiceConnectors"] if item["VoiceConnectorId"] == vc] or [None]
            removed, added = before[vc] - after[vc], after[vc] - before[vc]
            reported_deleted = set(entry["Deleted"]) | set(entry["Unconfirmed"]) if entry else set()
            reported_issued = {entry["Issued"]["Username"]} if entry and entry["Issued"] else set()
            # Nothing deleted is missing from the audit event; nothing appears that it does not report.
            assert removed <= reported_deleted, (vc, removed, entry)
            assert added <= reported_issued, (vc, added, entry)
    else:
        assert not case.absorbed, "an absorbed fault lost the audit event"
        # The audit event was lost: the execution fails (the alerts rule pages on FAILED, and the
        # publish function's Errors alarm fires), and its cause carries every change of the run.
        assert execution.status == "FAILED"
        assert execution.error == "AuditNotPublished"
        assert any(
            call.function_name.endswith("PublishAuditFunction") and call.error_type
            for call in sandbox.invocations
        )
        # The cause names each outcome record; the records name every deletion, every addition is there.
        recorded = set()
        for key in re.findall(r'"Key":"(runs/[^"]+)"', execution.cause):
            body = sandbox.client("s3").get_object(Bucket=sandbox.stack.audit_bucket, Key=key)["Body"].read()
            recorded |= set(json.loads(body)["Deleted"])
        for vc in before:
            assert before[vc] - after[vc] <= recorded
            for username in after[vc] - before[vc]:
                assert username in execution.cause
    for vc in before:
        # Authentication is never switched off.
        assert after[vc], vc
    # No run that ended leaves the run lock held: PublishAudit released it, or ReleaseRunLock, on the
    # execution's end, made it end once no function of the run can still be running.
    assert sandbox.run_lock_free_soon()
    # A username marked for retirement is one the run really deleted: a refused delete takes its marks
    # back, so a later removal by a person is never blamed on this run. (A server fault may have deleted:
    # its marks stay, for a retry to report what it finds gone.)
    ambiguous = case.call.endswith(DELETE) and any(code.startswith("Service") for code in case.errors)
    items = sandbox.client("dynamodb").scan(TableName=sandbox.stack.table_name)["Items"]
    for item in items:
        if "RetiringBy" in item and item["State"]["S"] == "present" and not ambiguous:
            assert item["Username"]["S"] not in after[item["VoiceConnectorId"]["S"]], item
    return execution.status, events


def converge(watch: RotationWatch, due: str, stale: str) -> None:
    """Later nights without the fault: one successor on pbx-due, its predecessor gone after the grace;
    pbx-stale down to its young credential; and a dry run finds nothing left that must go."""
    sandbox = watch.sandbox
    sandbox.aws_faults.clear()
    sandbox.travel(days=1)
    execution, _ = watch.run()
    assert execution.status == "SUCCEEDED"
    sandbox.travel(days=8)
    execution, _ = watch.run()
    assert execution.status == "SUCCEEDED"

    successors = [u for u in sandbox.usernames(due) if u.startswith("sip-")]
    assert len(successors) == 1
    assert sandbox.usernames(due) == successors
    assert sandbox.secret(due)["AWSCURRENT"]["Username"] == successors[0]
    assert sandbox.usernames(stale) == ["stale-young"]
    _, event = watch.run({"DryRun": True})
    assert all(entry["Stale"] == [] for entry in event["VoiceConnectors"])
    watch.issued_once()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_fault_is_reported_truthfully_and_later_runs_converge(case: Case, sandbox_factory):
    sandbox = sandbox_factory(parameters=ROTATING)
    watch, due, stale = seeded(sandbox)
    run_with_fault(watch, case)
    converge(watch, due, stale)
    TRIED["faults: cases"] += 1
    TRIED["faults: errors and deaths injected"] += len(sandbox.aws_faults.injected) + len(
        sandbox.aws_faults.failed_invocations
    )
    TRIED["faults: runs (seeding, faulty, converging)"] += watch.runs + 1
    TRIED["faults: invariant checks"] += watch.checks


def test_the_matrix_covers_every_task_and_each_fault_kind():
    functions = {case.function for case in CASES}
    assert len(functions) == 6
    assert {case.kind for case in CASES} == {"error", "error-after", "crash", "timeout", "invocation"}
    # Every function that calls AWS has at least one fault on an AWS call.
    calling = {case.function for case in CASES if case.kind != "invocation"}
    assert functions - calling == {"CheckDeletionLimitFunction"}
