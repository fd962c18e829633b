"""New usernames and passwords: their shape, what is refused, and that they are random."""

import inspect
import random
import re
import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credential_rotation.domain.successor import USERNAME_PREFIX, new_password, new_username

ISSUED_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
PREFIX_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")
SUFFIX_CHARACTERS = frozenset(string.ascii_lowercase + string.digits)
PASSWORD_CHARACTERS = frozenset(string.ascii_letters + string.digits)
EXAMPLES = settings(max_examples=200, deadline=None)
# A password generator loops until a draw has every class, so a generator whose every call Hypothesis
# controls would shrink to one that always returns the first option and never stops: passwords get a
# seeded generator instead, and the redraw is driven by how many draws come from a lacking pool.
SEEDED = st.randoms(use_true_random=True)

VALID_PREFIXES = st.text(alphabet="".join(sorted(PREFIX_CHARACTERS)), min_size=1, max_size=32)
ISSUE_DATES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


class Scripted:
    """A ``choice`` that returns the characters of a script in turn, each of which must be on offer."""

    def __init__(self, script: str) -> None:
        self.remaining = iter(script)

    def __call__(self, options: Sequence[str]) -> str:
        character = next(self.remaining)
        assert character in options
        return character


class Recording:
    """A ``choice`` drawing from a seeded generator, first from a restricted pool, that keeps every draw.

    ``pool`` narrows the options for the first ``narrowed`` draws (e.g. to digits only), which makes
    the first passwords miss a character class and so exercises the redraw.
    """

    def __init__(self, rng: random.Random, pool: str = "", narrowed: int = 0) -> None:
        self.rng = rng
        self.pool = pool
        self.narrowed = narrowed
        self.offered: list[Sequence[str]] = []
        self.drawn: list[str] = []

    def __call__(self, options: Sequence[str]) -> str:
        self.offered.append(options)
        candidates = [c for c in options if c in self.pool] if len(self.drawn) < self.narrowed else options
        character = self.rng.choice(list(candidates))
        self.drawn.append(character)
        return character


def has_every_class(password: str) -> bool:
    return (
        any(c in string.ascii_lowercase for c in password)
        and any(c in string.ascii_uppercase for c in password)
        and any(c in string.digits for c in password)
    )


# --- usernames --------------------------------------------------------------------------------------


def test_a_username_is_prefix_issue_date_dash_and_eight_chosen_characters() -> None:
    assert new_username("sip-", ISSUED_AT, Scripted("k3v9q0zt")) == "sip-20260105-k3v9q0zt"


def test_the_date_in_a_username_is_the_issue_date_whatever_the_time_of_day() -> None:
    late = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)

    assert new_username("vc", late, Scripted("00000000")) == "vc20251231-00000000"


@EXAMPLES
@given(VALID_PREFIXES, ISSUE_DATES, st.randoms(use_true_random=False))
def test_every_username_has_the_documented_shape(
    prefix: str, issued_at: datetime, rng: random.Random
) -> None:
    username = new_username(prefix, issued_at, Recording(rng))

    assert username.startswith(prefix)
    date, dash, suffix = username[len(prefix) :].partition("-")
    assert dash == "-"
    assert date == f"{issued_at.year:04d}{issued_at.month:02d}{issued_at.day:02d}"
    assert len(suffix) == 8
    assert set(suffix) <= SUFFIX_CHARACTERS


@EXAMPLES
@given(VALID_PREFIXES, st.randoms(use_true_random=False))
def test_the_suffix_is_drawn_from_lowercase_letters_and_digits_only(prefix: str, rng: random.Random) -> None:
    choice = Recording(rng)

    username = new_username(prefix, ISSUED_AT, choice)

    assert len(choice.offered) == 8
    assert all(set(options) == SUFFIX_CHARACTERS for options in choice.offered)
    assert username.endswith("-" + "".join(choice.drawn))


@pytest.mark.parametrize(
    "prefix",
    ["sip:", ":", "sip user", " ", "", "a" * 33, "é", "sipé", "sip\n", "sip\t", "١٢", "sip/", "sip@", "sip*"],
)
def test_an_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="username prefix"):
        new_username(prefix, ISSUED_AT, Scripted("aaaaaaaa"))


@pytest.mark.parametrize(
    "prefix", ["sip", "SIP", "vc-", "vc_", "vc.", "0", "-", "_", ".", "a.B-c_9", "a" * 32]
)
def test_letters_digits_dash_underscore_and_dot_make_a_valid_prefix(prefix: str) -> None:
    assert USERNAME_PREFIX.fullmatch(prefix)
    assert new_username(prefix, ISSUED_AT, Scripted("aaaaaaaa")) == f"{prefix}20260105-aaaaaaaa"


