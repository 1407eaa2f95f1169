"""Blob storage in a local folder, and the contract every storage backend keeps."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.unit.test_uploads import GeneratedStream, expected_sha256
from tracker.services.filetypes import UnsupportedFileType
from tracker.services.uploads import FileTooLarge, receive_upload
from tracker.storage import (
    BlobNotFound,
    BlobStateError,
    BlobStorage,
    LocalBlobStorage,
    StorageConfigError,
    storage_from_config,
)
from tracker.storage import local as local_module

MIB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(storage: BlobStorage, data: bytes, *, chunk: int = 64 * 1024) -> bool:
    with storage.begin() as pending:
        for start in range(0, len(data), chunk):
            pending.write(data[start : start + chunk])
        return pending.commit(sha(data))


def read_all(storage: BlobStorage, sha256: str) -> bytes:
    with storage.open(sha256) as reader:
        return b"".join(iter(lambda: reader.read(MIB), b""))


class StorageContract:
    """Tests every backend passes; a subclass provides the `storage` and `leftovers` fixtures.

    `leftovers()` lists what an upload may leave behind while in progress (temporary files,
    temporary objects, incomplete multipart uploads): it must be empty after every operation.
    """

    def test_commit_then_read_back(self, storage: BlobStorage, leftovers: Callable[[], list]):
        data = b"evidence " * 50_000
        assert store(storage, data) is True
        digest = sha(data)
        assert storage.exists(digest)
        assert storage.size(digest) == len(data)
        assert read_all(storage, digest) == data
        assert storage.hash_of(digest) == digest
        assert list(storage.iter_hashes()) == [digest]
        assert leftovers() == []

    def test_same_bytes_are_stored_once(self, storage, leftovers):
        data = b"same bytes"
        assert store(storage, data) is True
        assert store(storage, data) is False
        assert list(storage.iter_hashes()) == [sha(data)]
        assert leftovers() == []

    def test_empty_blob(self, storage, leftovers):
        assert store(storage, b"") is True
        assert storage.size(sha(b"")) == 0
        assert read_all(storage, sha(b"")) == b""

    def test_abort_removes_everything_and_is_idempotent(self, storage, leftovers):
        pending = storage.begin()
        pending.write(b"x" * (9 * MIB))
        pending.abort()
        pending.abort()
        assert pending.closed
        assert leftovers() == []
        assert list(storage.iter_hashes()) == []
        with pytest.raises(BlobStateError):
            pending.write(b"more")

    def test_exception_inside_the_block_aborts(self, storage, leftovers):
        with pytest.raises(RuntimeError, match="boom"), storage.begin() as pending:
            pending.write(b"y" * (9 * MIB))
            raise RuntimeError("boom")
        assert leftovers() == []
        assert list(storage.iter_hashes()) == []

    def test_leaving_the_block_without_commit_aborts(self, storage, leftovers):
        with storage.begin() as pending:
            pending.write(b"z" * 1000)
        assert pending.closed
        assert leftovers() == []

    def test_no_use_after_commit(self, storage):
        with storage.begin() as pending:
            pending.write(b"a")
            pending.commit(sha(b"a"))
            with pytest.raises(BlobStateError):
                pending.write(b"b")
            with pytest.raises(BlobStateError):
                pending.commit(sha(b"a"))
        assert storage.exists(sha(b"a"))  # leaving the block after commit keeps the blob

    def test_missing_blob(self, storage):
        missing = sha(b"never stored")
        assert storage.exists(missing) is False
        with pytest.raises(BlobNotFound):
            storage.open(missing)
        with pytest.raises(BlobNotFound):
            storage.size(missing)

    @pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCDEF" * 10 + "ABCD", "", "0" * 63])
    def test_malformed_hash_is_rejected(self, storage, leftovers, bad):
        with pytest.raises(ValueError):
            storage.exists(bad)
        with pytest.raises(ValueError), storage.begin() as pending:
            pending.write(b"data")
            pending.commit(bad)
        assert leftovers() == []

    def test_delete(self, storage):
        store(storage, b"to delete")
        storage.delete(sha(b"to delete"))
        storage.delete(sha(b"to delete"))  # idempotent
        assert not storage.exists(sha(b"to delete"))

    def test_upload_pipeline_download_and_dedup(self, storage, leftovers):
        total = 20 * MIB + 17  # several 8 MiB parts on S3
        stored = receive_upload(
            GeneratedStream(total), filename="执法记录.mp4", storage=storage, max_bytes=30 * MIB
        )
        assert stored.sha256 == expected_sha256(total)
        assert storage.size(stored.sha256) == total
        assert storage.hash_of(stored.sha256) == stored.sha256
        again = receive_upload(
            GeneratedStream(total), filename="again.mp4", storage=storage, max_bytes=30 * MIB
        )
        assert again.deduplicated is True
        assert list(storage.iter_hashes()) == [stored.sha256]
        assert leftovers() == []

    def test_upload_crash_in_the_middle_leaves_nothing(self, storage, leftovers):
        total = 20 * MIB
        stream = GeneratedStream(total, fail_at=total // 2)
        with pytest.raises(ConnectionResetError):
            receive_upload(stream, filename="a.mp4", storage=storage, max_bytes=30 * MIB)
        assert leftovers() == []
        assert list(storage.iter_hashes()) == []

    def test_upload_refusals_leave_nothing(self, storage, leftovers):
        with pytest.raises(FileTooLarge):
            receive_upload(
                GeneratedStream(12 * MIB), filename="a.mp4", storage=storage, max_bytes=10 * MIB
            )
        with pytest.raises(UnsupportedFileType):
            receive_upload(
                io.BytesIO(b"MZ\x90\x00" + b"\0" * 20_000),
                filename="a.pdf",
                storage=storage,
                max_bytes=MIB,
            )
        assert leftovers() == []
        assert list(storage.iter_hashes()) == []


class TestLocalStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> LocalBlobStorage:
        return LocalBlobStorage(tmp_path / "blobs")

    @pytest.fixture
    def leftovers(self, storage: LocalBlobStorage) -> Callable[[], list[Path]]:
        return storage.temp_files


# --- Local specifics --------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> LocalBlobStorage:
    return LocalBlobStorage(tmp_path / "blobs")


def test_layout_and_permissions(storage):
    store(storage, b"layout")
    digest = sha(b"layout")
    path = storage.root / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == b"layout"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 & ~umask
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750 & ~umask


def test_bytes_go_to_a_temporary_file_until_commit(storage):
    with storage.begin() as pending:
        pending.write(b"partial")
        [temp] = storage.temp_files()
        assert temp.parent == storage.root / "tmp"
        assert temp.name.endswith(".part")
        assert not storage.exists(sha(b"partial"))
        pending.commit(sha(b"partial"))
    assert storage.temp_files() == []


def test_commit_fsyncs_file_and_directory(storage, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    with storage.begin() as pending:
        pending.write(b"durable")
        monkeypatch.setattr(local_module.os, "fsync", recording_fsync)
        pending.commit(sha(b"durable"))
    assert synced[0] == "file"  # the bytes first, then the new directories and the name
    assert synced[1:] == ["dir"] * (len(synced) - 1)
    assert len(synced) >= 2


def test_commit_of_existing_blob_keeps_the_original(storage):
    store(storage, b"original")
    path = storage.path_for(sha(b"original"))
    before = path.stat()
    assert store(storage, b"original") is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert storage.temp_files() == []


def test_failure_while_renaming_leaves_nothing(storage, monkeypatch):
    def broken_link(src, dst):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(local_module.os, "link", broken_link)
    with pytest.raises(OSError, match="I/O error"):
        store(storage, b"unlucky")
    assert storage.temp_files() == []
    assert not storage.exists(sha(b"unlucky"))


def test_filesystem_without_hard_links_falls_back_to_rename(storage, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(local_module.os, "link", no_links)
    assert store(storage, b"on a share") is True
    assert read_all(storage, sha(b"on a share")) == b"on a share"
    assert storage.temp_files() == []


def test_cleanup_removes_only_stale_temporary_files(storage):
    stale = storage.begin()
    stale.write(b"left by a killed process")
    old = time.time() - 3 * 3600
    os.utime(stale.temp_path, (old, old))
    with storage.begin() as fresh:
        fresh.write(b"upload in progress")
        assert storage.cleanup_temp(timedelta(hours=1)) == 1
        assert storage.temp_files() == [fresh.temp_path]
    assert storage.temp_files() == []
    stale.abort()  # closes the handle the "killed process" left open


def test_iter_hashes_ignores_stray_files(storage):
    store(storage, b"real")
    (storage.root / "README").write_text("operator notes")
    (storage.root / "ab" / "cd").mkdir(parents=True)
    (storage.root / "ab" / "cd" / "not-a-hash").write_text("x")
    (storage.root / "ab" / "cd" / ("ef" * 32)).write_text("misplaced")
    assert list(storage.iter_hashes()) == [sha(b"real")]


# --- Configuration ----------------------------------------------------------------------------


def test_local_storage_by_default_under_the_instance_folder(tmp_path):
    storage = storage_from_config({"INSTANCE_PATH": str(tmp_path)})
    assert isinstance(storage, LocalBlobStorage)
    assert storage.root == tmp_path / "blobs"


def test_local_storage_path_can_be_set(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path), "TRACKER_STORAGE": "LOCAL"}
    config["TRACKER_STORAGE_PATH"] = str(tmp_path / "evidence")
    storage = storage_from_config(config)
    assert isinstance(storage, LocalBlobStorage)
    assert storage.root == tmp_path / "evidence"


@pytest.mark.parametrize(
    "config",
    [
        {"TRACKER_STORAGE": "s3"},
        {"TRACKER_STORAGE": "ftp", "INSTANCE_PATH": "instance"},
        {},
    ],
)
def test_bad_storage_configuration_is_reported(config):
    with pytest.raises(StorageConfigError):
        storage_from_config(config)
