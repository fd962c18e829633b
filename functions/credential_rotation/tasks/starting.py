"""Start a run: resolve its input against the stack's defaults, find its voice connectors, and take the
run lock when it may change them. A refusal is answered, not raised: the answer replaces the raw input in
the run's state (see the ASL), and the audit trail reports it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credential_rotation.domain.errors import InvalidInput, RunInProgress, TooManyVoiceConnectors
from credential_rotation.domain.models import ResolveRunRequest, Run
from credential_rotation.domain.settings import Settings
from credential_rotation.ports import RunLock, VoiceConnectors
from credential_rotation.tasks.run_input import refusal_context, resolve_run

# What refuses a run before anything is listed; any other error fails the task (and is retried or caught).
REFUSALS = (InvalidInput, TooManyVoiceConnectors, RunInProgress)


@dataclass(frozen=True)
class Refusal:
    """A run refused before anything was listed: its error, and the Trigger and DryRun it reports."""

    error: str
    cause: str
    trigger: str
    dry_run: bool

    def to_wire(self) -> dict[str, Any]:
        return {
            "Refused": {"Error": self.error, "Cause": self.cause},
            "Trigger": self.trigger,
            "DryRun": self.dry_run,
        }


def start_run(
    request: ResolveRunRequest,
    settings: Settings,
    connectors: VoiceConnectors,
    lock: RunLock,
    now: datetime,
) -> Run | Refusal:
    try:
        run = resolve_run(
            raw_input=request.input,
            execution_arn=request.execution_arn,
            started_at=request.started_at,
            settings=settings,
            list_voice_connector_ids=connectors.voice_connector_ids,
        )
        if not run.dry_run:
            lock.acquire(run.execution_arn, now)
    except REFUSALS as refusal:
        trigger, dry_run = refusal_context(request.input, settings.default_dry_run)
        return Refusal(type(refusal).__name__, str(refusal), trigger, dry_run)
    return run
