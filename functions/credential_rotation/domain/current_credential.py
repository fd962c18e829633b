"""Which credential the phone system is told to use: the connector's AWSCURRENT, matched through the ledger.

Pure: the secret's stages (no value), the ledger's view and the listing come in. The secret alone is not
trusted to say: anyone who can write a version could move AWSCURRENT, and a run that cannot find the
secret (deleted, scheduled for deletion, under another name) would see no AWSCURRENT at all and judge
the live credential stale. So what this workflow issued is known from its own ledger, which records the
version id of every successor it created and when it promoted one.

- Where the ledger shows this workflow issued the connector's credential, AWSCURRENT must be readable
  and must be a version the ledger knows, naming a credential that is on the connector. Anything else
  raises CurrentCredentialUnverified, which fails the connector: nothing is deleted or issued on it.
  The ledger shows it by a promotion it recorded, or by a successor of its own that is on the connector
  and is not the secret's unfinished one (a promotion whose record was lost, or one recorded before
  promotions were: stacks that predate PromotedAt are protected from their first run).
- Where it shows none (the connector was never rotated, or its first successor is still being issued),
  AWSCURRENT counts only if it is a version the ledger knows and its credential is listed.
"""

from collections.abc import Collection

from credential_rotation.domain.errors import CurrentCredentialUnverified
from credential_rotation.domain.ledger_records import PRESENT, LedgerView
from credential_rotation.domain.secret_versions import CURRENT, SecretState


def current_username(secret: SecretState | None, view: LedgerView, listed: Collection[str]) -> str | None:
    """The username AWSCURRENT names, or None when the connector has none this workflow issued."""
    problem, username = _match(secret, view, listed)
    if problem is None:
        return username
    if _issued_here(secret, view):
        raise CurrentCredentialUnverified(
            f"this workflow issued the connector's current credential, but {problem}: which credential the "
            "phone system uses is unknown, so nothing is deleted or issued on this connector until a person "
            "restores the secret"
        )
    return None


def _issued_here(secret: SecretState | None, view: LedgerView) -> bool:
    unfinished = secret.unfinished() if secret is not None else None
    return view.promoted_any or any(
        record.state == PRESENT and record.secret_version_id not in (None, unfinished)
        for record in view.records.values()
    )


def _match(
    secret: SecretState | None, view: LedgerView, listed: Collection[str]
) -> tuple[str | None, str | None]:
    if secret is None:
        return "the connector's secret does not exist", None
    if secret.deleted:
        return "the connector's secret is scheduled for deletion", None
    version = secret.labelled(CURRENT)
    if version is None:
        return "the connector's secret has no AWSCURRENT version", None
    record = view.by_version().get(version)
    if record is None:
        return "the secret's AWSCURRENT is a version this workflow did not issue", None
    if record.username not in listed:
        return "the secret's AWSCURRENT names a credential that is not on the voice connector", None
    return None, record.username
