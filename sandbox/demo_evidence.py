"""The demo's second part: the phone system's own calls decide, and a revoke.

A new voice connector, pbx-berlin, whose PBX places a few calls every day; each call writes a call detail
record to the account's CDR bucket, and the indexing queue is drained into the indexer as Lambda would.
The workflow issues a successor; the PBX keeps calling with the old credential past the grace period (it
is kept in use, and the alerts topic is paged: the phone system has not switched); then the PBX switches
to the credential in the secret, the old one goes quiet and is retired before MaxAgeDays. Last, a
compromised credential is revoked with events/revoke.json.
"""

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.demo import Demo

PREDECESSOR = "sip-berlin-2025"
COMPROMISED = "pbx-trunk-2024"
CALLS_A_DAY = 3


class Pbx:
    """The phone system behind one connector: one configured credential, a few outbound calls a day."""

    def __init__(self, demo: "Demo", name: str, username: str, password: str) -> None:
        self.demo = demo
        self.connector = demo.ids[name]
        self.username, self.password = username, password

    def configure(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def live(self, days: int) -> None:
        """``days`` days of calls, each day's records indexed as they arrive."""
        sandbox = self.demo.sandbox
        for _ in range(days):
            sandbox.travel(days=1)
            for hour in range(CALLS_A_DAY):
                sandbox.phone.call(
                    self.connector, self.username, self.password, at=sandbox.now() - timedelta(hours=hour + 1)
                )
            sandbox.index_call_records()


def evidence_acts(demo: "Demo", event_file: Any) -> None:
    sandbox, out = demo.sandbox, demo.out
    sandbox.alerts()  # the earlier runs' pages were shown with them
    demo.ids["pbx-berlin"] = sandbox.create_voice_connector("pbx-berlin", [PREDECESSOR])
    berlin = demo.ids["pbx-berlin"]
    pbx = Pbx(demo, "pbx-berlin", PREDECESSOR, f"pw-{PREDECESSOR}-0123456789")
    evidence = event_file("evidence.json") | {"VoiceConnectorIds": [berlin]}
    out.write(
        "\n--- Evidence: pbx-berlin's PBX places a few calls a day; each writes a call detail record that "
        "the indexer counts (QuietDays 14 in events/evidence.json)\n"
    )
    pbx.live(days=1)
    demo.run("events/evidence.json meets pbx-berlin's credential (in use: it called today)", evidence)
    pbx.live(days=2)
    # RotateAfterDays 1 for this run only: the successor is due now, not in sixty days.
    demo.run(
        "events/evidence.json with RotateAfterDays 1 issues pbx-berlin a successor",
        evidence | {"RotateAfterDays": 1},
    )
    demo.secrets("pbx-berlin")

    pbx.live(days=10)
    demo.run("ten days on, past the grace period, the PBX still calls with the predecessor", evidence)
    demo.pages()
    demo.fleet("Credentials left (the predecessor is kept: in-use)")

    current = sandbox.secret(berlin)["AWSCURRENT"]
    pbx.configure(current["Username"], current["Password"])
    out.write(
        f"\n--- The phone team reads AWSCURRENT and switches the PBX to {current['Username']}, {demo.day()}\n"
    )
    pbx.live(days=15)
    demo.run("fifteen quiet days later the predecessor is retired, before MaxAgeDays (switched)", evidence)
    demo.fleet("Credentials left")

    sandbox.put_credentials(demo.ids["pbx-paris"], [COMPROMISED])
    sandbox.put_credentials(berlin, [COMPROMISED])
    demo.fleet(f"{COMPROMISED} is found in a public ticket; it is on two connectors")
    demo.run("events/revoke.json removes it now, wherever it is", event_file("revoke.json"))
    demo.pages()
    demo.fleet("Credentials left")


def page_lines(messages: list[str]) -> list[str]:
    """The pages of the alerts topic, one compact line each (the page holds no username)."""
    lines = []
    for message in messages:
        try:
            body = json.loads(message)
        except ValueError:
            lines.append(message)
            continue
        sections = {
            key: value
            for key, value in body.items()
            if key in ("Broken", "Revoke", "NotSwitched", "EvidenceStale") and value
        }
        lines.append(json.dumps(sections, separators=(",", ":")) if sections else json.dumps(body)[:300])
    return lines
