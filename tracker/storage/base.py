"""The blob storage interface: bytes addressed by their sha256, written once, never overwritten."""

from __future__ import annotations

import errno
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO, Self

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
READ_CHUNK = 1 << 20
OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class BlobNotFound(FileNotFoundError):
    """No blob is stored under this hash."""


class StorageFull(OSError):
    """The storage has no room left (ENOSPC, or a quota): nothing of the blob was kept."""


def is_out_of_space(error: BaseException) -> bool:
    """Whether an OSError means "no space left" (a full disk or an exceeded quota)."""
    return isinstance(error, OSError) and error.errno in OUT_OF_SPACE


class BlobStateError(RuntimeError):
    """A pending blob was used after it was committed or aborted."""


def check_sha256(sha256: str) -> str:
    """Return the hash if it is 64 lower-case hex digits, else raise ValueError."""
    # The hash becomes a path or an object key: anything else could escape the store.
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a lower-case sha256 hex digest: {sha256!r}")
    return sha256


class PendingBlob(ABC):
    """A blob being written whose hash is not known yet; commit it under its hash or abort it."""

    def __init__(self) -> None:
        self._state = "open"
        self.bytes_written = 0

    @property
    def closed(self) -> bool:
        """True once the blob was committed or aborted."""
        return self._state != "open"

    def write(self, chunk: bytes) -> None:
        """Append bytes to the pending blob."""
        self._require_open()
        if chunk:
            self._write(chunk)
            self.bytes_written += len(chunk)

    def commit(self, sha256: str) -> bool:
        """Store the bytes under their hash; False (nothing new kept) if it was already there."""
        check_sha256(sha256)
        self._require_open()
        try:
            created = self._commit(sha256)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        return created

    def abort(self) -> None:
        """Remove everything written so far; safe to call more than once."""
        if self._state == "open":
            self._state = "aborted"
            self._abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving the block without commit (an exception, an early return) throws the bytes away.
        self.abort()

    def _require_open(self) -> None:
        if self._state != "open":
            raise BlobStateError(f"pending blob already {self._state}")

    @abstractmethod
    def _write(self, chunk: bytes) -> None: ...

    @abstractmethod
    def _commit(self, sha256: str) -> bool: ...

    @abstractmethod
    def _abort(self) -> None: ...


class BlobStorage(ABC):
    """Content-addressed storage: a blob's name is the sha256 of its bytes."""

    @abstractmethod
    def begin(self) -> PendingBlob:
        """Start writing a new blob of unknown hash."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under this hash."""

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """A streaming reader of the blob (the caller closes it); BlobNotFound if absent."""

    @abstractmethod
    def size(self, sha256: str) -> int:
        """The blob's size in bytes; BlobNotFound if absent."""

    @abstractmethod
    def iter_hashes(self) -> Iterator[str]:
        """Every stored hash, in no particular order."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove a blob if present (crash clean-up and tests only: evidence is never deleted)."""

    def hash_of(self, sha256: str) -> str:
        """Re-read the stored bytes and return their sha256 (what `verify` compares)."""
        digest = hashlib.sha256()
        with self.open(sha256) as reader:
            while chunk := reader.read(READ_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
