"""Issue a successor credential in the four steps of Secrets Manager's rotation contract.

CreateSecret  store a new username and password as the AWSPENDING version of the connector's secret;
SetSecret     put it on the voice connector;
TestSecret    list the connector's credentials again and find it there;
FinishSecret  move AWSCURRENT to it (the old version becomes AWSPREVIOUS) and record it in the ledger.

Each step is its own task, so each retries on its own and the audit event names the step that failed.
The password never leaves Secrets Manager and the Lambda function's memory: the steps pass the version id.

Every step is idempotent and the whole is restartable. The version id is the ClientRequestToken, derived
from the execution and the connector, so a retried CreateSecret finds the version it stored. A later run
that finds an unfinished successor (AWSPENDING, not AWSCURRENT) finishes that one instead of minting a
second, so a run interrupted between any two steps converges when run again.
"""

import uuid
from datetime import datetime

from credential_rotation.chime import VoiceConnectorCredentials
from credential_rotation.errors import MalformedTaskInput, SuccessorNotListed
from credential_rotation.ledger import CredentialLedger
from credential_rotation.models import IssueRequest, Successor
from credential_rotation.secret_store import ConnectorSecrets, StoredCredential, secret_name
from credential_rotation.successor import Choice, new_password, new_username

# Fixed namespace for the version ids: the same execution and connector always give the same token.
TOKEN_NAMESPACE = uuid.UUID("6f1c2c4e-53a5-4d7b-9a43-0c2f8d1e7b10")


def version_token(execution_arn: str, voice_connector_id: str, purpose: str = "successor") -> str:
    return str(uuid.uuid5(TOKEN_NAMESPACE, f"{purpose}/{execution_arn}/{voice_connector_id}"))


def create_secret(
    request: IssueRequest, secrets: ConnectorSecrets, now: datetime, choice: Choice | None = None
) -> Successor:
    vc_id = request.voice_connector_id
    name = secret_name(request.policy.secret_name_prefix, vc_id)
    token = version_token(request.execution_arn, vc_id)
    state = secrets.state(name)
    if state is None:
        secrets.enrol(name, vc_id, version_token(request.execution_arn, vc_id, "enrolment"))
        state = secrets.state(name)
    if token in state.versions:
        stored = secrets.read(name, token)  # this task, retried after it stored the version
    elif (unfinished := state.unfinished()) is not None:
        stored = secrets.read(name, unfinished)  # an interrupted run's successor: finish it, mint none
    else:
        extra = {"choice": choice} if choice else {}
        username = new_username(request.policy.username_prefix, now, **extra)
        password = new_password(**extra)
        version_id = secrets.store_pending(name, token, vc_id, username, password, issued_at=now)
        stored = StoredCredential(vc_id, username, now, version_id)
    return _successor(stored, state.arn)


def set_secret(request: IssueRequest, secrets: ConnectorSecrets, chime: VoiceConnectorCredentials) -> None:
    successor = _required_successor(request)
    stored = secrets.read(
        secret_name(request.policy.secret_name_prefix, request.voice_connector_id), successor.version_id
    )
    chime.put(request.voice_connector_id, stored.username, stored.password)


def test_secret(request: IssueRequest, chime: VoiceConnectorCredentials) -> None:
    successor = _required_successor(request)
    if successor.username not in chime.usernames(request.voice_connector_id):
        raise SuccessorNotListed(
            "the successor credential is not listed on the voice connector after it was put: "
            "AWSCURRENT stays where it is and nothing is deleted on this connector"
        )


def finish_secret(
    request: IssueRequest, secrets: ConnectorSecrets, ledger: CredentialLedger, now: datetime
) -> Successor:
    successor = _required_successor(request)
    vc_id = request.voice_connector_id
    secrets.promote(secret_name(request.policy.secret_name_prefix, vc_id), successor.version_id)
    # Dated from now, when it was proven on the connector: the grace of its predecessors counts from here.
    ledger.record_issued(
        vc_id, successor.username, now, successor.issued_at, request.execution_arn, successor.version_id
    )
    return successor.model_copy(update={"promoted": True})


def _successor(stored: StoredCredential, secret_arn: str) -> Successor:
    return Successor(
        username=stored.username,
        secret_arn=secret_arn,
        version_id=stored.version_id,
        issued_at=stored.issued_at,
    )


def _required_successor(request: IssueRequest) -> Successor:
    if request.successor is None:
        raise MalformedTaskInput(f"IssueRequest task input: Successor: required for {request.step}")
    return request.successor
