"""The sandbox's fleet: an organization of spoke accounts, each with its voice connectors in several Regions,
and the spoke role (fleet/spoke.yaml) the hub assumes in each account and Region.

moto keeps every account apart (an assumed role's keys act in the role's account), but its STS lets any
caller assume any role, even one that does not exist. Here AssumeRole answers AccessDenied, as AWS does,
unless the role exists in its account and its trust's ``sts:ExternalId`` condition (if any) is met: so a
target whose spoke was never deployed, or whose external id differs from the hub's, fails offline as it
would in AWS.

    fleet = Fleet(sandbox)
    ou, accounts = fleet.organization(3)
    for account in accounts:
        for region in ("us-east-1", "eu-west-1"):
            fleet.deploy_spoke(account, region)
            fleet.create_voice_connector(account, region, "pbx", ["sip-a"])

An account's call detail records reach the hub as fleet/spoke.yaml sends them (``forward_call_records``):
its CDR bucket's events go through the spoke's forwarding rule to the hub's event bus, which lets them in
under the hub template's bus policy (a ``Hub`` deployed with ``admit_call_records``), and a phone system
in the account (``phone``) writes the records.

An account and Region can also be taken down (``outage``): its Chime SDK Voice calls answer
ServiceUnavailableException, all of them or only some operations, until the outage ends.

A fleet hub (the stack deployed with FleetTargets) needs its organization before the stack: ``Hub`` makes
it when the session prepares the account, and answers the FleetTargets parameter that names it.

    hub = Hub(size=2, regions=("us-east-1", "eu-west-1"))
    with Sandbox(prepare=hub) as sandbox:
        hub.fleet.deploy_spoke(hub.accounts[0], "us-east-1")
"""

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock

import boto3
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from credential_rotation.domain.targets import SPOKE_ROLE_NAME_PREFIX, Target
from sandbox.chime_emulator import ERROR_STATUS, ROUTES, ChimeVoiceError, chimesdkvoice_backends
from sandbox.phone_system import PhoneSystem
from sandbox.stack import REGION
from sandbox.template import REPOSITORY, Resolver, load_template, pseudo_parameters

if TYPE_CHECKING:
    from sandbox.session import Sandbox

# The role a person (or an organization's management account) uses to set up an account.
ADMIN_ROLE = "OrganizationAccountAccessRole"
SPOKE_TEMPLATE = REPOSITORY / "fleet" / "spoke.yaml"


# Every operation the emulator answers; its two POSTs on a connector's credentials differ by their query only.
CHIME_OPERATIONS = (
    *(operation for _, _, operation in ROUTES if operation is not None),
    "PutVoiceConnectorTerminationCredentials",
    "DeleteVoiceConnectorTerminationCredentials",
)


