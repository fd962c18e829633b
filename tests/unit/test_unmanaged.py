"""Usernames the ledger cannot key are set apart, with what is wrong, and the rest are judged as usual."""

import pytest

from credential_rotation.domain.unmanaged import (
    MAX_USERNAME_BYTES,
    Unmanageable,
    sort_listing,
    why_unmanageable,
)


@pytest.mark.parametrize(
    ("username", "why"),
    [
        ("", Unmanageable.EMPTY),
        (None, Unmanageable.NOT_TEXT),
        (7, Unmanageable.NOT_TEXT),
        ("pbx-\ud800", Unmanageable.NOT_ENCODABLE),  # a lone surrogate: JSON can carry it, UTF-8 cannot
        ("x" * (MAX_USERNAME_BYTES + 1), Unmanageable.TOO_LONG),
        ("\u00e9" * (MAX_USERNAME_BYTES // 2 + 1), Unmanageable.TOO_LONG),  # 2 bytes each in UTF-8
        ("x" * MAX_USERNAME_BYTES, None),
        ("\u00e9" * (MAX_USERNAME_BYTES // 2), None),
        (" ", None),
        ("sip-20260105-k3v9q0zt", None),
    ],
    ids=[
        "empty",
        "null",
        "number",
        "surrogate",
        "long",
        "long-in-bytes",
        "longest",
        "longest-in-bytes",
        "space",
        "issued",
    ],
)
def test_why_a_username_cannot_be_managed(username, why):
    assert why_unmanageable(username) == why


def test_the_listing_is_sorted_into_managed_once_each_and_unmanaged_with_their_reason():
    listing = ["pbx-a", "", "pbx-b", "pbx-a", "x" * 2_000]

    sorted_listing = sort_listing(listing)

    assert sorted_listing.managed == ("pbx-a", "pbx-b")
    assert sorted_listing.unmanaged == (("", Unmanageable.EMPTY), ("x" * 2_000, Unmanageable.TOO_LONG))
