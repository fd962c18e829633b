"""Fleet mode's targets: which accounts and Regions a run rotates, and the (account, Region) pairs they
resolve to.

``Targets`` is the input (and stack parameter) that says it, in one of two forms:

- ``Accounts`` and ``Regions``: every listed account in every listed Region;
- ``OrganizationalUnitIds`` (OUs, or the organization's root) and ``Regions``: every ACTIVE account under
  them at any depth, as Organizations lists them, narrowed to ``IncludeAccounts`` when given, less
  ``ExcludeAccounts`` (exclude wins over include).

It is checked as strictly as the rest of the execution input (``tasks/run_input.py``): an unknown key, a
wrong type, a malformed id or a Region where Chime SDK Voice Connector is not available refuses the run
with a message that names the field, and ``null`` is refused rather than read as absent. ``resolve`` is
pure: the accounts Organizations returned go in, the sorted pairs come out; a run that would rotate
nothing, or more than one run can carry, is refused with a named error rather than quietly doing less.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from credential_rotation.domain.errors import InvalidInput, RotationError
from credential_rotation.domain.input_keys import MAX_PROBLEMS, did_you_mean, key_label

# ListAvailableVoiceConnectorRegions' answer, and the service model's VoiceConnectorAwsRegion enum
# (tests/unit/test_targets.py holds this to botocore's copy of the model).
VOICE_CONNECTOR_REGIONS = frozenset(
    {
        "us-east-1",
        "us-west-2",
        "ca-central-1",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-southeast-1",
        "ap-southeast-2",
    }
)
# Organizations' patterns (AccountId, OrganizationalUnitId, RootId), with [0-9] for \d: Python's \d also
# matches other scripts' digits, which no account id has.
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ORGANIZATIONAL_UNIT_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}")
ROOT_ID = re.compile(r"r-[0-9a-z]{4,32}")
# An account Organizations lists as anything else (SUSPENDED, PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION)
# has no voice connectors a run could reach.
ACTIVE = "ACTIVE"
# One run's targets, whatever the form. Each target is a child workflow's item and a line of the run's
# report; a fleet larger than this is split across several schedules (by OU or by Region).
MAX_TARGETS = 10_000
MAX_ACCOUNTS = MAX_TARGETS
# Each is listed recursively; more than this is better said as their parent OU or the root.
MAX_ORGANIZATIONAL_UNITS = 100
# Account ids named in one message (as many as problems in one refusal).
MAX_NAMED_ACCOUNTS = 10
# The spoke's role (fleet/spoke.yaml): one per Region, since IAM names are global to the account and the
# StackSet deploys the spoke once per account and Region.
SPOKE_ROLE_NAME_PREFIX = "vc-credential-rotation-spoke-"
# IAM's RoleName: 1-64 of these characters.
ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
PARTITION = re.compile(r"aws(-[a-z]+)*")


class NoTargets(RotationError):
    """The Targets resolve to no (account, Region) pair: the run is refused rather than rotating nothing
    and reporting success."""


class TooManyTargets(RotationError):
    """The Targets resolve to more (account, Region) pairs than one run processes (MAX_TARGETS)."""


@dataclass(frozen=True, order=True)
class Target:
    """One account and Region a fleet run rotates; ordered by account, then Region."""

    account: str
    region: str

    def role_arn(self, partition: str = "aws", role_name_prefix: str = SPOKE_ROLE_NAME_PREFIX) -> str:
        """The spoke role the hub assumes for this account and Region."""
        if not PARTITION.fullmatch(partition):
            raise ValueError("partition: is not an AWS partition name (aws, aws-cn, aws-us-gov, ...)")
        role_name = f"{role_name_prefix}{self.region}"
        if not ROLE_NAME.fullmatch(role_name):
            raise ValueError(
                "role_name_prefix: with the Region, must make an IAM role name (at most 64 letters, digits "
                "and +=,.@_-)"
            )
        return f"arn:{partition}:iam::{self.account}:role/{role_name}"


@dataclass(frozen=True)
class OrganizationAccount:
    """An account as Organizations lists it: its id and its state (State, formerly Status)."""

    account_id: str
    state: str

    @property
    def active(self) -> bool:
        return self.state == ACTIVE


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null: leave the field out")
    return value


def _account_id(value: str) -> str:
    if not ACCOUNT_ID.fullmatch(value):
        raise ValueError("is not an AWS account id (12 digits, as a string)")
    return value


def _region(value: str) -> str:
    if value not in VOICE_CONNECTOR_REGIONS:
        raise ValueError(
            "is not a Region where Chime SDK Voice Connector is available (one of "
            f"{', '.join(sorted(VOICE_CONNECTOR_REGIONS))})"
        )
    return value


def _parent_id(value: str) -> str:
    if not (ORGANIZATIONAL_UNIT_ID.fullmatch(value) or ROOT_ID.fullmatch(value)):
        raise ValueError("is not an organizational unit id (ou-...) or the organization's root id (r-...)")
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("lists the same id more than once")
    return values


AccountId = Annotated[str, AfterValidator(_account_id)]
Region = Annotated[str, AfterValidator(_region)]
ParentId = Annotated[str, AfterValidator(_parent_id)]
# A list field: present means one or more distinct ids; absent is None; null is refused (it would
# otherwise read as absent).
NotNull = BeforeValidator(_not_null)
AccountList = Annotated[
    list[AccountId], Field(min_length=1, max_length=MAX_ACCOUNTS), AfterValidator(_unique)
]
RegionList = Annotated[
    list[Region], Field(min_length=1, max_length=len(VOICE_CONNECTOR_REGIONS)), AfterValidator(_unique)
]
ParentList = Annotated[
    list[ParentId], Field(min_length=1, max_length=MAX_ORGANIZATIONAL_UNITS), AfterValidator(_unique)
]


class Targets(BaseModel):
    """What a fleet run rotates. ``Regions`` always; then ``Accounts``, or ``OrganizationalUnitIds`` with
    optional ``IncludeAccounts`` and ``ExcludeAccounts``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    Regions: Annotated[RegionList, NotNull]
    Accounts: Annotated[AccountList | None, NotNull] = None
    OrganizationalUnitIds: Annotated[ParentList | None, NotNull] = None
    IncludeAccounts: Annotated[AccountList | None, NotNull] = None
    ExcludeAccounts: Annotated[AccountList | None, NotNull] = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.Accounts is not None and self.OrganizationalUnitIds is not None:
            raise ValueError(
                "Accounts: not with OrganizationalUnitIds: name the accounts, or the organizational units "
                "to find them in, not both"
            )
        if self.Accounts is None and self.OrganizationalUnitIds is None:
            raise ValueError("Accounts or OrganizationalUnitIds: one is required")
        if self.Accounts is not None:
            for name in ("IncludeAccounts", "ExcludeAccounts"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name}: only with OrganizationalUnitIds (with Accounts, list the ones to rotate)"
                    )
        return self


