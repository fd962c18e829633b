"""A malformed ledger row is reported by what is wrong with it, never by its values, and never stops the
connector: its username is judged as new."""

from datetime import UTC, datetime

import pytest

from credential_rotation.adapters.ledger import parse_row
from credential_rotation.domain.ledger_records import (
    ISSUING,
    PRESENT,
    LedgerProblem,
    LedgerRecord,
    LedgerView,
)

SEEN = "2026-01-05T03:00:00+00:00"
GOOD = {
    "VoiceConnectorId": {"S": "vc"},
    "Username": {"S": "pbx-a"},
    "State": {"S": PRESENT},
    "FirstSeenAt": {"S": SEEN},
}


def test_a_good_row_is_a_record():
    record = parse_row(GOOD)

    assert record == LedgerRecord(
        username="pbx-a", state=PRESENT, first_seen_at=datetime(2026, 1, 5, 3, tzinfo=UTC)
    )


def test_a_successor_chosen_but_never_listed_has_no_date_yet():
    row = {
        "Username": {"S": "sip-20260105-k3v9q0zt"},
        "State": {"S": ISSUING},
        "SecretVersionId": {"S": "v1"},
        "IssuedAt": {"S": SEEN},
        "IssuedBy": {"S": "arn:aws:states:us-east-1:123456789012:execution:sm:run"},
    }

    record = parse_row(row)

    assert isinstance(record, LedgerRecord)
    assert (record.first_seen_at, record.secret_version_id) == (None, "v1")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"FirstSeenAt": None}, "FirstSeenAt: missing"),
        ({"FirstSeenAt": {"N": "5"}}, "FirstSeenAt: not a string"),
        ({"FirstSeenAt": {"S": "yesterday"}}, "FirstSeenAt: not an ISO 8601 date and time"),
        ({"FirstSeenAt": {"S": "2026-01-05T03:00:00"}}, "FirstSeenAt: has no time zone"),
        ({"State": {"S": "vanished"}}, "State: not one of deleted, gone, issuing, present"),
        ({"State": None}, "State: missing"),
        ({"RetiringBy": {"L": []}}, "RetiringBy: not a string"),
        ({"PromotedAt": {"S": "soon"}}, "PromotedAt: not an ISO 8601 date and time"),
    ],
)
def test_a_malformed_row_names_the_attribute_and_the_fault_and_keeps_its_username(change, problem):
    row = {key: value for key, value in (GOOD | change).items() if value is not None}

    parsed = parse_row(row)

    assert parsed == LedgerProblem("pbx-a", problem)


def test_a_row_without_a_readable_username_is_reported_without_one():
    assert parse_row(GOOD | {"Username": {"N": "1"}}) == LedgerProblem(None, "Username: not a string")


def test_a_username_whose_row_is_unreadable_has_no_date_and_is_never_taken_for_gone():
    view = LedgerView(
        {}, (LedgerProblem("pbx-a", "State: missing"), LedgerProblem(None, "Username: missing"))
    )

    assert view.unreadable == frozenset({"pbx-a"})
    assert view.first_seen() == {}
