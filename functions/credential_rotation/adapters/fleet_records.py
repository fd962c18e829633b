"""The S3 adapter for a fleet run's own documents, beside its per-connector records in the audit bucket:
the item files its Distributed Maps read, what discovery found, each child workflow's result, and the
listing of every plan the run wrote. The same bucket and digests as ``RunRecords``, which it extends.

A fleet run's per-connector results never come back into the execution's state (thousands of them would
outgrow its 256 KiB): each child workflow writes its own, and the fleet-level tasks list them here.
"""

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from credential_rotation.adapters.run_records import RunRecords
from credential_rotation.domain.errors import RunRecordMismatch
from credential_rotation.domain.models import RecordRef


class FleetRecords(RunRecords):
    @property
    def bucket(self) -> str:
        return self._bucket

    def put_items(self, key: str, items: Sequence[Mapping[str, Any]]) -> RecordRef:
        """A JSON array: what a Distributed Map's ItemReader (s3:getObject, InputType JSON) reads."""
        body = json.dumps(list(items), separators=(",", ":"), sort_keys=True).encode("ascii")
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return RecordRef(key=key, sha256=hashlib.sha256(body).hexdigest())

    def items(self, ref: RecordRef) -> list[Any]:
        """The item file ``ref`` names, if its bytes are the ones written (else RunRecordMismatch)."""
        items = json.loads(self.verified(ref))
        if not isinstance(items, list):
            raise RunRecordMismatch(f"the item file {ref.key} is not a JSON array")
        return items

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
