"""The account's call detail record bucket (S3): read only, and only what the indexer asks for."""

from typing import TYPE_CHECKING, Any

from credential_rotation.domain.call_records import MAX_RECORD_BYTES
from credential_rotation.domain.errors import MalformedCallRecord

if TYPE_CHECKING:  # the boto3 stubs are a development dependency only
    from mypy_boto3_s3 import S3Client

# ListObjectsV2's largest page.
PAGE_SIZE = 1_000


class CallRecordBucket:
    """``owner``: in fleet mode, the account whose bucket this must be. S3 refuses the read when the
    bucket belongs to anyone else, so a bucket name alone (names are global) cannot point the indexer at
    another account's objects."""

    def __init__(self, client: "S3Client", owner: str | None = None) -> None:
        self._client = client
        self._owner: dict[str, Any] = {"ExpectedBucketOwner": owner} if owner else {}

    def read(self, bucket: str, key: str) -> bytes:
        response = self._client.get_object(Bucket=bucket, Key=key, **self._owner)
        body = response["Body"]
        # A documented record is a few hundred bytes; an object larger than any record is refused unread.
        if int(response.get("ContentLength", 0)) > MAX_RECORD_BYTES:
            body.close()
            raise MalformedCallRecord(f"the record is larger than {MAX_RECORD_BYTES} bytes")
        return body.read(MAX_RECORD_BYTES + 1)

    def keys(self, bucket: str, prefix: str, start_after: str | None) -> tuple[list[str], str | None]:
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE, **self._owner}
        if start_after:
            request["StartAfter"] = start_after
        page = self._client.list_objects_v2(**request)
        keys = [entry["Key"] for entry in page.get("Contents", [])]
        return keys, keys[-1] if page.get("IsTruncated") and keys else None
