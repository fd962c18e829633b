"""Issue a successor credential in the four steps of Secrets Manager's rotation contract.

CreateSecret  choose a new username, record it in the ledger, and store it with a new password as the
              AWSPENDING version of the connector's secret;
SetSecret     put it on the voice connector;
TestSecret    list the connector's credentials again and find it there;
FinishSecret  move AWSCURRENT to it (the old version becomes AWSPREVIOUS) and record that in the ledger.

Each step is its own task, so each retries on its own and the audit event names the step that failed.
The password never leaves Secrets Manager and the Lambda function's memory: the steps pass the version id.
This is the only step that reads or writes a secret's values.

Every step is idempotent and the whole is restartable. The version id is the ClientRequestToken, derived
from the execution and the connector, so a retried CreateSecret finds the version it stored, or the
username an attempt recorded before it could store one. A later run that finds an unfinished successor
(AWSPENDING, not AWSCURRENT) finishes that one instead of minting a second: but only its own. A pending
version is trusted only if the ledger recorded its version id when this workflow created it, and its
content is what was created (this connector, the issued username format, the username and date
recorded). The username was not on the connector before the workflow put it: CreateSecret draws one the
listing does not hold, and records it only if the ledger has never seen it. Anything else is refused
with UntrustedSuccessor: nothing is put on the connector and nothing promoted.
"""

import re
import uuid
from datetime import datetime

from credential_rotation.domain.errors import MalformedTaskInput, SuccessorNotListed, UntrustedSuccessor
from credential_rotation.domain.ledger_records import ISSUING, PRESENT, LedgerRecord
from credential_rotation.domain.models import IssueRequest, Successor
from credential_rotation.domain.secret_versions import StoredCredential
from credential_rotation.domain.successor import (
    PASSWORD_ALPHABET,
    PASSWORD_LENGTH,
    SUFFIX_ALPHABET,
    SUFFIX_LENGTH,
    SYSTEM_CHOICE,
    USERNAME_PREFIX,
    Choice,
    new_password,
    new_username,
)
from credential_rotation.ports import ConnectorSecrets, Ledger, VoiceConnectors

# Fixed namespace for the version ids: the same execution and connector always give the same token.
TOKEN_NAMESPACE = uuid.UUID("6f1c2c4e-53a5-4d7b-9a43-0c2f8d1e7b10")
# What new_username makes: <prefix><YYYYMMDD>-<suffix>.
ISSUED_USERNAME = re.compile(
    rf"{USERNAME_PREFIX.pattern}[0-9]{{8}}-[{re.escape(SUFFIX_ALPHABET)}]{{{SUFFIX_LENGTH}}}"
)
ISSUED_PASSWORD = re.compile(rf"[{re.escape(PASSWORD_ALPHABET)}]{{{PASSWORD_LENGTH}}}")
# A new username that happens to exist already is drawn again; 36^8 suffixes make a second draw rare.
MAX_DRAWS = 5


def version_token(execution_arn: str, voice_connector_id: str, purpose: str = "successor") -> str:
    return str(uuid.uuid5(TOKEN_NAMESPACE, f"{purpose}/{execution_arn}/{voice_connector_id}"))


def create_secret(
    request: IssueRequest,
    secrets: ConnectorSecrets,
    ledger: Ledger,
    chime: VoiceConnectors,
    now: datetime,
    choice: Choice | None = None,
) -> Successor:
    vc_id = request.voice_connector_id
    token = version_token(request.execution_arn, vc_id)
    state = secrets.state(vc_id)
    if state is None:
        secrets.enrol(vc_id, version_token(request.execution_arn, vc_id, "enrolment"))
        state = secrets.state(vc_id)
    if state is None or state.deleted:
        raise UntrustedSuccessor(
            "the connector's secret is scheduled for deletion: no successor can be stored in it"
        )
    if token in state.versions:
        stored = trusted_successor(request, secrets, ledger, token)  # this task, retried
    elif (unfinished := state.unfinished()) is not None:
        # An interrupted run's successor: finish it, mint none.
        stored = trusted_successor(request, secrets, ledger, unfinished)
    else:
        stored = _store_new(request, token, secrets, ledger, chime, now, choice)
    return Successor(
        username=stored.username,
        secret_arn=state.arn,
        version_id=stored.version_id,
        issued_at=stored.issued_at,
    )


