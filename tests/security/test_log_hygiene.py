"""The whole `make demo`, with every log line captured: none may hold a password or a plain username. (The
demo's own report is checked here too: the demo runs once per log level, and no more.)

What counts as a log line, everything a deployed stack would write to CloudWatch Logs:
- every record of every logger in the process (the functions', boto3's, the SDK's, the sandbox's own),
  taken in ``Logger.callHandlers`` so that loggers which do not propagate to the root are seen too;
- the functions' Powertools output, as the sandbox's FunctionLogs keeps it (what CloudWatch would hold);
- what the Lambda runtime itself logs for an unhandled exception (its type, message and traceback);
- whatever reaches stdout or stderr (a function's prints, Powertools metrics' EMF lines among them, land
  in FunctionLogs as in Lambda; the rest is captured here).

The levels: the demo runs twice, once as deployed by default (LogLevel INFO, every record at INFO and above
captured) and once with the template's LogLevel DEBUG, which sets Lambda's advanced logging controls
(LoggingConfig ApplicationLogLevel and SystemLogLevel DEBUG, JSON). The Python runtime then sets its root
logger to DEBUG, and the sandbox's runtime does the same: every record at DEBUG and above is captured,
botocore's and urllib3's included, which carry request and response bodies unless the functions keep
them quiet (task.py pins them at WARNING).

A record counts when a function made it: while one of the functions runs, or from the functions' own
code. The sandbox's and the demo's own AWS calls (deploying the stack, showing the fleet) are not
written to a function's log group, nor are moto's records (moto stands in for AWS's side of the wire).

Usernames may appear in the demo's own report (it prints the fleet, as a console would) and in the
audit events and execution data, which are their records by design: there only passwords are forbidden.
"""

import io
import json
import logging
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from moto.sns.models import sns_backends

from sandbox import chime_emulator, demo, demo_evidence, demo_fleet, lambda_runtime
from sandbox.session import Sandbox
from sandbox.stack import ACCOUNT_ID, REGION
from sandbox.template import REPOSITORY, load_template

