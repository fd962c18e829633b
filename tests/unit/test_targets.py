"""Fleet mode's Targets: the input's contract (every problem named by its field, null refused) and
``resolve``, pure, over the in-memory organization."""

import gzip
import json
from pathlib import Path

import botocore
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credential_rotation.domain.errors import InvalidInput, RotationError
from credential_rotation.domain.targets import (
    MAX_TARGETS,
    VOICE_CONNECTOR_REGIONS,
    NoTargets,
    OrganizationAccount,
    Target,
    TooManyTargets,
    parse_targets,
    resolve,
)
from tests.support.fakes import FakeOrganization, fault, service_error

A, B, C, D = "111111111111", "222222222222", "333333333333", "444444444444"
ROOT = "r-a1b2"
PROD, PROD_EU, SANDBOX = "ou-a1b2-prod0001", "ou-a1b2-prodeu01", "ou-a1b2-sandbox1"


def refusal(raw: object) -> str:
    with pytest.raises(InvalidInput) as refused:
        parse_targets(raw)
    return str(refused.value)


def organization() -> FakeOrganization:
    """root: A; PROD: B, and PROD_EU below it: C, and D (SUSPENDED); SANDBOX: nothing."""
    org = FakeOrganization(ROOT)
    org.add_unit(PROD)
    org.add_unit(PROD_EU, PROD)
    org.add_unit(SANDBOX)
    org.add_account(A)
    org.add_account(B, PROD)
    org.add_account(C, PROD_EU)
    org.add_account(D, PROD_EU, state="SUSPENDED")
    return org


def resolved(raw: dict[str, object], org: FakeOrganization | None = None) -> list[Target]:
    targets = parse_targets(raw)
    found = org.accounts_under(targets.OrganizationalUnitIds) if targets.OrganizationalUnitIds else ()
    return resolve(targets, found)


# The two forms


def test_explicit_accounts_by_regions_sorted_each_once():
    targets = resolved({"Accounts": [B, A], "Regions": ["us-west-2", "eu-west-2", "us-east-1"]})

    assert targets == [
        Target(A, "eu-west-2"),
        Target(A, "us-east-1"),
        Target(A, "us-west-2"),
        Target(B, "eu-west-2"),
        Target(B, "us-east-1"),
        Target(B, "us-west-2"),
    ]


def test_explicit_accounts_do_not_consult_the_organization():
    # An account list may name accounts outside any organization, or suspended in it: listed is rotated.
    targets = parse_targets({"Accounts": [D], "Regions": ["us-east-1"]})

    assert resolve(targets, [OrganizationAccount(D, "SUSPENDED")]) == [Target(D, "us-east-1")]


def test_an_ou_resolves_to_its_active_accounts_at_every_depth():
    assert resolved({"OrganizationalUnitIds": [PROD], "Regions": ["us-east-1"]}, organization()) == [
        Target(B, "us-east-1"),
        Target(C, "us-east-1"),  # in PROD_EU, below PROD; D beside it is SUSPENDED
    ]


def test_the_root_resolves_to_every_active_account():
    targets = resolved({"OrganizationalUnitIds": [ROOT], "Regions": ["eu-west-1"]}, organization())

    assert [target.account for target in targets] == [A, B, C]


def test_overlapping_ous_give_each_account_once():
    targets = resolved(
        {"OrganizationalUnitIds": [PROD_EU, PROD, ROOT], "Regions": ["us-east-1", "us-west-2"]},
        organization(),
    )

    assert targets == sorted(set(targets))
    assert [target.account for target in targets] == [A, A, B, B, C, C]


@pytest.mark.parametrize("state", ["SUSPENDED", "PENDING_CLOSURE", "CLOSED", "PENDING_ACTIVATION", ""])
def test_only_active_accounts_are_rotated(state):
    found = [OrganizationAccount(A, "ACTIVE"), OrganizationAccount(B, state)]
    targets = parse_targets({"OrganizationalUnitIds": [PROD], "Regions": ["us-east-1"]})

    assert resolve(targets, found) == [Target(A, "us-east-1")]


