"""Errors a task raises on purpose.

The class name is the error name Step Functions sees, so each is named for what the state machine does
with it. Messages never carry a username or a password, because the Lambda runtime logs them: they name
fields, steps and records instead. ``task.py`` lets these messages through and withholds every other
error's text.
"""


class RotationError(Exception):
    """An error of this project: its message names what is wrong, never a value."""


# Raised at the run's level: the run is refused (FAILED) and nothing is deleted.


class InvalidInput(RotationError, ValueError):
    """The execution input (or a stack default) breaks the input contract; the message names the field."""


class DeletionLimitExceeded(RotationError):
    """The run's plan would delete more usernames than MaxDeletions allows."""


class AuditLimitExceeded(RotationError):
    """The run's plan names more stale usernames than one SNS audit event can carry: a run that deleted
    them could not name every deletion in its audit event, so it deletes none."""


class TooManyVoiceConnectors(RotationError):
    """More voice connectors than one run can process within Step Functions' history limit."""


class RunInProgress(RotationError):
    """Another execution that may change connectors is running: this one is refused before it lists."""


class MalformedTaskInput(RotationError, ValueError):
    """A task received a document that breaks its contract: a defect in the state machine, not the input."""


# Raised for one connector: it fails, nothing is deleted on it, the other connectors go on.


class SuccessorNotListed(RotationError):
    """TestSecret did not find the successor on the connector after SetSecret put it there."""


class CurrentCredentialUnverified(RotationError):
    """The ledger says this workflow issued the connector's credential, but its secret's AWSCURRENT cannot
    be read and matched to a credential on the connector: which one the phone system uses is unknown."""


class UntrustedSuccessor(RotationError):
    """A pending successor in the connector's secret that this workflow did not create, or whose content
    is not what it created: it is neither put on the connector nor promoted."""


class MalformedSecret(RotationError):
    """A version of the connector's secret is not the JSON document this workflow writes."""


class RunRecordMismatch(RotationError):
    """A run record in the audit bucket is not the one the run wrote (its digest differs)."""


class DeletionOutcomeUnknown(RotationError):
    """The delete call's answer was lost (a connection closed or timed out): the service may have deleted.
    The marks stay and the step is retried; the retry re-lists and reports what is gone."""


# Raised while indexing call detail records: the record is retried, and in the end dead-lettered, so the
# index reports itself stale and deletions that depend on its evidence are held.


class MalformedCallRecord(RotationError):
    """A call detail record that is not what Chime documents: it cannot be counted as evidence."""


class MalformedIndexRow(RotationError):
    """A row of the call-record index that is not what the indexer writes: the connector's evidence is
    stale until a person repairs or removes it."""


# Fleet mode.


class SpokeRoleUnavailable(RotationError):
    """The hub could not assume an account's spoke role in a Region (not deployed there, a trust that does
    not name this hub, a wrong external id, or STS unreachable): nothing is done in that account and Region,
    and the run reports it."""


class ChimeRateLimited(RotationError):
    """The account and Region's pace of Chime SDK Voice calls has no slot for this call within the task's
    waiting budget (many workers queued behind a low limit): nothing was called, and the state machine
    retries the step later, as it does a throttle."""