FUNCTIONS = REPOSITORY / "functions"
# Usernames the demo's runs find stale (and so log as fingerprints), one per connector.
STALE_IN_THE_DEMO = {
    "pbx-london": "sip-london-2025",
    "pbx-paris": "sip-paris-2025",
    "sbc-tokyo": "sip-tokyo-2025a",
}
# Attributes every LogRecord has; anything else came in through ``extra`` and is part of the line.
STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def record_line(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record still counts, with its raw parts
        message = f"{record.msg} {record.args}"
    extra = {key: value for key, value in vars(record).items() if key not in STANDARD_ATTRIBUTES}
    line = f"{record.name} {record.levelname} {message} {json.dumps(extra, default=str)}"
    if record.exc_info:
        line += "\n" + logging.Formatter().formatException(record.exc_info)
    return line


def a_function_wrote(record: logging.LogRecord) -> bool:
    if record.name.startswith("moto"):
        return False
    return lambda_runtime.current_function() is not None or record.pathname.startswith(str(FUNCTIONS))


@dataclass
class Capture:
    level: int = logging.INFO
    records: list[str] = field(default_factory=list)
    record_sources: list[str] = field(default_factory=list)  # each record's source file
    runtime_errors: list[str] = field(default_factory=list)
    function_logs: list[str] = field(default_factory=list)
    # Every credential put on any voice connector: (connector id, username, password).
    put: list[tuple[str, str, str]] = field(default_factory=list)
    secret_values: list[dict[str, Any]] = field(default_factory=list)
    connectors: dict[str, str] = field(default_factory=dict)  # name -> voice connector id
    execution_data: list[str] = field(default_factory=list)
    fingerprints: Any = None
    # The fingerprint key: a secret like any password, never to be logged.
    secret_keys: list[str] = field(default_factory=list)
    # sys.stdout and sys.stderr while installed. Not capfd: the sandbox wraps sys.stdout for the functions'
    # prints (which land in FunctionLogs), and a capture stream closed at teardown breaks that wrapper.
    output: io.StringIO = field(default_factory=io.StringIO)

    @contextmanager
    def installed(self) -> Iterator[None]:
        capture = self
        call_handlers = logging.Logger.callHandlers
        load_handler = lambda_runtime.load_handler
        put_credentials = chime_emulator.ChimeVoiceBackend.put_credentials

        def every_record(logger: logging.Logger, record: logging.LogRecord) -> None:
            if record.levelno >= capture.level and a_function_wrote(record):
                capture.records.append(record_line(record))
                capture.record_sources.append(record.pathname)
            call_handlers(logger, record)

        def runtime_logged(handler_name: str) -> Any:
            handler = load_handler(handler_name)

            def invoke(event: Any, context: Any) -> Any:
                try:
                    return handler(event, context)
                except Exception as error:
                    # The python3.13 runtime logs "[ERROR] <type>: <message>" and the traceback.
                    capture.runtime_errors.append(f"[ERROR] {type(error).__name__}: {error}")
                    capture.runtime_errors.extend(traceback.format_exception(error))
                    raise

            return invoke

        def recorded_put(backend: Any, connector_id: str, params: dict) -> Any:
            for credential in params.get("Credentials") or []:
                capture.put.append((connector_id, credential.get("Username"), credential.get("Password")))
            return put_credentials(backend, connector_id, params)

        class ObservedSandbox(Sandbox):
            def __exit__(self, *exc_info: object) -> None:
                capture.snapshot(self)
                super().__exit__(*exc_info)

        root = logging.getLogger()
        with ExitStack() as stack:
            stack.enter_context(mock.patch.object(logging.Logger, "callHandlers", every_record))
            stack.enter_context(mock.patch.object(lambda_runtime, "load_handler", runtime_logged))
            stack.enter_context(
                mock.patch.object(chime_emulator.ChimeVoiceBackend, "put_credentials", recorded_put)
            )
            stack.enter_context(mock.patch.object(demo, "Sandbox", ObservedSandbox))
            stack.enter_context(redirect_stdout(self.output))
            stack.enter_context(redirect_stderr(self.output))
            stack.callback(root.setLevel, root.level)
            # Loggers that set no level of their own follow the root: let their records be made.
            root.setLevel(self.level)
            yield

    def snapshot(self, sandbox: Sandbox) -> None:
        """What the run left behind, read before the sandbox goes away."""
        self.function_logs = list(sandbox.function_logs.lines)
        self.fingerprints = sandbox.fingerprints()
        self.connectors = {
            connector.name: connector_id
            for connector_id, connector in sandbox.chime_backend.voice_connectors.items()
        }
        secrets = sandbox.client("secretsmanager")
        key = secrets.get_secret_value(SecretId=sandbox.stack.fingerprint_key_arn)["SecretString"]
        self.secret_keys.append(key)
        for listed in secrets.list_secrets()["SecretList"]:
            if listed["ARN"] == sandbox.stack.fingerprint_key_arn:
                continue
            versions = secrets.list_secret_version_ids(SecretId=listed["ARN"], IncludeDeprecated=True)
            for version in versions["Versions"]:
                value = secrets.get_secret_value(SecretId=listed["ARN"], VersionId=version["VersionId"])
                self.secret_values.append(json.loads(value["SecretString"]))
        stepfunctions = sandbox.client("stepfunctions")
        for execution in stepfunctions.list_executions(stateMachineArn=sandbox.stack.state_machine_arn)[
            "executions"
        ]:
            arn = execution["executionArn"]
            self.execution_data.append(
                json.dumps(stepfunctions.describe_execution(executionArn=arn), default=str)
            )
            history = stepfunctions.get_paginator("get_execution_history").paginate(executionArn=arn)
            self.execution_data.extend(json.dumps(page["events"], default=str) for page in history)
        for topic in sns_backends[ACCOUNT_ID][REGION].topics.values():
            self.execution_data.extend(str(notification) for notification in topic.sent_notifications)

    def log_lines(self, captured_output: str) -> list[str]:
        return [*self.records, *self.function_logs, *self.runtime_errors, *captured_output.splitlines()]

    def usernames(self) -> set[str]:
        found = {username for _, username, _ in self.put if username}
        found |= {value["Username"] for value in self.secret_values if value.get("Username")}
        found |= {
            username for names in [*demo.FLEET.values(), *demo.SUCCESSORS.values()] for username in names
        }
        return found | {demo_evidence.PREDECESSOR, demo_evidence.COMPROMISED, *demo_fleet.USERNAMES}

    def passwords(self) -> set[str]:
        found = {password for _, _, password in self.put if password}
        found |= {value["Password"] for value in self.secret_values if value.get("Password")}
        return found | set(self.secret_keys)


def test_the_capture_covers_every_level_the_functions_can_be_deployed_with():
    template = load_template()
    levels = template["Parameters"]["LogLevel"]["AllowedValues"]
    assert template["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    assert min(logging.getLevelName(level) for level in levels) >= min(LEVELS.values())


def test_the_capture_sees_what_a_function_logs_even_through_loggers_that_do_not_propagate():
    capture = Capture()
    quiet = logging.getLogger("tests.security.quiet")
    quiet.propagate = False
    with capture.installed(), lambda_runtime.running("rotation-PlanConnectorFunction"):
        quiet.info("listed", extra={"usernames": ["canary-username"]})
        logging.getLogger("botocore.parsers").warning("canary-sdk")
        logging.getLogger("tests.security.other").debug("below the level: canary-debug")
        print("canary-stdout")
    with capture.installed():
        logging.getLogger("botocore.parsers").warning("outside any function: canary-harness")
    lines = capture.log_lines(capture.output.getvalue())
    assert any("canary-username" in line for line in lines)
    assert any("canary-sdk" in line for line in lines)
    assert any("canary-stdout" in line for line in lines)
    assert not any("canary-debug" in line for line in lines)
    assert not any("canary-harness" in line for line in capture.records)


# The template's LogLevel values, each with the lowest level the capture then takes.
LEVELS = {"INFO": logging.INFO, "DEBUG": logging.DEBUG}


@pytest.mark.sandbox  # the demo deploys the stack and runs it
@pytest.mark.parametrize("log_level", sorted(LEVELS))
def test_the_demo_logs_no_password_and_no_plain_username(log_level):
    capture = Capture(level=LEVELS[log_level])
    report = io.StringIO()
    with capture.installed():
        exit_code = demo.main(report, parameters={"LogLevel": log_level})
    lines = capture.log_lines(capture.output.getvalue())
    usernames, passwords = capture.usernames(), capture.passwords()

    leaked = [line for line in lines if any(secret in line for secret in usernames | passwords)]
    assert not leaked, leaked[:5]

    # The run happened and the capture holds it: so many lines, the functions' own records among them,
    # every credential the demo set up and a successor the workflow issued.
    assert exit_code == 0
    # And the demo showed what `make demo` promises: a rotation, and where each run's report went.
    shown = report.getvalue()
    assert '"Promoted": true' in shown
    assert "AWSCURRENT   sip-" in shown
    assert shown.count("report   s3://") == shown.count("=== Run ")
    assert "0 with a plain username or a password" in shown
    assert len(lines) >= 150, len(lines)  # 223 when written
    assert sum(source.startswith(str(FUNCTIONS)) for source in capture.record_sources) >= 50
    assert set(capture.connectors) == set(demo.FLEET) | {"pbx-berlin"}
    # The evidence acts: the PBX still calling pages, the switch retires, the revoke pages.
    assert '"NotSwitched":[{' in shown
    assert '"Revoke":{"Reason":' in shown
    # The fleet act: every account and Region it reached, and the one whose spoke role is missing.
    missing = demo_fleet.MISSING_SPOKE
    assert f"failed: {missing.account}/{missing.region} at Discover: SpokeRoleUnavailable" in shown
    assert len(capture.put) > sum(map(len, [*demo.FLEET.values(), *demo.SUCCESSORS.values()]))
    assert any(value.get("Password") for value in capture.secret_values)
    assert len(capture.execution_data) > 20

    # The logs do speak of the usernames, by their keyed fingerprints: so they would show a plain one.
    text = "\n".join(lines)
    for name, username in STALE_IN_THE_DEMO.items():
        assert capture.fingerprints.of(capture.connectors[name], username) in text, username
    if log_level == "DEBUG":
        # The records the SDK would have made are the ones that carry bodies: none was made.
        assert not [line for line in capture.records if line.startswith(("botocore", "urllib3"))]

    # The report lists usernames by design (a console would show them); no password may appear in it, nor
    # in the execution data and audit messages, which carry usernames as their records.
    elsewhere = [*report.getvalue().splitlines(), *capture.execution_data]
    assert not [line[:300] for line in elsewhere if any(password in line for password in passwords)]
