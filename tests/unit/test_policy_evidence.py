"""The policy with call-record evidence (QuietDays): in use is never deleted, a switched predecessor may go
early, stale evidence holds, and a connector whose calls name no username is judged by the timer alone."""

from datetime import UTC, datetime, timedelta

import pytest

from credential_rotation.domain.evidence import (
    OFF,
    ConnectorCalls,
    Evidence,
    EvidenceState,
    IndexState,
    Usage,
    assess,
)
from credential_rotation.domain.policy import PolicySettings, Reason, confirm_deletions, judge

NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)
LAG = timedelta(hours=24)
EVIDENCE_ON = PolicySettings(max_age_days=90, min_keep=1, grace_days=7, quiet_days=14)
SWITCHING = PolicySettings(
    max_age_days=90, min_keep=1, grace_days=7, quiet_days=14, retire_when_switched=True
)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def fresh(since_days: float = 60, **last_used_days_ago: float) -> Evidence:
    """Fresh evidence covering ``since_days``, with each username's last call ``days`` ago."""
    calls = ConnectorCalls({name: Usage(ago(days), 3) for name, days in last_used_days_ago.items()})
    return Evidence(EvidenceState.FRESH, since=ago(since_days), calls=calls)


def reasons(plan):
    return {verdict.username: verdict.reason for verdict in plan.verdicts}


# In use


def test_a_username_used_within_quiet_days_is_in_use_whatever_its_age_grace_or_min_keep():
    dates = {"old": ago(400), "older": ago(500), "new": ago(30)}
    plan = judge(dates, dates, NOW, EVIDENCE_ON, evidence=fresh(old=13.9, older=2))
    assert reasons(plan) == {"old": Reason.IN_USE, "older": Reason.IN_USE, "new": Reason.YOUNG}
    assert plan.stale == ()


def test_without_evidence_the_same_connector_loses_both_old_usernames():
    dates = {"old": ago(400), "older": ago(500), "new": ago(30)}
    assert set(judge(dates, dates, NOW, EVIDENCE_ON).stale) == {"old", "older"}


def test_a_username_quiet_for_longer_than_quiet_days_is_judged_by_the_timer():
    dates = {"old": ago(400), "new": ago(30)}
    plan = judge(dates, dates, NOW, EVIDENCE_ON, evidence=fresh(old=14.1, new=1))
    assert plan.stale == ("old",)


def test_current_and_protected_come_before_in_use():
    dates = {"cur": ago(400), "svc": ago(400), "x": ago(10)}
    settings = PolicySettings(max_age_days=90, min_keep=1, quiet_days=14, protected_patterns=("svc",))
    plan = judge(dates, dates, NOW, settings, current="cur", evidence=fresh(cur=1, svc=1))
    assert reasons(plan)["cur"] is Reason.CURRENT
    assert reasons(plan)["svc"] is Reason.PROTECTED


def test_quiet_days_zero_ignores_whatever_evidence_is_passed():
    dates = {"old": ago(400), "new": ago(30)}
    settings = PolicySettings(max_age_days=90, min_keep=1, grace_days=7)
    assert judge(dates, dates, NOW, settings, evidence=fresh(old=1)).stale == ("old",)


def test_a_call_indexed_after_the_run_began_counts_as_in_use():
    dates = {"old": ago(400), "new": ago(30)}
    later = Evidence(
        EvidenceState.FRESH, since=ago(60), calls=ConnectorCalls({"old": Usage(NOW + timedelta(hours=1), 1)})
    )
    assert reasons(judge(dates, dates, NOW, EVIDENCE_ON, evidence=later))["old"] is Reason.IN_USE


# Retire when switched


def test_a_young_predecessor_quiet_while_its_successor_calls_is_retired_early():
    dates = {"pred": ago(40), "succ": ago(20)}
    plan = judge(dates, dates, NOW, SWITCHING, evidence=fresh(pred=15, succ=0.5))
    assert plan.stale == ("pred",)
    assert plan.switched == ("pred",)


@pytest.mark.parametrize(
    ("why", "settings", "evidence"),
    [
        ("not switched on", EVIDENCE_ON, fresh(pred=15, succ=0.5)),
        ("the predecessor called within QuietDays (in use)", SWITCHING, fresh(pred=13, succ=0.5)),
        ("the successor never called", SWITCHING, fresh(pred=15)),
        (
            "the evidence covers less than QuietDays and the predecessor never called",
            SWITCHING,
            fresh(10, succ=1),
        ),
        ("the evidence is stale", SWITCHING, Evidence(EvidenceState.STALE, why="lag")),
        (
            "the calls name no username",
            SWITCHING,
            Evidence(EvidenceState.NO_AUTH_USER, calls=ConnectorCalls({}, 5)),
        ),
    ],
)
def test_a_young_predecessor_is_kept_unless_the_evidence_shows_the_switch(why, settings, evidence):
    dates = {"pred": ago(40), "succ": ago(20)}
    plan = judge(dates, dates, NOW, settings, evidence=evidence)
    assert reasons(plan)["pred"] in (Reason.YOUNG, Reason.IN_USE), why
    assert (plan.stale, plan.switched) == ((), ()), why


