import pytest

from sandbox.session import Sandbox

OLD = 120  # days before the run: older than the default MaxAgeDays of 90
YOUNG = 10


@pytest.fixture
def sandbox():
    with Sandbox(jitter="max") as session:
        yield session


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


@pytest.fixture
def fleet(sandbox) -> Fleet:
    return Fleet(sandbox)


def connector(event: dict, voice_connector_id: str) -> dict:
    (entry,) = [item for item in event["VoiceConnectors"] if item["VoiceConnectorId"] == voice_connector_id]
    return entry
