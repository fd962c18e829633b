"""Revoke: a credential known or suspected to be compromised is removed now, whatever its age, grace,
MinKeep or use; never below one credential (a successor first when Rotate is on, else left for a person);
always an applying run; always paged."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credential_rotation.domain.errors import InvalidInput
from credential_rotation.domain.evidence import ConnectorCalls, Evidence, EvidenceState, Usage
from credential_rotation.domain.ledger_records import PRESENT, LedgerRecord
from credential_rotation.domain.models import ConnectorTask, DeletionRequest
from credential_rotation.domain.policy import PolicySettings, Reason, confirm_deletions, judge
from credential_rotation.domain.redaction import Fingerprints
from credential_rotation.domain.rotation_due import RotationReason
from credential_rotation.domain.settings import Settings
from credential_rotation.tasks.alerting import REVOKED, page_for
from credential_rotation.tasks.planning import plan_connector
from credential_rotation.tasks.retirement import retire_stale
from credential_rotation.tasks.run_input import resolve_run
from tests.support.fakes import (
    FakeConnectorSecrets,
    FakeRunRecords,
    FakeVoiceConnectors,
    InMemoryLedger,
)
from tests.support.issuing import issue_successor

NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)
VC = "abcdefghijklmnopqrstuv"
RUN = "arn:aws:states:us-east-1:123456789012:execution:rotation:revoke-1"
REVOKE = PolicySettings(max_age_days=90, min_keep=2, grace_days=7, revoke_patterns=("leaked", "temp-*"))


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def reasons(plan) -> dict[str, Reason]:
    return {verdict.username: verdict.reason for verdict in plan.verdicts}


# The rule


def test_a_revoked_username_goes_whatever_its_age_grace_min_keep_or_use():
    dates = {"leaked": ago(1), "temp-7": ago(2), "pbx": ago(30)}
    in_use = Evidence(
        EvidenceState.FRESH, since=ago(60), calls=ConnectorCalls({"leaked": Usage(ago(0.1), 40)})
    )
    settings = PolicySettings(**{**vars(REVOKE), "quiet_days": 14})
    plan = judge(dates, dates, NOW, settings, evidence=in_use)
    assert reasons(plan) == {"leaked": Reason.REVOKED, "temp-7": Reason.REVOKED, "pbx": Reason.YOUNG}
    assert set(plan.stale) == {"leaked", "temp-7"}


def test_awscurrent_is_revoked_too():
    dates = {"leaked": ago(1), "pbx": ago(30)}
    assert reasons(judge(dates, dates, NOW, REVOKE, current="leaked"))["leaked"] is Reason.REVOKED


def test_a_protected_username_is_not_revoked():
    dates = {"leaked": ago(1), "pbx": ago(30)}
    settings = PolicySettings(
        max_age_days=90, min_keep=1, revoke_patterns=("*",), protected_patterns=("pbx",)
    )
    assert reasons(judge(dates, dates, NOW, settings)) == {"leaked": Reason.REVOKED, "pbx": Reason.PROTECTED}


def test_min_keep_counts_only_what_stays():
    # MinKeep 2 over what is not revoked: both old ones stay, though older than MaxAgeDays.
    dates = {"leaked": ago(1), "old-a": ago(200), "old-b": ago(300)}
    plan = judge(dates, dates, NOW, REVOKE)
    assert reasons(plan) == {
        "leaked": Reason.REVOKED,
        "old-a": Reason.KEPT_FOR_MIN_KEEP,
        "old-b": Reason.KEPT_FOR_MIN_KEEP,
    }


def test_the_last_credential_is_not_revoked_unless_a_successor_comes():
    dates = {"leaked": ago(1), "temp-1": ago(5)}
    assert reasons(judge(dates, dates, NOW, REVOKE)) == {
        "leaked": Reason.REVOKE_BLOCKED,
        "temp-1": Reason.REVOKE_BLOCKED,
    }
    assert judge(dates, dates, NOW, REVOKE).stale == ()
    assert set(judge(dates, dates, NOW, REVOKE, successor_coming=True).stale) == {"leaked", "temp-1"}
    # The delete step judges the listing it finds: with the successor on it, the revoked go.
    listed = {**dates, "sip-20260601-abcd1234": NOW}
    assert confirm_deletions({"leaked", "temp-1"}, listed, listed, NOW, REVOKE) == ("leaked", "temp-1")
    # Without it (the successor failed), nothing.
    assert confirm_deletions({"leaked", "temp-1"}, dates, dates, NOW, REVOKE) == ()


# The input


def settings(**more: Any) -> Settings:
    environment = {
        "LEDGER_TABLE_NAME": "ledger",
        "AUDIT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:audit",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "AUDIT_BUCKET_NAME": "audit",
        "FINGERPRINT_KEY_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:fp",
        "DEFAULT_DRY_RUN": "true",
        "DEFAULT_MAX_AGE_DAYS": "90",
        "DEFAULT_MIN_KEEP": "1",
        "DEFAULT_MAX_DELETIONS": "20",
        "DEFAULT_PROTECTED_USERNAMES": "",
        "DEFAULT_VOICE_CONNECTOR_IDS": "",
        "MAX_CONCURRENCY": "5",
        "DEFAULT_ROTATE": "true",
        "DEFAULT_ROTATE_AFTER_DAYS": "60",
        "DEFAULT_GRACE_DAYS": "7",
        "DEFAULT_USERNAME_PREFIX": "sip-",
        "SECRET_NAME_PREFIX": "chime-voice-connector/rotation/",
    }
    return Settings.model_validate(environment | more)


def resolve(raw: Any):
    return resolve_run(raw, RUN, NOW, settings(), lambda: [VC])


def test_a_revoke_is_always_an_applying_run_even_on_a_dry_run_stack():
    run = resolve({"Revoke": {"Usernames": ["leaked"], "Reason": "posted in a public ticket"}})
    assert run.dry_run is False
    assert (run.policy.revoke_usernames, run.policy.revoke_reason) == (
        ("leaked",),
        "posted in a public ticket",
    )


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"Revoke": {"Usernames": ["x"], "Reason": "r"}, "DryRun": True}, "always an applying run"),
        ({"Revoke": {"Usernames": [], "Reason": "r"}}, "Revoke.Usernames"),
        ({"Revoke": {"Usernames": ["x"]}}, "Revoke.Reason"),
        ({"Revoke": {"Usernames": ["x"], "Reason": ""}}, "Revoke.Reason"),
        ({"Revoke": {"Usernames": ["x"], "Reason": "r", "Now": True}}, "Revoke.Now"),
        ({"Revoke": ["x"]}, "Revoke"),
    ],
)
def test_a_malformed_revoke_is_refused_naming_the_field(raw, names):
    with pytest.raises(InvalidInput, match=names):
        resolve(raw)


# Over the fakes: planning, the successor, the delete step, the page


class World:
    def __init__(self, usernames: list[str], rotate: bool) -> None:
        self.chime = FakeVoiceConnectors({VC: usernames})
        self.ledger = InMemoryLedger()
        for username in usernames:
            self.ledger.plant(VC, LedgerRecord(username, PRESENT, ago(3)))
        self.secrets = FakeConnectorSecrets()
        self.records = FakeRunRecords()
        policy = {
            "MaxAgeDays": 90,
            "MinKeep": 1,
            "ProtectedUsernames": [],
            "MaxDeletions": 20,
            "GraceDays": 7,
            "Rotate": rotate,
            "RotateAfterDays": 60,
            "UsernamePrefix": "sip-",
            "RevokeUsernames": ["leaked"],
            "RevokeReason": "found in a pastebin",
        }
        self.task = {"VoiceConnectorId": VC, "Policy": policy, "Now": NOW.isoformat(), "ExecutionArn": RUN}

    def run(self) -> tuple[Any, Any]:
        """Plan, issue when due (the four steps, as ApplyPlans does), delete: the plan and the outcome."""
        task = ConnectorTask.parse(self.task)
        summary, plan = plan_connector(
            task, self.chime, self.ledger, self.secrets, self.records, Fingerprints(b"k" * 32)
        )
        if summary.rotation.due:
            issue_successor(self.task, self.secrets, self.ledger, self.chime, NOW)
        request = DeletionRequest.parse(self.task | {"Plan": summary.record.to_wire()})
        _, outcome = retire_stale(request, self.chime, self.ledger, self.secrets, self.records, NOW)
        return plan, outcome


def test_revoking_the_last_credential_with_rotate_issues_a_successor_first():
    world = World(["leaked"], rotate=True)
    plan, outcome = world.run()
    assert plan.rotation.reason == RotationReason.REVOKED
    assert outcome.deleted == ("leaked",)
    (remaining,) = world.chime.connectors[VC]
    assert remaining.startswith("sip-")


def test_revoking_the_last_credential_without_rotate_leaves_it_for_a_person_and_pages():
    world = World(["leaked"], rotate=False)
    plan, outcome = world.run()
    assert plan.reasons == {"leaked": Reason.REVOKE_BLOCKED}
    assert outcome.deleted == ()
    assert world.chime.connectors[VC] == ["leaked"]
    report = {
        "ExecutionArn": RUN,
        "StartedAt": NOW.isoformat(),
        "DryRun": False,
        "Outcome": "SUCCEEDED",
        "Policy": {"RevokeUsernames": ["leaked"], "RevokeReason": "found in a pastebin"},
        "VoiceConnectors": [
            {
                "VoiceConnectorId": VC,
                "Reasons": {"leaked": "revoke-blocked"},
                "Deleted": [],
                "Error": None,
                "Counts": {},
            }
        ],
    }
    subject, message = page_for(report)
    assert subject == REVOKED
    assert message["Revoke"] == {
        "Reason": "found in a pastebin",
        "Patterns": 1,
        "VoiceConnectors": [
            {"VoiceConnectorId": VC, "Removed": 0, "NotRemoved": 0, "KeptAsLastCredential": 1, "Error": None}
        ],
    }
    assert "leaked" not in str(message["Revoke"]["VoiceConnectors"])


def test_revoking_one_of_several_needs_no_successor():
    world = World(["leaked", "pbx"], rotate=True)
    plan, outcome = world.run()
    assert plan.rotation.due is False
    assert outcome.deleted == ("leaked",)
    assert world.chime.connectors[VC] == ["pbx"]
