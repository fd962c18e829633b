"""The execution input contract: validate it, fill in the stack's defaults, and find the connectors.

The same input comes from the nightly schedule and from a person pressing "Start execution" in the
console, so it is checked strictly: an unknown key, a wrong type or an out-of-range value refuses the
whole run before anything is listed, with a message that names the field. Every field has one encoding:
absent takes the stack's default, and ``null`` is refused (it would otherwise read as absent, so that
``{"DryRun": null}`` on a stack whose DryRun is false would delete). Settings that scope what the
functions may touch (SecretNamePrefix) are stack parameters only: an input naming one is refused.
"""

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from credential_rotation.domain.errors import InvalidInput, TooManyVoiceConnectors
from credential_rotation.domain.input_keys import MAX_PROBLEMS, did_you_mean, key_label
from credential_rotation.domain.models import Policy, Run, describe
from credential_rotation.domain.models import Trigger as TriggerName
from credential_rotation.domain.settings import Settings
from credential_rotation.domain.successor import USERNAME_PREFIX

# The botocore model's pattern for a voice connector id; the API itself does not enforce it client-side.
VOICE_CONNECTOR_ID = re.compile(
    r"[a-z0-9]{21,22}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# Each connector adds a few KiB of plan to the state document, which Step Functions caps at 256 KiB.
MAX_VOICE_CONNECTORS = 100
MAX_AGE_DAYS_LIMIT = 36_500
MIN_KEEP_LIMIT = 100
MAX_DELETIONS_LIMIT = 10_000
MAX_PROTECTED_PATTERNS = 100
# Evidence is the index's, which remembers no further back than it has run (or backfilled).
MAX_QUIET_DAYS = 365
# A revoke's reason is a person's sentence, repeated in the audit event and the page.
MAX_REVOKE_REASON = 256
# Fields of the stack that no execution may set, and why.
STACK_ONLY = {
    "SecretNamePrefix": (
        "is a stack parameter only: the functions' IAM policy covers the stack's prefix alone, and a run "
        "that looked under another prefix would not find the connectors' secrets"
    ),
}
# Free text that the workflow ignores: any JSON, null included.
IGNORED_FIELDS = frozenset({"Comment"})
# Comment is ignored, but the whole input travels in the run's state, which Step Functions caps at 256 KiB
# (exceeding it fails the run with States.DataLimitExceeded, which no Catch takes, wherever it happens).
MAX_COMMENT_BYTES = 4_096


def _voice_connector_id(value: str) -> str:
    if not VOICE_CONNECTOR_ID.fullmatch(value):
        raise ValueError("is not a voice connector id (21-22 lowercase letters and digits, or a UUID)")
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("lists the same voice connector more than once")
    return values


def _short(value: Any) -> Any:
    try:
        size = len(json.dumps(value, separators=(",", ":")))
    except (ValueError, RecursionError):
        size = MAX_COMMENT_BYTES + 1
    if size > MAX_COMMENT_BYTES:
        raise ValueError(f"must be at most {MAX_COMMENT_BYTES} bytes as JSON")
    return value


VoiceConnectorId = Annotated[str, AfterValidator(_voice_connector_id)]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RevokeInput(BaseModel):
    """Credentials known or suspected to be compromised: removed from every connector in this run."""

    model_config = ConfigDict(extra="forbid", strict=True)

    Usernames: Annotated[list[Pattern], Field(min_length=1, max_length=MAX_PROTECTED_PATTERNS)]
    Reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REVOKE_REASON)]


class RunInput(BaseModel):
    """Every field is optional; an absent one takes the stack parameter's value."""

    model_config = ConfigDict(extra="forbid", strict=True)

    VoiceConnectorIds: (
        Annotated[
            list[VoiceConnectorId],
            Field(min_length=1, max_length=MAX_VOICE_CONNECTORS),
            AfterValidator(_unique),
        ]
        | None
    ) = None
    DryRun: bool | None = None
    MaxAgeDays: Annotated[int, Field(ge=1, le=MAX_AGE_DAYS_LIMIT)] | None = None
    MinKeep: Annotated[int, Field(ge=1, le=MIN_KEEP_LIMIT)] | None = None
    ProtectedUsernames: Annotated[list[Pattern], Field(max_length=MAX_PROTECTED_PATTERNS)] | None = None
    MaxDeletions: Annotated[int, Field(ge=0, le=MAX_DELETIONS_LIMIT)] | None = None
    GraceDays: Annotated[int, Field(ge=0, le=MAX_AGE_DAYS_LIMIT)] | None = None
    Rotate: bool | None = None
    RotateAfterDays: Annotated[int, Field(ge=1, le=MAX_AGE_DAYS_LIMIT)] | None = None
    UsernamePrefix: Annotated[str, StringConstraints(pattern=f"^{USERNAME_PREFIX.pattern}$")] | None = None
    QuietDays: Annotated[int, Field(ge=0, le=MAX_QUIET_DAYS)] | None = None
    RetireWhenSwitched: bool | None = None
    Revoke: RevokeInput | None = None
    Trigger: TriggerName | None = None
    Comment: Annotated[Any, AfterValidator(_short)] = None


