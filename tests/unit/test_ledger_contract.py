"""The ledger's contract, run against the in-memory fake (tests/support/fakes.py) and against the real
adapter over moto's DynamoDB: the same scenarios, so the fake the task tests stand on is proven faithful.
Every conditional write is tried where it wins and where it loses; the best-effort writes are tried where
the store fails."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from credential_rotation.adapters.ledger import CredentialLedger
from credential_rotation.domain.ledger_records import (
    DELETED,
    GONE,
    ISSUING,
    PRESENT,
    LedgerProblem,
    LedgerRecord,
)
from credential_rotation.ports import Ledger
from tests.support.aws import create_ledger_table
from tests.support.fakes import InMemoryLedger, fault

TABLE = "ledger"
REGION = "us-east-1"
VC = "abcdefghijklmnopqrstuv"
OTHER_VC = "zyxwvutsrqponmlkjihgfe"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:nightly-1"
OTHER_RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:pressed-start"
T0 = datetime(2026, 1, 5, 3, tzinfo=UTC)
T1, T2, T3 = T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)
MALFORMED = "FirstSeenAt: not an ISO 8601 date and time"


def present(username: str, seen: datetime = T0, **more: Any) -> LedgerRecord:
    return LedgerRecord(username=username, state=PRESENT, first_seen_at=seen, **more)


def issuing(username: str, version: str = "v-1", at: datetime = T0) -> LedgerRecord:
    return LedgerRecord(
        username=username,
        state=ISSUING,
        first_seen_at=None,
        secret_version_id=version,
        issued_at=at,
        issued_by=RUN,
    )


def _item(voice_connector_id: str, record: LedgerRecord) -> dict[str, Any]:
    """A record as the adapter writes it."""
    item: dict[str, Any] = {
        "VoiceConnectorId": {"S": voice_connector_id},
        "Username": {"S": record.username},
        "State": {"S": record.state},
    }
    texts = {
        "RetiringBy": record.retiring_by,
        "DeletedBy": record.deleted_by,
        "SecretVersionId": record.secret_version_id,
        "IssuedBy": record.issued_by,
    }
    dates = {
        "FirstSeenAt": record.first_seen_at,
        "RetiringAt": record.retiring_at,
        "IssuedAt": record.issued_at,
        "PromotedAt": record.promoted_at,
    }
    item |= {name: {"S": value} for name, value in texts.items() if value is not None}
    item |= {name: {"S": value.isoformat()} for name, value in dates.items() if value is not None}
    return item


class MemorySubject:
    def __init__(self) -> None:
        self.fake = InMemoryLedger()
        self.ledger: Ledger = self.fake

    def plant(self, record: LedgerRecord, voice_connector_id: str = VC) -> None:
        self.fake.plant(voice_connector_id, record)

    def plant_malformed(self, username: str) -> None:
        self.fake.plant_problem(VC, username, MALFORMED, state=PRESENT, first_seen_at="last tuesday")

    def fail_update(self, method: str, skip: int = 0) -> None:
        self.fake.fail_next(method, fault("InternalServerError"), skip=skip)

    def moment(self, username: str, name: str) -> datetime | None:
        return self.fake.moments.get((VC, username), {}).get(name)


class DynamoSubject:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.ledger: Ledger = CredentialLedger(client, TABLE)

    def plant(self, record: LedgerRecord, voice_connector_id: str = VC) -> None:
        self.client.put_item(TableName=TABLE, Item=_item(voice_connector_id, record))

    def plant_malformed(self, username: str) -> None:
        item = _item(VC, present(username))
        item["FirstSeenAt"] = {"S": "last tuesday"}
        self.client.put_item(TableName=TABLE, Item=item)

    def fail_update(self, method: str, skip: int = 0) -> None:
        """The next UpdateItem (after ``skip`` of them) answers InternalServerError, as botocore raises it."""
        fail_update_item(self.client, skip)

    def moment(self, username: str, name: str) -> datetime | None:
        item = self.client.get_item(
            TableName=TABLE, Key={"VoiceConnectorId": {"S": VC}, "Username": {"S": username}}
        ).get("Item", {})
        return datetime.fromisoformat(item[name]["S"]) if name in item else None


def fail_update_item(client: Any, skip: int = 0, error: Callable[[], Exception] | None = None) -> list[str]:
    """Wrap the client's update_item: after ``skip`` calls, one call raises (by default botocore's
    InternalServerError); returns the list of the usernames whose update was attempted."""
    original = client.update_item
    attempted: list[str] = []
    remaining = [skip]

    def update_item(**params: Any) -> Any:
        attempted.append(params["Key"]["Username"]["S"])
        if remaining[0] == 0:
            remaining[0] = -1
            if error is not None:
                raise error()
            response = {
                "Error": {"Code": "InternalServerError", "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            }
            raise client.exceptions.from_code("InternalServerError")(response, "UpdateItem")
        remaining[0] -= 1
        return original(**params)

    client.update_item = update_item
    return attempted


@pytest.fixture
def dynamodb(mocked_aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_ledger_table(client, TABLE)
    return client


@pytest.fixture(params=["in-memory", "dynamodb"])
def subject(request) -> MemorySubject | DynamoSubject:
    if request.param == "in-memory":
        return MemorySubject()
    return DynamoSubject(request.getfixturevalue("dynamodb"))


def records(subject) -> dict[str, LedgerRecord]:
    return subject.ledger.read(VC).records


# read


def test_read_gives_one_connectors_records_and_names_its_malformed_rows(subject):
    subject.plant(present("pbx-b"))
    subject.plant(issuing("sip-20260105-k3v9q0zt"))
    subject.plant(present("pbx-a", retiring_by=RUN, retiring_at=T1))
    subject.plant(present("pbx-c", retiring_by=OTHER_RUN))  # a mark written before marks were dated
    subject.plant(present("other-connectors"), voice_connector_id=OTHER_VC)
    subject.plant_malformed("pbx-broken")

    view = subject.ledger.read(VC)

    assert view.records == {
        "pbx-a": present("pbx-a", retiring_by=RUN, retiring_at=T1),
        "pbx-c": present("pbx-c", retiring_by=OTHER_RUN),
        "pbx-b": present("pbx-b"),
        "sip-20260105-k3v9q0zt": issuing("sip-20260105-k3v9q0zt"),
    }
    assert list(view.records) == sorted(view.records)  # in sort-key order, as a query returns them
    assert view.problems == (LedgerProblem("pbx-broken", MALFORMED),)
    assert view.unreadable == {"pbx-broken"}
    assert subject.ledger.read(OTHER_VC).records == {"other-connectors": present("other-connectors")}


# start_life


def test_start_life_wins_on_a_username_without_a_row(subject):
    assert subject.ledger.start_life(VC, "pbx-a", T1, None) is True
    assert records(subject) == {"pbx-a": present("pbx-a", T1)}


def test_start_life_loses_when_another_writer_dated_it_first(subject):
    subject.plant(present("pbx-a", T0))

    assert subject.ledger.start_life(VC, "pbx-a", T1, None) is False
    assert records(subject)["pbx-a"] == present("pbx-a", T0)


def test_start_life_loses_to_a_malformed_row_and_leaves_it(subject):
    subject.plant_malformed("pbx-a")

    assert subject.ledger.start_life(VC, "pbx-a", T1, None) is False
    assert subject.ledger.read(VC).problems == (LedgerProblem("pbx-a", MALFORMED),)


@pytest.mark.parametrize(
    "ended",
    [
        LedgerRecord("pbx-a", GONE, T0),
        LedgerRecord("pbx-a", DELETED, T0, retiring_by=RUN, deleted_by=RUN),
        LedgerRecord("pbx-a", GONE, T0, secret_version_id="v-1", issued_at=T0, issued_by=RUN, promoted_at=T0),
    ],
    ids=["gone", "deleted", "a-promoted-successor-gone"],
)
def test_start_life_over_the_ended_life_it_read_begins_a_new_one_and_forgets_the_old(subject, ended):
    subject.plant(ended)

    assert subject.ledger.start_life(VC, "pbx-a", T2, ended) is True
    assert records(subject) == {"pbx-a": present("pbx-a", T2)}


DATED_MARK = present("pbx-a", T0, retiring_by=OTHER_RUN, retiring_at=T0)
UNDATED_MARK = present("pbx-a", T0, retiring_by=OTHER_RUN)  # written before marks were dated


@pytest.mark.parametrize("outlived", [DATED_MARK, UNDATED_MARK], ids=["dated-mark", "undated-mark"])
def test_start_life_over_a_present_row_with_the_mark_it_read_begins_a_new_life_without_the_mark(
    subject, outlived
):
    subject.plant(outlived)

    assert subject.ledger.start_life(VC, "pbx-a", T2, outlived) is True
    assert records(subject) == {"pbx-a": present("pbx-a", T2)}


@pytest.mark.parametrize(
    ("read", "now_in_the_row"),
    [
        (DATED_MARK, present("pbx-a", T0, retiring_by=RUN, retiring_at=T2)),
        (DATED_MARK, present("pbx-a", T0, retiring_by=OTHER_RUN, retiring_at=T2)),
        (DATED_MARK, present("pbx-a", T0, retiring_by=RUN, retiring_at=T0)),
        (DATED_MARK, present("pbx-a", T0)),
        (UNDATED_MARK, present("pbx-a", T0, retiring_by=OTHER_RUN, retiring_at=T2)),
    ],
    ids=[
        "marked-by-another-step",
        "marked-again-by-a-retry",
        "only-the-execution-differs",
        "unmarked",
        "an-undated-mark-marked-again",
    ],
)
def test_start_life_loses_when_the_rows_mark_changed_since_it_was_read(subject, read, now_in_the_row):
    # A delete step marking the username afresh between the read and the write keeps its mark (and the
    # date it judged by): its retry must find the mark to report the deletion.
    subject.plant(now_in_the_row)

    assert subject.ledger.start_life(VC, "pbx-a", T2, read) is False
    assert records(subject)["pbx-a"] == now_in_the_row


@pytest.mark.parametrize(
    "now_in_the_row",
    [present("pbx-a", T1), LedgerRecord("pbx-a", GONE, T1), LedgerRecord("pbx-a", DELETED, T0)],
    ids=["a-new-life-began", "another-life-began-and-ended", "deleted-meanwhile"],
)
def test_start_life_loses_when_the_row_changed_since_it_was_read(subject, now_in_the_row):
    read = LedgerRecord("pbx-a", GONE, T0)
    subject.plant(now_in_the_row)

    assert subject.ledger.start_life(VC, "pbx-a", T2, read) is False
    assert records(subject)["pbx-a"] == now_in_the_row


# date_successor


def test_date_successor_wins_while_issuing_and_keeps_what_it_was_issued_as(subject):
    subject.plant(issuing("sip-20260105-k3v9q0zt", "v-7", T0))

    assert subject.ledger.date_successor(VC, issuing("sip-20260105-k3v9q0zt", "v-7", T0), T1) is True
    assert records(subject)["sip-20260105-k3v9q0zt"] == LedgerRecord(
        "sip-20260105-k3v9q0zt", PRESENT, T1, secret_version_id="v-7", issued_at=T0, issued_by=RUN
    )


def test_date_successor_loses_once_dated_and_creates_no_row_where_none_is(subject):
    dated = present("sip-20260105-k3v9q0zt", T1, secret_version_id="v-7", issued_at=T0, issued_by=RUN)
    subject.plant(dated)

    assert subject.ledger.date_successor(VC, issuing("sip-20260105-k3v9q0zt", "v-7"), T2) is False
    assert subject.ledger.date_successor(VC, issuing("sip-20260105-nothere1", "v-8"), T2) is False
    assert records(subject) == {"sip-20260105-k3v9q0zt": dated}


# end_life


def test_end_life_of_an_unmarked_username_is_gone(subject):
    subject.plant(present("pbx-a", T0))

    subject.ledger.end_life(VC, present("pbx-a", T0), T2)

    assert records(subject)["pbx-a"] == LedgerRecord("pbx-a", GONE, T0)
    assert subject.moment("pbx-a", "GoneAt") == T2


def test_end_life_of_a_marked_username_is_deleted_by_the_execution_that_marked_it(subject):
    subject.plant(present("pbx-a", T0, retiring_by=OTHER_RUN))

    subject.ledger.end_life(VC, present("pbx-a", T0, retiring_by=OTHER_RUN), T2)

    assert records(subject)["pbx-a"] == LedgerRecord(
        "pbx-a", DELETED, T0, retiring_by=OTHER_RUN, deleted_by=OTHER_RUN
    )
    assert subject.moment("pbx-a", "DeletedAt") == T2


@pytest.mark.parametrize(
    "now_in_the_row",
    [LedgerRecord("pbx-a", GONE, T0), present("pbx-a", T1), None],
    ids=["already-ended", "a-new-life-began", "no-row"],
)
def test_end_life_leaves_a_row_that_changed_since_it_was_read(subject, now_in_the_row):
    if now_in_the_row is not None:
        subject.plant(now_in_the_row)

    subject.ledger.end_life(VC, present("pbx-a", T0), T2)

    assert records(subject).get("pbx-a") == now_in_the_row


# first_seen


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (present("pbx-a", T1), T1),
        (LedgerRecord("pbx-a", GONE, T1), T1),
        (issuing("pbx-a"), None),
        ("malformed", None),
        (None, None),
    ],
    ids=["present", "gone", "issuing-not-dated", "malformed", "no-row"],
)
def test_first_seen_is_the_rows_date_or_none_when_it_has_none_to_trust(subject, row, expected):
    if row == "malformed":
        subject.plant_malformed("pbx-a")
    elif row is not None:
        subject.plant(row)

    assert subject.ledger.first_seen(VC, "pbx-a") == expected


# record_issuing


def test_record_issuing_wins_on_a_username_the_ledger_never_saw(subject):
    won = subject.ledger.record_issuing(VC, "sip-20260105-k3v9q0zt", "v-7", T1, RUN)

    assert won is True
    assert records(subject) == {"sip-20260105-k3v9q0zt": issuing("sip-20260105-k3v9q0zt", "v-7", T1)}


@pytest.mark.parametrize(
    "row",
    [present("sip-a"), LedgerRecord("sip-a", GONE, T0), LedgerRecord("sip-a", DELETED, T0), issuing("sip-a")],
    ids=["present", "gone", "deleted", "issuing"],
)
def test_record_issuing_loses_on_any_row(subject, row):
    subject.plant(row)

    assert subject.ledger.record_issuing(VC, "sip-a", "v-9", T1, OTHER_RUN) is False
    assert records(subject) == {"sip-a": row}


def test_record_issuing_loses_on_a_malformed_row(subject):
    subject.plant_malformed("sip-a")

    assert subject.ledger.record_issuing(VC, "sip-a", "v-9", T1, RUN) is False
    assert subject.ledger.read(VC).problems == (LedgerProblem("sip-a", MALFORMED),)


# record_promoted


def test_record_promoted_dates_an_undated_successor_from_its_verification(subject):
    subject.plant(issuing("sip-a", "v-7", T0))

    subject.ledger.record_promoted(VC, "sip-a", verified_at=T1, promoted_at=T2)

    assert records(subject)["sip-a"] == LedgerRecord(
        "sip-a", PRESENT, T1, secret_version_id="v-7", issued_at=T0, issued_by=RUN, promoted_at=T2
    )


def test_record_promoted_keeps_the_date_a_listing_gave_it_first(subject):
    subject.plant(present("sip-a", T0, secret_version_id="v-7", issued_at=T0, issued_by=RUN))

    subject.ledger.record_promoted(VC, "sip-a", verified_at=T2, promoted_at=T3)

    assert records(subject)["sip-a"].first_seen_at == T0
    assert records(subject)["sip-a"].promoted_at == T3


@pytest.mark.parametrize("row", [present("sip-a"), None], ids=["not-issued-here", "no-row"])
def test_record_promoted_refuses_a_username_this_workflow_did_not_issue(subject, row):
    if row is not None:
        subject.plant(row)

    with pytest.raises(Exception) as raised:  # noqa: PT011 (the class differs; its name is the contract)
        subject.ledger.record_promoted(VC, "sip-a", verified_at=T1, promoted_at=T1)

    assert type(raised.value).__name__ == "ConditionalCheckFailedException"
    assert records(subject).get("sip-a") == row


# mark_retiring, unmark_retiring


def test_mark_retiring_marks_present_usernames_only_and_says_which(subject):
    subject.plant(present("pbx-a"))
    subject.plant(present("pbx-c", retiring_by=OTHER_RUN, retiring_at=T1))
    subject.plant(LedgerRecord("pbx-gone", GONE, T0))
    subject.plant(LedgerRecord("pbx-deleted", DELETED, T0, deleted_by=OTHER_RUN))
    subject.plant(issuing("pbx-issuing"))
    subject.plant_malformed("pbx-broken")

    marked = subject.ledger.mark_retiring(
        VC, ["pbx-c", "pbx-gone", "pbx-a", "pbx-deleted", "pbx-issuing", "pbx-broken", "pbx-no-row"], RUN, T2
    )

    # A malformed row whose State reads "present" is marked like any other: the condition reads State only.
    # (The task logic never asks: an unreadable username is judged new, never confirmed for deletion.)
    assert marked == ("pbx-c", "pbx-a", "pbx-broken")
    after = records(subject)
    assert after["pbx-a"] == present("pbx-a", retiring_by=RUN, retiring_at=T2)
    assert after["pbx-c"] == present("pbx-c", retiring_by=RUN, retiring_at=T2)  # the older mark replaced
    assert after["pbx-gone"] == LedgerRecord("pbx-gone", GONE, T0)
    assert (after["pbx-deleted"].retiring_by, after["pbx-deleted"].retiring_at) == (None, None)
    assert after["pbx-issuing"] == issuing("pbx-issuing")
    assert "pbx-no-row" not in after
    assert subject.ledger.read(VC).problems == (LedgerProblem("pbx-broken", MALFORMED),)


def test_unmark_retiring_takes_back_this_executions_marks_only(subject):
    subject.plant(present("pbx-a", retiring_by=RUN, retiring_at=T1))
    subject.plant(present("pbx-b", retiring_by=OTHER_RUN, retiring_at=T1))
    subject.plant(present("pbx-c"))
    subject.plant(present("pbx-d", retiring_by=RUN))  # a mark written before marks were dated

    assert subject.ledger.unmark_retiring(VC, ["pbx-a", "pbx-b", "pbx-c", "pbx-d", "pbx-no-row"], RUN) is True

    # RetiringBy and RetiringAt go together.
    assert records(subject) == {
        "pbx-a": present("pbx-a"),
        "pbx-b": present("pbx-b", retiring_by=OTHER_RUN, retiring_at=T1),
        "pbx-c": present("pbx-c"),
        "pbx-d": present("pbx-d"),
    }


def test_a_mark_round_trips_with_its_time_and_is_taken_back_whole(subject):
    subject.plant(present("pbx-a", T0))

    assert subject.ledger.mark_retiring(VC, ["pbx-a"], RUN, T1) == ("pbx-a",)
    assert records(subject)["pbx-a"] == present("pbx-a", T0, retiring_by=RUN, retiring_at=T1)
    assert subject.ledger.read(VC).problems == ()

    assert subject.ledger.unmark_retiring(VC, ["pbx-a"], RUN) is True
    assert records(subject)["pbx-a"] == present("pbx-a", T0)


# mark_deleted


def test_mark_deleted_records_the_deletion_by_the_execution(subject):
    subject.plant(present("pbx-a", T0, retiring_by=RUN, retiring_at=T1))
    subject.plant(present("pbx-b", T0))

    assert subject.ledger.mark_deleted(VC, ["pbx-a", "pbx-b"], T2, RUN) is True

    assert records(subject) == {
        "pbx-a": LedgerRecord("pbx-a", DELETED, T0, retiring_by=RUN, retiring_at=T1, deleted_by=RUN),
        "pbx-b": LedgerRecord("pbx-b", DELETED, T0, deleted_by=RUN),
    }
    assert subject.moment("pbx-a", "DeletedAt") == T2


def test_mark_deleted_without_a_row_makes_a_row_that_reads_as_malformed(subject):
    # Unconditional, so DynamoDB creates the item; with no FirstSeenAt, it cannot be read back.
    assert subject.ledger.mark_deleted(VC, ["pbx-a"], T2, RUN) is True

    assert subject.ledger.read(VC).problems == (LedgerProblem("pbx-a", "FirstSeenAt: missing"),)


# Store failures: the best-effort writes say so, the others raise.


def test_mark_deleted_says_false_when_the_store_fails_and_keeps_what_it_wrote_before(subject):
    for username in ("pbx-a", "pbx-b", "pbx-c"):
        subject.plant(present(username, T0, retiring_by=RUN))
    subject.fail_update("mark_deleted", skip=1)

    assert subject.ledger.mark_deleted(VC, ["pbx-a", "pbx-b", "pbx-c"], T2, RUN) is False

    after = records(subject)
    assert (after["pbx-a"].state, after["pbx-b"].state, after["pbx-c"].state) == (DELETED, PRESENT, PRESENT)


def test_unmark_retiring_says_false_when_the_store_fails(subject):
    subject.plant(present("pbx-a", retiring_by=RUN, retiring_at=T1))
    subject.plant(present("pbx-b", retiring_by=RUN, retiring_at=T1))
    subject.fail_update("unmark_retiring", skip=1)

    assert subject.ledger.unmark_retiring(VC, ["pbx-a", "pbx-b"], RUN) is False

    assert records(subject)["pbx-a"] == present("pbx-a")
    assert records(subject)["pbx-b"] == present("pbx-b", retiring_by=RUN, retiring_at=T1)


def test_mark_retiring_raises_the_stores_error_by_name(subject):
    subject.plant(present("pbx-a"))
    subject.fail_update("mark_retiring")

    with pytest.raises(Exception) as raised:  # noqa: PT011 (the class differs; its name is the contract)
        subject.ledger.mark_retiring(VC, ["pbx-a"], RUN, T1)

    assert type(raised.value).__name__ == "InternalServerError"
    assert records(subject)["pbx-a"] == present("pbx-a")


# The adapter alone: its best-effort writes swallow the SDK's errors, service and transport alike.


@pytest.mark.parametrize(
    "error",
    [
        lambda: ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "down"}, "ResponseMetadata": {}},
            "UpdateItem",
        ),
        lambda: EndpointConnectionError(endpoint_url="https://dynamodb.invalid/"),
    ],
    ids=["ClientError", "EndpointConnectionError"],
)
def test_the_adapters_best_effort_writes_return_false_on_an_sdk_error(dynamodb, error):
    ledger = CredentialLedger(dynamodb, TABLE)
    DynamoSubject(dynamodb).plant(present("pbx-a", retiring_by=RUN))

    deleting = fail_update_item(dynamodb, error=error)
    assert ledger.mark_deleted(VC, ["pbx-a"], T2, RUN) is False
    unmarking = fail_update_item(dynamodb, error=error)
    assert ledger.unmark_retiring(VC, ["pbx-a"], RUN) is False

    # Each tried its write, and the store refused it.
    assert (deleting, unmarking) == (["pbx-a"], ["pbx-a"])
    assert ledger.read(VC).records["pbx-a"] == present("pbx-a", retiring_by=RUN)


def test_the_adapters_other_writes_let_an_sdk_error_through(dynamodb):
    ledger = CredentialLedger(dynamodb, TABLE)
    DynamoSubject(dynamodb).plant(issuing("sip-a"))

    fail_update_item(dynamodb)
    with pytest.raises(ClientError, match="InternalServerError"):
        ledger.date_successor(VC, issuing("sip-a"), T1)
