"""The customer's phone system, calling out through a voice connector, and the call detail records that Chime
writes for its calls: what the call-record indexing reads, played offline.

A call offers a digest username and password. The Chime SDK Voice emulator decides, as termination does,
whether the connector admits it (``ChimeVoiceBackend.authenticate_outbound``); an admitted call gets one
call detail record (CDR) in the account's CDR bucket, the one ``GetGlobalSettings`` names, written through
S3 as Chime writes it, so the bucket's EventBridge notification goes out as it would. A refused call
writes nothing and counts as a failed authentication on the connector. No CDR bucket set: calls still
connect, and nothing is written, as in an account that never turned call detail records on.

The record's key and fields follow the administration guide (/work/shared/notes/call-records.md), written
here from the documentation and not from the application's parser, so that the two are checked against
each other rather than against themselves.

Given a CloudWatch client, every call also counts in the ``AWS/ChimeVoiceConnector`` metrics Chime
publishes per ``VoiceConnectorId`` (the rollback watch reads them): an attempt, and for a refused one an
outbound failure and a SIP 4xx answer (407, authentication refused), at the call's time.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.chime_emulator import ChimeVoiceBackend

CDR_FOLDER = "Amazon-Chime-Voice-Connector-CDRs/json/"
# The documented example's numbers (the reserved +1 206 555 01xx range: no real subscriber).
SOURCE_NUMBER = "+12065550100"
DESTINATION_NUMBER = "+12065550101"
CALL_SECONDS = 6


def call_record_key(voice_connector_id: str, started_at: datetime, transaction_id: str) -> str:
    """``<folder><voiceConnectorId>/<yyyy>/<mm>/<dd>/<HH.MM.SS.mmm>_<transactionId>``, the start in UTC."""
    moment = started_at.astimezone(UTC)
    return (
        f"{CDR_FOLDER}{voice_connector_id}/{moment:%Y/%m/%d}/"
        f"{moment:%H.%M.%S}.{moment.microsecond // 1000:03d}_{transaction_id}"
    )


def call_record(
    voice_connector_id: str,
    started_at: datetime,
    sip_auth_user: str | None,
    transaction_id: str | None = None,
    **overrides: Any,
) -> tuple[str, bytes]:
    """(key, body) of one outbound call's record, schema 2.0 as documented; no ``sip_auth_user``: a call
    admitted without digest authentication. ``overrides`` replace or add fields (a test's odd record)."""
    transaction_id = transaction_id or str(uuid.uuid4())
    start = int(started_at.timestamp())
    record: dict[str, Any] = {
        "AwsAccountId": "123456789012",
        "TransactionId": transaction_id,
        "CallId": f"{uuid.uuid4().hex}@203.0.113.9:8080",
        "VoiceConnectorId": voice_connector_id,
        "Status": "Completed",
        "StatusMessage": "OK",
        "BillableDurationSeconds": CALL_SECONDS,
        "BillableDurationMinutes": round(CALL_SECONDS / 60, 1),
        "SchemaVersion": "2.0",
        "SourcePhoneNumber": SOURCE_NUMBER,
        "SourceCountry": "US",
        "DestinationPhoneNumber": DESTINATION_NUMBER,
        "DestinationCountry": "US",
        "UsageType": "USE1-US-US-outbound-minutes",
        "ServiceCode": "AmazonChimeVoiceConnector",
        "Direction": "Outbound",
        "StartTimeEpochSeconds": start,
        "EndTimeEpochSeconds": start + CALL_SECONDS,
        "Region": "us-east-1",
        "Streaming": False,
    }
    if sip_auth_user is not None:
        record["SipAuthUser"] = sip_auth_user
    record.update(overrides)
    return call_record_key(voice_connector_id, started_at, transaction_id), json.dumps(record).encode()


@dataclass(frozen=True)
class CallAttempt:
    voice_connector_id: str
    started_at: datetime
    connected: bool
    # The record Chime wrote for it: None when refused, or when the account has no CDR bucket.
    bucket: str | None = None
    key: str | None = None
    transaction_id: str | None = None


class PhoneSystem:
    """Places outbound calls through the emulator's voice connectors, at the sandbox's clock."""

    def __init__(
        self, backend: ChimeVoiceBackend, s3: Any, cloudwatch: Any = None, account: str = "123456789012"
    ) -> None:
        self._backend = backend
        self._s3 = s3
        self._cloudwatch = cloudwatch
        # The account the records say they are of (AwsAccountId): the connector's own.
        self._account = account

    def call(
        self,
        voice_connector_id: str,
        username: str,
        password: str,
        at: datetime | None = None,
        to: str = DESTINATION_NUMBER,
    ) -> CallAttempt:
        """An outbound call that authenticates with this username and password (SIP digest)."""
        started_at = at or datetime.now(UTC)
        if not self._backend.authenticate_outbound(voice_connector_id, username, password, started_at):
            self._count(voice_connector_id, started_at, refused=True)
            return CallAttempt(voice_connector_id, started_at, connected=False)
        self._count(voice_connector_id, started_at, refused=False)
        # A connector without credentials asked for none: the record names no username.
        asked = bool(self._backend.voice_connectors[voice_connector_id].credentials)
        return self._connected(voice_connector_id, started_at, username if asked else None, to)

    def call_from_allowed_host(
        self, voice_connector_id: str, at: datetime | None = None, to: str = DESTINATION_NUMBER
    ) -> CallAttempt:
        """An outbound call admitted by the connector's allowed-host list alone: its record has no
        SipAuthUser."""
        started_at = at or datetime.now(UTC)
        self._backend.admit_from_allowed_host(voice_connector_id, started_at)
        self._count(voice_connector_id, started_at, refused=False)
        return self._connected(voice_connector_id, started_at, None, to)

    def calls_over(
        self, voice_connector_id: str, username: str, password: str, start: datetime, days: int, per_day: int
    ) -> list[CallAttempt]:
        """``per_day`` calls a day for ``days`` days from ``start``, an hour apart."""
        return [
            self.call(voice_connector_id, username, password, at=start + timedelta(days=day, hours=hour))
            for day in range(days)
            for hour in range(per_day)
        ]

    def _count(self, voice_connector_id: str, at: datetime, refused: bool) -> None:
        if self._cloudwatch is None:
            return
        counts = {"OutboundCallAttempts": 1} | (
            {"OutboundCallFailures": 1, "Sip4xxCodes": 1} if refused else {}
        )
        self._cloudwatch.put_metric_data(
            Namespace="AWS/ChimeVoiceConnector",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "VoiceConnectorId", "Value": voice_connector_id}],
                    "Timestamp": at,
                    "Value": value,
                    "Unit": "Count",
                }
                for name, value in counts.items()
            ],
        )

    def _connected(
        self, voice_connector_id: str, started_at: datetime, sip_auth_user: str | None, to: str
    ) -> CallAttempt:
        bucket = self._backend.cdr_bucket
        if bucket is None:
            return CallAttempt(voice_connector_id, started_at, connected=True)
        transaction_id = str(uuid.uuid4())
        key, body = call_record(
            voice_connector_id,
            started_at,
            sip_auth_user,
            transaction_id,
            DestinationPhoneNumber=to,
            AwsAccountId=self._account,
        )
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        return CallAttempt(voice_connector_id, started_at, True, bucket, key, transaction_id)
