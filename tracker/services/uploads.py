"""Receiving an upload: stream it to blob storage in chunks while hashing and checking its type.

Storage-agnostic and database-agnostic: the caller records the returned `StoredUpload` (the Blob
and Evidence rows) and commits. Nothing here reads a whole file into memory: one chunk at a time
is hashed, inspected and written to a pending blob; ZIP and OLE2 containers are also spooled to a
temporary file for their directory (see `filetypes`). Any refusal or error aborts the pending blob,
so neither a blob nor a temporary file is left behind.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

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
from tracker.storage.base import BlobStorage

__all__ = [
    "EmptyFile",
    "ExtensionMismatch",
    "FileRefused",
    "FileTooLarge",
    "StoredUpload",
    "UnsupportedFileType",
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


def receive_upload(
    stream: BinaryIO,
    *,
    filename: str,
    storage: BlobStorage,
    max_bytes: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> StoredUpload:
    """Stream an upload into storage under its sha256; raises FileRefused and leaves nothing."""
    if max_bytes <= 0 or chunk_size <= 0:
        raise ValueError("max_bytes and chunk_size must be positive")
    original = display_filename(filename)
    safe = sanitize_filename(filename)
    digest = hashlib.sha256()
    size = 0
    # Leaving either block by an exception aborts the pending blob and removes the spool.
    with storage.begin() as pending, ContentInspector(original) as inspector:
        while chunk := stream.read(chunk_size):
            size += len(chunk)
            if size > max_bytes:
                raise FileTooLarge(original, limit=max_bytes)
            inspector.feed(chunk)  # refuses as soon as the content allows
            digest.update(chunk)
            pending.write(chunk)
        identification = inspector.finish()
        sha256 = digest.hexdigest()
        created = pending.commit(sha256)
    return StoredUpload(
        sha256=sha256,
        size=size,
        content_type=identification.content_type,
        file_type=identification.file_type,
        original_filename=original,
        safe_filename=safe,
        deduplicated=not created,
    )
