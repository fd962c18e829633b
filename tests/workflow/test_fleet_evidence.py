"""Call-record evidence in fleet mode, end to end in the sandbox: each account's call detail records travel
from its own bucket, through its spoke's forwarding rule, to the hub's event bus and indexing queue; the
indexer reads them through the account's spoke role and indexes them under that account; a fleet run with
QuietDays judges each connector on its own account's records, exactly as single-account mode does.

The hub has fresh records of its own in every test: a fleet connector judged on the hub's index instead of
its account's would find its usernames unused on fresh evidence and lose them.
"""

import json
from datetime import timedelta

import pytest

from credential_rotation.adapters.usage_index import UsageIndex
from credential_rotation.domain.targets import Target
from sandbox.fleet import Fleet, Hub
from sandbox.phone_system import call_record
from sandbox.session import Sandbox
from sandbox.sqs_poller import FunctionErrored

REGION = "us-east-1"
OLD, YOUNG = "sip-old", "sip-young"
APPLYING = {"DryRun": False, "GraceDays": 0, "MaxAgeDays": 90, "QuietDays": 14}


def hub(sandbox_factory, accounts: int, admit_call_records: bool = True) -> tuple[Sandbox, Hub]:
    """A fleet hub over an OU of ``accounts`` accounts, deployed with FleetOrganizationId (its bus policy
    lets the organization's call records in) unless ``admit_call_records`` is False."""
    made = Hub(size=accounts, regions=(REGION,), admit_call_records=admit_call_records)
    return sandbox_factory(parameters={"DryRun": "true"}, prepare=made), made


def dated_connectors(sandbox: Sandbox, fleet: Fleet, accounts: list[str]) -> dict[Target, str]:
    """One connector per account whose credentials are 100 days old (OLD) and 10 days old (YOUNG), dated
    by two dry runs of the fleet (over FleetTargets)."""
    connectors = {}
    for account in accounts:
        fleet.deploy_spoke(account, REGION)
        target = Target(account, REGION)
        connectors[target] = fleet.create_voice_connector(account, REGION, "pbx", [OLD])
    assert sandbox.wait(sandbox.start_fleet({"DryRun": True})).status == "SUCCEEDED"
    sandbox.travel(days=90)
    for target, vc in connectors.items():
        fleet.put_credentials(target.account, REGION, vc, [YOUNG])
    assert sandbox.wait(sandbox.start_fleet({"DryRun": True})).status == "SUCCEEDED"
    sandbox.travel(days=10)
    return connectors


def call(fleet: Fleet, target: Target, vc: str, username: str, at) -> None:
    password = fleet.chime_backend(target).voice_connectors[vc].credentials[username]
    assert fleet.phone(target.account, target.region).call(vc, username, password, at=at).connected


def hub_calls_today(sandbox: Sandbox) -> None:
    """The hub's own connector, called an hour ago: the hub's own index is fresh."""
    connector = sandbox.create_voice_connector("hub-pbx", ["hub-user"])
    password = sandbox.chime_backend.voice_connectors[connector].credentials["hub-user"]
    an_hour_ago = sandbox.now() - timedelta(hours=1)
    assert sandbox.phone.call(connector, "hub-user", password, at=an_hour_ago).connected


def entries(sandbox: Sandbox, event: dict) -> dict[str, dict]:
    return {entry["Account"]: entry for entry in sandbox.report(event)["VoiceConnectors"]}


