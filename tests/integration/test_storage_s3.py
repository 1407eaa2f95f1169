"""Blob storage on S3-compatible object storage, against moto's S3 server started on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

from tests.integration.test_storage_local import StorageContract, sha, store
from tests.unit.test_uploads import GeneratedStream, expected_sha256
from tracker.services.uploads import receive_upload
from tracker.storage import storage_from_config
from tracker.storage.s3 import S3BlobStorage

MIB = 1 << 20
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, with dummy credentials in the environment."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        # Keep a developer's own AWS profile and files out of the tests.
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def s3_settings(endpoint: str, bucket: str) -> dict[str, str]:
    """App settings for a bucket on the moto server."""
    return {
        "TRACKER_STORAGE": "s3",
        "TRACKER_S3_BUCKET": bucket,
        "TRACKER_S3_ENDPOINT_URL": endpoint,
        "TRACKER_S3_REGION": REGION,
        "TRACKER_S3_PREFIX": "tracker/",
    }


@pytest.fixture(scope="module")
def s3_client(s3_endpoint: str) -> Any:
    """One client configured as the app does it, shared: building a client takes a while."""
    storage = storage_from_config(s3_settings(s3_endpoint, "unused"))
    assert isinstance(storage, S3BlobStorage)
    return storage.client


@pytest.fixture
def s3_storage(s3_client: Any) -> S3BlobStorage:
    """Storage on a fresh bucket."""
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    return S3BlobStorage(s3_client, bucket, prefix="tracker/")


def s3_leftovers(storage: S3BlobStorage) -> Callable[[], list[Any]]:
    """Temporary objects and incomplete multipart uploads: all an interrupted upload can leave."""

    def leftovers() -> list[Any]:
        return storage.temp_objects() + storage.pending_uploads()

    return leftovers


class TestS3Storage(StorageContract):
    @pytest.fixture
    def storage(self, s3_storage: S3BlobStorage) -> S3BlobStorage:
        return s3_storage

    @pytest.fixture
    def leftovers(self, s3_storage: S3BlobStorage) -> Callable[[], list[Any]]:
        return s3_leftovers(s3_storage)


# --- S3 specifics -----------------------------------------------------------------------------


@pytest.fixture
def calls(s3_client: Any) -> Iterator[list[str]]:
    """The names of the S3 operations the storage calls, in order."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    s3_client.meta.events.register("before-call.s3", record, unique_id="test-calls")
    yield seen
    s3_client.meta.events.unregister("before-call.s3", unique_id="test-calls")


def test_storage_from_config_end_to_end(s3_endpoint):
    bucket = f"config-{uuid.uuid4().hex[:12]}"
    storage = storage_from_config(s3_settings(s3_endpoint, bucket))
    assert isinstance(storage, S3BlobStorage)
    storage.client.create_bucket(Bucket=bucket)
    assert store(storage, b"configured") is True
    assert storage.hash_of(sha(b"configured")) == sha(b"configured")
    assert storage.prefix == "tracker/"


def test_keys_live_under_the_prefix(s3_storage):
    store(s3_storage, b"keyed")
    listed = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [f"tracker/blobs/{sha(b'keyed')}"]


def test_small_blob_is_one_put_without_temporary_object(s3_storage, calls):
    store(s3_storage, b"small evidence")
    assert calls == ["HeadObject", "PutObject"]


def test_large_blob_goes_through_a_multipart_upload(s3_storage, calls):
    total = 20 * MIB
    stored = receive_upload(
        GeneratedStream(total), filename="执法记录.mp4", storage=s3_storage, max_bytes=total
    )
    assert calls == [
        "CreateMultipartUpload",
        "UploadPart",  # 8 MiB
        "UploadPart",  # 8 MiB
        "UploadPart",  # the last 4 MiB, at commit
        "CompleteMultipartUpload",
        "HeadObject",
        "CopyObject",
        "DeleteObject",
    ]
    assert s3_storage.hash_of(stored.sha256) == expected_sha256(total)
    assert s3_leftovers(s3_storage)() == []


def test_dedup_of_a_large_blob_skips_the_copy(s3_storage, calls):
    total = 9 * MIB
    receive_upload(GeneratedStream(total), filename="a.mp4", storage=s3_storage, max_bytes=total)
    calls.clear()
    again = receive_upload(
        GeneratedStream(total), filename="b.mp4", storage=s3_storage, max_bytes=total
    )
    assert again.deduplicated
    assert "CopyObject" not in calls
    assert calls[-1] == "DeleteObject"
    assert s3_leftovers(s3_storage)() == []


def test_download_streams_the_body(s3_storage):
    data = bytes(range(256)) * 40_000
    store(s3_storage, data)
    with s3_storage.open(sha(data)) as body:
        first = body.read(1000)
        rest = body.read()
    assert first + rest == data


def test_abort_during_multipart_leaves_no_incomplete_upload(s3_storage):
    pending = s3_storage.begin()
    pending.write(b"p" * (17 * MIB))  # two parts already sent
    assert len(s3_storage.pending_uploads()) == 1
    pending.abort()
    listed = s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket)
    assert listed.get("Uploads", []) == []
    assert s3_storage.temp_objects() == []


def test_failure_during_copy_removes_the_temporary_object(s3_storage, monkeypatch):
    def broken_copy(*args, **kwargs):
        raise ConnectionError("network down")

    monkeypatch.setattr(s3_storage, "copy", broken_copy)
    with pytest.raises(ConnectionError):
        store(s3_storage, b"c" * (9 * MIB), chunk=MIB)
    assert s3_leftovers(s3_storage)() == []
    assert list(s3_storage.iter_hashes()) == []


def test_objects_over_the_copy_limit_use_a_multipart_copy(s3_storage, calls):
    # CopyObject stops at 5 GiB; the limit is lowered so that 20 MiB takes the large-file path.
    storage = S3BlobStorage(
        s3_storage.client,
        s3_storage.bucket,
        prefix="tracker",
        copy_object_limit=10 * MIB,
        copy_part_size=6 * MIB,
    )
    total = 20 * MIB
    stored = receive_upload(
        GeneratedStream(total), filename="long.mp4", storage=storage, max_bytes=total
    )
    assert calls.count("UploadPartCopy") == 4  # 6 + 6 + 6 + 2 MiB
    assert "CopyObject" not in calls
    assert storage.size(stored.sha256) == total
    assert storage.hash_of(stored.sha256) == stored.sha256
    assert s3_leftovers(storage)() == []


def test_cleanup_aborts_uploads_left_by_a_killed_process(s3_storage):
    orphan = s3_storage.begin()
    orphan.write(b"o" * (9 * MIB))  # the process "dies" here: no abort, no commit
    assert len(s3_storage.pending_uploads()) == 1
    # (moto reports every upload as initiated in 2010, so the age cut-off itself is only tested
    # on local storage.)
    assert s3_storage.cleanup_temp(timedelta(hours=1)) == 1
    assert s3_leftovers(s3_storage)() == []


def test_part_size_below_the_s3_minimum_is_refused(s3_storage):
    with pytest.raises(ValueError):
        S3BlobStorage(s3_storage.client, s3_storage.bucket, part_size=MIB)


def test_client_for_s3_compatible_servers(s3_storage):
    config: BotoConfig = s3_storage.client.meta.config
    assert config.s3 == {"addressing_style": "path"}
    assert config.request_checksum_calculation == "when_required"
