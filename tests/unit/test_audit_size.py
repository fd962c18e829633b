"""The audit event fits an SNS message: whole when it can, else without what the execution history keeps."""

import json

from credential_rotation.audit import LEFT_OUT_WHEN_TRUNCATED, MAX_MESSAGE_BYTES, fit_for_sns


def connector(n: int, usernames: int, length: int) -> dict:
    names = [f"{n:03d}-{i:02d}-".ljust(length, "x") for i in range(usernames)]
    return {
        "VoiceConnectorId": f"vc{n:020d}",
        "Listed": names,
        "Current": None,
        "Stale": names[1:],
        "Deleted": names[1:],
        "Kept": names[:1],
        "Reasons": dict.fromkeys(names, "stale"),
        "Rotation": {"Due": False, "Reason": "rotation-off"},
        "Issued": None,
        "Error": None,
    }


def event(connectors: int, usernames: int = 10, length: int = 60) -> dict:
    return {
        "SchemaVersion": "1.2",
        "Outcome": "SUCCEEDED",
        "VoiceConnectors": [connector(n, usernames, length) for n in range(connectors)],
    }


def size(document: dict) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


def test_an_event_that_fits_is_published_whole():
    small = event(5)
    assert fit_for_sns(small) is small
    assert "Truncated" not in small


def test_an_event_too_big_for_sns_leaves_out_only_listings_and_verdicts():
    big = event(100)
    assert size(big) > MAX_MESSAGE_BYTES

    published = fit_for_sns(big)

    assert published["Truncated"] is True
    assert size(published) <= MAX_MESSAGE_BYTES
    for whole, cut in zip(big["VoiceConnectors"], published["VoiceConnectors"], strict=True):
        assert set(whole) - set(cut) == set(LEFT_OUT_WHEN_TRUNCATED)
        assert {key: whole[key] for key in cut} == cut
    # The whole event is not changed: the run's metrics are counted from it.
    assert "Listed" in big["VoiceConnectors"][0]
