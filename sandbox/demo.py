"""`make demo`: the real state machine, end to end, offline, over 108 simulated days.

Three voice connectors get credentials of different ages (by travelling in time, not by writing ledger
rows), the nightly schedule observes them, then a person previews a run, runs it for real through
injected throttling and a service fault, and sends an input the workflow refuses. Then a full rotation:
a successor is issued into Secrets Manager, its predecessor is kept through the grace period, then retired.
Last (demo_evidence.py), the phone system's own calls decide: a predecessor still in use is kept and pages,
and retired once the PBX has switched; and a compromised credential is revoked. Then (demo_fleet.py) fleet
mode: one hub rotates three accounts in two Regions through their spoke roles.
"""

import json
import sys
from typing import Any, TextIO

from sandbox.demo_evidence import COMPROMISED, PREDECESSOR, evidence_acts, page_lines
from sandbox.demo_fleet import USERNAMES as FLEET_USERNAMES
from sandbox.demo_fleet import fleet_acts
from sandbox.report import print_run
from sandbox.session import Sandbox
from sandbox.template import REPOSITORY

FLEET = {
    "pbx-london": ["sip-london-2025", "break-glass-london"],
    "pbx-paris": ["sip-paris-2025"],
    "sbc-tokyo": ["sip-tokyo-2025a", "sip-tokyo-2025b"],
}
SUCCESSORS = {"pbx-london": ["sip-london-2026"], "sbc-tokyo": ["sip-tokyo-2026"]}
PARAMETERS = {"ProtectedUsernames": "break-glass-*"}


def event_file(name: str) -> Any:
    return json.loads((REPOSITORY / "events" / name).read_text())


class Demo:
    def __init__(self, sandbox: Sandbox, out: TextIO) -> None:
        self.sandbox = sandbox
        self.out = out
        self.ids: dict[str, str] = {}
        self.runs = 0

    def day(self) -> str:
        elapsed = self.sandbox.now() - self.sandbox.started_at
        return f"day {elapsed.days} ({self.sandbox.now():%Y-%m-%d})"

    def run(self, title: str, execution_input: Any = None, scheduled: bool = False) -> None:
        self.runs += 1
        waits_before = len(self.sandbox.retry_clock.waits)
        metrics_before = len(self.sandbox.metrics())
        execution = self.sandbox.fire_schedule() if scheduled else self.sandbox.run(execution_input)
        print_run(
            self.out,
            f"Run {self.runs}, {self.day()}: {title}",
            execution,
            self.sandbox.audit_messages(),
            self.sandbox.retry_clock.waits[waits_before:],
            self.sandbox.metrics()[metrics_before:],
        )

    def fleet(self, heading: str) -> None:
        self.out.write(f"\n--- {heading}, {self.day()}\n")
        for name, connector_id in self.ids.items():
            self.out.write(
                f"{name:<11} {connector_id}  {', '.join(sorted(self.sandbox.usernames(connector_id)))}\n"
            )

    def pages(self) -> None:
        """What the alerts topic received since the last look: the pages a person would get."""
        for line in page_lines(self.sandbox.alerts()):
            self.out.write(f"page     {line}\n")

    def secret_versions(self, connector_id: str) -> list[dict[str, Any]]:
        return list(self.sandbox.secret(connector_id).get("Versions", {}).values())

    def secrets(self, name: str) -> None:
        """The connector's secret as the phone-system team sees it; the demo prints no password."""
        self.out.write(f"\n--- Secret {self.sandbox.secret_name(self.ids[name])} ({name}), {self.day()}\n")
        for version in self.secret_versions(self.ids[name]):
            username = version["Username"] or "(enrolment: no credential issued yet)"
            self.out.write(f"{', '.join(version['Stages']) or 'no stage':<12} {username}\n")


def main(out: TextIO = sys.stdout, parameters: dict[str, str] | None = None) -> int:
    """``parameters`` add to the demo's own stack parameters (the log-hygiene test sets LogLevel DEBUG)."""
    parameters = PARAMETERS | (parameters or {})
    with Sandbox(parameters=parameters) as sandbox:
        demo = Demo(sandbox, out)
        out.write(
            "Offline sandbox: moto + Chime SDK Voice emulator; template.yaml deployed with "
            f"{parameters} (DryRun stays at its default, true)\n"
        )
        for name, usernames in FLEET.items():
            demo.ids[name] = sandbox.create_voice_connector(name, usernames)
        demo.fleet("Voice connectors created")
        demo.run("the nightly schedule meets the credentials for the first time", scheduled=True)

        sandbox.travel(days=60)
        for name, usernames in SUCCESSORS.items():
            sandbox.put_credentials(demo.ids[name], usernames)
        demo.fleet("The phone-system team adds successors")
        demo.run("the nightly schedule dates the successors", scheduled=True)

        sandbox.travel(days=40)
        demo.run("a person previews with events/dry-run.json", event_file("dry-run.json"))

        faults = sandbox.chime_backend.faults
        faults.script(
            "ListVoiceConnectorTerminationCredentials",
            ["ServiceUnavailableException"],
            voice_connector_id=demo.ids["pbx-paris"],
        )
        faults.script(
            "DeleteVoiceConnectorTerminationCredentials",
            ["ThrottledClientException", "ThrottledClientException"],
            voice_connector_id=demo.ids["sbc-tokyo"],
        )
        demo.run("events/rotate-all.json, through a 503 and two throttles", event_file("rotate-all.json"))
        demo.fleet("Credentials left")

        demo.run(
            "events/invalid-input.json is refused before anything is listed", event_file("invalid-input.json")
        )

        demo.run(
            "events/rotate-with-successors.json issues a successor", event_file("rotate-with-successors.json")
        )
        demo.secrets("pbx-paris")
        sandbox.travel(days=3)
        demo.run(
            "three days later the predecessor is in its grace period",
            event_file("rotate-with-successors.json"),
        )
        sandbox.travel(days=5)
        demo.run(
            "after the grace period the predecessor is retired", event_file("rotate-with-successors.json")
        )
        demo.fleet("Credentials left")
        demo.secrets("pbx-paris")

        evidence_acts(demo, event_file)
        fleet_acts(demo, event_file)

        usernames = {username for names in [*FLEET.values(), *SUCCESSORS.values()] for username in names}
        usernames |= {PREDECESSOR, COMPROMISED, *FLEET_USERNAMES}
        secrets = [demo.secret_versions(connector_id) for connector_id in demo.ids.values()]
        usernames |= {
            version["Username"] for versions in secrets for version in versions if version["Username"]
        }
        passwords = {
            version["Password"] for versions in secrets for version in versions if version["Password"]
        }
        leaked = [
            line
            for line in sandbox.function_logs.lines
            if any(text in line for text in usernames | passwords)
        ]
        out.write(
            f"\nFunction logs: {len(sandbox.function_logs.lines)} lines, {len(leaked)} with a plain username "
            f"or a password (usernames are logged as fingerprints only, passwords never)\n"
        )
        return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
