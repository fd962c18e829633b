"""Call detail records as Chime writes them (the administration guide's example, schema 2.0), for tests."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from credential_rotation.domain.call_records import CDR_PREFIX


def cdr_key(voice_connector_id: str, started_at: datetime, transaction_id: str) -> str:
    moment = started_at.astimezone(UTC)
    return (
        f"{CDR_PREFIX}{voice_connector_id}/{moment:%Y/%m/%d}/"
        f"{moment:%H.%M.%S}.{moment.microsecond // 1000:03d}_{transaction_id}"
    )


def cdr(
    voice_connector_id: str,
    started_at: datetime,
    sip_auth_user: str | None,
    transaction_id: str | None = None,
    **overrides: Any,
) -> tuple[str, bytes]:
    """(key, body) of one outbound call's record; no ``sip_auth_user``: admitted by the allowed hosts."""
    transaction_id = transaction_id or str(uuid.uuid4())
    record: dict[str, Any] = {
        "AwsAccountId": "111122223333",
        "TransactionId": transaction_id,
        "CallId": f"{uuid.uuid4().hex}@203.0.113.9:8080",
        "VoiceConnectorId": voice_connector_id,
        "Status": "Completed",
        "StatusMessage": "OK",
        "BillableDurationSeconds": 6,
        "BillableDurationMinutes": 0.1,
        "SchemaVersion": "2.0",
        "SourcePhoneNumber": "+12065550100",
        "SourceCountry": "US",
        "DestinationPhoneNumber": "+12065550101",
        "DestinationCountry": "US",
        "UsageType": "USE1-US-US-outbound-minutes",
        "ServiceCode": "AmazonChimeVoiceConnector",
        "Direction": "Outbound",
        "StartTimeEpochSeconds": int(started_at.timestamp()),
        "EndTimeEpochSeconds": int(started_at.timestamp()) + 6,
        "Region": "us-east-1",
        "Streaming": False,
    }
    if sip_auth_user is not None:
        record["SipAuthUser"] = sip_auth_user
    record.update(overrides)
    return cdr_key(voice_connector_id, started_at, transaction_id), json.dumps(record).encode()