def _store_new(
    request: IssueRequest,
    token: str,
    secrets: ConnectorSecrets,
    ledger: Ledger,
    chime: VoiceConnectors,
    now: datetime,
    choice: Choice | None,
) -> StoredCredential:
    """Record the successor in the ledger first, then store it: a version stored but never recorded would
    look planted. A retry after the record and before the store reuses the recorded username."""
    vc_id = request.voice_connector_id
    draw = choice or SYSTEM_CHOICE
    recorded = ledger.read(vc_id).by_version().get(token)
    if recorded is not None and recorded.issued_at is not None:
        username, issued_at = recorded.username, recorded.issued_at
    else:
        username, issued_at = _choose_username(request, ledger, chime, token, now, draw), now
    password = new_password(draw)
    version_id = secrets.store_pending(vc_id, token, username, password, issued_at=issued_at)
    return StoredCredential(vc_id, username, issued_at, version_id, password)


def _choose_username(
    request: IssueRequest,
    ledger: Ledger,
    chime: VoiceConnectors,
    token: str,
    now: datetime,
    draw: Choice,
) -> str:
    vc_id = request.voice_connector_id
    listed = set(chime.usernames(vc_id))
    for _ in range(MAX_DRAWS):
        username = new_username(request.policy.username_prefix, now, draw)
        # Never one the connector has, nor one the ledger has seen: "not on the connector before the put".
        if username not in listed and ledger.record_issuing(
            vc_id, username, token, now, request.execution_arn
        ):
            return username
    raise UntrustedSuccessor(f"no new username could be drawn in {MAX_DRAWS} tries: each one already existed")


def trusted_successor(
    request: IssueRequest,
    secrets: ConnectorSecrets,
    ledger: Ledger,
    version_id: str,
) -> StoredCredential:
    """The successor in ``version_id``, if this workflow created it; UntrustedSuccessor otherwise."""
    vc_id = request.voice_connector_id
    record = ledger.read(vc_id).by_version().get(version_id)
    if record is None:
        raise UntrustedSuccessor(
            f"secret version {version_id} was not created by this workflow (the ledger has no record of "
            "it): nothing is put on the connector and nothing promoted; a person must remove that version"
        )
    stored = secrets.read(vc_id, version_id)
    problem = _content_problem(stored, record, vc_id)
    if problem is not None:
        raise UntrustedSuccessor(
            f"secret version {version_id} is not the successor this workflow created ({problem}): nothing "
            "is put on the connector and nothing promoted; a person must remove that version"
        )
    return stored


def _content_problem(stored: StoredCredential, record: LedgerRecord, vc_id: str) -> str | None:
    if stored.voice_connector_id != vc_id:
        return "it names another voice connector"
    if stored.username != record.username:
        return "its username is not the one the ledger recorded"
    if not ISSUED_USERNAME.fullmatch(stored.username):
        return "its username does not have the issued format"
    if not ISSUED_PASSWORD.fullmatch(stored.password):
        return "its password does not have the issued format"
    if stored.issued_at != record.issued_at:
        return "its issue date is not the one the ledger recorded"
    if record.state not in (ISSUING, PRESENT):
        return "the ledger records its credential as gone or deleted"
    return None


def set_secret(
    request: IssueRequest,
    secrets: ConnectorSecrets,
    ledger: Ledger,
    chime: VoiceConnectors,
) -> None:
    successor = required_successor(request)
    stored = trusted_successor(request, secrets, ledger, successor.version_id)
    chime.put(request.voice_connector_id, stored.username, stored.password)


def test_secret(request: IssueRequest, chime: VoiceConnectors) -> None:
    successor = required_successor(request)
    if successor.username not in chime.usernames(request.voice_connector_id):
        raise SuccessorNotListed(
            "the successor credential is not listed on the voice connector after it was put: "
            "AWSCURRENT stays where it is and nothing is deleted on this connector"
        )


def finish_secret(
    request: IssueRequest,
    secrets: ConnectorSecrets,
    ledger: Ledger,
    now: datetime,
) -> Successor:
    successor = required_successor(request)
    vc_id = request.voice_connector_id
    secrets.promote(vc_id, successor.version_id)
    # Dated from now, when it was proven on the connector: the grace of its predecessors counts from here.
    ledger.record_promoted(vc_id, successor.username, verified_at=now, promoted_at=now)
    return successor.model_copy(update={"promoted": True})


def required_successor(request: IssueRequest) -> Successor:
    if request.successor is None:
        raise MalformedTaskInput(f"IssueRequest task input: Successor: required for {request.step}")
    return request.successor


def issue_step(
    request: IssueRequest,
    secrets: ConnectorSecrets,
    ledger: Ledger,
    chime: VoiceConnectors,
    now: datetime,
) -> Successor:
    """The step the state machine names, and the successor as it stands after it."""
    match request.step:
        case "CreateSecret":
            return create_secret(request, secrets, ledger, chime, now)
        case "SetSecret":
            set_secret(request, secrets, ledger, chime)
        case "TestSecret":
            test_secret(request, chime)
        case "FinishSecret":
            return finish_secret(request, secrets, ledger, now)
    return required_successor(request)