class AccessDenied(STSClientError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDenied", message)


def _trust_allows(role: Any, external_id: str | None) -> bool:
    document = json.loads(role.assume_role_policy_document)
    for statement in document.get("Statement", []):
        wanted = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        if statement.get("Effect") == "Allow" and (wanted is None or wanted == external_id):
            return True
    return False


@contextmanager
def spoke_trust() -> Iterator[None]:
    """AssumeRole of a spoke role checks that the role exists and that its trust is met."""
    original = STSBackend.assume_role

    def assume_role(self: STSBackend, *args: Any, **kwargs: Any) -> Any:
        role_arn = kwargs.get("role_arn") or args[2]
        external_id = kwargs.get("external_id") if "external_id" in kwargs else args[5]
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        if name.startswith(SPOKE_ROLE_NAME_PREFIX):
            roles = {role.name: role for role in iam_backends[account]["global"].roles.values()}
            role = roles.get(name)
            if role is None or not _trust_allows(role, external_id):
                raise AccessDenied(f"not authorized to perform sts:AssumeRole on {role_arn}")
        return original(self, *args, **kwargs)

    with mock.patch.object(STSBackend, "assume_role", assume_role), warnings.catch_warnings():
        # STS's service model has no AccessDenied shape (AWS answers it all the same); moto warns of that.
        warnings.filterwarnings("ignore", message=r"Exception\(AccessDenied\)", category=UserWarning)
        yield


class Fleet:
    def __init__(self, sandbox: "Sandbox") -> None:
        self._sandbox = sandbox
        self._clients: dict[tuple[str, str, str], Any] = {}

    def organization(self, accounts: int, name: str = "voice") -> tuple[str, list[str]]:
        """An organization managed from the hub's account, with one OU holding ``accounts`` new accounts."""
        organizations = self._sandbox.client("organizations")
        organizations.create_organization(FeatureSet="ALL")
        root = organizations.list_roots()["Roots"][0]["Id"]
        ou = organizations.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        ids = []
        for n in range(accounts):
            status = organizations.create_account(AccountName=f"{name}-{n}", Email=f"{name}-{n}@example.com")
            account = status["CreateAccountStatus"]["AccountId"]
            organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
            ids.append(account)
        return ou, ids

    def client(self, account: str, region: str, service: str) -> Any:
        """A client acting in ``account`` as its administrator would."""
        key = (account, region, service)
        if key not in self._clients:
            credentials = self._sandbox.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{ADMIN_ROLE}", RoleSessionName="sandbox-admin"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            )
            self._clients[key] = session.client(service)
        return self._clients[key]

    def deploy_spoke(self, account: str, region: str, external_id: str | None = None) -> str:
        """The spoke role of fleet/spoke.yaml in ``account`` for ``region``: its name, and its trust of the
        hub's account (with the external id, when the spoke is deployed with one)."""
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{self._sandbox_account()}:root"},
            "Action": "sts:AssumeRole",
        }
        if external_id:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        role = self.client(account, "us-east-1", "iam").create_role(
            RoleName=f"{SPOKE_ROLE_NAME_PREFIX}{region}",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        return str(role["Role"]["Arn"])

    def forward_call_records(self, account: str, bucket_region: str, regions: list[str]) -> str:
        """The account's CDR bucket in ``bucket_region`` (EventBridge notifications on), named in Chime's
        settings in each of ``regions``, and fleet/spoke.yaml's ForwardCallRecordsRule and its role in the
        bucket's Region, as the spoke deployed there with CallRecordsBucket creates them. Returns the
        bucket's name."""
        bucket = f"cdr-{account}"
        s3 = self.client(account, bucket_region, "s3")
        location = {} if bucket_region == "us-east-1" else {"LocationConstraint": bucket_region}
        s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {}))
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        for region in regions:
            self.client(account, region, "chime-sdk-voice").update_global_settings(
                VoiceConnector={"CdrBucket": bucket}
            )
        resources = load_template(SPOKE_TEMPLATE)["Resources"]
        resolver = Resolver(
            parameters={
                "CallRecordsBucket": bucket,
                "HubRegion": REGION,
                "HubAccountId": self._sandbox_account(),
            },
            pseudo=pseudo_parameters(account, bucket_region, f"spoke-{bucket_region}"),
        )
        role = resolver.resolve(resources["ForwardCallRecordsRole"]["Properties"])
        role_arn = self.client(account, bucket_region, "iam").create_role(
            RoleName=f"forward-call-records-{bucket_region}",
            AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]),
        )["Role"]["Arn"]
        resolver.resources["ForwardCallRecordsRole"] = (role_arn, {"Arn": role_arn})
        rule = resolver.resolve(resources["ForwardCallRecordsRule"]["Properties"])
        events = self.client(account, bucket_region, "events")
        events.put_rule(Name="forward-call-records", EventPattern=json.dumps(rule["EventPattern"]))
        events.put_targets(Rule="forward-call-records", Targets=rule["Targets"])
        return bucket

    def phone(self, account: str, region: str) -> PhoneSystem:
        """The account's phone system, calling through its connectors in ``region``: each call's record goes
        to the bucket the account's Chime settings name, as the account's own."""
        return PhoneSystem(
            chimesdkvoice_backends[account][region], self.client(account, region, "s3"), account=account
        )

    def _sandbox_account(self) -> str:
        return str(self._sandbox.client("sts").get_caller_identity()["Account"])

    def create_voice_connector(self, account: str, region: str, name: str, usernames: list[str] = ()) -> str:
        chime = self.client(account, region, "chime-sdk-voice")
        connector = chime.create_voice_connector(Name=name, AwsRegion=region, RequireEncryption=True)
        connector_id = str(connector["VoiceConnector"]["VoiceConnectorId"])
        if usernames:
            self.put_credentials(account, region, connector_id, usernames)
        return connector_id

    def put_credentials(
        self, account: str, region: str, voice_connector_id: str, usernames: list[str]
    ) -> None:
        self.client(account, region, "chime-sdk-voice").put_voice_connector_termination_credentials(
            VoiceConnectorId=voice_connector_id,
            Credentials=[
                {"Username": username, "Password": f"pw-{username}-0123456789"} for username in usernames
            ],
        )

    def usernames(self, target: Target, voice_connector_id: str) -> list[str]:
        chime = self.client(target.account, target.region, "chime-sdk-voice")
        return list(
            chime.list_voice_connector_termination_credentials(VoiceConnectorId=voice_connector_id)[
                "Usernames"
            ]
        )

    def secret_names(self, target: Target) -> list[str]:
        secrets = self.client(target.account, target.region, "secretsmanager")
        return sorted(secret["Name"] for secret in secrets.list_secrets()["SecretList"])

    def chime_backend(self, target: Target) -> Any:
        """The emulator's Chime SDK Voice in the target's account and Region: faults, calls, connectors."""
        return chimesdkvoice_backends[target.account][target.region]

    def stored_usernames(self, target: Target, voice_connector_id: str) -> set[str]:
        """The connector's usernames as the emulator holds them: read past any fault, and not logged as a
        call (``usernames`` asks through the API, as the hub would)."""
        return set(self.chime_backend(target).voice_connectors[voice_connector_id].credentials)

    def outage(
        self,
        target: Target,
        operations: tuple[str, ...] = CHIME_OPERATIONS,
        error: str = "ServiceUnavailableException",
    ) -> Callable[[], None]:
        """Take Chime SDK Voice down in the target's account and Region: every call of ``operations`` there
        answers ``error`` (a modelled 5xx by default) before it touches anything, until the returned
        function is called. Each refused call is in the emulator's call log with that error."""
        unknown = sorted(set(operations) - set(CHIME_OPERATIONS)) + (
            [error] if error not in ERROR_STATUS else []
        )
        if unknown:
            raise ValueError(f"not an operation the emulator answers, or not a modelled error: {unknown}")
        backend = self.chime_backend(target)

        def refuse(_backend: Any, _params: dict[str, Any]) -> None:
            raise ChimeVoiceError(error, f"injected outage of {target.account}/{target.region}")

        for operation in operations:
            backend.faults.before(operation, refuse)

        def end() -> None:
            for operation in operations:
                backend.faults.hooks.remove((operation, refuse))

        return end


