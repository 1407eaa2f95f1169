"""Evidence files over HTTP: the configured blob storage and the streamed file response.

Shared by the item pages, the review package and the JSON API, so every download carries the same
headers (attachment or inline, RFC 5987 name, nosniff, private caching).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from flask import Response, abort, current_app

from tracker.models import Evidence
from tracker.storage import BlobNotFound, BlobStorage, storage_from_config

log = logging.getLogger(__name__)

DOWNLOAD_CHUNK = 64 * 1024
_STORAGE_SETTINGS = (
    "TRACKER_STORAGE",
    "TRACKER_STORAGE_PATH",
    "INSTANCE_PATH",
    "TRACKER_S3_BUCKET",
    "TRACKER_S3_ENDPOINT_URL",
    "TRACKER_S3_REGION",
    "TRACKER_S3_PREFIX",
)


def blob_storage() -> BlobStorage:
    """The configured storage, built once per configuration (an S3 client is slow to make)."""
    signature = tuple(str(current_app.config.get(key, "")) for key in _STORAGE_SETTINGS)
    cached = current_app.extensions.get("tracker_blob_storage")
    if cached is not None and cached[0] == signature:
        return cached[1]
    storage = storage_from_config(current_app.config)
    current_app.extensions["tracker_blob_storage"] = (signature, storage)
    return storage


def max_upload_bytes() -> int:
    return int(current_app.config["TRACKER_MAX_UPLOAD_MB"]) * 1024 * 1024


class _BlobChunks:
    """Iterates a stored blob in 64 KiB chunks; closing the response closes the reader."""

    def __init__(self, reader: BinaryIO) -> None:
        self._reader = reader

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._reader.read(DOWNLOAD_CHUNK):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._reader.close()


def _ascii_fallback(name: str) -> str:
    """The name for clients without RFC 5987: ASCII only, no quotes or backslashes."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r'["\\%;\x00-\x1f\x7f]', "_", text).strip()
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    if not stem.strip("._ -"):
        stem = "evidence"
    return f"{stem}.{ext}" if ext else stem


def send_evidence_file(evidence: Evidence, *, disposition: str) -> Response:
    """The stored file as a streamed response: attachment or inline, never sniffed."""
    assert evidence.blob_sha256 is not None
    try:
        # Opened before the response is returned: no request context is needed while streaming.
        reader = blob_storage().open(evidence.blob_sha256)
    except BlobNotFound:
        log.error("blob %s of evidence %s is missing", evidence.blob_sha256, evidence.id)
        abort(404)
    response = current_app.response_class(
        _BlobChunks(reader),
        content_type=evidence.content_type or "application/octet-stream",
        direct_passthrough=True,
    )
    response.content_length = evidence.size
    display = evidence.original_filename or evidence.safe_filename or "evidence"
    response.headers.set(
        "Content-Disposition",
        disposition,
        filename=_ascii_fallback(evidence.safe_filename or display),
        **{"filename*": f"UTF-8''{quote(display, safe='')}"},
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["ETag"] = f'"{evidence.blob_sha256}"'
    return response