def test_each_accounts_records_decide_for_its_own_connectors_only(sandbox_factory):
    sandbox, made = hub(sandbox_factory, 3)
    fleet = made.fleet
    in_use, switched, silent = made.accounts
    connectors = dated_connectors(sandbox, fleet, made.accounts)
    for account in (in_use, switched):
        fleet.forward_call_records(account, REGION, [REGION])
    # The PBX of `in_use` still calls with the old credential; `switched`'s calls with the young one only;
    # `silent` forwards no records at all.
    for target, vc in connectors.items():
        if target.account == silent:
            continue
        for hours in (30, 5, 1):
            call(fleet, target, vc, YOUNG, sandbox.now() - timedelta(hours=hours))
        if target.account == in_use:
            call(fleet, target, vc, OLD, sandbox.now() - timedelta(hours=2))
    hub_calls_today(sandbox)
    drained = sandbox.index_call_records()
    assert drained.failed == 0, drained
    assert drained.succeeded > 0, drained
    assert not sandbox.dead_letters()

    execution = sandbox.wait(sandbox.start_fleet(APPLYING), deadline_seconds=300)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    usernames = {target.account: set(fleet.usernames(target, vc)) for target, vc in connectors.items()}
    assert usernames == {in_use: {OLD, YOUNG}, switched: {YOUNG}, silent: {OLD, YOUNG}}
    judged = entries(sandbox, event)
    assert judged[in_use]["Reasons"][OLD] == "in-use"
    assert judged[in_use]["Evidence"]["State"] == "fresh"
    assert set(judged[in_use]["Evidence"]["LastUsed"]) == {OLD, YOUNG}
    assert judged[switched]["Evidence"]["State"] == "fresh"
    assert set(judged[switched]["Evidence"]["LastUsed"]) == {YOUNG}
    assert judged[silent]["Reasons"][OLD] == "evidence-stale"
    assert judged[silent]["Evidence"]["State"] == "stale"
    # Deletions held for stale evidence page, as in single-account mode, naming the connector's target.
    pages = [json.loads(message) for message in sandbox.alerts() if message.startswith("{")]
    (page,) = [page for page in pages if page.get("ExecutionArn") == execution.arn]
    assert [(item["Target"], item["Held"]) for item in page["EvidenceStale"]] == [(f"{silent}/{REGION}", 1)]


def test_records_that_claim_another_account_are_refused_and_hold_every_evidence_based_deletion(
    sandbox_factory,
):
    sandbox, made = hub(sandbox_factory, 2)
    fleet = made.fleet
    victim, forger = made.accounts
    connectors = dated_connectors(sandbox, fleet, made.accounts)
    forger_bucket = fleet.forward_call_records(forger, REGION, [REGION])
    fleet.forward_call_records(victim, REGION, [REGION])
    (victim_vc,) = [vc for target, vc in connectors.items() if target.account == victim]
    for target, vc in connectors.items():
        call(fleet, target, vc, YOUNG, sandbox.now() - timedelta(hours=1))
    # Written into the forger's own bucket, under the victim's connector, saying it is the victim's.
    key, body = call_record(victim_vc, sandbox.now() - timedelta(hours=1), OLD, AwsAccountId=victim)
    fleet.client(forger, REGION, "s3").put_object(Bucket=forger_bucket, Key=key, Body=body)
    hub_calls_today(sandbox)
    sandbox.index_call_records()

    assert len(sandbox.dead_letters()) == 1
    execution = sandbox.wait(sandbox.start_fleet(APPLYING), deadline_seconds=300)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
    judged = entries(sandbox, event)
    # The forged call counted nowhere: the victim's index knows only its young credential's calls.
    assert judged[victim]["Evidence"]["State"] == "stale"
    assert "failed to index" in judged[victim]["Evidence"]["Why"]
    assert {target.account: set(fleet.usernames(target, vc)) for target, vc in connectors.items()} == {
        victim: {OLD, YOUNG},
        forger: {OLD, YOUNG},
    }


def test_without_the_hubs_bus_policy_no_account_gets_its_records_in(sandbox_factory):
    sandbox, made = hub(sandbox_factory, 1, admit_call_records=False)
    fleet = made.fleet
    (account,) = made.accounts
    connectors = dated_connectors(sandbox, fleet, made.accounts)
    fleet.forward_call_records(account, REGION, [REGION])
    ((target, vc),) = connectors.items()
    call(fleet, target, vc, YOUNG, sandbox.now() - timedelta(hours=1))

    drained = sandbox.index_call_records()

    assert drained.deliveries == 0, drained
    assert [failure.reason for failure in sandbox.event_failures] == ["AccessDenied"]