# Include and exclude


def test_include_narrows_to_the_accounts_it_names():
    raw = {"OrganizationalUnitIds": [ROOT], "IncludeAccounts": [C, A], "Regions": ["us-east-1"]}

    assert [target.account for target in resolved(raw, organization())] == [A, C]


def test_exclude_removes_accounts():
    raw = {"OrganizationalUnitIds": [ROOT], "ExcludeAccounts": [B], "Regions": ["us-east-1"]}

    assert [target.account for target in resolved(raw, organization())] == [A, C]


def test_exclude_wins_over_include():
    raw = {
        "OrganizationalUnitIds": [ROOT],
        "IncludeAccounts": [A, B],
        "ExcludeAccounts": [B],
        "Regions": ["us-east-1"],
    }

    assert [target.account for target in resolved(raw, organization())] == [A]


def test_excluding_an_account_not_in_the_ous_is_harmless():
    raw = {"OrganizationalUnitIds": [PROD], "ExcludeAccounts": [A], "Regions": ["us-east-1"]}

    assert [target.account for target in resolved(raw, organization())] == [B, C]


def test_an_included_account_not_under_the_ous_is_named():
    # A is in the organization, but in the root, not under PROD: including it must not rotate nothing.
    raw = {
        "OrganizationalUnitIds": [PROD],
        "IncludeAccounts": [A, "999999999999", B],
        "Regions": ["us-east-1"],
    }

    with pytest.raises(InvalidInput) as refused:
        resolved(raw, organization())

    assert str(refused.value) == (
        "Targets.IncludeAccounts: 111111111111, 999999999999 are not under the OrganizationalUnitIds"
    )


def test_many_unknown_included_accounts_are_named_up_to_ten():
    unknown = [f"{n:012d}" for n in range(500, 525)]
    raw = {"OrganizationalUnitIds": [PROD], "IncludeAccounts": unknown, "Regions": ["us-east-1"]}

    with pytest.raises(InvalidInput) as refused:
        resolved(raw, organization())

    assert str(refused.value) == (
        f"Targets.IncludeAccounts: {', '.join(unknown[:10])} and 15 more are not under the "
        "OrganizationalUnitIds"
    )


def test_an_included_suspended_account_is_not_rotated():
    raw = {"OrganizationalUnitIds": [PROD], "IncludeAccounts": [B, D], "Regions": ["us-east-1"]}

    assert resolved(raw, organization()) == [Target(B, "us-east-1")]


# Nothing to rotate, or too much


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (
            {"OrganizationalUnitIds": [SANDBOX], "Regions": ["us-east-1"]},
            "the OrganizationalUnitIds hold 0 accounts, none of them ACTIVE",
        ),
        (
            {"OrganizationalUnitIds": [PROD_EU], "ExcludeAccounts": [C], "Regions": ["us-east-1"]},
            "ExcludeAccounts excludes all 1 ACTIVE accounts left",
        ),
        (
            {"OrganizationalUnitIds": [PROD], "IncludeAccounts": [D], "Regions": ["us-east-1"]},
            "no account of IncludeAccounts is ACTIVE",
        ),
    ],
    ids=["empty-ou", "all-excluded", "included-suspended"],
)
def test_no_target_refuses_the_run(raw, why):
    with pytest.raises(NoTargets) as refused:
        resolved(raw, organization())

    assert str(refused.value) == f"Targets: resolve to no account to rotate: {why}"


def test_an_organization_of_suspended_accounts_refuses_the_run():
    org = FakeOrganization(ROOT)
    org.add_account(D, state="SUSPENDED")

    with pytest.raises(NoTargets, match="hold 1 accounts, none of them ACTIVE"):
        resolved({"OrganizationalUnitIds": [ROOT], "Regions": ["us-east-1"]}, org)


