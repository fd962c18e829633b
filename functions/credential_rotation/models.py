"""The documents that pass between the state machine's tasks.

Field names are PascalCase on the wire, as everywhere else in Step Functions and the AWS APIs.
"""

from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_pascal

from credential_rotation.errors import MalformedTaskInput
from credential_rotation.policy import PolicySettings, Reason
from credential_rotation.rotation_due import RotationReason

Trigger = Literal["schedule", "manual"]


def describe(error: ValidationError, source: str) -> str:
    """One clause per problem, each naming the field. Values are never echoed: they may be usernames."""
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        field = _field_name(detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}" if field else message)
    return f"{source}: " + "; ".join(problems)


def _field_name(location: tuple[int | str, ...]) -> str:
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        # pydantic also names the branch of a union it tried ('list[...]', 'int'); that is noise here.
        elif "[" not in part and part not in ("int", "bool", "str", "none"):
            name += f".{part}" if name else part
    return name


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, frozen=True)

    @classmethod
    def parse(cls, event: Any) -> Self:
        try:
            return cls.model_validate(event)
        except ValidationError as error:
            raise MalformedTaskInput(describe(error, f"{cls.__name__} task input")) from None

    def to_wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


class Policy(WireModel):
    """The effective policy of a run: execution input over stack defaults."""

    max_age_days: int
    min_keep: int
    protected_usernames: tuple[str, ...]
    max_deletions: int
    grace_days: int
    rotate: bool
    rotate_after_days: int
    username_prefix: str
    secret_name_prefix: str

    def settings(self) -> PolicySettings:
        return PolicySettings(
            max_age_days=self.max_age_days,
            min_keep=self.min_keep,
            protected_patterns=self.protected_usernames,
            grace_days=self.grace_days,
        )


class Run(WireModel):
    execution_arn: str
    started_at: AwareDatetime
    trigger: Trigger
    dry_run: bool
    policy: Policy
    voice_connector_ids: tuple[str, ...]
    max_concurrency: int


class ResolveRunRequest(WireModel):
    input: Any = None
    execution_arn: str
    started_at: AwareDatetime


class DeletionLimitRequest(WireModel):
    plans: tuple[dict[str, Any], ...]
    max_deletions: int


class ConnectorTask(WireModel):
    """What every per-connector task receives: the connector, the run's policy and its clock."""

    voice_connector_id: str
    policy: Policy
    # The run's start time is the clock for every judgement in the run, so all connectors are judged
    # against the same instant and a retried task judges exactly as the first attempt did.
    now: AwareDatetime


class Credential(WireModel):
    username: str
    first_seen_at: AwareDatetime


class Listing(WireModel):
    voice_connector_id: str
    credentials: tuple[Credential, ...]
    # The usernames the connector's secret labels AWSCURRENT and (for an unfinished successor) AWSPENDING.
    current: str | None = None
    pending: str | None = None


class FindStaleRequest(ConnectorTask):
    credentials: tuple[Credential, ...]
    current: str | None = None
    pending: str | None = None


class RotationEntry(WireModel):
    due: bool
    reason: RotationReason


class ConnectorPlan(WireModel):
    """Kept small: 100 connectors' plans travel together in the run's state, which Step Functions caps at
    256 KiB. The listing is the keys of Reasons (in the policy's order); what is kept is what is not stale.
    """

    voice_connector_id: str
    stale: tuple[str, ...]
    reasons: dict[str, Reason]
    current: str | None
    rotation: RotationEntry


class DeletionRequest(ConnectorTask):
    execution_arn: str
    stale: tuple[str, ...] = Field(min_length=1)


class DeletionResult(WireModel):
    voice_connector_id: str
    deleted: tuple[str, ...]
    # Planned as stale, but no longer present or no longer stale when the delete step re-listed.
    skipped: tuple[str, ...]
    ledger_updated: bool = True


IssueStep = Literal["CreateSecret", "SetSecret", "TestSecret", "FinishSecret"]


class Successor(WireModel):
    """A successor credential as the state machine and the audit event see it: never its password."""

    username: str
    secret_arn: str
    version_id: str
    issued_at: AwareDatetime
    # True once AWSCURRENT names it: the phone system is told to use it.
    promoted: bool = False


class IssueRequest(ConnectorTask):
    """One step of issuing a successor, in the order of Secrets Manager's rotation contract."""

    step: IssueStep
    execution_arn: str
    successor: Successor | None = None
