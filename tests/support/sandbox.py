"""Helpers for tests that run the real state machine in the sandbox (its fixtures: tests/conftest.py)."""

import json
from typing import Any

from credential_rotation.adapters.chime_pace import TRIES
from sandbox.session import Sandbox
from sandbox.template import REPOSITORY

OLD = 120  # days before the run: older than the default MaxAgeDays of 90
YOUNG = 10


def _throttles_past_every_retry() -> int:
    """Throttles in a row that outlast every retry of a Chime step: the pace's own tries in each invocation
    (adapters/chime_pace.py), in every invocation the state machine's two throttle retriers allow."""
    asl = json.loads((REPOSITORY / "statemachine" / "rotation.asl.json").read_text())
    step = asl["States"]["ApplyPlans"]["ItemProcessor"]["States"]["DeleteCredentials"]
    throttles = {"ThrottledClientException", "ChimeRateLimited"}
    invocations = 1 + sum(
        retry["MaxAttempts"] for retry in step["Retry"] if throttles & set(retry["ErrorEquals"])
    )
    return TRIES * invocations


THROTTLES_PAST_EVERY_RETRY = _throttles_past_every_retry()


class Fleet:
    """Voice connectors whose credentials got their ages by travelling in time through nightly runs."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.ids: dict[str, str] = {}

    def age(self, plan: dict[str, dict[str, list[str]]]) -> None:
        """plan: connector name -> {"old": [...], "young": [...]}; observed by scheduled runs."""
        for name, credentials in plan.items():
            self.ids[name] = self.sandbox.create_voice_connector(name, credentials.get("old", []))
        self.sandbox.fire_schedule()
        self.sandbox.travel(days=OLD - YOUNG)
        for name, credentials in plan.items():
            if credentials.get("young"):
                self.sandbox.put_credentials(self.ids[name], credentials["young"])
        self.sandbox.fire_schedule()
        self.sandbox.travel(days=YOUNG)
        self.sandbox.audit_messages()  # the observing runs' events are not what the tests look at
        self.sandbox.chime_backend.calls.clear()


def connector(event: dict, voice_connector_id: str) -> dict:
    """The one entry of an audit event or report for this voice connector."""
    (entry,) = [item for item in event["VoiceConnectors"] if item["VoiceConnectorId"] == voice_connector_id]
    return entry


def new_connector(chime: Any, usernames: tuple[str, ...] | list[str] = ()) -> str:
    """A voice connector made straight through a Chime SDK Voice client (no stack), with these usernames."""
    connector_id = chime.create_voice_connector(Name="pbx", RequireEncryption=True)["VoiceConnector"][
        "VoiceConnectorId"
    ]
    if usernames:
        chime.put_voice_connector_termination_credentials(
            VoiceConnectorId=connector_id,
            Credentials=[{"Username": name, "Password": f"secret-{name}"} for name in usernames],
        )
    return connector_id