def test_a_predecessor_never_seen_in_a_call_is_switched_once_the_evidence_covers_quiet_days():
    dates = {"pred": ago(40), "succ": ago(20)}
    assert judge(dates, dates, NOW, SWITCHING, evidence=fresh(30, succ=1)).switched == ("pred",)


def test_min_keep_still_holds_for_a_switched_predecessor():
    dates = {"pred": ago(40), "succ": ago(20)}
    settings = PolicySettings(max_age_days=90, min_keep=2, quiet_days=14, retire_when_switched=True)
    plan = judge(dates, dates, NOW, settings, evidence=fresh(pred=15, succ=0.5))
    assert reasons(plan)["pred"] is Reason.KEPT_FOR_MIN_KEEP
    assert plan.switched == ()


def test_a_switched_predecessor_needs_no_grace_the_successor_calls_prove_it_arrived():
    dates = {"pred": ago(40), "succ": ago(3)}  # succ younger than GraceDays 7
    plan = judge(dates, dates, NOW, SWITCHING, evidence=fresh(pred=15, succ=0.5))
    assert plan.stale == ("pred",)


def test_the_successor_that_calls_must_rank_younger():
    # "a" called recently; "b" is quiet, but "a" is OLDER than "b": "b" is not the one that was switched from.
    dates = {"a": ago(60), "b": ago(30)}
    plan = judge(dates, dates, NOW, SWITCHING, evidence=fresh(a=1, b=20))
    assert reasons(plan) == {"a": Reason.IN_USE, "b": Reason.YOUNG}


# Stale evidence and no evidence


def test_stale_evidence_holds_what_the_timer_would_delete_and_nothing_else_changes():
    dates = {"old": ago(400), "mid": ago(100), "new": ago(30)}
    stale = Evidence(EvidenceState.STALE, why="lag")
    with_stale = reasons(judge(dates, dates, NOW, EVIDENCE_ON, evidence=stale))
    without = reasons(judge(dates, dates, NOW, EVIDENCE_ON))
    assert with_stale == {
        username: Reason.EVIDENCE_STALE if reason is Reason.STALE else reason
        for username, reason in without.items()
    }
    assert Reason.EVIDENCE_STALE in with_stale.values()


def test_no_sip_auth_user_falls_back_to_the_timer():
    dates = {"old": ago(400), "new": ago(30)}
    none = Evidence(EvidenceState.NO_AUTH_USER, calls=ConnectorCalls({}, 12))
    assert judge(dates, dates, NOW, EVIDENCE_ON, evidence=none).stale == ("old",)


def test_the_delete_step_keeps_a_username_that_called_since_planning():
    dates = {"old": ago(400), "new": ago(30)}
    planned = judge(dates, dates, NOW, EVIDENCE_ON, evidence=fresh(new=1)).stale
    assert planned == ("old",)
    assert confirm_deletions(planned, dates, dates, NOW, EVIDENCE_ON, evidence=fresh(old=0.1, new=1)) == ()
    assert (
        confirm_deletions(planned, dates, dates, NOW, EVIDENCE_ON, evidence=Evidence(EvidenceState.STALE))
        == ()
    )
    assert confirm_deletions(planned, dates, dates, NOW, EVIDENCE_ON, evidence=fresh(new=1)) == ("old",)


# Assessing the index


RECENT = ago(0.1)


def index(newest: datetime | None = RECENT, **more) -> IndexState:
    return IndexState(newest_call_at=newest, indexed_at=newest, covers_since=ago(60), **more)


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (None, "no call detail record has been indexed yet"),
        (index(newest=None), "no call detail record has been indexed yet"),
        (index(failed_records=3), "3 call detail records failed to index"),
        (index(backfill_pending=2), "the backfill has 2 days of records still to index"),
        (index(newest=ago(1.5)), "started 36 hours before the run, more than the 24 hours allowed"),
    ],
)
def test_the_index_is_stale_when_empty_failing_backfilling_or_lagging(state, why):
    evidence = assess(state, ConnectorCalls({"u": Usage(ago(1), 1)}), NOW, LAG)
    assert evidence.state is EvidenceState.STALE
    assert why in evidence.why
    assert not evidence.decisive


def test_a_current_index_is_fresh_and_covers_from_its_start():
    evidence = assess(index(), ConnectorCalls({"u": Usage(ago(1), 1)}), NOW, LAG)
    assert (evidence.state, evidence.since) == (EvidenceState.FRESH, ago(60))
    assert evidence.last_used("u") == ago(1)
    assert evidence.last_used("other") is None


def test_a_connector_whose_calls_carry_no_username_has_no_evidence():
    assert assess(index(), ConnectorCalls({}, 40), NOW, LAG).state is EvidenceState.NO_AUTH_USER
    # Calls with and without a username: the named ones are evidence.
    assert assess(index(), ConnectorCalls({"u": Usage(ago(1), 1)}, 40), NOW, LAG).state is EvidenceState.FRESH
    # No calls at all: fresh, and every username is unused.
    assert assess(index(), ConnectorCalls(), NOW, LAG).state is EvidenceState.FRESH


def test_off_is_not_decisive():
    assert not OFF.decisive
    assert OFF.last_used("u") is None
