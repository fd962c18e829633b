"""What logs may say about a username: a short, stable fingerprint, never the username itself."""

from hashlib import sha256


def fingerprint(voice_connector_id: str, username: str) -> str:
    # Salting with the connector id keeps equal usernames on different connectors apart in the logs.
    return sha256(f"{voice_connector_id}\x00{username}".encode()).hexdigest()[:12]


def fingerprints(voice_connector_id: str, usernames: list[str] | tuple[str, ...]) -> list[str]:
    return [fingerprint(voice_connector_id, username) for username in usernames]
