"""The execution input contract's refusals: each names its field, readably, whatever the input."""

import json

import pytest

from credential_rotation.domain.errors import InvalidInput
from credential_rotation.domain.targets import parse_targets
from credential_rotation.tasks.fleet import split_fleet_input
from credential_rotation.tasks.run_input import MAX_COMMENT_BYTES, RunInput, parse_input
from sandbox.template import REPOSITORY


def refusal(execution_input: object) -> str:
    with pytest.raises(InvalidInput) as raised:
        parse_input(execution_input)
    return str(raised.value)


@pytest.mark.parametrize(
    ("key", "named"),
    [
        # pydantic's union-branch names and brackets: models.describe dropped these as noise
        ("int", "int"),
        ("none", "none"),
        ("list[str]", "'list[str]'"),
        ("a[0]", "'a[0]'"),
        ("", "''"),
        ("\x00", "'\\x00'"),
    ],
)
def test_an_unknown_key_is_always_named(key, named):
    assert refusal({key: 1}) == f"execution input: {named}: is not an input field"


def test_a_homoglyph_of_a_field_is_shown_escaped_not_passed_off_as_the_field():
    message = refusal({"\u041caxAgeDays": 30})  # Cyrillic capital M

    assert message == "execution input: '\\u041caxAgeDays': is not an input field (did you mean MaxAgeDays?)"


def test_a_typo_gets_a_suggestion():
    assert refusal({"MaxAgeDay": 30}).endswith("MaxAgeDay: is not an input field (did you mean MaxAgeDays?)")


def test_a_long_unknown_key_is_cut():
    message = refusal({"k" * 10_000: 1})

    assert message == f"execution input: {'k' * 64!r} (cut): is not an input field"


def test_thousands_of_problems_make_a_short_message_that_names_the_first():
    message = refusal({f"k{number}": 0 for number in range(10_000)})

    assert message.startswith("execution input: k0: is not an input field; k1: ")
    assert message.endswith("; and 9990 more problems")
    assert len(message) < 1_000


def test_a_comment_is_anything_small():
    assert parse_input({"Comment": "Insert your JSON here"}).Comment == "Insert your JSON here"
    assert parse_input({"Comment": {"ticket": [1, None, "x" * 100]}}).Comment["ticket"][0] == 1
    assert parse_input({"Comment": "x" * (MAX_COMMENT_BYTES - 2)}).Comment  # 2 quotes


@pytest.mark.parametrize(
    "comment",
    ["x" * (MAX_COMMENT_BYTES - 1), ["x" * 1_000] * 5, "\u05e9" * 1_000],
    ids=["text", "list", "hebrew"],
)
def test_a_comment_too_big_for_the_run_state_is_refused(comment):
    # The input travels in every state of the run; a big one would end it in States.DataLimitExceeded,
    # which no Catch takes, possibly after deletions and before the audit event.
    assert refusal({"Comment": comment, "DryRun": False}) == (
        f"execution input: Comment: must be at most {MAX_COMMENT_BYTES} bytes as JSON"
    )


# Every field of RunInput but Comment: for each, null is refused, not read as "absent".
NULLABLE_FIELDS = sorted(set(RunInput.model_fields) - {"Comment"})


@pytest.mark.parametrize("field", NULLABLE_FIELDS)
def test_a_field_present_with_null_is_refused_naming_it(field):
    # {"DryRun": null} used to mean "the stack's default", which on a stack whose DryRun is false deletes.
    assert refusal({field: None}) == (
        f"execution input: {field}: must not be null: leave the field out to take the stack's default"
    )


def test_every_null_is_named_and_the_other_problems_too():
    message = refusal({"DryRun": None, "VoiceConnectorIds": None, "MaxAgeDays": "90"})

    assert "DryRun: must not be null" in message
    assert "VoiceConnectorIds: must not be null" in message
    assert "MaxAgeDays: Input should be a valid integer" in message


def test_a_null_comment_is_ignored_like_any_comment():
    assert parse_input({"Comment": None}).Comment is None


@pytest.mark.parametrize("value", ["chime-voice-connector/rotation/", "other-team/", None, 7])
def test_the_secret_name_prefix_is_refused_whatever_its_value(value):
    # A run that looked under another prefix would find no secret and judge the live credential stale.
    message = refusal({"SecretNamePrefix": value, "DryRun": True})

    assert message.startswith("execution input: SecretNamePrefix: is a stack parameter only")


def test_an_unknown_key_is_named_even_when_its_value_is_null():
    assert (
        refusal({"Dryrun": None}) == "execution input: Dryrun: is not an input field (did you mean DryRun?)"
    )


def test_every_example_input_in_events_holds_to_the_contract():
    folder = REPOSITORY / "events"
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text())
        if path.name == "invalid-input.json":
            with pytest.raises(InvalidInput):
                parse_input(raw)
        elif path.name.startswith("fleet-"):
            # Fleet mode's inputs: single-account mode's fields, plus Targets and MaxDeletionsPerAccount.
            rest, targets, _ = split_fleet_input(raw)
            parse_input(rest)
            parse_targets(targets)
        else:
            parse_input(raw)
    assert {"revoke.json", "evidence.json", "fleet-dry-run.json"} <= {
        path.name for path in folder.glob("*.json")
    }