def _problems(error: ValidationError, field: str) -> list[str]:
    """One clause per problem, each naming the field within Targets; values are never echoed."""
    problems = []
    for detail in error.errors(include_url=False, include_input=False):
        message = detail["msg"].removeprefix("Value error, ")
        key, *indices = detail["loc"] or ("",)
        if detail["type"] == "extra_forbidden":
            hint = did_you_mean(str(key), Targets.model_fields)
            problems.append(f"{field}.{key_label(str(key))}: is not a field of Targets{hint}")
        elif key == "":
            # The whole object's rules (_one_form): the message starts with the fields it is about.
            problems.append(f"{field}.{message}")
        else:
            problems.append(f"{field}.{key}" + "".join(f"[{index}]" for index in indices) + f": {message}")
    return problems


def parse_targets(raw: object, source: str = "execution input", field: str = "Targets") -> Targets:
    """The Targets document, or InvalidInput naming every problem (at most MAX_PROBLEMS) by its field."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source}: {field}: must be a JSON object")
    try:
        return Targets.model_validate(raw)
    except ValidationError as error:
        problems = _problems(error, field)
    if len(problems) > MAX_PROBLEMS:
        problems[MAX_PROBLEMS:] = [f"and {len(problems) - MAX_PROBLEMS} more problems"]
    raise InvalidInput(f"{source}: " + "; ".join(problems))


def unknown_parent(parent_id: str, field: str = "Targets.OrganizationalUnitIds") -> InvalidInput:
    """What the Organizations port raises for a given OU (or root) the organization does not have; the
    id is named, since it was checked to be one (it can carry nothing else)."""
    return InvalidInput(f"{field}: {parent_id} is not an organizational unit or root of the organization")


def _named(accounts: Iterable[str]) -> str:
    ordered = sorted(accounts)
    shown = ", ".join(ordered[:MAX_NAMED_ACCOUNTS])
    more = len(ordered) - MAX_NAMED_ACCOUNTS
    return f"{shown} and {more} more" if more > 0 else shown


def resolve(
    targets: Targets,
    organization_accounts: Iterable[OrganizationAccount] = (),
    field: str = "Targets",
) -> list[Target]:
    """The (account, Region) pairs to rotate, sorted and each once.

    With ``Accounts``, those accounts (``organization_accounts`` is not consulted: an account list may
    name accounts outside any organization). With ``OrganizationalUnitIds``, ``organization_accounts`` is
    what the Organizations port listed under them: the ACTIVE ones, narrowed to IncludeAccounts when
    given, less ExcludeAccounts. An IncludeAccounts entry the OUs do not hold refuses the run (InvalidInput
    naming it), so a typo never quietly narrows the run to nothing; an empty result is NoTargets, and more
    than MAX_TARGETS is TooManyTargets.
    """
    regions: Sequence[str] = sorted(set(targets.Regions))
    if targets.Accounts is not None:
        accounts = set(targets.Accounts)
    else:
        accounts = _organization_accounts(targets, organization_accounts, field)
    count = len(accounts) * len(regions)
    if count > MAX_TARGETS:
        raise TooManyTargets(
            f"{field}: {len(accounts)} accounts by {len(regions)} Regions make {count} targets; one run "
            f"processes at most {MAX_TARGETS}: split them across several schedules (by OU or by Region)"
        )
    return [Target(account, region) for account in sorted(accounts) for region in regions]


def _organization_accounts(
    targets: Targets, organization_accounts: Iterable[OrganizationAccount], field: str
) -> set[str]:
    listed = {account.account_id: account for account in organization_accounts}
    active = {account_id for account_id, account in listed.items() if account.active}
    included = active
    if targets.IncludeAccounts is not None:
        unknown = set(targets.IncludeAccounts) - set(listed)
        if unknown:
            raise InvalidInput(
                f"{field}.IncludeAccounts: {_named(unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} not under the OrganizationalUnitIds"
            )
        included = active & set(targets.IncludeAccounts)
    accounts = included - set(targets.ExcludeAccounts or ())
    if not accounts:
        # Why, in counts: the ids are the organization's, and a refusal names fields, not the fleet.
        if not active:
            why = f"the OrganizationalUnitIds hold {len(listed)} accounts, none of them ACTIVE"
        elif not included:
            why = "no account of IncludeAccounts is ACTIVE"
        else:
            why = f"ExcludeAccounts excludes all {len(included)} ACTIVE accounts left"
        raise NoTargets(f"{field}: resolve to no account to rotate: {why}")
    return accounts
