"""Runs the real state machine and checks the rotation invariants after every run.

The checks use only what a person could observe from outside: the connectors' listings before and after
the run, the connector's secret, the run's audit event and its report. They never read the ledger or the
code's own helpers, so a wrong helper cannot confirm itself.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sandbox.executions import Execution
from sandbox.session import Sandbox


@dataclass
class RotationWatch:
    sandbox: Sandbox
    grace_days: int = 7
    username_prefix: str = "sip-"
    protected: tuple[str, ...] = ()
    connectors: dict[str, str] = field(default_factory=dict)  # name -> id
    # When each username was first seen on its connector, from outside: its seeding, or the start of the
    # run after which it appeared (a lower bound of when it really appeared).
    appeared: dict[tuple[str, str], datetime] = field(default_factory=dict)
    issued: Counter = field(default_factory=Counter)
    runs: int = 0
    checks: int = 0
    events: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)

    def add_connector(self, name: str, usernames: list[str]) -> str:
        connector_id = self.sandbox.create_voice_connector(name, usernames)
        self.connectors[name] = connector_id
        for username in usernames:
            self.appeared[(connector_id, username)] = self.sandbox.now()
        return connector_id

    def put(self, name: str, usernames: list[str]) -> None:
        self.sandbox.put_credentials(self.connectors[name], usernames)
        for username in usernames:
            self.appeared.setdefault((self.connectors[name], username), self.sandbox.now())

    def listing(self) -> dict[str, set[str]]:
        return {vc: set(self.sandbox.usernames(vc)) for vc in self.connectors.values()}

    def run(self, execution_input: dict | None = None) -> tuple[Execution, dict]:
        before = self.listing()
        started = self.sandbox.now()
        execution = (
            self.sandbox.fire_schedule() if execution_input is None else self.sandbox.run(execution_input)
        )
        (event,) = self.sandbox.audit_events()
        after = self.listing()
        self.runs += 1
        self.events.append(event)
        self.reports.append(self.sandbox.report(event))
        for vc in self.connectors.values():
            for username in after[vc] - before[vc]:
                self.appeared.setdefault((vc, username), started)
            self._check(vc, before[vc], after[vc], started, event)
        return execution, event

    def entry(self, event: dict, voice_connector_id: str) -> dict:
        (entry,) = [
            item for item in event["VoiceConnectors"] if item["VoiceConnectorId"] == voice_connector_id
        ]
        return entry

    def reasons(self, voice_connector_id: str) -> dict[str, str]:
        """Every username's reason on the connector, from the last run's report."""
        return self.entry(self.reports[-1], voice_connector_id)["Reasons"]

    def _check(self, vc: str, before: set[str], after: set[str], started: datetime, event: dict) -> None:
        entry = self.entry(event, vc)
        secret = self.sandbox.secret(vc)
        current = secret.get("AWSCURRENT", {}).get("Username")

        # A connector that had a credential keeps one: authentication is never switched off.
        if before:
            self._expect(bool(after), f"{vc} was left with no credential")
        # AWSCURRENT, when it names a credential, names one the connector has.
        if current is not None:
            self._expect(current in after, f"{vc}: AWSCURRENT {current} is not on the connector")
        # Every credential the workflow issued and left on the connector is named by a secret version.
        named = {version["Username"] for version in secret.get("Versions", {}).values()}
        for username in after:
            if username.startswith(self.username_prefix):
                self._expect(username in named, f"{vc}: {username} is named by no secret version")
        removed, added = before - after, after - before
        for username in removed:
            # Nothing deleted before a younger credential had existed for the grace period...
            mine = self.appeared[(vc, username)]
            settled = [
                other
                for other in after
                if self.appeared[(vc, other)] > mine
                and started - self.appeared[(vc, other)] >= timedelta(days=self.grace_days)
            ]
            self._expect(bool(settled), f"{vc}: {username} deleted before a successor's grace passed")
            # ...nor a protected one, nor the one AWSCURRENT named.
            self._expect(
                not any(fnmatchcase(username, pattern) for pattern in self.protected),
                f"{vc}: protected {username} deleted",
            )
            self._expect(username != entry["Current"], f"{vc}: AWSCURRENT {username} deleted")
        # Every change appears in the run's audit event: a deletion in Deleted (or, when the delete step
        # failed without an answer, in Unconfirmed), an addition in Issued.
        self._expect(
            removed <= set(entry["Deleted"]) | set(entry["Unconfirmed"]),
            f"{vc}: a deletion missing from the audit",
        )
        issued = entry["Issued"]["Username"] if entry["Issued"] else None
        self._expect(added <= {issued}, f"{vc}: a credential appeared that the audit does not report")
        if issued is not None and issued in added:
            self.issued[(vc, issued)] += 1

    def _expect(self, condition: bool, message: str) -> None:
        self.checks += 1
        assert condition, message

    def issued_once(self) -> None:
        """Each issued username appeared on its connector in exactly one run."""
        self._expect(
            all(count == 1 for count in self.issued.values()), f"issued more than once: {self.issued}"
        )