def test_at_most_max_targets():
    regions = sorted(VOICE_CONNECTOR_REGIONS)
    accounts = [f"{n:012d}" for n in range(MAX_TARGETS // len(regions))]
    targets = parse_targets({"Accounts": accounts, "Regions": regions})

    assert len(resolve(targets)) == MAX_TARGETS

    with pytest.raises(TooManyTargets) as refused:
        resolve(parse_targets({"Accounts": [*accounts, "999999999999"], "Regions": regions}))

    assert str(refused.value) == (
        "Targets: 1001 accounts by 10 Regions make 10010 targets; one run processes at most 10000: "
        "split them across several schedules (by OU or by Region)"
    )


def test_an_organization_too_large_for_one_run_is_refused():
    found = [OrganizationAccount(f"{n:012d}", "ACTIVE") for n in range(MAX_TARGETS + 1)]
    targets = parse_targets({"OrganizationalUnitIds": [ROOT], "Regions": ["us-east-1"]})

    with pytest.raises(TooManyTargets):
        resolve(targets, found)


def test_the_refusals_are_the_projects_errors():
    # task.py lets a RotationError's message through to the execution's history; no value is in them.
    assert issubclass(NoTargets, RotationError)
    assert issubclass(TooManyTargets, RotationError)
    assert NoTargets.__name__ == "NoTargets"
    assert TooManyTargets.__name__ == "TooManyTargets"


# The contract: each problem named by its field


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"Accounts": [A, "12345678901"], "Regions": ["us-east-1"]},
            "Targets.Accounts[1]: is not an AWS account id (12 digits, as a string)",
        ),
        (
            # As a number, an id with a leading zero would silently lose it.
            {"Accounts": [123456789012], "Regions": ["us-east-1"]},
            "Targets.Accounts[0]: Input should be a valid string",
        ),
        (
            # Python's \d matches these (Arabic-Indic digits); no account id has them.
            {"Accounts": ["١٢٣٤٥٦٧٨٩٠١٢"], "Regions": ["us-east-1"]},
            "Targets.Accounts[0]: is not an AWS account id (12 digits, as a string)",
        ),
        (
            {"Accounts": [A + "\n"], "Regions": ["us-east-1"]},
            "Targets.Accounts[0]: is not an AWS account id (12 digits, as a string)",
        ),
        (
            {"Accounts": [A], "Regions": ["us-east-1", "us-east-2"]},
            "Targets.Regions[1]: is not a Region where Chime SDK Voice Connector is available (one of "
            "ap-northeast-1, ap-northeast-2, ap-southeast-1, ap-southeast-2, ca-central-1, eu-central-1, "
            "eu-west-1, eu-west-2, us-east-1, us-west-2)",
        ),
        (
            {"OrganizationalUnitIds": ["ou-prod"], "Regions": ["us-east-1"]},
            "Targets.OrganizationalUnitIds[0]: is not an organizational unit id (ou-...) or the "
            "organization's root id (r-...)",
        ),
        (
            {"OrganizationalUnitIds": [ROOT], "IncludeAccounts": ["x"], "Regions": ["us-east-1"]},
            "Targets.IncludeAccounts[0]: is not an AWS account id (12 digits, as a string)",
        ),
        (
            {"OrganizationalUnitIds": [ROOT], "ExcludeAccounts": [A, "1"], "Regions": ["us-east-1"]},
            "Targets.ExcludeAccounts[1]: is not an AWS account id (12 digits, as a string)",
        ),
        (
            {"Accounts": [A]},
            "Targets.Regions: Field required",
        ),
        (
            {"Accounts": [A], "Regions": []},
            "Targets.Regions: List should have at least 1 item after validation, not 0",
        ),
        (
            {"Accounts": [], "Regions": ["us-east-1"]},
            "Targets.Accounts: List should have at least 1 item after validation, not 0",
        ),
        (
            {"Accounts": [A, B, A], "Regions": ["us-east-1"]},
            "Targets.Accounts: lists the same id more than once",
        ),
        (
            {"Accounts": [A], "Regions": ["us-east-1", "us-east-1"]},
            "Targets.Regions: lists the same id more than once",
        ),
        (
            {"Accounts": A, "Regions": ["us-east-1"]},
            "Targets.Accounts: Input should be a valid list",
        ),
        (
            {"Regions": ["us-east-1"]},
            "Targets.Accounts or OrganizationalUnitIds: one is required",
        ),
        (
            {"Accounts": [A], "OrganizationalUnitIds": [ROOT], "Regions": ["us-east-1"]},
            "Targets.Accounts: not with OrganizationalUnitIds: name the accounts, or the organizational "
            "units to find them in, not both",
        ),
        (
            {"Accounts": [A], "ExcludeAccounts": [B], "Regions": ["us-east-1"]},
            "Targets.ExcludeAccounts: only with OrganizationalUnitIds (with Accounts, list the ones to "
            "rotate)",
        ),
        (
            {"Accounts": [A], "IncludeAccounts": [A], "Regions": ["us-east-1"]},
            "Targets.IncludeAccounts: only with OrganizationalUnitIds (with Accounts, list the ones to "
            "rotate)",
        ),
        (
            {"Accounts": [A], "Region": ["us-east-1"]},
            "Targets.Regions: Field required; Targets.Region: is not a field of Targets (did you mean "
            "Regions?)",
        ),
        (
            {"Accounts": [A], "Regions": ["us-east-1"], "\u0391ccounts": [B]},  # a Greek capital alpha
            "Targets.'\\u0391ccounts': is not a field of Targets (did you mean Accounts?)",
        ),
    ],
)
def test_each_problem_is_named_by_its_field(raw, message):
    assert refusal(raw) == f"execution input: {message}"