@dataclass
class Hub:
    """A fleet hub's organization, made before its stack is deployed (``Sandbox(prepare=hub)``): one OU of
    ``size`` new accounts, and the FleetTargets parameter naming that OU in ``regions``. Spokes and voice
    connectors are set up afterwards, through ``fleet``."""

    size: int
    regions: tuple[str, ...]
    # FleetOrganizationId set to the organization: its accounts may put their call records' events on the
    # hub's bus (the template's FleetCallRecordsBusPolicy).
    admit_call_records: bool = False
    ou: str = ""
    accounts: list[str] = field(default_factory=list)
    _fleet: Fleet | None = None

    def __call__(self, sandbox: "Sandbox") -> dict[str, Any]:
        self._fleet = Fleet(sandbox)
        self.ou, self.accounts = self._fleet.organization(self.size)
        parameters: dict[str, Any] = {"FleetTargets": self.targets}
        if self.admit_call_records:
            organizations = sandbox.client("organizations")
            parameters["FleetOrganizationId"] = organizations.describe_organization()["Organization"]["Id"]
        return parameters

    @property
    def targets(self) -> dict[str, Any]:
        return {"OrganizationalUnitIds": [self.ou], "Regions": list(self.regions)}

    @property
    def fleet(self) -> Fleet:
        if self._fleet is None:
            raise RuntimeError("the hub's organization is made when its sandbox is entered")
        return self._fleet
