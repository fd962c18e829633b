"""The Organizations adapter: the accounts under organizational units, for fleet mode's Targets.

It walks the tree from each given parent (an OU or the root): ListAccountsForParent for the accounts
directly in it, ListChildren (ORGANIZATIONAL_UNIT) for the OUs below, each through its paginator. The
hub calls it from the management account or a delegated administrator, where these calls are allowed.

An account's state is read from ``State``, and from ``Status`` only where ``State`` is absent:
Organizations retired ``Status`` on 9 September 2026 in favour of ``State``, whose values are a superset.

A given parent the organization does not have (ParentNotFoundException) is the input's fault and raises
InvalidInput naming it. The same error for an OU found below one is not: it was deleted or moved while
the tree was walked, and is raised as botocore raised it, as is every other error (AccessDenied,
AWSOrganizationsNotInUse, TooManyRequests), so the state machine can match its name.
"""

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from credential_rotation.domain.targets import OrganizationAccount, unknown_parent

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_organizations import OrganizationsClient


class OrganizationAccountsAdapter:
    def __init__(self, client: "OrganizationsClient") -> None:
        self._client = client

    def accounts_under(self, parent_ids: Sequence[str]) -> tuple[OrganizationAccount, ...]:
        """Every account under each parent, at any depth, each once, in the order first found."""
        found: dict[str, OrganizationAccount] = {}
        visited: set[str] = set()
        for parent_id in parent_ids:
            try:
                self._walk(parent_id, visited, found)
            except ClientError as error:
                if _not_found(error) and parent_id not in visited:
                    raise unknown_parent(parent_id) from None
                raise
        return tuple(found.values())

    def _walk(self, parent_id: str, visited: set[str], found: dict[str, OrganizationAccount]) -> None:
        """Depth first (Organizations nests OUs at most five deep below the root)."""
        if parent_id in visited:
            return  # an OU named twice, or inside another one named
        accounts = list(self._accounts(parent_id))
        children = list(self._child_units(parent_id))
        # Marked only once both listings answered: a top-level parent that raised is still unvisited,
        # which tells accounts_under that the given id itself was not found.
        visited.add(parent_id)
        for account in accounts:
            found.setdefault(account.account_id, account)
        for child_id in children:
            self._walk(child_id, visited, found)

    def _accounts(self, parent_id: str) -> Iterator[OrganizationAccount]:
        paginator = self._client.get_paginator("list_accounts_for_parent")
        for page in paginator.paginate(ParentId=parent_id):
            for account in page.get("Accounts", []):
                state = account.get("State") or account.get("Status") or ""
                yield OrganizationAccount(account_id=account["Id"], state=state)

    def _child_units(self, parent_id: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_children")
        for page in paginator.paginate(ParentId=parent_id, ChildType="ORGANIZATIONAL_UNIT"):
            for child in page.get("Children", []):
                yield child["Id"]


def _not_found(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ParentNotFoundException"
