"""Pages about the call-record evidence, from a run's report: what a person must act on, on the alerts
topic (the audit event is a record for every run; an alert asks someone to do something).

- The phone system has not switched: AWSCURRENT names a successor this workflow issued more than
  GraceDays ago, and the PBX still authenticates calls with an older username. The page names the
  connector, the fingerprints of the usernames still calling (the logs and the report key them the same
  way) and the secret where the phone team reads the new credential.
- Evidence stale: the call-record index could not be trusted, and deletions were held (evidence-stale):
  the page says why, so the index is repaired before the credentials it protects grow old.
"""

from collections.abc import Mapping
from typing import Any

from credential_rotation.domain.evidence import EvidenceState

# Fingerprints named per connector in a page; the report names them all.
MAX_PAGED_FINGERPRINTS = 10
NOT_SWITCHED = "The phone system has not switched to its new SIP credential"
EVIDENCE_STALE = "Credential deletions held: the call-record evidence is stale"


def evidence_page(report: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(subject, message) of the page this run calls for, or None."""
    not_switched, stale = [], []
    for entry in report["VoiceConnectors"]:
        evidence = entry.get("Evidence") or {}
        if evidence.get("NotSwitched"):
            not_switched.append(
                {
                    "VoiceConnectorId": entry["VoiceConnectorId"],
                    "StillCalling": evidence["NotSwitched"][:MAX_PAGED_FINGERPRINTS],
                    "StillCallingCount": len(evidence["NotSwitched"]),
                    "SuccessorSecret": evidence.get("SuccessorSecret"),
                }
            )
        held = (entry.get("Counts") or {}).get("evidence-stale", 0)
        if evidence.get("State") == EvidenceState.STALE and held:
            stale.append(
                {"VoiceConnectorId": entry["VoiceConnectorId"], "Why": evidence.get("Why"), "Held": held}
            )
    if not (not_switched or stale):
        return None
    subject = NOT_SWITCHED if not_switched else EVIDENCE_STALE
    return subject, {
        "ExecutionArn": report["ExecutionArn"],
        "StartedAt": report["StartedAt"],
        "DryRun": report["DryRun"],
        "NotSwitched": not_switched,
        "EvidenceStale": stale,
    }