@EXAMPLES
@given(st.text(max_size=40))
def test_a_prefix_is_accepted_exactly_when_it_is_1_to_32_allowed_characters(prefix: str) -> None:
    valid = 1 <= len(prefix) <= 32 and set(prefix) <= PREFIX_CHARACTERS

    assert bool(USERNAME_PREFIX.fullmatch(prefix)) is valid
    if valid:
        assert new_username(prefix, ISSUED_AT, Scripted("abcd1234")).startswith(prefix)
    else:
        with pytest.raises(ValueError, match="username prefix"):
            new_username(prefix, ISSUED_AT, Scripted("abcd1234"))


def test_no_username_contains_a_colon_sip_digest_uses_as_separator() -> None:
    with pytest.raises(ValueError, match="username prefix"):
        new_username("a:b", ISSUED_AT)
    assert ":" not in new_username("sip-", ISSUED_AT)


# --- passwords --------------------------------------------------------------------------------------


def test_a_password_has_40_characters_by_default() -> None:
    assert len(new_password()) == 40


def test_a_password_of_32_characters_is_allowed() -> None:
    assert len(new_password(length=32)) == 32


@pytest.mark.parametrize("length", [31, 8, 0, -1])
def test_a_password_shorter_than_32_characters_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        new_password(length=length)


def test_a_draw_missing_a_character_class_is_redrawn_whole() -> None:
    no_digit = "aB" * 20
    no_uppercase = "a1" * 20
    no_lowercase = "A1" * 20
    accepted = "A" * 38 + "b1"

    assert new_password(Scripted(no_digit + no_uppercase + no_lowercase + accepted)) == accepted


@EXAMPLES
@given(st.integers(min_value=32, max_value=80), SEEDED)
def test_every_password_has_the_length_asked_letters_and_digits_only_and_every_class(
    length: int, rng: random.Random
) -> None:
    password = new_password(Recording(rng), length)

    assert len(password) == length
    assert set(password) <= PASSWORD_CHARACTERS
    assert has_every_class(password)


@EXAMPLES
@given(
    SEEDED,
    # Each pool lacks at least one class; together they lack each class in turn.
    st.sampled_from(
        [
            string.digits,
            string.ascii_lowercase + string.digits,
            string.ascii_uppercase + string.digits,
            string.ascii_letters,
        ]
    ),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=32, max_value=48),
)
def test_the_password_is_the_first_whole_draw_that_has_every_class(
    rng: random.Random, pool: str, narrowed: int, length: int
) -> None:
    # The first ``narrowed`` characters come from one pool that lacks a class, so every draw that lies
    # wholly within them is rejected; draws after that are random and may be rejected too.
    choice = Recording(rng, pool, narrowed)

    password = new_password(choice, length)

    assert all(set(options) == PASSWORD_CHARACTERS for options in choice.offered)
    assert len(choice.drawn) % length == 0
    draws = ["".join(choice.drawn[i : i + length]) for i in range(0, len(choice.drawn), length)]
    assert draws[-1] == password
    assert has_every_class(password)
    assert not any(has_every_class(draw) for draw in draws[:-1])
    assert len(draws) > narrowed // length


@EXAMPLES
@given(st.integers(min_value=0, max_value=2**32), VALID_PREFIXES, ISSUE_DATES)
def test_the_same_choices_give_the_same_username_and_password(
    seed: int, prefix: str, issued_at: datetime
) -> None:
    def issue() -> tuple[str, str]:
        choice = Recording(random.Random(seed))
        return new_username(prefix, issued_at, choice), new_password(choice)

    assert issue() == issue()


def test_the_default_choice_is_the_operating_systems_csprng() -> None:
    assert inspect.signature(new_username).parameters["choice"].default is secrets.choice
    assert inspect.signature(new_password).parameters["choice"].default is secrets.choice


def test_two_hundred_default_usernames_are_all_different() -> None:
    usernames = {new_username("sip-", ISSUED_AT) for _ in range(200)}

    assert len(usernames) == 200
    assert all(re.fullmatch(r"sip-20260105-[a-z0-9]{8}", username) for username in usernames)


def test_two_hundred_default_passwords_are_all_different() -> None:
    passwords = {new_password() for _ in range(200)}

    assert len(passwords) == 200
    assert all(len(password) == 40 and has_every_class(password) for password in passwords)