def _describe_input(error: ValidationError) -> list[str]:
    """Like ``models.describe``, but no clause loses its field: a RunInput location is a key and list
    indices, so none of it is dropped as noise (an unknown key 'int' or 'a[0]' used to be)."""
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        key, *indices = detail["loc"] or ("",)
        if detail["type"] == "extra_forbidden" and len(detail["loc"]) > 1:
            # An unknown key inside an object field (Revoke): named with the field it is in.
            *outer, inner = detail["loc"]
            problems.append(
                f"{'.'.join(map(str, outer))}.{key_label(str(inner))}: is not a field of {outer[0]}"
            )
        elif detail["type"] == "extra_forbidden" and isinstance(key, str):
            problems.append(
                f"{key_label(key)}: is not an input field{did_you_mean(key, RunInput.model_fields)}"
            )
        else:
            field = str(key) + "".join(f"[{index}]" for index in indices)
            problems.append(f"{field}: {detail['msg'].removeprefix('Value error, ')}")
    return problems


def parse_input(raw: object) -> RunInput:
    if not isinstance(raw, dict):
        raise InvalidInput("execution input: must be a JSON object")
    problems = [
        f"{key}: must not be null: leave the field out to take the stack's default"
        for key, value in raw.items()
        if value is None and key in RunInput.model_fields and key not in IGNORED_FIELDS
    ]
    problems += [f"{key}: {why}" for key, why in STACK_ONLY.items() if key in raw]
    # Nulls of known fields are named above; an unknown key stays, null or not, to be named as unknown.
    given = {
        key: value
        for key, value in raw.items()
        if key not in STACK_ONLY and not (value is None and key in RunInput.model_fields)
    }
    try:
        parsed = RunInput.model_validate(given)
    except ValidationError as error:
        problems += _describe_input(error)
    if problems:
        if len(problems) > MAX_PROBLEMS:
            problems[MAX_PROBLEMS:] = [f"and {len(problems) - MAX_PROBLEMS} more problems"]
        raise InvalidInput("execution input: " + "; ".join(problems))
    return parsed


def stack_defaults(settings: Settings) -> RunInput:
    """The stack parameters, checked against the same contract as the input."""
    try:
        return RunInput.model_validate(
            {
                "VoiceConnectorIds": settings.default_voice_connector_ids or None,
                "DryRun": settings.default_dry_run,
                "MaxAgeDays": settings.default_max_age_days,
                "MinKeep": settings.default_min_keep,
                "ProtectedUsernames": settings.default_protected_usernames,
                "MaxDeletions": settings.default_max_deletions,
                "GraceDays": settings.default_grace_days,
                "Rotate": settings.default_rotate,
                "RotateAfterDays": settings.default_rotate_after_days,
                "UsernamePrefix": settings.default_username_prefix,
                "QuietDays": settings.default_quiet_days,
                "RetireWhenSwitched": settings.default_retire_when_switched,
            }
        )
    except ValidationError as error:
        raise InvalidInput(describe(error, "stack parameter")) from None


def resolve_run(
    raw_input: object,
    execution_arn: str,
    started_at: datetime,
    settings: Settings,
    list_voice_connector_ids: Callable[[], Iterable[str]],
) -> Run:
    given = parse_input(raw_input)
    defaults = stack_defaults(settings)

    def pick(name: str) -> Any:
        value = getattr(given, name)
        return getattr(defaults, name) if value is None else value

    if given.Revoke is not None and given.DryRun is True:
        raise InvalidInput("execution input: DryRun: a Revoke is always an applying run; leave DryRun out")
    voice_connector_ids = pick("VoiceConnectorIds")
    if voice_connector_ids is None:
        voice_connector_ids = sorted(set(list_voice_connector_ids()))
        if len(voice_connector_ids) > MAX_VOICE_CONNECTORS:
            raise TooManyVoiceConnectors(
                f"the account has {len(voice_connector_ids)} voice connectors; one run processes at most "
                f"{MAX_VOICE_CONNECTORS}: list them in VoiceConnectorIds across several schedules"
            )
    return Run(
        execution_arn=execution_arn,
        started_at=started_at,
        trigger=given.Trigger or "manual",
        # A revoke removes a credential now, whatever the stack's DryRun default.
        dry_run=False if given.Revoke is not None else pick("DryRun"),
        policy=Policy(
            max_age_days=pick("MaxAgeDays"),
            min_keep=pick("MinKeep"),
            protected_usernames=tuple(pick("ProtectedUsernames")),
            max_deletions=pick("MaxDeletions"),
            grace_days=pick("GraceDays"),
            rotate=pick("Rotate"),
            rotate_after_days=pick("RotateAfterDays"),
            username_prefix=pick("UsernamePrefix"),
            quiet_days=pick("QuietDays"),
            retire_when_switched=pick("RetireWhenSwitched"),
            evidence_max_lag_hours=settings.evidence_max_lag_hours,
            revoke_usernames=tuple(given.Revoke.Usernames) if given.Revoke else (),
            revoke_reason=given.Revoke.Reason if given.Revoke else None,
        ),
        voice_connector_ids=tuple(voice_connector_ids),
        max_concurrency=settings.max_concurrency,
        watch_seconds=settings.watch_minutes * 60,
    )


def refusal_context(raw_input: object, default_dry_run: bool) -> tuple[str, bool]:
    """Trigger and DryRun for a run refused before its input was resolved: the input's own values where
    they are valid, else the defaults."""
    raw: dict[str, object] = raw_input if isinstance(raw_input, dict) else {}
    given_trigger, given_dry_run = raw.get("Trigger"), raw.get("DryRun")
    trigger = (
        given_trigger
        if given_trigger in ("schedule", "manual") and isinstance(given_trigger, str)
        else "manual"
    )
    dry_run = given_dry_run if isinstance(given_dry_run, bool) else default_dry_run
    return trigger, dry_run
