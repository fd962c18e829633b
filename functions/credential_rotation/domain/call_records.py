"""Voice Connector call detail records (CDRs), as far as they are evidence of a credential's use.

Chime writes one JSON object per call to the account's CDR bucket, under
``Amazon-Chime-Voice-Connector-CDRs/json/<voiceConnectorId>/<yyyy>/<mm>/<dd>/<HH.MM.SS.mmm>_<transactionId>``
(the administration guide's documented layout). The record's ``SipAuthUser`` is the digest username that
authenticated the call; a call admitted by the connector's allowed-host list carries none.

Pure: a key and the object's bytes come in, the one fact this project keeps goes out: which connector,
which username (or none), when, and the transaction id that makes indexing idempotent. Phone numbers, call
ids and everything else in the record are read past and never kept.

A record that is not what Chime documents (a key outside the layout, a body that is not the JSON object,
a connector or transaction id that disagrees with its key) is a MalformedCallRecord: it cannot be
counted, and evidence that cannot be counted must hold deletions, never allow them.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credential_rotation.domain.errors import MalformedCallRecord

CDR_PREFIX = "Amazon-Chime-Voice-Connector-CDRs/json/"
# Streaming detail records share the bucket; they say nothing about authentication.
SDR_PREFIX = "Amazon-Chime-Voice-Connector-SDRs/"
_KEY = re.compile(
    re.escape(CDR_PREFIX) + r"(?P<connector>[a-z0-9]{21,22}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
    r"/(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})"
    r"/(?P<time>\d{2}\.\d{2}\.\d{2}\.\d{3})_(?P<transaction>[A-Za-z0-9-]{1,128})"
)
# A documented record is well under 2 KiB; a larger object is not one, and is not read into memory whole.
MAX_RECORD_BYTES = 64 * 1024
# SIP digest usernames as the ledger keys them (domain/unmanaged.py): at most 1,024 UTF-8 bytes.
_MAX_USERNAME_BYTES = 1_024


@dataclass(frozen=True)
class CallRecordKey:
    voice_connector_id: str
    transaction_id: str
    # The day and time in the key: when the call started, to the millisecond, in UTC.
    started_at: datetime


@dataclass(frozen=True)
class CallRecord:
    """One call as evidence: the connector, the digest username (None: admitted without one), and when."""

    voice_connector_id: str
    transaction_id: str
    started_at: datetime
    sip_auth_user: str | None


def is_call_record_key(key: str) -> bool:
    """Whether the key is in the CDR folder at all (anything else in the bucket is not ours to index)."""
    return key.startswith(CDR_PREFIX)


def parse_key(key: str) -> CallRecordKey:
    match = _KEY.fullmatch(key)
    if match is None:
        raise MalformedCallRecord("the object key is not in the documented CDR key layout")
    try:
        started_at = datetime.strptime(
            f"{match['year']}-{match['month']}-{match['day']} {match['time']}", "%Y-%m-%d %H.%M.%S.%f"
        ).replace(tzinfo=UTC)
    except ValueError:
        raise MalformedCallRecord("the object key's date or time does not exist") from None
    return CallRecordKey(match["connector"], match["transaction"], started_at)


def parse_record(key: str, body: bytes, account: str | None = None) -> CallRecord:
    """The evidence in one CDR object. The key is the authority on where the record belongs; the body must
    agree with it, so an object copied under another connector's folder is refused, not counted there.

    ``account``: in fleet mode, the account whose bucket held the object; its ``AwsAccountId`` must be that
    account, so that records written into one account's bucket cannot speak for another account's
    connectors."""
    where = parse_key(key)
    if len(body) > MAX_RECORD_BYTES:
        raise MalformedCallRecord(f"the record is larger than {MAX_RECORD_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedCallRecord("the record is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedCallRecord("the record is not a JSON object")
    _require_equal(document, "VoiceConnectorId", where.voice_connector_id)
    _require_equal(document, "TransactionId", where.transaction_id)
    if account is not None:
        _require_equal(document, "AwsAccountId", account, "the account whose bucket holds it")
    return CallRecord(
        voice_connector_id=where.voice_connector_id,
        transaction_id=where.transaction_id,
        started_at=_started_at(document, where),
        sip_auth_user=_sip_auth_user(document),
    )


def _require_equal(
    document: dict[str, Any], field: str, expected: str, source: str = "the object key's"
) -> None:
    value = document.get(field)
    if not isinstance(value, str):
        raise MalformedCallRecord(f"{field}: {'missing' if value is None else 'not a string'}")
    if value != expected:
        raise MalformedCallRecord(f"{field}: differs from {source}")


def _started_at(document: dict[str, Any], where: CallRecordKey) -> datetime:
    """StartTimeEpochSeconds when present (whole seconds, as documented), else the key's time."""
    value = document.get("StartTimeEpochSeconds")
    if value is None:
        return where.started_at
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedCallRecord("StartTimeEpochSeconds: not a number")
    try:
        started_at = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedCallRecord("StartTimeEpochSeconds: out of range") from None
    # The key's time is the call's start to the millisecond; a body more than a day off is not this call.
    if abs((started_at - where.started_at).total_seconds()) > 86_400:
        raise MalformedCallRecord("StartTimeEpochSeconds: more than a day from the object key's time")
    return started_at


def _sip_auth_user(document: dict[str, Any]) -> str | None:
    value = document.get("SipAuthUser")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedCallRecord("SipAuthUser: not a string")
    if len(value.encode("utf-8", "surrogatepass")) > _MAX_USERNAME_BYTES:
        raise MalformedCallRecord(f"SipAuthUser: longer than {_MAX_USERNAME_BYTES} bytes")
    return value
