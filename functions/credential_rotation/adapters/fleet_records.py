"""The S3 adapter for a fleet run's own documents, beside its per-connector records in the audit bucket:
the item file its Distributed Maps read, what discovery found, each child workflow's result, and the
listing of every plan the run wrote.

A fleet run's per-connector results never come back into the execution's state (thousands of them would
outgrow its 256 KiB): each child workflow writes its own, and the fleet-level tasks list them here.
"""

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from credential_rotation.adapters.run_records import encode
from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.models import RecordRef

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_s3 import S3Client

import json


class FleetRecords:
    def __init__(self, client: "S3Client", bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(self, key: str, document: Mapping[str, Any]) -> RecordRef:
        body = encode(document)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return RecordRef(key=key, sha256=hashlib.sha256(body).hexdigest())

    def put_items(self, key: str, items: Sequence[Mapping[str, Any]]) -> RecordRef:
        """A JSON array: what a Distributed Map's ItemReader (s3:getObject, InputType JSON) reads."""
        body = json.dumps(list(items), separators=(",", ":"), sort_keys=True).encode("ascii")
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return RecordRef(key=key, sha256=hashlib.sha256(body).hexdigest())

    def get(self, ref: RecordRef) -> Any:
        """The document ``ref`` names, if its bytes are the ones written (else RunRecordMismatch)."""
        body = self._client.get_object(Bucket=self._bucket, Key=ref.key)["Body"].read()
        if hashlib.sha256(body).hexdigest() != ref.sha256:
            raise RunRecordMismatch(
                f"the run record {ref.key} in the audit bucket is not the one this run wrote (its SHA-256 "
                "differs): it was changed after it was written, and nothing is done on its strength"
            )
        return json.loads(body)

    def documents(self, prefix: str) -> Iterator[tuple[RecordRef, dict[str, Any]]]:
        """Every JSON object under ``prefix``, in key order, each with the digest of the bytes read."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                body = self._client.get_object(Bucket=self._bucket, Key=entry["Key"])["Body"].read()
                document = json.loads(body)
                if not isinstance(document, dict):
                    raise RunRecordMismatch(f"the run record {entry['Key']} is not a JSON object")
                yield RecordRef(key=entry["Key"], sha256=hashlib.sha256(body).hexdigest()), document
