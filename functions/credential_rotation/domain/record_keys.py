"""Where a run's records live in the audit bucket: one folder per execution, the reports by date."""


def execution_name(execution_arn: str) -> str:
    """The last part of an execution ARN: unique per state machine, and safe in an S3 key."""
    return execution_arn.rsplit(":", 1)[-1]


def plan_key(execution_arn: str, voice_connector_id: str) -> str:
    return f"runs/{execution_name(execution_arn)}/plans/{voice_connector_id}.json"


def outcome_key(execution_arn: str, voice_connector_id: str) -> str:
    return f"runs/{execution_name(execution_arn)}/outcomes/{voice_connector_id}.json"


def restore_key(execution_arn: str, voice_connector_id: str) -> str:
    return f"runs/{execution_name(execution_arn)}/restores/{voice_connector_id}.json"


def report_key(execution_arn: str, started_at: str) -> str:
    # Dated folders, so that a person finds a night's report by its date.
    day = started_at[:10].replace("-", "/")
    return f"reports/{day}/{execution_name(execution_arn)}.json"
