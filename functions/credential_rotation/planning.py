"""Judge one connector's listing, and hold the whole run to its blast-radius cap."""

from collections.abc import Iterable, Mapping
from typing import Any

from credential_rotation.errors import DeletionLimitExceeded
from credential_rotation.models import ConnectorPlan, FindStaleRequest, VerdictEntry
from credential_rotation.policy import judge


def plan_connector(request: FindStaleRequest) -> ConnectorPlan:
    plan = judge(
        usernames=[credential.username for credential in request.credentials],
        first_seen={credential.username: credential.first_seen_at for credential in request.credentials},
        now=request.now,
        settings=request.policy.settings(),
    )
    return ConnectorPlan(
        voice_connector_id=request.voice_connector_id,
        listed=tuple(verdict.username for verdict in plan.verdicts),
        stale=plan.stale,
        kept=plan.kept,
        verdicts=tuple(
            VerdictEntry(
                username=verdict.username,
                reason=verdict.reason,
                first_seen_at=verdict.first_seen,
                age_days=verdict.age_days,
            )
            for verdict in plan.verdicts
        ),
    )


def enforce_deletion_limit(plans: Iterable[Mapping[str, Any]], max_deletions: int) -> int:
    """Refuse the run when its plans together exceed MaxDeletions; return the planned count otherwise.

    A connector whose planning failed carries no Stale list and adds nothing.
    """
    planned = sum(len(plan.get("Stale", ())) for plan in plans)
    if planned > max_deletions:
        raise DeletionLimitExceeded(
            f"the plan deletes {planned} usernames and MaxDeletions is {max_deletions}: nothing was deleted"
        )
    return planned
