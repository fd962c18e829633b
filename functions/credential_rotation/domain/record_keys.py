"""Where a run's records live in the audit bucket: one folder per execution, the reports by date."""

from credential_rotation.domain.targets import Target


def execution_name(execution_arn: str) -> str:
    """The last part of an execution ARN: unique per state machine, and safe in an S3 key."""
    return execution_arn.rsplit(":", 1)[-1]


def connector_path(voice_connector_id: str, target: Target | None = None) -> str:
    """A connector's part of a record's key: its id, under its account and Region in a fleet run."""
    if target is None:
        return voice_connector_id
    return f"{target.account}/{target.region}/{voice_connector_id}"


def plan_key(execution_arn: str, voice_connector_id: str, target: Target | None = None) -> str:
    return f"runs/{execution_name(execution_arn)}/plans/{connector_path(voice_connector_id, target)}.json"


def outcome_key(execution_arn: str, voice_connector_id: str, target: Target | None = None) -> str:
    return f"runs/{execution_name(execution_arn)}/outcomes/{connector_path(voice_connector_id, target)}.json"


def restore_key(execution_arn: str, voice_connector_id: str, target: Target | None = None) -> str:
    return f"runs/{execution_name(execution_arn)}/restores/{connector_path(voice_connector_id, target)}.json"


def report_key(execution_arn: str, started_at: str, fleet: bool = False) -> str:
    # Dated folders, so that a person finds a night's report by its date. A fleet run's report is named
    # apart: its execution name may also be one of the single-account state machine's.
    day = started_at[:10].replace("-", "/")
    return f"reports/{day}/{'fleet-' if fleet else ''}{execution_name(execution_arn)}.json"
