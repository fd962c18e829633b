"""Bad execution input: every run ends with a valid plan or InvalidInput naming a field, never another
error, and never a change to any connector.

Three layers: arbitrary JSON through the real state machine in the sandbox, many more through ResolveRun's
validation directly, and a table of named cases through the state machine.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credential_rotation.domain.errors import InvalidInput
from credential_rotation.domain.input_keys import MAX_KEY_CHARACTERS
from credential_rotation.domain.models import Run
from credential_rotation.domain.settings import Settings
from credential_rotation.tasks.run_input import RunInput, resolve_run
from sandbox.executions import Execution
from sandbox.session import Sandbox
from sandbox.template import Resolver, load_template
from tests.support.tally import TRIED

PREFIX = "execution input: "
# The input's fields, as the contract defines them (never a second list kept here).
FIELDS = tuple(RunInput.model_fields)
SCHEMA = RunInput.model_json_schema()["properties"]
MISSING_ID = "abcdefghijklmnopqrstu"  # well formed, but no such connector


def fullwidth(text: str) -> str:
    return "".join(chr(ord(character) + 0xFEE0) for character in text)


UNICODE = [
    "\u202esip-a",  # right-to-left override
    "שלום",
    "مرحبا",
    "🔑",
    "👩‍👩‍👧",
    "\x00",
    "sip\x00-",
    "\u041caxAgeDays",  # Cyrillic capital M
    fullwidth("sip-"),
    "a\u200bb",  # zero-width space
    "e\u0301",  # combining accent
    "\ufeff",
]
HUGE = [10**30, -(10**30), 2**63, 2**64 + 1, -(2**63) - 1, 10**400, 1e308, -1e308, 5e-324, -0.0]


# The fleet

PUT = "PutVoiceConnectorTerminationCredentials"
DELETE = "DeleteVoiceConnectorTerminationCredentials"


def template_default_settings() -> Settings:
    """The functions' settings as a stack deployed with every parameter at its default would have them."""
    template = load_template()
    resolver = Resolver(
        parameters={
            name: str(parameter.get("Default", "")) for name, parameter in template["Parameters"].items()
        },
        pseudo={"AWS::StackName": "stack", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"},
        conditions=template["Conditions"],
        # Every resource stands for itself: the settings need its name, not its attributes.
        resources={logical_id: (f"resource-{logical_id}", {}) for logical_id in template["Resources"]},
    )
    return Settings.model_validate(
        resolver.resolve(template["Globals"]["Function"]["Environment"]["Variables"])
    )


class QuietFleet:
    """Connectors that no valid input can change: every credential was first seen minutes ago, so none is
    stale for any MaxAgeDays >= 1 and no successor is due for any RotateAfterDays >= 1."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.ids = {
            "pbx": sandbox.create_voice_connector("pbx", ["sip-a", "sip-b", "break-glass"]),
            "sbc": sandbox.create_voice_connector("sbc", ["sip-only"]),
            "bare": sandbox.create_voice_connector("bare"),  # no credential: authentication off
            "enrolled": sandbox.create_voice_connector("enrolled", ["sip-current", "sip-spare"]),
        }
        # A person wrote a secret for this one by hand, labelling sip-current AWSCURRENT.
        enrolled = self.ids["enrolled"]
        sandbox.client("secretsmanager").create_secret(
            Name=sandbox.secret_name(enrolled),
            SecretString=json.dumps(
                {
                    "VoiceConnectorId": enrolled,
                    "Username": "sip-current",
                    "Password": "pw-sip-current-0123456789",
                    "IssuedAt": sandbox.now().isoformat(),
                }
            ),
        )
        assert sandbox.fire_schedule().status == "SUCCEEDED"  # dates every username, changes nothing
        sandbox.audit_messages()
        self.settings = Settings.model_validate(self._function_environment())
        self.before = self.snapshot()
        assert self.before["secret names"]

    def _function_environment(self) -> dict[str, str]:
        client = self.sandbox.client("lambda")
        (resolve,) = [
            function
            for function in client.list_functions()["Functions"]
            if function["Handler"].endswith("resolve_run.handler")
        ]
        return resolve["Environment"]["Variables"]

    def snapshot(self) -> dict[str, Any]:
        secrets = self.sandbox.client("secretsmanager")
        return {
            "connectors": sorted(
                item["VoiceConnectorId"]
                for item in self.sandbox.client("chime-sdk-voice").list_voice_connectors()["VoiceConnectors"]
            ),
            "usernames": {name: sorted(self.sandbox.usernames(id_)) for name, id_ in self.ids.items()},
            "secrets": {name: self.sandbox.secret(id_) for name, id_ in self.ids.items()},
            "secret names": sorted(secret["Name"] for secret in secrets.list_secrets()["SecretList"]),
        }

    def send(self, execution_input: Any) -> tuple[Execution, list[dict[str, Any]]]:
        """Start a run with exactly this input (null and other non-objects included) and wait for it."""
        self.sandbox.chime_backend.calls.clear()
        arn = self.sandbox.client("stepfunctions").start_execution(
            stateMachineArn=self.sandbox.stack.state_machine_arn,
            name=str(uuid.uuid4()),
            input=json.dumps(execution_input),
        )["executionArn"]
        execution = self.sandbox.wait(arn, deadline_seconds=60)
        return execution, self.sandbox.audit_events()

    def assert_unchanged(self) -> None:
        changes = [
            call.operation for call in self.sandbox.chime_backend.calls if call.operation in (PUT, DELETE)
        ]
        assert changes == []
        assert self.snapshot() == self.before


@pytest.fixture(scope="module")
def quiet_fleet(module_sandbox_factory):
    return QuietFleet(module_sandbox_factory())


# Strategies


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(HUGE),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(UNICODE),
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=10,
    )


def shaped(schema: dict[str, Any], strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Values of the shape the model's JSON Schema describes (mostly valid), from the schema itself."""
    if "anyOf" in schema:
        return st.one_of(*(shaped(option, strings) for option in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "string" and "pattern" in schema:
        return st.from_regex(schema["pattern"]) | strings
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 20)) | strings
    if kind == "array":
        least = schema.get("minItems", 0)
        return st.lists(shaped(schema["items"], strings), min_size=least, max_size=max(least, 4))
    return json_values()  # no type: Comment takes anything


def near_miss(field: str, how: int) -> str:
    """A key that is almost a field's name: the kind of key a person types."""
    variants = [
        field.lower(),
        field + " ",
        " " + field,
        field[:-1],
        field.replace("a", "\u0430", 1).replace("e", "\u0435", 1),  # Cyrillic homoglyphs
        "\u200b" + field,
        field + "s",
    ]
    return variants[how % len(variants)]


def execution_inputs(strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Arbitrary JSON, biased to objects whose keys are the input's fields, mixed with unknown keys."""
    values = {field: shaped(SCHEMA[field], strings) for field in FIELDS}
    known = st.sampled_from(FIELDS)
    keys = st.one_of(
        known, known, known, st.builds(near_miss, known, st.integers(0, 6)), st.text(max_size=12)
    )

    def entry(key: str) -> st.SearchStrategy[tuple[str, Any]]:
        value = st.one_of(values[key], values[key], json_values()) if key in values else json_values()
        return st.tuples(st.just(key), value)

    mixed = st.lists(keys.flatmap(entry), max_size=6).map(dict)
    # Objects of the input's fields only, each value of its field's shape: most of these are valid runs.
    fitting = st.fixed_dictionaries({}, optional=values)
    return st.one_of(mixed, mixed, mixed, fitting, fitting, json_values())


def string_pool(voice_connector_ids: list[str]) -> st.SearchStrategy[str]:
    """Strings that fit some field: real ids, usual username prefixes."""
    return st.sampled_from([*voice_connector_ids, MISSING_ID, "sip-", "svc."])


# Oracles


def named_key(cause: str, execution_input: Any) -> str:
    """The input key the refusal's first clause names ("execution input" for the top level)."""
    assert cause.startswith(PREFIX), cause
    rest = cause.removeprefix(PREFIX)
    if not isinstance(execution_input, dict):
        assert rest == "must be a JSON object"
        return "execution input"
    for key in execution_input:
        for name in (key, ascii(key), f"{key[:MAX_KEY_CHARACTERS]!a} (cut)"):
            if rest.startswith((f"{name}:", f"{name}[")):
                return key
    raise AssertionError(f"the refusal names none of the input's keys: {cause[:300]!r}")


def check_run(fleet: QuietFleet, audit_schema: Any, execution_input: Any) -> tuple[str, dict[str, Any]]:
    """Send one input through the state machine; return "valid" or "InvalidInput", and the audit event."""
    execution, events = fleet.send(execution_input)
    calls = list(fleet.sandbox.chime_backend.calls)  # the run's own, before the checks below list anything

    assert execution.status in ("SUCCEEDED", "FAILED")
    (event,) = events
    audit_schema.validate(event)
    fleet.assert_unchanged()
    try:
        resolve_run(execution_input, "arn", datetime.now(UTC), fleet.settings, lambda: fleet.ids.values())
        expected = "valid"
    except InvalidInput:
        expected = "InvalidInput"
    if execution.error == "InvalidInput":
        assert (event["Outcome"], event["Error"]["Error"]) == ("FAILED", "InvalidInput")
        # Refused before anything is listed: not a single call reached the voice connectors.
        assert calls == []
        assert (event["Policy"], event["VoiceConnectors"]) == (None, [])
        named_key(event["Error"]["Cause"], execution_input)
        assert expected == "InvalidInput"
        return expected, event
    # A valid input: a plan, whose only failures are connectors that do not exist.
    assert event["Error"] is None
    assert event["Policy"] is not None
    fleet_ids = set(fleet.ids.values())
    for entry in event["VoiceConnectors"]:
        if entry["Error"]:
            assert entry["VoiceConnectorId"] not in fleet_ids
            assert entry["Error"]["Error"] == "NotFoundException"
        else:
            assert (entry["Stale"], entry["Deleted"], entry["Issued"]) == ([], [], None)
            assert entry["Rotation"]["Due"] is False
    assert (
        execution.error
        == {"SUCCEEDED": None, "PARTIAL": "PartiallyFailed", "FAILED": "ConnectorsFailed"}[event["Outcome"]]
    )
    assert expected == "valid"
    return expected, event


# Hypothesis settings shared by both property tests: the same examples on every machine, no slow-test
# complaints (a state machine run takes about half a second).
REPRODUCIBLE = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}


# 1. Arbitrary JSON through the state machine


@pytest.mark.slow
@settings(max_examples=70, **REPRODUCIBLE)
@given(data=st.data())
@example(data=None)
def test_arbitrary_json_ends_in_a_plan_or_invalid_input_and_changes_nothing(quiet_fleet, audit_schema, data):
    strings = string_pool(list(quiet_fleet.ids.values()))
    execution_input = (
        {"DryRun": False, "Rotate": True} if data is None else data.draw(execution_inputs(strings))
    )

    verdict, _ = check_run(quiet_fleet, audit_schema, execution_input)

    TRIED["state machine, arbitrary JSON"] += 1
    TRIED[f"state machine, arbitrary JSON: {verdict}"] += 1


# 2. Many more through ResolveRun's validation directly

DEFAULTS = template_default_settings()
FAKE_IDS = ["abcdefghij0123456789ab", "0123456789abcdefghijk", "c0ffee00-0000-4000-8000-000000000001"]
STARTED = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:rotation:run"
RUN_FIELDS = {"DryRun": "dry_run", "Trigger": "trigger", "VoiceConnectorIds": "voice_connector_ids"}


@pytest.mark.slow
@settings(max_examples=2_000, **REPRODUCIBLE)
@given(execution_input=execution_inputs(string_pool(FAKE_IDS)))
def test_resolve_run_returns_a_run_or_refuses_naming_a_field(execution_input):
    try:
        run = resolve_run(execution_input, ARN, STARTED, DEFAULTS, lambda: FAKE_IDS)
    except InvalidInput as error:
        named_key(str(error), execution_input)
        TRIED["resolve_run, arbitrary JSON: InvalidInput"] += 1
    else:
        # What the input gave is what the run uses, of the same JSON type (True never stands for 1).
        policy = run.policy.to_wire()
        wire = run.to_wire()
        for field, value in execution_input.items():
            assert value is not None or field == "Comment", field  # null is never absent
            if field == "Comment":
                continue
            used = wire[field] if field in RUN_FIELDS else policy[field]
            assert (type(used), used) == (type(value), value), field
        assert Run.parse(wire) == run  # the document the state machine hands on parses back
        TRIED["resolve_run, arbitrary JSON: valid"] += 1
    TRIED["resolve_run, arbitrary JSON"] += 1


# 3. Named cases through the state machine

# "{pbx}" and "{sbc}" stand for the fleet's connector ids, "{PBX}" for pbx's in upper case.
TEN_THOUSAND_PATTERNS = [f"sip-{number:05d}-*" for number in range(10_000)]
CASES = {
    # wrong types
    "max-age-days-string": ({"MaxAgeDays": "30"}, "MaxAgeDays"),
    "min-keep-list": ({"MinKeep": [1]}, "MinKeep"),
    "dry-run-number": ({"DryRun": 0}, "DryRun"),
    "dry-run-string": ({"DryRun": "false"}, "DryRun"),
    "min-keep-string": ({"MinKeep": "2"}, "MinKeep"),
    "rotate-string": ({"Rotate": "true"}, "Rotate"),
    "voice-connector-ids-string": ({"VoiceConnectorIds": "{pbx}"}, "VoiceConnectorIds"),
    "voice-connector-ids-number-item": (
        {"VoiceConnectorIds": [123456789012345678901]},
        "VoiceConnectorIds[0]",
    ),
    "protected-usernames-string": ({"ProtectedUsernames": "break-*"}, "ProtectedUsernames"),
    "username-prefix-list": ({"UsernamePrefix": ["sip-"]}, "UsernamePrefix"),
    "secret-name-prefix-number": ({"SecretNamePrefix": 7}, "SecretNamePrefix"),
    "secret-name-prefix-the-stacks-own": (
        {"SecretNamePrefix": "chime-voice-connector/rotation/"},
        "SecretNamePrefix",
    ),
    "trigger-number": ({"Trigger": 1}, "Trigger"),
    "trigger-wrong-case": ({"Trigger": "Schedule"}, "Trigger"),
    "trigger-unknown": ({"Trigger": "cron"}, "Trigger"),
    # null is not absent: {"DryRun": null} on a stack whose DryRun is false used to delete
    "dry-run-null": ({"DryRun": None}, "DryRun"),
    "voice-connector-ids-null": ({"VoiceConnectorIds": None}, "VoiceConnectorIds"),
    "max-deletions-null": ({"MaxDeletions": None, "DryRun": False}, "MaxDeletions"),
    "comment-null-is-ignored": ({"Comment": None}, "valid"),
    # bool for int, float for int: strict
    "max-age-days-true": ({"MaxAgeDays": True}, "MaxAgeDays"),
    "max-deletions-false": ({"MaxDeletions": False}, "MaxDeletions"),
    "max-age-days-whole-float": ({"MaxAgeDays": 30.0}, "MaxAgeDays"),
    "min-keep-fraction": ({"MinKeep": 1.5}, "MinKeep"),
    "grace-days-negative-zero": ({"GraceDays": -0.0}, "GraceDays"),
    # negative and huge numbers
    "max-age-days-negative": ({"MaxAgeDays": -1}, "MaxAgeDays"),
    "max-age-days-zero": ({"MaxAgeDays": 0}, "MaxAgeDays"),
    "max-deletions-negative": ({"MaxDeletions": -1}, "MaxDeletions"),
    "grace-days-negative": ({"GraceDays": -7}, "GraceDays"),
    "max-deletions-negative-huge": ({"MaxDeletions": -(10**30)}, "MaxDeletions"),
    "rotate-after-days-zero": ({"RotateAfterDays": 0}, "RotateAfterDays"),
    "max-age-days-10-to-the-30": ({"MaxAgeDays": 10**30}, "MaxAgeDays"),
    "max-age-days-10-to-the-400": ({"MaxAgeDays": 10**400}, "MaxAgeDays"),
    "max-deletions-2-to-the-64": ({"MaxDeletions": 2**64}, "MaxDeletions"),
    "rotate-after-days-1e308": ({"RotateAfterDays": 1e308}, "RotateAfterDays"),
    "min-keep-above-limit": ({"MinKeep": 101}, "MinKeep"),
    "max-age-days-at-limit": ({"MaxAgeDays": 36_500, "DryRun": False}, "valid"),
    "max-deletions-at-limit": ({"MaxDeletions": 10_000, "DryRun": False}, "valid"),
    "smallest-everything-applied": (
        {"MaxAgeDays": 1, "MinKeep": 1, "GraceDays": 0, "MaxDeletions": 0, "RotateAfterDays": 1}
        | {"Rotate": True, "DryRun": False},
        "valid",
    ),
    # ids: empty, duplicate, wrong pattern
    "voice-connector-ids-empty-list": ({"VoiceConnectorIds": []}, "VoiceConnectorIds"),
    "voice-connector-ids-duplicate": (
        {"VoiceConnectorIds": ["{pbx}", "{sbc}", "{pbx}"]},
        "VoiceConnectorIds",
    ),
    "voice-connector-ids-uppercase": ({"VoiceConnectorIds": ["{PBX}"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-uuid-uppercase": (
        {"VoiceConnectorIds": ["C0FFEE00-0000-4000-8000-000000000001"]},
        "VoiceConnectorIds[0]",
    ),
    "voice-connector-ids-too-short": ({"VoiceConnectorIds": ["abc123"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-too-long": ({"VoiceConnectorIds": ["a" * 23]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-empty-string": ({"VoiceConnectorIds": [""]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-path-traversal": (
        {"VoiceConnectorIds": ["../../../etc/passwd"]},
        "VoiceConnectorIds[0]",
    ),
    "voice-connector-ids-sql": ({"VoiceConnectorIds": ["x' OR '1'='1' --"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-trailing-newline": ({"VoiceConnectorIds": ["{pbx}\n"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-second-bad": ({"VoiceConnectorIds": ["{pbx}", "NOT-AN-ID"]}, "VoiceConnectorIds[1]"),
    "voice-connector-ids-not-an-id": ({"VoiceConnectorIds": ["NOT-AN-ID"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-101": (
        {"VoiceConnectorIds": [f"{number:022d}" for number in range(101)]},
        "VoiceConnectorIds",
    ),
    "voice-connector-ids-10000-entries": (
        {"VoiceConnectorIds": [f"{number:022d}" for number in range(10_000)]},
        "VoiceConnectorIds",
    ),
    "voice-connector-ids-two-real": ({"VoiceConnectorIds": ["{pbx}", "{sbc}"], "DryRun": False}, "valid"),
    "voice-connector-ids-well-formed-unknown": (
        {"VoiceConnectorIds": [MISSING_ID], "DryRun": False},
        "valid",
    ),
    # unicode
    "voice-connector-ids-homoglyph": (
        {"VoiceConnectorIds": ["\u0430bcdefghijklmnopqrstu"]},
        "VoiceConnectorIds[0]",
    ),
    "voice-connector-ids-fullwidth": (
        {"VoiceConnectorIds": [fullwidth(MISSING_ID)]},
        "VoiceConnectorIds[0]",
    ),
    "voice-connector-ids-nul": ({"VoiceConnectorIds": ["{pbx}\x00"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-rtl-override": ({"VoiceConnectorIds": ["\u202e{pbx}"]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-emoji": ({"VoiceConnectorIds": ["🔑" * 21]}, "VoiceConnectorIds[0]"),
    "voice-connector-ids-lone-surrogate": ({"VoiceConnectorIds": ["\ud800"]}, "VoiceConnectorIds[0]"),
    "username-prefix-emoji": ({"UsernamePrefix": "🔑-"}, "UsernamePrefix"),
    "username-prefix-nul": ({"UsernamePrefix": "sip\x00"}, "UsernamePrefix"),
    "username-prefix-rtl": ({"UsernamePrefix": "sip-\u202e"}, "UsernamePrefix"),
    "username-prefix-colon": ({"UsernamePrefix": "sip:"}, "UsernamePrefix"),
    "username-prefix-empty": ({"UsernamePrefix": ""}, "UsernamePrefix"),
    "username-prefix-33-chars": ({"UsernamePrefix": "s" * 33}, "UsernamePrefix"),
    "secret-name-prefix-homoglyph": (
        {"SecretNamePrefix": "\u0441hime-voice-connector/termination/"},
        "SecretNamePrefix",
    ),
    "secret-name-prefix-other-team": ({"SecretNamePrefix": "other-team/"}, "SecretNamePrefix"),
    "secret-name-prefix-dot-dot": (
        {"SecretNamePrefix": "chime-voice-connector/rotation/../other/"},
        "SecretNamePrefix",
    ),
    "protected-usernames-unicode": ({"ProtectedUsernames": ["שלום-*", "🔑*", "\u202e*", "\x00"]}, "valid"),
    "protected-usernames-odd-globs": ({"ProtectedUsernames": ["[", "[!", "[z-a]", "**", "\\"]}, "valid"),
    "protected-usernames-empty-pattern": ({"ProtectedUsernames": ["sip-*", ""]}, "ProtectedUsernames[1]"),
    "protected-usernames-129-characters": ({"ProtectedUsernames": ["x" * 129]}, "ProtectedUsernames[0]"),
    "protected-usernames-101-entries": (
        {"ProtectedUsernames": TEN_THOUSAND_PATTERNS[:101]},
        "ProtectedUsernames",
    ),
    "protected-usernames-10000-entries": (
        {"ProtectedUsernames": TEN_THOUSAND_PATTERNS},
        "ProtectedUsernames",
    ),
    "comment-unicode": ({"Comment": "שלום 🔑 \u202e \x00", "DryRun": False}, "valid"),
    "comment-deeply-nested": ({"Comment": json.loads("[" * 100 + "]" * 100), "DryRun": False}, "valid"),
    "comment-console-default": ({"Comment": "Insert your JSON here", "DryRun": False}, "valid"),
    "comment-over-4-kib": ({"Comment": "x" * 5_000, "DryRun": False}, "Comment"),
    "comment-250-kb": ({"Comment": "x" * 250_000, "DryRun": False}, "Comment"),
    # nested objects where scalars belong
    "max-age-days-object": ({"MaxAgeDays": {"value": 30}}, "MaxAgeDays"),
    "dry-run-object": ({"DryRun": {"DryRun": False}}, "DryRun"),
    "voice-connector-ids-object": ({"VoiceConnectorIds": {"0": "{pbx}"}}, "VoiceConnectorIds"),
    "voice-connector-ids-nested-list": ({"VoiceConnectorIds": [["{pbx}"]]}, "VoiceConnectorIds[0]"),
    "protected-usernames-object-item": (
        {"ProtectedUsernames": [{"pattern": "sip-*"}]},
        "ProtectedUsernames[0]",
    ),
    "trigger-object": ({"Trigger": {"Type": "nightly"}}, "Trigger"),
    # unknown keys
    "unknown-key-typo": ({"MaxAgeDay": 30}, "MaxAgeDay"),
    "unknown-key-lower-case": ({"dryrun": False}, "dryrun"),
    "unknown-key-homoglyph": ({"\u041caxAgeDays": 30}, "'\\u041caxAgeDays'"),
    "unknown-key-empty": ({"": 1}, "''"),
    "unknown-key-int": ({"int": 1}, "int"),
    "unknown-key-brackets": ({"MaxAgeDays[0]": 1}, "'MaxAgeDays[0]'"),
    "unknown-key-nul": ({"\x00": 1}, "'\\x00'"),
    "unknown-key-wrapped-input": ({"Input": {"DryRun": False}}, "Input"),
    "unknown-key-10000-keys": ({f"k{number}": 0 for number in range(10_000)}, "k0"),
    # not an object
    "top-level-array": (["DryRun", False], "execution input"),
    "top-level-string": ("DryRun", "execution input"),
    "top-level-null": (None, "execution input"),
    "top-level-number": (1, "execution input"),
    "top-level-true": (True, "execution input"),
    "top-level-empty-object": ({}, "valid"),
}


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return (
            value.replace("{PBX}", ids["pbx"].upper())
            .replace("{pbx}", ids["pbx"])
            .replace("{sbc}", ids["sbc"])
        )
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in strings_in(item)]


@pytest.mark.parametrize(
    ("execution_input", "expected"),
    [pytest.param(*case, id=name) for name, case in CASES.items()],
)
def test_named_bad_input(quiet_fleet, audit_schema, execution_input, expected):
    execution_input = fill(execution_input, quiet_fleet.ids)
    assert len(json.dumps(execution_input).encode()) <= 256 * 1024  # Step Functions' input limit

    verdict, event = check_run(quiet_fleet, audit_schema, execution_input)

    TRIED["state machine, named cases"] += 1
    if expected == "valid":
        assert verdict == "valid"
        return
    assert verdict == "InvalidInput"
    cause = event["Error"]["Cause"]
    assert cause.removeprefix(PREFIX).startswith((f"{expected}:", "must be a JSON object")), cause[:300]
    assert expected != "execution input" or not isinstance(execution_input, dict)
    # Values are never echoed (they may be usernames); the field is named instead.
    assert [text for text in strings_in(execution_input) if len(text) >= 5 and text in cause] == []
