"""Blob storage in a local folder: `root/ab/cd/<sha256>`, written through `root/tmp/*.part`."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from tracker.storage.base import (
    SHA256_HEX,
    BlobNotFound,
    BlobStorage,
    PendingBlob,
    StorageFull,
    check_sha256,
    is_out_of_space,
)

FILE_MODE = 0o640
DIR_MODE = 0o750
TEMP_DIR = "tmp"
TEMP_SUFFIX = ".part"


def _fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new name, a rename) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: Path, mode: int) -> None:
    """Create missing directories, fsyncing each parent so a new directory survives a crash."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode)
        except FileExistsError:
            continue  # another process created it meanwhile
        _fsync_dir(directory.parent)


class LocalPendingBlob(PendingBlob):
    """A blob being written to `root/tmp/<random>.part`."""

    def __init__(self, storage: LocalBlobStorage) -> None:
        super().__init__()
        self._storage = storage
        self.temp_path = storage.temp_dir / f"{secrets.token_hex(16)}{TEMP_SUFFIX}"
        fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def _write(self, chunk: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(chunk)
        except OSError as error:
            if is_out_of_space(error):
                raise StorageFull(error.errno, f"evidence storage is full: {error}") from error
            raise

    def _commit(self, sha256: str) -> bool:
        try:
            return self._commit_file(sha256)
        except OSError as error:
            if is_out_of_space(error):
                raise StorageFull(error.errno, f"evidence storage is full: {error}") from error
            raise

    def _commit_file(self, sha256: str) -> bool:
        assert self._file is not None
        # Durable bytes before the name: a crash after the rename must not expose a short file.
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        target = self._storage.path_for(sha256)
        _makedirs_durable(target.parent, DIR_MODE)
        if target.exists():
            self.temp_path.unlink()
            return False
        try:
            # link() never replaces an existing name, so of two uploads of the same bytes racing
            # here exactly one reports "created"; the other sees FileExistsError.
            os.link(self.temp_path, target)
        except FileExistsError:
            self.temp_path.unlink()
            return False
        except OSError as error:
            if error.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}:
                raise
            # Filesystems without hard links (some network shares): an atomic rename instead.
            # It may replace an identical blob written concurrently, which is harmless.
            os.replace(self.temp_path, target)
        else:
            self.temp_path.unlink()
        _fsync_dir(target.parent)
        return True

    def _abort(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            # Closing flushes what is still buffered, which fails again on a full disk: the
            # file is removed all the same.
            try:
                file.close()
            except OSError:
                with contextlib.suppress(OSError, ValueError):  # ValueError: already closed
                    os.close(file.fileno())
        self.temp_path.unlink(missing_ok=True)


class LocalBlobStorage(BlobStorage):
    """Blobs as files under a root folder, two directory levels deep to keep folders small."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.temp_dir = self.root / TEMP_DIR

    def __repr__(self) -> str:
        return f"LocalBlobStorage({str(self.root)!r})"

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this hash lives."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def begin(self) -> LocalPendingBlob:
        """Start writing a new blob to a temporary file on the same filesystem as the root."""
        try:
            _makedirs_durable(self.temp_dir, DIR_MODE)
            return LocalPendingBlob(self)
        except OSError as error:
            if is_out_of_space(error):
                raise StorageFull(error.errno, f"evidence storage is full: {error}") from error
            raise

    def exists(self, sha256: str) -> bool:
        """Whether the blob's file exists."""
        return self.path_for(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The blob's file, opened for reading."""
        try:
            return self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def size(self, sha256: str) -> int:
        """The blob's size in bytes."""
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def iter_hashes(self) -> Iterator[str]:
        """Every stored hash, found by walking the two directory levels."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if len(first.name) != 2 or not first.is_dir():
                continue  # skips tmp/ and anything an operator left beside the blobs
            for second in sorted(first.iterdir()):
                if len(second.name) != 2 or not second.is_dir():
                    continue
                for entry in sorted(second.iterdir()):
                    name = entry.name
                    if SHA256_HEX.fullmatch(name) and name.startswith(first.name + second.name):
                        yield name

    def delete(self, sha256: str) -> None:
        """Remove the blob's file if present."""
        self.path_for(sha256).unlink(missing_ok=True)

    def temp_files(self) -> list[Path]:
        """The temporary files currently present (uploads in progress or left by a crash)."""
        if not self.temp_dir.is_dir():
            return []
        return sorted(p for p in self.temp_dir.iterdir() if p.name.endswith(TEMP_SUFFIX))

    def cleanup_temp(self, older_than: timedelta) -> int:
        """Delete temporary files not written to for `older_than` (left by a killed process)."""
        # An upload in progress keeps touching its file, so a generous age never hits it.
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for path in self.temp_files():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # committed or aborted meanwhile
        return removed
