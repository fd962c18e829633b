"""When a connector gets a successor credential. Pure, like the staleness policy.

Rules of ``decide``, the first that applies:

- OFF: the run does not rotate (``Rotate`` is false).
- NO_CREDENTIALS: the connector has no credential. A connector without credentials requires no
  authentication, so its phone system sends none; issuing one would switch authentication on and stop
  its outbound calls. Rotation never enrols a connector: a person puts its first credential.
- RESUME: a successor was stored (AWSPENDING) by a run that did not finish; it is finished, not replaced,
  so a connector never gets a second successor.
- REVOKED: the run revokes the credential AWSCURRENT names, or every credential of the connector: the
  phone system is given a successor before the revoked ones go (the successor is issued before the
  delete step, which never leaves the connector without a credential).
- DUE: the youngest username is older than ``rotate_after_days`` days.
- NOT_DUE: otherwise.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RotationReason(StrEnum):
    OFF = "rotation-off"
    NO_CREDENTIALS = "no-credentials"
    RESUME = "resume-pending-successor"
    REVOKED = "revoking-the-current-or-last-credential"
    DUE = "youngest-older-than-rotate-after-days"
    NOT_DUE = "youngest-is-recent"


@dataclass(frozen=True)
class RotationDecision:
    due: bool
    reason: RotationReason


def decide(
    first_seen: Mapping[str, datetime],
    now: datetime,
    rotate: bool,
    rotate_after_days: int,
    pending: str | None = None,
    revoking_current_or_all: bool = False,
) -> RotationDecision:
    """``first_seen`` dates every listed username; ``pending`` names an unfinished successor, if any."""
    if rotate_after_days < 1:
        raise ValueError(f"rotate_after_days must be at least 1, got {rotate_after_days}")
    if not rotate:
        return RotationDecision(False, RotationReason.OFF)
    if not first_seen:
        return RotationDecision(False, RotationReason.NO_CREDENTIALS)
    if pending is not None:
        return RotationDecision(True, RotationReason.RESUME)
    if revoking_current_or_all:
        return RotationDecision(True, RotationReason.REVOKED)
    youngest_age = now - max(first_seen.values())
    if youngest_age > timedelta(days=rotate_after_days):
        return RotationDecision(True, RotationReason.DUE)
    return RotationDecision(False, RotationReason.NOT_DUE)
