"""The whole `make demo`, with every log line captured: none may hold a password or a plain username.

What counts as a log line, everything a deployed stack would write to CloudWatch Logs:
- every record of every logger in the process (the functions', boto3's, the SDK's, the sandbox's own),
  taken in ``Logger.callHandlers`` so that loggers which do not propagate to the root are seen too;
- the functions' Powertools output, as the sandbox's FunctionLogs keeps it (what CloudWatch would hold);
- what the Lambda runtime itself logs for an unhandled exception (its type, message and traceback);
- whatever reaches stdout or stderr (a function's prints, Powertools metrics' EMF lines among them, land
  in FunctionLogs as in Lambda; the rest is captured here).

The level: INFO. The template deploys the functions with POWERTOOLS_LOG_LEVEL INFO (checked below), and the
Lambda runtime's root logger sits at WARNING, so INFO and above from every logger is a superset of what a
deployed function can write. DEBUG is not captured on purpose: botocore's DEBUG records carry request
bodies (passwords among them) and a deployed function never emits them at this log level.

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

from moto.sns.models import sns_backends

from credential_rotation.redaction import fingerprint
from sandbox import chime_emulator, demo, lambda_runtime
from sandbox.session import Sandbox
from sandbox.stack import ACCOUNT_ID, REGION
from sandbox.template import REPOSITORY, load_template

CAPTURE_LEVEL = logging.INFO
FUNCTIONS = REPOSITORY / "functions"
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


@dataclass
class Capture:
    records: list[str] = field(default_factory=list)
    record_sources: list[str] = field(default_factory=list)  # each record's source file
    runtime_errors: list[str] = field(default_factory=list)
    function_logs: list[str] = field(default_factory=list)
    # Every credential put on any voice connector: (connector id, username, password).
    put: list[tuple[str, str, str]] = field(default_factory=list)
    secret_values: list[dict[str, Any]] = field(default_factory=list)
    connectors: dict[str, str] = field(default_factory=dict)  # name -> voice connector id
    execution_data: list[str] = field(default_factory=list)
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
            if record.levelno >= CAPTURE_LEVEL:
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
            # Loggers that set no level of their own follow the root: let their INFO records be made.
            root.setLevel(CAPTURE_LEVEL)
            yield

    def snapshot(self, sandbox: Sandbox) -> None:
        """What the run left behind, read before the sandbox goes away."""
        self.function_logs = list(sandbox.function_logs.lines)
        self.connectors = {
            connector.name: connector_id
            for connector_id, connector in sandbox.chime_backend.voice_connectors.items()
        }
        secrets = sandbox.client("secretsmanager")
        for listed in secrets.list_secrets()["SecretList"]:
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
        return found

    def passwords(self) -> set[str]:
        found = {password for _, _, password in self.put if password}
        return found | {value["Password"] for value in self.secret_values if value.get("Password")}


def test_the_functions_log_at_the_level_the_capture_covers():
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert logging.getLevelName(variables["POWERTOOLS_LOG_LEVEL"]) >= CAPTURE_LEVEL


def test_the_capture_sees_loggers_that_do_not_propagate_their_extras_and_print():
    capture = Capture()
    quiet = logging.getLogger("tests.security.quiet")
    quiet.propagate = False
    with capture.installed():
        quiet.info("listed", extra={"usernames": ["canary-username"]})
        logging.getLogger("tests.security.other").debug("below the level: canary-debug")
        print("canary-stdout")
    lines = capture.log_lines(capture.output.getvalue())
    assert any("canary-username" in line for line in lines)
    assert any("canary-stdout" in line for line in lines)
    assert not any("canary-debug" in line for line in lines)


def test_the_demo_logs_no_password_and_no_plain_username():
    capture = Capture()
    report = io.StringIO()
    with capture.installed():
        exit_code = demo.main(report)
    lines = capture.log_lines(capture.output.getvalue())
    usernames, passwords = capture.usernames(), capture.passwords()

    leaked = [line for line in lines if any(secret in line for secret in usernames | passwords)]
    assert not leaked, leaked[:5]

    # The run happened and the capture holds it: so many lines, the functions' own records among them,
    # every credential the demo set up and a successor the workflow issued.
    assert exit_code == 0
    assert len(lines) >= 150, len(lines)  # 223 when written
    assert sum(source.startswith(str(FUNCTIONS)) for source in capture.record_sources) >= 50
    assert set(capture.connectors) == set(demo.FLEET)
    assert len(capture.put) > sum(map(len, [*demo.FLEET.values(), *demo.SUCCESSORS.values()]))
    assert any(value.get("Password") for value in capture.secret_values)
    assert len(capture.execution_data) > 20

    # The logs do speak of the usernames, by their fingerprints: so they would show a plain one.
    text = "\n".join(lines)
    for name, fleet_usernames in demo.FLEET.items():
        for username in fleet_usernames:
            assert fingerprint(capture.connectors[name], username) in text, username

    # The report lists usernames by design (a console would show them); no password may appear in it, nor
    # in the execution data and audit messages, which carry usernames as their records.
    elsewhere = [*report.getvalue().splitlines(), *capture.execution_data]
    assert not [line[:300] for line in elsewhere if any(password in line for password in passwords)]
