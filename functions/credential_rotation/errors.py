"""Errors a task raises on purpose.

The class name is the error name Step Functions sees, so each is named for what the state machine does
with it. Messages never carry a username or a password, because the Lambda runtime logs them.
"""


# Raised at the run's level: the run is refused (FAILED) and nothing is deleted.


class InvalidInput(ValueError):
    """The execution input (or a stack default) breaks the input contract; the message names the field."""


class DeletionLimitExceeded(RuntimeError):
    """The run's plan would delete more usernames than MaxDeletions allows."""


class TooManyVoiceConnectors(RuntimeError):
    """More voice connectors than one run can process within Step Functions' history limit."""


class RunInProgress(RuntimeError):
    """Another execution that may change connectors is running: this one is refused before it lists."""


class MalformedTaskInput(ValueError):
    """A task received a document that breaks its contract: a defect in the state machine, not the input."""


# Raised for one connector: it fails, nothing is deleted on it, the other connectors go on.


class SuccessorNotListed(RuntimeError):
    """TestSecret did not find the successor on the connector after SetSecret put it there."""