@pytest.mark.parametrize(
    "name", ["Regions", "Accounts", "OrganizationalUnitIds", "IncludeAccounts", "ExcludeAccounts"]
)
def test_null_is_refused_not_read_as_absent(name):
    raw: dict[str, object] = {"OrganizationalUnitIds": [ROOT], "Regions": ["us-east-1"]} | {name: None}

    assert f"Targets.{name}: must not be null: leave the field out" in refusal(raw)


def test_a_bad_value_is_never_echoed():
    secretish = "sip-user-s3cr3t"

    message = refusal({"Accounts": [secretish], "Regions": [secretish], "OrganizationalUnitIds": [secretish]})

    assert secretish not in message


def test_at_most_ten_problems_are_named():
    raw = {"Accounts": [str(n) for n in range(25)], "Regions": ["us-east-1"]}

    message = refusal(raw)

    assert message.count("is not an AWS account id") == 10
    assert message.endswith("; and 15 more problems")


@pytest.mark.parametrize("raw", [None, [], "us-east-1", 12])
def test_targets_must_be_an_object(raw):
    assert refusal(raw) == "execution input: Targets: must be a JSON object"


def test_the_stack_parameter_is_named_as_such():
    with pytest.raises(InvalidInput, match=r"^stack parameter: Targets\.Regions: Field required$"):
        parse_targets({"Accounts": [A]}, source="stack parameter")


def test_the_regions_are_the_service_models():
    # ListAvailableVoiceConnectorRegions' answer, as botocore's copy of the service model enumerates it.
    models = Path(botocore.__file__).parent / "data" / "chime-sdk-voice"
    (model,) = models.glob("*/service-2.json.gz")
    shapes = json.loads(gzip.decompress(model.read_bytes()))["shapes"]

    assert set(shapes["VoiceConnectorAwsRegion"]["enum"]) == VOICE_CONNECTOR_REGIONS


def test_targets_are_frozen():
    targets = parse_targets({"Accounts": [A], "Regions": ["us-east-1"]})

    with pytest.raises(ValueError, match="frozen"):
        targets.Regions = ["us-west-2"]  # type: ignore[misc]


