"""Receiving an upload: stream it to blob storage in chunks while hashing and checking its type.

Storage-agnostic and database-agnostic: the caller records the returned `StoredUpload` (the Blob
and Evidence rows) and commits. Nothing here reads a whole file into memory: one chunk at a time
is hashed, inspected and written to a pending blob (`UploadIntake`); ZIP and OLE2 containers are
also spooled to a temporary file for their directory (see `filetypes`). Any refusal or error aborts
the pending blob, so neither a blob nor a temporary file is left behind. A request may feed an
intake while its body is parsed, so that each byte is written once (`receive_upload` then stores
the intake as it is).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO, Self

from tracker.services.filetypes import (
    ContentInspector,
    EmptyFile,
    ExtensionMismatch,
    FileRefused,
    FileTooLarge,
    FileType,
    UnsupportedFileType,
    printable_name,
)
from tracker.storage.base import BlobStateError, BlobStorage, PendingBlob

__all__ = [
    "EmptyFile",
    "ExtensionMismatch",
    "FileRefused",
    "FileTooLarge",
    "StoredUpload",
    "UnsupportedFileType",
    "UploadIntake",
    "display_filename",
    "receive_upload",
    "sanitize_filename",
]

DEFAULT_CHUNK_SIZE = 1 << 20
MAX_SAFE_NAME_CHARS = 200
# Linux and macOS allow 255 bytes per name: keep room so a downloaded file can always be saved.
MAX_SAFE_NAME_BYTES = 240
MAX_DISPLAY_NAME_CHARS = 255  # the width of the filename columns
MAX_EXTENSION_CHARS = 16

# Characters Windows refuses in names, and quotes that would break a Content-Disposition header.
_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICE = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


@dataclass(frozen=True)
class StoredUpload:
    """An upload that passed every check and is stored under its sha256."""

    sha256: str
    size: int
    content_type: str
    file_type: FileType
    original_filename: str  # for display: as sent, minus invisible and control characters
    safe_filename: str  # for downloads and anything that touches a file system
    deduplicated: bool  # True when the same bytes were already stored


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext and len(ext) <= MAX_EXTENSION_CHARS and " " not in ext:
        return stem, f".{ext}"
    return name, ""


def _fit(name: str, *, chars: int, utf8_bytes: int | None = None) -> str:
    """Shorten the stem so the name fits, keeping the extension."""
    if len(name) <= chars and (utf8_bytes is None or len(name.encode()) <= utf8_bytes):
        return name
    stem, ext = _split_extension(name)
    stem = stem[: max(chars - len(ext), 1)]
    if utf8_bytes is not None:
        while stem and len((stem + ext).encode()) > utf8_bytes:
            stem = stem[:-1]
    return stem.rstrip(". ") + ext


def sanitize_filename(name: str) -> str:
    """A name safe for file systems and HTTP headers: no path, invisible or reserved characters."""
    text = printable_name(unicodedata.normalize("NFC", name))
    # Both separators: a browser on Windows may send C:\\path\\name.
    text = re.split(r"[\\/]", text)[-1]
    text = _UNSAFE_CHARS.sub("_", text)
    # Leading dots would hide the file on Unix; trailing dots and spaces vanish on Windows.
    text = text.strip().lstrip(".").lstrip().rstrip(". ")
    if _WINDOWS_DEVICE.fullmatch(text):
        text = f"_{text}"
    text = _fit(text, chars=MAX_SAFE_NAME_CHARS, utf8_bytes=MAX_SAFE_NAME_BYTES)
    return text or "file"


def display_filename(name: str) -> str:
    """The name as the user sent it, for display: controls and bidi reordering removed, bounded."""
    # Bidi overrides go too: "invoice\u202efdp.exe" would display as "invoiceexe.pdf".
    text = printable_name(name)
    return _fit(text, chars=MAX_DISPLAY_NAME_CHARS) if text else sanitize_filename(name)


class UploadIntake:
    """One file's bytes as they arrive: size limit, content check, sha256 and a pending blob.

    `write` takes the bytes in any chunks; `store` then commits the blob under its sha256 and
    returns the `StoredUpload`; `close` (or leaving the `with` block) discards whatever was not
    stored. With `defer_errors` a failure (a refusal, a full disk) does not escape `write`: the
    blob is discarded at once, later bytes are ignored and `store` raises the failure. That is how
    a request streams a file part here while it is still being parsed (see
    `tracker.items.evidence_forms`), yet reports the refusal where the service receives the file,
    after the checks that come first.
    """

    def __init__(
        self, filename: str, *, storage: BlobStorage, max_bytes: int, defer_errors: bool = False
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.filename = filename
        self.storage = storage
        self.max_bytes = max_bytes
        self.size = 0
        self._original = display_filename(filename)
        self._safe = sanitize_filename(filename)
        self._defer_errors = defer_errors
        self._error: Exception | None = None
        self._closed = False
        self._digest = hashlib.sha256()
        self._inspector = ContentInspector(self._original)
        self._pending: PendingBlob | None = None
        self._guarded(self._begin)

    def _begin(self) -> None:
        self._pending = self.storage.begin()

    def write(self, chunk: bytes) -> int:
        """Check, hash and store the next bytes (ignored once the file failed)."""
        self._guarded(self._take, chunk)
        return len(chunk)

    def _take(self, chunk: bytes) -> None:
        assert self._pending is not None  # _begin succeeded, or _guarded skips this
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise FileTooLarge(self._original, limit=self.max_bytes)
        self._inspector.feed(chunk)  # refuses as soon as the content allows
        self._digest.update(chunk)
        self._pending.write(chunk)

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        """Run one step; on failure discard the blob, then raise or keep the error for `store`."""
        if self._error is not None:
            return
        try:
            step(*args)
        except Exception as error:
            self.close()
            if not self._defer_errors:
                raise
            self._error = error

    def store(self) -> StoredUpload:
        """Commit the blob under its sha256; raises the file's failure (nothing is kept then)."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise BlobStateError("this upload was already stored or discarded")
        assert self._pending is not None
        try:
            identification = self._inspector.finish()
            sha256 = self._digest.hexdigest()
            created = self._pending.commit(sha256)
        finally:
            self.close()
        return StoredUpload(
            sha256=sha256,
            size=self.size,
            content_type=identification.content_type,
            file_type=identification.file_type,
            original_filename=self._original,
            safe_filename=self._safe,
            deduplicated=not created,
        )

    def seek(self, offset: int, whence: int = 0) -> int:
        """Werkzeug rewinds each file part it parsed: nothing to do, nothing is read back."""
        return 0

    def close(self) -> None:
        """Discard the blob unless it was stored, and the content check's spool; idempotent."""
        self._closed = True
        try:
            if self._pending is not None:
                self._pending.abort()  # nothing happens once the blob is committed
        finally:
            self._inspector.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def receive_upload(
    stream: BinaryIO | UploadIntake,
    *,
    filename: str,
    storage: BlobStorage,
    max_bytes: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StoredUpload:
    """Stream an upload into storage under its sha256; raises FileRefused and leaves nothing.

    `stream` may also be an `UploadIntake` that already received the bytes (a file part the
    request streamed into storage): it is then stored as it is.
    """
    if isinstance(stream, UploadIntake):
        if (stream.filename, stream.storage, stream.max_bytes) != (filename, storage, max_bytes):
            raise ValueError("the upload was received for another name, storage or limit")
        return stream.store()
    if max_bytes <= 0 or chunk_size <= 0:
        raise ValueError("max_bytes and chunk_size must be positive")
    # Leaving the block by an exception aborts the pending blob and removes the spool.
    with UploadIntake(filename, storage=storage, max_bytes=max_bytes) as intake:
        while chunk := stream.read(chunk_size):
            intake.write(chunk)
        return intake.store()
