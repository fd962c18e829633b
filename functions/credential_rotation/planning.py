"""Judge one connector's listing, and hold the whole run to its blast-radius cap."""

from collections.abc import Iterable, Mapping
from typing import Any

from credential_rotation.errors import DeletionLimitExceeded
from credential_rotation.models import ConnectorPlan, FindStaleRequest, RotationEntry
from credential_rotation.policy import judge
from credential_rotation.rotation_due import decide


def plan_connector(request: FindStaleRequest) -> ConnectorPlan:
    first_seen = {credential.username: credential.first_seen_at for credential in request.credentials}
    plan = judge(
        usernames=list(first_seen),
        first_seen=first_seen,
        now=request.now,
        settings=request.policy.settings(),
        current=request.current,
    )
    rotation = decide(
        first_seen,
        request.now,
        rotate=request.policy.rotate,
        rotate_after_days=request.policy.rotate_after_days,
        # A pending successor that is not on the connector is finished all the same: SetSecret puts it.
        pending=request.pending,
    )
    return ConnectorPlan(
        voice_connector_id=request.voice_connector_id,
        stale=plan.stale,
        reasons={verdict.username: verdict.reason for verdict in plan.verdicts},
        current=request.current,
        rotation=RotationEntry(due=rotation.due, reason=rotation.reason),
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
