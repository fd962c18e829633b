"""The Organizations adapter against moto's Organizations: nested OUs walked through the paginators,
account states read, an unknown parent named, and the in-memory fake held to the same answers."""

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from credential_rotation.adapters.organizations import OrganizationAccountsAdapter
from credential_rotation.domain.errors import InvalidInput
from credential_rotation.domain.targets import OrganizationAccount, parse_targets, resolve
from tests.support.fakes import FakeOrganization

REGION = "us-east-1"
# moto's ListAccountsForParent answers 20 accounts a page: more than that in one OU crosses pages.
MANY = 23


class Organization:
    """An organization in moto, and the same one in the fake, built side by side."""

    def __init__(self, client) -> None:
        self.client = client
        client.create_organization(FeatureSet="ALL")
        self.root = client.list_roots()["Roots"][0]["Id"]
        self.management = client.describe_organization()["Organization"]["MasterAccountId"]
        self.fake = FakeOrganization(self.root)
        self.fake.add_account(self.management)

    def unit(self, name: str, parent: str | None = None) -> str:
        parent = parent or self.root
        unit_id = self.client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"][
            "Id"
        ]
        self.fake.add_unit(unit_id, parent)
        return unit_id

    def account(self, name: str, parent: str | None = None, *, closed: bool = False) -> str:
        created = self.client.create_account(Email=f"{name}@example.com", AccountName=name)
        account_id = created["CreateAccountStatus"]["AccountId"]
        if parent is not None:
            self.client.move_account(
                AccountId=account_id, SourceParentId=self.root, DestinationParentId=parent
            )
        if closed:
            self.client.close_account(AccountId=account_id)
        self.fake.add_account(account_id, parent, state="SUSPENDED" if closed else "ACTIVE")
        return account_id


@pytest.fixture
def org(mocked_aws) -> Organization:
    return Organization(boto3.client("organizations", region_name=REGION))


@pytest.fixture
def adapter(org) -> OrganizationAccountsAdapter:
    return OrganizationAccountsAdapter(org.client)


@pytest.fixture
def tree(org):
    """root: management, loose; prod: web, closed; prod/eu: api, and prod/eu/payments: pay; sandbox."""
    units = {"prod": org.unit("prod")}
    units["eu"] = org.unit("eu", units["prod"])
    units["payments"] = org.unit("payments", units["eu"])
    units["sandbox"] = org.unit("sandbox")
    accounts = {
        "loose": org.account("loose"),
        "web": org.account("web", units["prod"]),
        "closed": org.account("closed", units["prod"], closed=True),
        "api": org.account("api", units["eu"]),
        "pay": org.account("pay", units["payments"]),
    }
    return units, accounts


def by_id(found) -> dict[str, str]:
    return {account.account_id: account.state for account in found}


def test_an_ou_gives_its_accounts_at_every_depth_with_their_states(adapter, tree):
    units, accounts = tree

    found = adapter.accounts_under([units["prod"]])

    assert by_id(found) == {
        accounts["web"]: "ACTIVE",
        accounts["closed"]: "SUSPENDED",
        accounts["api"]: "ACTIVE",
        accounts["pay"]: "ACTIVE",  # two levels below prod
    }


def test_the_root_gives_every_account(adapter, org, tree):
    _, accounts = tree

    found = adapter.accounts_under([org.root])

    assert set(by_id(found)) == {org.management, *accounts.values()}


def test_overlapping_parents_give_each_account_once(adapter, org, tree):
    units, _ = tree

    found = adapter.accounts_under([units["eu"], units["prod"], org.root, units["eu"]])

    assert len(found) == len({account.account_id for account in found}) == 6


def test_an_empty_ou_gives_nothing(adapter, tree):
    units, _ = tree

    assert adapter.accounts_under([units["sandbox"]]) == ()


def test_accounts_across_pages_are_all_listed(adapter, org):
    unit = org.unit("big")
    created = {org.account(f"member{n}", unit) for n in range(MANY)}
    # A first page of one OU, to show the listing did cross pages.
    first = org.client.list_accounts_for_parent(ParentId=unit)
    assert len(first["Accounts"]) < MANY
    assert first.get("NextToken")

    assert set(by_id(adapter.accounts_under([unit]))) == created


