"""The S3 adapter for a run's records: each connector's plan and outcome, and the run's full report.

Step Functions caps a run's state at 256 KiB and cannot catch the error that exceeding it raises, so no
list of usernames travels in the state. A task stores what it decided or did here and hands on only a
``RecordRef``: the object's key and the SHA-256 of its bytes. The state machine carries the digest, so a
task that reads a record back checks that it is the one its predecessor wrote; a record changed in the
bucket meanwhile is refused with ``RunRecordMismatch`` and nothing is deleted on its strength.

S3 rather than the ledger table: a plan of thousands of long usernames outgrows DynamoDB's 400 KB item,
S3 reads back what was written (strong read-after-write consistency), and the run's full report belongs
in the same bucket, under S3 Object Lock, with every record of the run beside it.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.models import RecordRef, ReportLocation
from credential_rotation.ports import RunRecord

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_s3 import S3Client


def encode(document: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps any username (even one that is not valid UTF-8 text) representable.
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")


class RunRecords:
    def __init__(self, client: "S3Client", bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, document: Mapping[str, Any]) -> RecordRef:
        body = encode(document)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return RecordRef(key=key, sha256=hashlib.sha256(body).hexdigest())

    def verified(self, ref: RecordRef) -> bytes:
        """The bytes ``ref`` names, if they are the ones written (else RunRecordMismatch)."""
        body = self._client.get_object(Bucket=self._bucket, Key=ref.key)["Body"].read()
        if hashlib.sha256(body).hexdigest() != ref.sha256:
            raise RunRecordMismatch(
                f"the run record {ref.key} in the audit bucket is not the one this run wrote (its SHA-256 "
                "differs): it was changed after it was written, and nothing is done on its strength"
            )
        return body

    def get(self, ref: RecordRef) -> dict[str, Any]:
        document = json.loads(self.verified(ref))
        if not isinstance(document, dict):
            raise RunRecordMismatch(f"the run record {ref.key} is not a JSON object")
        return document

    def read[Record: RunRecord](
        self, ref: RecordRef, model: type[Record], voice_connector_id: str, execution_arn: str
    ) -> Record:
        """The record ``ref`` names, as ``model``, if it is this run's record of this connector."""
        try:
            record = model.model_validate(self.get(ref))
        except ValidationError:
            raise RunRecordMismatch(f"the run record {ref.key} is not a {model.__name__}") from None
        if (record.voice_connector_id, record.execution_arn) != (voice_connector_id, execution_arn):
            raise RunRecordMismatch(f"the run record {ref.key} is the record of another connector or run")
        return record

    def put_report(self, key: str, document: Mapping[str, Any]) -> ReportLocation:
        """The run's full report. The bucket's default Object Lock retention (governance mode) applies to
        it, so this version can be neither deleted nor overwritten in place until the retention ends."""
        response = self._client.put_object(
            Bucket=self._bucket, Key=key, Body=encode(document), ContentType="application/json"
        )
        return ReportLocation(bucket=self._bucket, key=key, version_id=response.get("VersionId"))
