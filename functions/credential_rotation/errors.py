"""Errors a task raises on purpose.

The class name is the error name Step Functions sees, so each is named for what the state machine does
with it: all of them end the run as refused (FAILED) without deleting anything. Messages never carry a
username or a password, because the Lambda runtime logs them.
"""


class InvalidInput(ValueError):
    """The execution input (or a stack default) breaks the input contract; the message names the field."""


class DeletionLimitExceeded(RuntimeError):
    """The run's plan would delete more usernames than MaxDeletions allows."""


class TooManyVoiceConnectors(RuntimeError):
    """More voice connectors than one run can process within Step Functions' history limit."""


class MalformedTaskInput(ValueError):
    """A task received a document that breaks its contract: a defect in the state machine, not the input."""