def test_an_unknown_parent_is_named(adapter, tree):
    units, _ = tree

    with pytest.raises(InvalidInput) as refused:
        adapter.accounts_under([units["prod"], "ou-zzzz-missing1"])

    assert str(refused.value) == (
        "Targets.OrganizationalUnitIds: ou-zzzz-missing1 is not an organizational unit or root of the "
        "organization"
    )


def test_a_parent_found_under_another_is_not_unknown(adapter, tree):
    # eu is walked under prod first; naming it again is no error.
    units, _ = tree

    assert adapter.accounts_under([units["prod"], units["eu"]])


@pytest.fixture
def stubbed(aws_environment):
    """A real client whose answers are scripted (botocore's Stubber): no call leaves the process."""
    client = boto3.client("organizations", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "AWSOrganizationsNotInUseException", "TooManyRequestsException"]
)
def test_other_errors_are_raised_as_the_service_raised_them(stubbed, code):
    client, stubber = stubbed
    stubber.add_client_error("list_accounts_for_parent", service_error_code=code, http_status_code=400)

    with pytest.raises(ClientError) as raised:
        OrganizationAccountsAdapter(client).accounts_under(["r-a1b2"])

    assert raised.value.response["Error"]["Code"] == code


def test_an_ou_gone_while_walking_is_not_the_inputs_fault(stubbed):
    # The root lists an OU that is deleted before its own listing: the service's error, for a retry.
    client, stubber = stubbed
    stubber.add_response("list_accounts_for_parent", {"Accounts": []}, {"ParentId": "r-a1b2"})
    stubber.add_response(
        "list_children",
        {"Children": [{"Id": "ou-a1b2-gone0001", "Type": "ORGANIZATIONAL_UNIT"}]},
        {"ParentId": "r-a1b2", "ChildType": "ORGANIZATIONAL_UNIT"},
    )
    stubber.add_client_error(
        "list_accounts_for_parent", service_error_code="ParentNotFoundException", http_status_code=400
    )

    with pytest.raises(ClientError) as raised:
        OrganizationAccountsAdapter(client).accounts_under(["r-a1b2"])

    assert raised.value.response["Error"]["Code"] == "ParentNotFoundException"


def test_the_state_is_read_before_the_retired_status():
    class Pages:
        def __init__(self, pages):
            self.pages = pages

        def paginate(self, **_):
            return iter(self.pages)

    class Client:
        def get_paginator(self, name):
            if name == "list_children":
                return Pages([{"Children": []}])
            return Pages(
                [
                    {
                        "Accounts": [
                            {"Id": "111111111111", "State": "CLOSED", "Status": "SUSPENDED"},
                            {"Id": "222222222222", "Status": "ACTIVE"},  # before State existed
                            {"Id": "333333333333"},  # neither: never ACTIVE
                        ]
                    }
                ]
            )

    found = OrganizationAccountsAdapter(Client()).accounts_under(["r-a1b2"])  # type: ignore[arg-type]

    assert found == (
        OrganizationAccount("111111111111", "CLOSED"),
        OrganizationAccount("222222222222", "ACTIVE"),
        OrganizationAccount("333333333333", ""),
    )


@pytest.mark.parametrize("parents", [["prod"], ["eu", "sandbox"], ["root"], ["payments", "prod", "root"]])
def test_the_fake_answers_as_the_adapter(adapter, org, tree, parents):
    units = tree[0] | {"root": org.root}
    parent_ids = [units[name] for name in parents]

    assert by_id(org.fake.accounts_under(parent_ids)) == by_id(adapter.accounts_under(parent_ids))


def test_the_fake_names_an_unknown_parent_as_the_adapter(adapter, org, tree):
    with pytest.raises(InvalidInput) as fake:
        org.fake.accounts_under(["ou-zzzz-missing1"])
    with pytest.raises(InvalidInput) as real:
        adapter.accounts_under(["ou-zzzz-missing1"])

    assert str(fake.value) == str(real.value)


def test_targets_resolve_over_the_organization(adapter, org, tree):
    units, accounts = tree
    targets = parse_targets(
        {
            "OrganizationalUnitIds": [units["prod"]],
            "ExcludeAccounts": [accounts["pay"]],
            "Regions": ["us-east-1", "eu-west-2"],
        }
    )

    resolved = resolve(targets, adapter.accounts_under(targets.OrganizationalUnitIds or []))

    assert {(target.account, target.region) for target in resolved} == {
        (account, region)
        for account in (accounts["web"], accounts["api"])  # closed is SUSPENDED, pay excluded
        for region in ("us-east-1", "eu-west-2")
    }
