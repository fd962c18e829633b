"""What logs may say about a username: a short fingerprint, never the username itself.

The fingerprint is an HMAC-SHA256 keyed with a per-stack secret that the stack generates (the template's
FingerprintKey) and that is never logged. A plain hash of a person-chosen username ("pbx-london") is
reversed by hashing a small dictionary; without the key, a fingerprint tells nothing. An operator with
``secretsmanager:GetSecretValue`` on the key computes a username's fingerprint to search the logs (the
README shows how).
"""

import hashlib
import hmac
from collections.abc import Iterable, Sequence

# 64 bits: no collisions among any connector's credentials, and short enough to read in a log line.
FINGERPRINT_HEX_DIGITS = 16
# Fingerprints in one log line, at most: a connector with thousands of credentials must not make a line
# longer than CloudWatch Logs takes (256 KiB). The audit report names them all.
MAX_LOGGED_FINGERPRINTS = 500


class Fingerprints:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the fingerprint key must have at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Fingerprints(<key withheld>)"

    def of(self, voice_connector_id: str, username: object) -> str:
        # Keyed with the connector too, so equal usernames on different connectors differ in the logs.
        # surrogatepass: even a username that is not valid UTF-8 text gets a fingerprint.
        text = f"{voice_connector_id}\x00{username}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX_DIGITS]

    def of_all(self, voice_connector_id: str, usernames: Iterable[object]) -> list[str]:
        return [self.of(voice_connector_id, username) for username in usernames]


def logged_fingerprints(
    fingerprints: Fingerprints, voice_connector_id: str, usernames: Sequence[object]
) -> dict[str, object]:
    """Fingerprints for a log line: how many there are, and the first MAX_LOGGED_FINGERPRINTS of them."""
    return {
        "count": len(usernames),
        "fingerprints": fingerprints.of_all(voice_connector_id, usernames[:MAX_LOGGED_FINGERPRINTS]),
    }
