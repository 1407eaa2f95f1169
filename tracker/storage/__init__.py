"""Evidence blob storage: a local folder by default, an S3-compatible bucket when configured."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracker.storage.base import (
    BlobNotFound,
    BlobStateError,
    BlobStorage,
    PendingBlob,
    StorageFull,
    check_sha256,
)
from tracker.storage.local import LocalBlobStorage

__all__ = [
    "BlobNotFound",
    "BlobStateError",
    "BlobStorage",
    "LocalBlobStorage",
    "PendingBlob",
    "StorageConfigError",
    "StorageFull",
    "check_sha256",
    "storage_from_config",
]


class StorageConfigError(ValueError):
    """The storage settings are incomplete or contradictory."""


def _setting(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    return str(value).strip() if value is not None else ""


def storage_from_config(config: Mapping[str, Any]) -> BlobStorage:
    """Build the blob storage described by the app configuration."""
    kind = _setting(config, "TRACKER_STORAGE").lower() or "local"
    if kind == "local":
        root = _setting(config, "TRACKER_STORAGE_PATH")
        if not root:
            instance = _setting(config, "INSTANCE_PATH")
            if not instance:
                raise StorageConfigError("INSTANCE_PATH or TRACKER_STORAGE_PATH must be set")
            root = str(Path(instance) / "blobs")
        return LocalBlobStorage(root)
    if kind == "s3":
        return _s3_storage(config)
    raise StorageConfigError(f"TRACKER_STORAGE must be 'local' or 's3', not {kind!r}")


def _s3_storage(config: Mapping[str, Any]) -> BlobStorage:
    # Imported here: boto3 takes a noticeable time to import and local storage never needs it.
    import boto3
    from botocore.config import Config as BotoConfig

    from tracker.storage.s3 import S3BlobStorage

    bucket = _setting(config, "TRACKER_S3_BUCKET")
    if not bucket:
        raise StorageConfigError("TRACKER_STORAGE=s3 needs TRACKER_S3_BUCKET")
    endpoint = _setting(config, "TRACKER_S3_ENDPOINT_URL") or None
    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}
    if endpoint:
        # S3-compatible servers (MinIO, Ceph, most on-premises object stores) expect path-style
        # addresses and often reject the checksum headers that recent botocore adds by default.
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    # Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID... or an instance role),
    # never from the app configuration.
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=_setting(config, "TRACKER_S3_REGION") or None,
        config=BotoConfig(**options),
    )
    return S3BlobStorage(client, bucket, prefix=_setting(config, "TRACKER_S3_PREFIX"))
