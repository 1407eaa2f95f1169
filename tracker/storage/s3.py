"""Blob storage in an S3-compatible bucket: `<prefix>blobs/<sha256>`, staged under `<prefix>tmp/`.

Writing: the bytes of a new blob are buffered up to one part (8 MiB by default). A blob that never
fills a part is put directly under its final key at commit time (a single PUT is atomic, so no
temporary object is needed). A larger blob becomes a multipart upload to `<prefix>tmp/<uuid>`,
completed at commit, then copied server-side to `<prefix>blobs/<sha256>` and the temporary object
deleted. The key of a multipart upload is fixed when it starts, before the hash is known, hence the
copy. Copies up to 5 GiB use CopyObject; larger ones a multipart copy (UploadPartCopy by ranges),
since CopyObject refuses objects over 5 GiB. Abort removes the multipart upload or the temporary
object. Uploads interrupted by a killed process are removed by `cleanup_temp` (a bucket lifecycle
rule "abort incomplete multipart uploads" on `<prefix>tmp/` is a good second net).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from tracker.storage.base import SHA256_HEX, BlobNotFound, BlobStorage, PendingBlob, check_sha256

log = logging.getLogger(__name__)

MIB = 1 << 20
GIB = 1 << 30
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 8 * MIB
MAX_PARTS = 10_000  # S3's limit per multipart upload
COPY_OBJECT_LIMIT = 5 * GIB  # CopyObject's limit
COPY_PART_SIZE = 512 * MIB
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND


class S3PendingBlob(PendingBlob):
    """A blob being written: buffered in memory up to one part, then a multipart upload."""

    def __init__(self, storage: S3BlobStorage) -> None:
        super().__init__()
        self._storage = storage
        self._client = storage.client
        self.temp_key = f"{storage.prefix}tmp/{uuid.uuid4().hex}"
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._temp_object = False  # the multipart upload was completed into the temporary key

    def _write(self, chunk: bytes) -> None:
        self._buffer += chunk
        # Never more than one part (plus the chunk being added) in memory.
        while len(self._buffer) >= self._storage.part_size:
            self._upload_part(self._storage.part_size)

    def _upload_part(self, length: int) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(
                Bucket=self._storage.bucket, Key=self.temp_key
            )
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"blob too large for {MAX_PARTS} parts of {self._storage.part_size}")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        answer = self._client.upload_part(
            Bucket=self._storage.bucket,
            Key=self.temp_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})

    def _commit(self, sha256: str) -> bool:
        storage = self._storage
        final_key = storage.key_for(sha256)
        if self._upload_id is None:
            # Small blob: it is all in the buffer; one PUT under the final key.
            if storage.exists(sha256):
                self._buffer.clear()
                return False
            self._client.put_object(Bucket=storage.bucket, Key=final_key, Body=bytes(self._buffer))
            self._buffer.clear()
            return True
        if self._buffer:
            self._upload_part(len(self._buffer))  # the last part may be smaller than 5 MiB
        self._client.complete_multipart_upload(
            Bucket=storage.bucket,
            Key=self.temp_key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None
        self._temp_object = True
        if storage.exists(sha256):
            created = False
        else:
            storage.copy(self.temp_key, final_key, self.bytes_written)
            created = True
        self._client.delete_object(Bucket=storage.bucket, Key=self.temp_key)
        self._temp_object = False
        return created

    def _abort(self) -> None:
        self._buffer.clear()
        # Clean-up runs while another error propagates: log a failure rather than mask that error.
        try:
            if self._upload_id is not None:
                self._client.abort_multipart_upload(
                    Bucket=self._storage.bucket, Key=self.temp_key, UploadId=self._upload_id
                )
                self._upload_id = None
            if self._temp_object:
                self._client.delete_object(Bucket=self._storage.bucket, Key=self.temp_key)
                self._temp_object = False
        except (BotoCoreError, ClientError):
            log.warning("could not remove temporary upload %s", self.temp_key, exc_info=True)


class S3BlobStorage(BlobStorage):
    """Blobs as objects in one bucket, under an optional key prefix."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str = "",
        part_size: int = DEFAULT_PART_SIZE,
        copy_object_limit: int = COPY_OBJECT_LIMIT,
        copy_part_size: int = COPY_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if copy_part_size < MIN_PART_SIZE:
            raise ValueError(f"copy_part_size must be at least {MIN_PART_SIZE} bytes")
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_size = part_size
        # Both limits are parameters so that tests can exercise the multipart copy on small blobs.
        self.copy_object_limit = copy_object_limit
        self.copy_part_size = copy_part_size

    def __repr__(self) -> str:
        return f"S3BlobStorage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def key_for(self, sha256: str) -> str:
        """The object key of the blob with this hash."""
        return f"{self.prefix}blobs/{check_sha256(sha256)}"

    def begin(self) -> S3PendingBlob:
        """Start writing a new blob."""
        return S3PendingBlob(self)

    def exists(self, sha256: str) -> bool:
        """Whether the blob's object exists (a HEAD request)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as error:
            if _is_not_found(error):
                return False
            raise
        return True

    def open(self, sha256: str) -> BinaryIO:
        """The object's streaming body; read it in chunks and close it."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as error:
            if _is_not_found(error):
                raise BlobNotFound(sha256) from None
            raise
        # botocore's StreamingBody is an io.IOBase with read(n), close() and the context protocol.
        return cast(BinaryIO, answer["Body"])

    def size(self, sha256: str) -> int:
        """The object's size in bytes."""
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as error:
            if _is_not_found(error):
                raise BlobNotFound(sha256) from None
            raise
        return int(answer["ContentLength"])

    def iter_hashes(self) -> Iterator[str]:
        """Every stored hash, listed page by page."""
        start = f"{self.prefix}blobs/"
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                name = item["Key"][len(start) :]
                if SHA256_HEX.fullmatch(name):
                    yield name

    def delete(self, sha256: str) -> None:
        """Remove the blob's object (S3 deletes are idempotent)."""
        self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))

    def copy(self, source_key: str, target_key: str, size: int) -> None:
        """Server-side copy of one object of the bucket to another key."""
        source = {"Bucket": self.bucket, "Key": source_key}
        if size <= self.copy_object_limit:
            self.client.copy_object(Bucket=self.bucket, Key=target_key, CopySource=source)
            return
        started = self.client.create_multipart_upload(Bucket=self.bucket, Key=target_key)
        upload_id = started["UploadId"]
        try:
            parts = []
            for number, first in enumerate(range(0, size, self.copy_part_size), start=1):
                last = min(first + self.copy_part_size, size) - 1
                answer = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={first}-{last}",
                )
                parts.append({"ETag": answer["CopyPartResult"]["ETag"], "PartNumber": number})
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=target_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=target_key, UploadId=upload_id
            )
            raise

    def temp_objects(self) -> list[str]:
        """Keys of completed temporary objects (normally none outside a commit)."""
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}tmp/")
            for item in page.get("Contents", [])
        ]

    def pending_uploads(self) -> list[dict[str, Any]]:
        """Multipart uploads not completed nor aborted under the temporary prefix."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        return [
            upload
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}tmp/")
            for upload in page.get("Uploads", [])
        ]

    def cleanup_temp(self, older_than: timedelta) -> int:
        """Abort multipart uploads and delete temporary objects older than `older_than`."""
        cutoff = datetime.now(UTC) - older_than
        removed = 0
        for upload in self.pending_uploads():
            if upload["Initiated"] < cutoff:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                removed += 1
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}tmp/"):
            for item in page.get("Contents", []):
                if item["LastModified"] < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        return removed
