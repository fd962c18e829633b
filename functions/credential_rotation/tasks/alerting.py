"""The page a run sends PublishAudit's way, from its report: what a person must act on, on the alerts topic
(the audit event is a record for every run; an alert asks someone to do something). One page per run, its
subject the most urgent of what it holds: a deletion that broke calls, a revoke, a phone system that has
not switched, deletions held for stale evidence.

- The phone system has not switched: AWSCURRENT names a successor this workflow issued more than
  GraceDays ago, and the PBX still authenticates calls with an older username. The page names the
  connector, the fingerprints of the usernames still calling (the logs and the report key them the same
  way) and the secret where the phone team reads the new credential.
- Evidence stale: the call-record index could not be trusted, and deletions were held (evidence-stale):
  the page says why, so the index is repaired before the credentials it protects grow old.
- Broken by a deletion: the rollback watch saw a connector's outbound failures or SIP 4xx rise after the
  run deleted on it; the page says what rose and how many credentials were put back, and how many could
  not be (not issued by this workflow, or their version is gone): those a person must restore.
- Revoked: every run with a Revoke pages, whatever happened: per connector how many were removed, how
  many were kept because they were its last credential and no successor came (revoke-blocked), and its
  error. The usernames are in the report the page points to, never in the page.

A fleet run pages the same way from its report: each connector is also named by its ``Target``
(``<account>/<Region>``), and each list holds at most MAX_PAGED_CONNECTORS connectors, with its full
length in ``<list>Count`` when it was cut, so that a page of thousands of connectors still fits one SNS
message (single-account mode's runs are capped at 100 connectors and are never cut).
"""

from collections.abc import Mapping
from typing import Any

from credential_rotation.domain.evidence import EvidenceState

# Fingerprints named per connector in a page; the report names them all.
MAX_PAGED_FINGERPRINTS = 10
# Connectors named per list in a page (the report names them all): a page must fit one SNS message.
MAX_PAGED_CONNECTORS = 100
NOT_SWITCHED = "The phone system has not switched to its new SIP credential"
EVIDENCE_STALE = "Credential deletions held: the call-record evidence is stale"
REVOKED = "SIP credentials revoked"
BROKEN = "A credential deletion broke outbound calls"


def page_for(
    report: Mapping[str, Any], location: Mapping[str, Any] | None = None, outcome: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """(subject, message) of the page this run calls for, or None. ``outcome``: the run's, when its report
    does not hold it (a fleet run's is decided with its event)."""
    not_switched, stale, broken = [], [], []
    policy = report.get("Policy") or {}
    revoke = _revoke_section(report, policy) if policy.get("RevokeUsernames") else None
    for entry in report["VoiceConnectors"]:
        where = _where(entry)
        evidence = entry.get("Evidence") or {}
        if evidence.get("NotSwitched"):
            not_switched.append(
                where
                | {
                    "VoiceConnectorId": entry["VoiceConnectorId"],
                    "StillCalling": evidence["NotSwitched"][:MAX_PAGED_FINGERPRINTS],
                    "StillCallingCount": len(evidence["NotSwitched"]),
                    "SuccessorSecret": evidence.get("SuccessorSecret"),
                }
            )
        watch = entry.get("Watch") or {}
        if watch.get("Verdict") == "broken" or (watch and watch.get("Error")):
            broken.append(
                where
                | {
                    "VoiceConnectorId": entry["VoiceConnectorId"],
                    "Verdict": watch.get("Verdict"),
                    "Signals": watch.get("Signals", []),
                    "Restored": len(watch.get("Restored", [])),
                    "NotRestorable": len(watch.get("NotRestorable", [])),
                    "Error": (watch.get("Error") or {}).get("Error"),
                }
            )
        held = (entry.get("Counts") or {}).get("evidence-stale", 0)
        if evidence.get("State") == EvidenceState.STALE and held:
            stale.append(
                where
                | {"VoiceConnectorId": entry["VoiceConnectorId"], "Why": evidence.get("Why"), "Held": held}
            )
    if not (broken or revoke or not_switched or stale):
        return None
    subject = BROKEN if broken else REVOKED if revoke else NOT_SWITCHED if not_switched else EVIDENCE_STALE
    return subject, {
        "ExecutionArn": report["ExecutionArn"],
        "StartedAt": report["StartedAt"],
        "DryRun": report["DryRun"],
        "Outcome": outcome or report["Outcome"],
        "Report": dict(location) if location else None,
        **_capped("Broken", broken),
        "Revoke": revoke,
        **_capped("NotSwitched", not_switched),
        **_capped("EvidenceStale", stale),
    }


def _where(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A fleet connector's account and Region (single-account mode's entries have neither)."""
    return {"Target": f"{entry['Account']}/{entry['Region']}"} if "Account" in entry else {}


def _capped(name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    capped: dict[str, Any] = {name: items[:MAX_PAGED_CONNECTORS]}
    if len(items) > MAX_PAGED_CONNECTORS:
        capped[f"{name}Count"] = len(items)
    return capped


def _revoke_section(report: Mapping[str, Any], policy: Mapping[str, Any]) -> dict[str, Any]:
    connectors = []
    for entry in report["VoiceConnectors"]:
        reasons = entry.get("Reasons") or {}
        revoked = {username for username, reason in reasons.items() if reason == "revoked"}
        blocked = sum(1 for reason in reasons.values() if reason == "revoke-blocked")
        error = entry.get("Error")
        if revoked or blocked or error:
            connectors.append(
                _where(entry)
                | {
                    "VoiceConnectorId": entry["VoiceConnectorId"],
                    "Removed": len(revoked & set(entry.get("Deleted") or [])),
                    "NotRemoved": len(revoked - set(entry.get("Deleted") or [])),
                    "KeptAsLastCredential": blocked,
                    "Error": (error or {}).get("Error"),
                }
            )
    return {
        "Reason": policy.get("RevokeReason"),
        "Patterns": len(policy["RevokeUsernames"]),
        **_capped("VoiceConnectors", connectors),
    }