def test_a_backfill_of_a_fleet_account_indexes_the_calls_already_in_its_bucket(sandbox_factory):
    sandbox, made = hub(sandbox_factory, 1)
    fleet = made.fleet
    connectors = dated_connectors(sandbox, fleet, made.accounts)
    ((target, vc),) = connectors.items()
    fleet.forward_call_records(target.account, REGION, [REGION])
    # A call with the old credential five days ago, while the spoke's rule did not forward yet: in the
    # bucket, never indexed. Then the calls of today, forwarded.
    forwarding = fleet.client(target.account, REGION, "events")
    forwarding.disable_rule(Name="forward-call-records")
    call(fleet, target, vc, OLD, sandbox.now() - timedelta(days=5))
    forwarding.enable_rule(Name="forward-call-records")
    call(fleet, target, vc, YOUNG, sandbox.now() - timedelta(hours=1))
    sandbox.index_call_records()
    preview = {**APPLYING, "DryRun": True}

    def judged_old() -> tuple[str, str]:
        execution = sandbox.wait(sandbox.start_fleet(preview), deadline_seconds=300)
        (event,) = [event for event in sandbox.audit_events() if event["ExecutionArn"] == execution.arn]
        (entry,) = sandbox.report(event)["VoiceConnectors"]
        return entry["Reasons"][OLD], entry["Evidence"]["State"]

    # Fresh, but blind to the call it never saw: by the timer, the old credential would go.
    assert judged_old() == ("stale", "fresh")

    answer, drained = sandbox.backfill_call_records(10, target.account, target.region)

    assert (answer["VoiceConnectors"], answer["Days"]) == (1, 11)
    assert drained.failed == 0, drained
    assert judged_old() == ("in-use", "fresh")
    # Indexed under the account: the hub's own index learned nothing of it.
    assert UsageIndex(sandbox.client("dynamodb"), sandbox.stack.table_name).calls(vc).by_username == {}


def test_a_fleet_backfill_names_an_account_and_a_region_or_neither(sandbox_factory):
    sandbox, made = hub(sandbox_factory, 1)
    for event in (
        {"Account": made.accounts[0]},
        {"Account": "12345", "Region": REGION},
        {"Region": "mars-1"},
    ):
        with pytest.raises(FunctionErrored, match="InvalidInput"):
            sandbox.backfill_call_records(3, event.get("Account"), event.get("Region"))


def test_a_fleet_accounts_objects_outside_its_cdr_bucket_count_nothing(sandbox_factory):
    """Only Chime writes evidence: an event naming another bucket of the account (a record copied there,
    and its event put on the queue) is ignored, as in single-account mode, though the object reads well."""
    sandbox, made = hub(sandbox_factory, 1)
    fleet = made.fleet
    ((target, vc),) = dated_connectors(sandbox, fleet, made.accounts).items()
    fleet.forward_call_records(target.account, REGION, [REGION])
    call(fleet, target, vc, YOUNG, sandbox.now() - timedelta(hours=1))
    url = sandbox.stack.indexing_queue_url
    (event,) = sandbox.queued(url)
    sandbox.client("sqs").purge_queue(QueueUrl=url)
    s3 = fleet.client(target.account, REGION, "s3")
    key, body = call_record(vc, sandbox.now() - timedelta(hours=1), OLD, AwsAccountId=target.account)
    s3.create_bucket(Bucket="not-the-cdr-bucket")
    s3.put_object(Bucket="not-the-cdr-bucket", Key=key, Body=body)
    event["detail"] |= {"bucket": {"name": "not-the-cdr-bucket"}, "object": {"key": key}}
    sandbox.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(event))

    drained = sandbox.index_call_records()

    assert (drained.succeeded, drained.dead_lettered) == (1, 0)
    index = UsageIndex(sandbox.client("dynamodb"), sandbox.stack.table_name, target.account)
    assert index.calls(vc).by_username == {}
