"""AWSCURRENT counts only as the ledger knows it: a missing, deleted or foreign secret never makes the live
credential look stale where this workflow issued it."""

from datetime import UTC, datetime

import pytest

from credential_rotation.domain.current_credential import current_username
from credential_rotation.domain.errors import CurrentCredentialUnverified
from credential_rotation.domain.ledger_records import ISSUING, PRESENT, LedgerRecord, LedgerView
from credential_rotation.domain.secret_versions import SecretState

NOW = datetime(2026, 4, 1, tzinfo=UTC)
ISSUED = "sip-20260301-k3v9q0zt"


def record(
    username: str, version: str | None = None, promoted: bool = False, state: str = PRESENT
) -> LedgerRecord:
    return LedgerRecord(
        username=username,
        state=state,
        first_seen_at=NOW,
        secret_version_id=version,
        issued_at=NOW if version else None,
        promoted_at=NOW if promoted else None,
    )


PROMOTED = LedgerView({ISSUED: record(ISSUED, "v-issued", promoted=True), "pbx-old": record("pbx-old")})
NEVER_ROTATED = LedgerView({"pbx-old": record("pbx-old")})
LISTED = ("pbx-old", ISSUED)


def secret(current: str | None = "v-issued", deleted: bool = False) -> SecretState:
    versions = {"v-enrolment": ("AWSPREVIOUS",), "v-issued": ("AWSCURRENT",) if current == "v-issued" else ()}
    if current not in (None, "v-issued"):
        versions[current] = ("AWSCURRENT",)
    return SecretState(
        arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x", versions=versions, deleted=deleted
    )


def test_awscurrent_names_the_credential_the_ledger_recorded_for_its_version():
    assert current_username(secret(), PROMOTED, LISTED) == ISSUED


@pytest.mark.parametrize(
    ("state", "listed", "problem"),
    [
        (None, LISTED, "does not exist"),
        (secret(deleted=True), LISTED, "scheduled for deletion"),
        (secret(current=None), LISTED, "has no AWSCURRENT"),
        (secret(current="v-planted"), LISTED, "did not issue"),
        (secret(), ("pbx-old",), "not on the voice connector"),
    ],
    ids=["missing", "scheduled-for-deletion", "no-awscurrent", "planted-version", "removed-by-hand"],
)
def test_where_this_workflow_issued_the_credential_an_unverified_awscurrent_stops_the_connector(
    state, listed, problem
):
    with pytest.raises(CurrentCredentialUnverified, match=problem) as raised:
        current_username(state, PROMOTED, listed)
    # The message names what is wrong, never a username.
    assert ISSUED not in str(raised.value)
    assert "pbx-old" not in str(raised.value)


@pytest.mark.parametrize(
    "state", [None, secret(deleted=True), secret(current=None), secret(current="v-by-hand")], ids=str
)
def test_a_connector_this_workflow_never_rotated_has_no_current_credential(state):
    assert current_username(state, NEVER_ROTATED, LISTED) is None


def test_a_first_successor_whose_promotion_was_not_recorded_yet_still_counts_as_current():
    # FinishSecret moved AWSCURRENT, then died before the ledger said so: the version is the ledger's own.
    view = LedgerView({ISSUED: record(ISSUED, "v-issued", state=ISSUING)})

    assert current_username(secret(), view, LISTED) == ISSUED


def test_a_successor_issued_before_promotions_were_recorded_still_protects_its_connector():
    # A ledger written before PromotedAt existed: the successor on the connector, its version recorded.
    view = LedgerView({ISSUED: record(ISSUED, "v-issued"), "pbx-old": record("pbx-old")})

    assert current_username(secret(), view, LISTED) == ISSUED
    with pytest.raises(CurrentCredentialUnverified, match="does not exist"):
        current_username(None, view, LISTED)


def test_a_first_successor_still_being_issued_does_not_stop_its_connector():
    """Put on the connector (and listed) but not promoted yet: AWSCURRENT is still the enrolment version,
    and the run that finishes it must be able to plan the connector."""
    view = LedgerView({ISSUED: record(ISSUED, "v-pending"), "pbx-old": record("pbx-old")})
    pending = SecretState(
        arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        versions={"v-enrolment": ("AWSCURRENT",), "v-pending": ("AWSPENDING",)},
    )

    assert current_username(pending, view, LISTED) is None


def test_a_successor_chosen_but_never_put_does_not_count_as_issued():
    view = LedgerView({ISSUED: record(ISSUED, "v-pending", state=ISSUING), "pbx-old": record("pbx-old")})

    assert current_username(None, view, ("pbx-old",)) is None
