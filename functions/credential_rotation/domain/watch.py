"""Did a deletion break the connector? The rollback watch's judgement, pure.

After a run deletes credentials on a connector, the workflow waits ``WatchMinutes`` and compares the
connector's outbound calls in that window with its own baseline (the week before the run): the CloudWatch
metrics ``AWS/ChimeVoiceConnector`` publishes per ``VoiceConnectorId`` (OutboundCallAttempts,
OutboundCallFailures, Sip4xxCodes). A deleted credential the phone system still used shows as outbound
calls failing, and SIP 4xx answers (401/403/407: authentication refused) rising.

A signal needs both an absolute floor (``MIN_FAILURES`` calls, so that one unlucky call is not a page) and
a rise against the baseline (at least twice the baseline's share, and ``MIN_RISE`` above it), so that a
connector that always fails some calls is not rolled back for doing what it always does. No traffic in
the window proves nothing either way: the verdict is "quiet", and the page says so.

The metrics name no username: which deleted credential the failing calls tried is not known. So a broken
verdict restores every credential of the run's deletions on that connector that this workflow can restore.
"""

from dataclasses import dataclass
from enum import StrEnum

MIN_FAILURES = 3
MIN_RISE = 0.10


@dataclass(frozen=True)
class CallCounts:
    """Outbound calls of one connector over a window, as the metrics count them."""

    attempts: int
    failures: int
    sip_4xx: int

    def share(self, count: int) -> float:
        return count / self.attempts if self.attempts else 0.0


class WatchVerdict(StrEnum):
    HEALTHY = "healthy"
    BROKEN = "broken"
    # No outbound attempt in the window: nothing to judge by.
    QUIET = "quiet"


@dataclass(frozen=True)
class Judgement:
    verdict: WatchVerdict
    # Which signals rose, e.g. "outbound-failures", "sip-4xx".
    signals: tuple[str, ...] = ()


def judge_watch(watched: CallCounts, baseline: CallCounts) -> Judgement:
    if watched.attempts == 0:
        return Judgement(WatchVerdict.QUIET)
    signals = tuple(
        name
        for name, now, before in (
            ("outbound-failures", watched.failures, baseline.failures),
            ("sip-4xx", watched.sip_4xx, baseline.sip_4xx),
        )
        if _rose(now, watched, before, baseline)
    )
    return Judgement(WatchVerdict.BROKEN if signals else WatchVerdict.HEALTHY, signals)


def _rose(count: int, watched: CallCounts, baseline_count: int, baseline: CallCounts) -> bool:
    if count < MIN_FAILURES:
        return False
    share, usual = watched.share(count), baseline.share(baseline_count)
    return share >= 2 * usual and share - usual >= MIN_RISE
