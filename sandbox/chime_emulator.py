"""A Chime SDK Voice emulator, written as a moto backend (moto implements none of chime-sdk-voice).

It answers the voice connector, termination credential and global settings operations as the botocore
model describes them: the same routes, status codes, modelled error codes, and NotFound for an unknown
connector. Faults can be injected per operation (a scripted sequence of errors, a rate limit answering
ThrottledClientException, a hook that runs just before an operation) and every call is logged, without
its passwords, so tests and the demo can see what the workflow did.

It also plays the connector's SIP side, which has no API: ``authenticate_outbound`` checks a call's
digest username and password against the connector's credentials, as termination does, and keeps every
outbound attempt per connector (the outcome and the username tried, never the password), the stand-in
for the ``AWS/ChimeVoiceConnector`` metrics. ``sandbox/phone_system.py`` places the calls and writes
their call detail records.
"""

import hmac
import json
import random
import re
import string
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from moto import backend_index
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import JsonRESTError
from moto.iam.models import get_account_id_from

SERVICE = "chime-sdk-voice"
URL_PATTERN = re.compile(r"https?://voice-chime\.(.+)\.amazonaws\.com")
# The botocore model's VoiceConnectorId pattern.
VOICE_CONNECTOR_ID = re.compile(
    r"[a-z0-9]{21,22}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
ERROR_STATUS = {
    "BadRequestException": 400,
    "UnauthorizedClientException": 401,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ThrottledClientException": 429,
    "ServiceFailureException": 500,
    "ServiceUnavailableException": 503,
}
ROUTES = [
    ("GET", re.compile(r"^/settings$"), "GetGlobalSettings"),
    ("PUT", re.compile(r"^/settings$"), "UpdateGlobalSettings"),
    ("GET", re.compile(r"^/voice-connectors$"), "ListVoiceConnectors"),
    ("POST", re.compile(r"^/voice-connectors$"), "CreateVoiceConnector"),
    ("GET", re.compile(r"^/voice-connectors/(?P<id>[^/]+)$"), "GetVoiceConnector"),
    ("DELETE", re.compile(r"^/voice-connectors/(?P<id>[^/]+)$"), "DeleteVoiceConnector"),
    (
        "GET",
        re.compile(r"^/voice-connectors/(?P<id>[^/]+)/termination/credentials$"),
        "ListVoiceConnectorTerminationCredentials",
    ),
    (
        "POST",
        re.compile(r"^/voice-connectors/(?P<id>[^/]+)/termination/credentials$"),
        None,  # ?operation=put or ?operation=delete
    ),
]


class ChimeVoiceError(JsonRESTError):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(error_code, message)
        self.code = ERROR_STATUS[error_code]


@dataclass(frozen=True)
class Call:
    operation: str
    voice_connector_id: str | None
    outcome: str  # "ok" or the error code answered


# What rate limits count time by: the system's clock, unless the sandbox (or a virtual-time benchmark) sets
# the one the functions' pace of calls waits by, so that both see the same seconds.
clock: Callable[[], float] = time.monotonic


@dataclass
class Faults:
    """Injected behaviour, checked before an operation touches any state."""

    scripts: list[tuple[str, str | None, deque]] = field(default_factory=list)
    limits: list[tuple[str | None, int, float, deque]] = field(default_factory=list)
    hooks: list[tuple[str, Callable[[Any, dict], None]]] = field(default_factory=list)

    def script(self, operation: str, errors: list[str | None], voice_connector_id: str | None = None) -> None:
        """The next calls of the operation (optionally on one connector) answer these errors in order;
        None lets that call through."""
        unknown = {error for error in errors if error is not None} - set(ERROR_STATUS)
        if unknown:
            raise ValueError(f"not a modelled error: {sorted(unknown)}")
        self.scripts.append((operation, voice_connector_id, deque(errors)))

    def rate_limit(self, max_calls: int, per_seconds: float, operation: str | None = None) -> None:
        """More than max_calls within any per_seconds window answer ThrottledClientException."""
        self.limits.append((operation, max_calls, per_seconds, deque()))

    def before(self, operation: str, hook: Callable[[Any, dict], None]) -> None:
        """Run hook(backend, params) just before each call of the operation (a concurrent change)."""
        self.hooks.append((operation, hook))

    def clear(self) -> None:
        self.scripts.clear()
        self.limits.clear()
        self.hooks.clear()

    def injected_error(self, operation: str, voice_connector_id: str | None) -> str | None:
        for scripted_operation, scripted_id, errors in self.scripts:
            if scripted_operation == operation and scripted_id in (None, voice_connector_id) and errors:
                error = errors.popleft()
                if error:
                    return error
                return None
        now = clock()
        for limited_operation, max_calls, per_seconds, calls in self.limits:
            if limited_operation not in (None, operation):
                continue
            while calls and now - calls[0] >= per_seconds:
                calls.popleft()
            if len(calls) >= max_calls:
                return "ThrottledClientException"
            calls.append(now)
        return None


# The botocore model's S3BucketName (GetGlobalSettings' VoiceConnector.CdrBucket).
S3_BUCKET_NAME = re.compile(r"(?!(^xn--|.+-s3alias$))^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
AUTHENTICATED = "Completed"
AUTHENTICATION_FAILED = "AuthenticationFailed"


@dataclass(frozen=True)
class OutboundAttempt:
    """One call the phone system sent through the connector's termination (never with its password)."""

    at: datetime
    # The digest username offered; None: none offered (the allowed-host list alone admitted the call).
    username: str | None
    outcome: str  # AUTHENTICATED or AUTHENTICATION_FAILED


@dataclass
class VoiceConnector:
    voice_connector_id: str
    name: str
    aws_region: str
    require_encryption: bool
    arn: str
    created: str
    credentials: dict[str, str] = field(default_factory=dict, repr=False)  # username -> password, in order
    outbound_attempts: list[OutboundAttempt] = field(default_factory=list)

    @property
    def failed_authentications(self) -> list[OutboundAttempt]:
        return [attempt for attempt in self.outbound_attempts if attempt.outcome == AUTHENTICATION_FAILED]

    def describe(self) -> dict[str, Any]:
        return {
            "VoiceConnectorId": self.voice_connector_id,
            "AwsRegion": self.aws_region,
            "Name": self.name,
            "OutboundHostName": f"{self.voice_connector_id}.voiceconnector.chime.aws",
            "RequireEncryption": self.require_encryption,
            "CreatedTimestamp": self.created,
            "UpdatedTimestamp": self.created,
            "VoiceConnectorArn": self.arn,
        }


class ChimeVoiceBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.voice_connectors: dict[str, VoiceConnector] = {}
        # GetGlobalSettings' answer: {"VoiceConnector": {"CdrBucket": ...}} once UpdateGlobalSettings set it.
        self.global_settings: dict[str, Any] = {}
        self.faults = Faults()
        self.calls: list[Call] = []
        # Step Functions' Map calls from several threads at once.
        self.lock = threading.RLock()

    @property
    def urls(self) -> dict[str, Callable]:
        return {URL_PATTERN.pattern + r"/.*": dispatch}

    # Operations

    def get_global_settings(self) -> tuple[int, dict]:
        return 200, json.loads(json.dumps(self.global_settings))

    def update_global_settings(self, params: dict) -> tuple[int, dict]:
        settings = params.get("VoiceConnector")
        if not isinstance(settings, dict):
            raise ChimeVoiceError("BadRequestException", "VoiceConnector is required")
        bucket = settings.get("CdrBucket")
        if bucket is not None and not (isinstance(bucket, str) and S3_BUCKET_NAME.match(bucket)):
            raise ChimeVoiceError("BadRequestException", "CdrBucket is not a bucket name")
        self.global_settings = {"VoiceConnector": {"CdrBucket": bucket} if bucket else {}}
        return 204, {}

    @property
    def cdr_bucket(self) -> str | None:
        return self.global_settings.get("VoiceConnector", {}).get("CdrBucket")

    def authenticate_outbound(
        self, connector_id: str, username: str | None, password: str | None, at: datetime
    ) -> bool:
        """Whether termination admits an outbound call offering this digest username and password.

        A connector without credentials asks for none (the administration guide: only its allowed hosts
        apply), so what the call offers is not used and the call carries no SipAuthUser. Otherwise the
        pair must be one of the connector's credentials; a call offering none is refused too. Whether a
        connector with credentials still admits a call by its allowed hosts alone is not documented: the
        phone system's ``call_from_allowed_host`` says so explicitly instead.
        """
        with self.lock:
            connector = self._connector(connector_id)
            if not connector.credentials:
                connector.outbound_attempts.append(OutboundAttempt(at, None, AUTHENTICATED))
                return True
            expected = connector.credentials.get(username or "")
            admitted = (
                username is not None
                and password is not None
                and expected is not None
                and hmac.compare_digest(expected.encode(), password.encode())
            )
            outcome = AUTHENTICATED if admitted else AUTHENTICATION_FAILED
            connector.outbound_attempts.append(OutboundAttempt(at, username, outcome))
            return admitted

    def admit_from_allowed_host(self, connector_id: str, at: datetime) -> None:
        """An outbound call admitted by the connector's allowed-host list, without digest authentication."""
        with self.lock:
            self._connector(connector_id).outbound_attempts.append(OutboundAttempt(at, None, AUTHENTICATED))

    def create_voice_connector(self, params: dict) -> tuple[int, dict]:
        for required in ("Name", "RequireEncryption"):
            if required not in params:
                raise ChimeVoiceError("BadRequestException", f"{required} is required")
        connector_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=22))
        connector = VoiceConnector(
            voice_connector_id=connector_id,
            name=params["Name"],
            aws_region=params.get("AwsRegion", "us-east-1"),
            require_encryption=bool(params["RequireEncryption"]),
            arn=f"arn:aws:chime:{self.region_name}:{self.account_id}:vc/{connector_id}",
            created=datetime.now(UTC).isoformat(),
        )
        self.voice_connectors[connector_id] = connector
        return 201, {"VoiceConnector": connector.describe()}

    def list_voice_connectors(self, query: dict) -> tuple[int, dict]:
        max_results = int(query.get("max-results", 10))
        if not 1 <= max_results <= 100:
            raise ChimeVoiceError("BadRequestException", "MaxResults must be between 1 and 100")
        start = int(query.get("next-token", 0))
        connectors = list(self.voice_connectors.values())
        page = connectors[start : start + max_results]
        body: dict[str, Any] = {"VoiceConnectors": [connector.describe() for connector in page]}
        if start + max_results < len(connectors):
            body["NextToken"] = str(start + max_results)
        return 200, body

    def get_voice_connector(self, connector_id: str) -> tuple[int, dict]:
        return 200, {"VoiceConnector": self._connector(connector_id).describe()}

    def delete_voice_connector(self, connector_id: str) -> tuple[int, dict]:
        self._connector(connector_id)
        del self.voice_connectors[connector_id]
        return 204, {}

    def list_credentials(self, connector_id: str) -> tuple[int, dict]:
        return 200, {"Usernames": list(self._connector(connector_id).credentials)}

    def put_credentials(self, connector_id: str, params: dict) -> tuple[int, dict]:
        connector = self._connector(connector_id)
        credentials = params.get("Credentials")
        if not credentials:
            raise ChimeVoiceError("BadRequestException", "Credentials must not be empty")
        for credential in credentials:
            if not credential.get("Username") or not credential.get("Password"):
                raise ChimeVoiceError("BadRequestException", "Username and Password are required")
        for credential in credentials:
            connector.credentials[credential["Username"]] = credential["Password"]
        return 204, {}

    def delete_credentials(self, connector_id: str, params: dict) -> tuple[int, dict]:
        connector = self._connector(connector_id)
        usernames = params.get("Usernames")
        if not usernames:
            raise ChimeVoiceError("BadRequestException", "Usernames must not be empty")
        for username in usernames:
            connector.credentials.pop(username, None)  # an absent username is not an error
        return 204, {}

    def _connector(self, connector_id: str) -> VoiceConnector:
        if not VOICE_CONNECTOR_ID.fullmatch(connector_id):
            raise ChimeVoiceError("BadRequestException", "VoiceConnectorId is malformed")
        if connector_id not in self.voice_connectors:
            raise ChimeVoiceError("NotFoundException", f"Voice connector {connector_id} not found")
        return self.voice_connectors[connector_id]


