"""Fingerprints are keyed: without the stack's key, a fingerprint of a guessable username tells nothing."""

import hashlib

import pytest

from credential_rotation.domain.redaction import FINGERPRINT_HEX_DIGITS, Fingerprints

KEY = b"k" * 64
VC = "abcdefghijklmnopqrstuv"


def test_a_fingerprint_is_stable_short_and_depends_on_the_key_and_the_connector():
    fingerprints = Fingerprints(KEY)

    first = fingerprints.of(VC, "pbx-london")

    assert first == fingerprints.of(VC, "pbx-london")
    assert len(first) == FINGERPRINT_HEX_DIGITS
    assert first != Fingerprints(b"j" * 64).of(VC, "pbx-london")
    assert first != fingerprints.of("bcdefghijklmnopqrstuvw", "pbx-london")


def test_a_dictionary_of_likely_usernames_does_not_reverse_a_fingerprint():
    fingerprint = Fingerprints(KEY).of(VC, "pbx-london")
    dictionary = [
        f"{site}-{city}" for site in ("pbx", "sbc", "sip", "trunk") for city in ("london", "paris", "tokyo")
    ]

    # What a plain (unkeyed) hash would give away, salted with the connector as before.
    unkeyed = {
        hashlib.sha256(f"{VC}\x00{word}".encode()).hexdigest()[:FINGERPRINT_HEX_DIGITS] for word in dictionary
    }

    assert fingerprint not in unkeyed


def test_any_username_gets_one_even_one_that_is_not_text_or_valid_utf8():
    fingerprints = Fingerprints(KEY)

    assert len({fingerprints.of(VC, username) for username in ("\ud800", None, "", "x" * 5_000)}) == 4


def test_the_key_is_never_shown_and_must_be_long():
    assert "k" * 8 not in repr(Fingerprints(KEY))
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Fingerprints(b"short")