# The spoke role


def test_the_spoke_role_arn():
    assert Target(A, "eu-west-2").role_arn() == (
        "arn:aws:iam::111111111111:role/vc-credential-rotation-spoke-eu-west-2"
    )


def test_the_spoke_role_arn_with_another_partition_and_prefix():
    assert Target(A, "us-east-1").role_arn("aws-us-gov", "rotation-spoke-") == (
        "arn:aws-us-gov:iam::111111111111:role/rotation-spoke-us-east-1"
    )


@pytest.mark.parametrize("prefix", ["", "x" * 55])  # 55 + len("us-east-1"): IAM's 64 characters
def test_a_role_name_up_to_64_characters(prefix):
    assert Target(A, "us-east-1").role_arn("aws", prefix) == f"arn:aws:iam::{A}:role/{prefix}us-east-1"


@pytest.mark.parametrize(
    ("partition", "prefix", "problem"),
    [
        ("aws", "x" * 56, "role_name_prefix"),
        ("aws", "spoke/", "role_name_prefix"),
        ("aws", "spoke ", "role_name_prefix"),
        ("AWS", "spoke-", "partition"),
        ("aws:iam", "spoke-", "partition"),
        ("", "spoke-", "partition"),
    ],
)
def test_the_spoke_role_arn_is_checked(partition, prefix, problem):
    with pytest.raises(ValueError, match=f"^{problem}:"):
        Target(A, "us-east-1").role_arn(partition, prefix)


# The fake organization, as the adapter behaves (tests/unit/test_organizations_adapter.py)


def test_a_given_parent_the_organization_lacks_is_named():
    with pytest.raises(InvalidInput) as refused:
        organization().accounts_under([PROD, "ou-a1b2-missing1"])

    assert str(refused.value) == (
        "Targets.OrganizationalUnitIds: ou-a1b2-missing1 is not an organizational unit or root of the "
        "organization"
    )


def test_the_organizations_errors_are_raised_by_name():
    org = organization()
    org.fail_next("accounts_under", fault("AccessDeniedException"))

    with pytest.raises(service_error("AccessDeniedException")):
        org.accounts_under([ROOT])


# Properties

ACCOUNTS = st.sampled_from([f"{n:012d}" for n in range(1, 13)])
STATES = st.sampled_from(["ACTIVE", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE"])


@given(
    found=st.lists(st.builds(OrganizationAccount, ACCOUNTS, STATES), max_size=12),
    include=st.none() | st.lists(ACCOUNTS, min_size=1, max_size=4, unique=True),
    exclude=st.none() | st.lists(ACCOUNTS, min_size=1, max_size=4, unique=True),
    regions=st.lists(st.sampled_from(sorted(VOICE_CONNECTOR_REGIONS)), min_size=1, max_size=3, unique=True),
)
def test_resolve_rotates_only_active_included_unexcluded_accounts_each_once(found, include, exclude, regions):
    raw: dict[str, object] = {"OrganizationalUnitIds": [ROOT], "Regions": regions}
    if include is not None:
        raw["IncludeAccounts"] = include
    if exclude is not None:
        raw["ExcludeAccounts"] = exclude
    targets = parse_targets(raw)
    # As the port answers: each account once.
    listed = list({account.account_id: account for account in found}.values())
    active = {account.account_id for account in listed if account.active}
    try:
        result = resolve(targets, listed)
    except InvalidInput:
        assert include is not None
        assert set(include) - {account.account_id for account in listed}
        return
    except NoTargets:
        assert not (active & set(include or active)) - set(exclude or ())
        return

    assert result == sorted(set(result))
    accounts = {target.account for target in result}
    assert accounts == (active & set(include or active)) - set(exclude or ())
    assert {target.region for target in result} == set(regions)
    assert len(result) == len(accounts) * len(regions)