def _route(method: str, path: str, query: dict) -> tuple[str, str | None]:
    for route_method, pattern, operation in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            connector_id = unquote(match.group("id")) if "id" in pattern.groupindex else None
            if operation is None:
                kind = query.get("operation")
                operation = {
                    "put": "PutVoiceConnectorTerminationCredentials",
                    "delete": "DeleteVoiceConnectorTerminationCredentials",
                }.get(kind or "")
                if operation is None:
                    break
            return operation, connector_id
    raise ChimeVoiceError("BadRequestException", f"no route for {method} {path}")


# The access key in a SigV4 Authorization header (as moto's own responses read it).
ACCESS_KEY = re.compile(r"Credential=(?P<key>[A-Za-z0-9]+)/")


def _account(request: Any) -> str:
    """The account the request acts in, as moto decides it for its own services: an assumed role's keys
    act in the role's account (fleet mode's spokes), any other key in moto's default account."""
    match = ACCESS_KEY.search(request.headers.get("Authorization", ""))
    return get_account_id_from(match.group("key")) if match else DEFAULT_ACCOUNT_ID


def dispatch(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
    backend = chimesdkvoice_backends[_account(request)][_region(full_url)]
    url = urlparse(full_url)
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    body = request.get_data()
    params = json.loads(body) if body else {}
    operation, connector_id = "?", None
    try:
        operation, connector_id = _route(request.method, url.path, query)
        for hooked_operation, hook in list(backend.faults.hooks):
            if hooked_operation == operation:
                hook(backend, {"VoiceConnectorId": connector_id, **params})
        with backend.lock:
            injected = backend.faults.injected_error(operation, connector_id)
            if injected:
                raise ChimeVoiceError(injected, f"injected {injected}")
            status, response = _execute(backend, operation, connector_id, params, query)
            backend.calls.append(Call(operation, connector_id, "ok"))
    except ChimeVoiceError as error:
        with backend.lock:
            backend.calls.append(Call(operation, connector_id, error.error_type))
        return error.code, dict(error.get_headers()), error.get_body()
    return status, {"content-type": "application/json"}, json.dumps(response) if status != 204 else ""


def _execute(
    backend: ChimeVoiceBackend, operation: str, connector_id: str | None, params: dict, query: dict
) -> tuple[int, dict]:
    if operation == "CreateVoiceConnector":
        return backend.create_voice_connector(params)
    if operation == "ListVoiceConnectors":
        return backend.list_voice_connectors(query)
    if operation == "GetGlobalSettings":
        return backend.get_global_settings()
    if operation == "UpdateGlobalSettings":
        return backend.update_global_settings(params)
    assert connector_id is not None
    return {
        "GetVoiceConnector": lambda: backend.get_voice_connector(connector_id),
        "DeleteVoiceConnector": lambda: backend.delete_voice_connector(connector_id),
        "ListVoiceConnectorTerminationCredentials": lambda: backend.list_credentials(connector_id),
        "PutVoiceConnectorTerminationCredentials": lambda: backend.put_credentials(connector_id, params),
        "DeleteVoiceConnectorTerminationCredentials": lambda: backend.delete_credentials(
            connector_id, params
        ),
    }[operation]()


def _region(full_url: str) -> str:
    match = URL_PATTERN.match(full_url)
    return match.group(1) if match else "us-east-1"


chimesdkvoice_backends = BackendDict(ChimeVoiceBackend, SERVICE)


def install() -> None:
    """Make moto route chime-sdk-voice requests here (idempotent).

    moto matches a request URL against backend_index.backend_url_patterns, then imports
    moto.<name> and reads <name>_backends; both are provided from outside moto's package.
    """
    module = ModuleType("moto.chimesdkvoice")
    module.chimesdkvoice_backends = chimesdkvoice_backends
    sys.modules.setdefault("moto.chimesdkvoice", module)
    if not any(name == SERVICE for name, _ in backend_index.backend_url_patterns):
        backend_index.backend_url_patterns.append((SERVICE, URL_PATTERN))
