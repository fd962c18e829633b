"""Read a connector's call-record evidence for a run: the index's watermark, the dead-letter queue's
depth and the connector's usage, judged by domain/evidence.py.

Evidence is read only when the run's policy asks for it (QuietDays above 0). A row of the index that
cannot be read makes the connector's evidence stale, never absent: a username whose row is unreadable may
be the one in use.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from credential_rotation.domain.errors import MalformedIndexRow
from credential_rotation.domain.evidence import OFF, Evidence, EvidenceState, assess
from credential_rotation.domain.models import Policy
from credential_rotation.ports import IndexingQueue, UsageIndex


@dataclass(frozen=True)
class EvidenceReader:
    index: UsageIndex
    queue: IndexingQueue

    def read(self, voice_connector_id: str, policy: Policy, now: datetime) -> Evidence:
        if policy.quiet_days == 0:
            return OFF
        try:
            state = self.index.state()
            calls = self.index.calls(voice_connector_id)
        except MalformedIndexRow as error:
            return Evidence(EvidenceState.STALE, why=str(error))
        if state is not None:
            state = replace(state, failed_records=self.queue.failed_records())
        return assess(state, calls, now, timedelta(hours=policy.evidence_max_lag_hours))
