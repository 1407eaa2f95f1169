"""`tracker backup` and `tracker restore`: a backup restored into an empty instance is complete.

Real commands in subprocesses on databases of their own (SQLite files, or throwaway PostgreSQL
databases in the PostgreSQL pass): a demo bureau with evidence, submissions, reviews and
comments is backed up, restored into an empty instance, and compared row by row and byte by byte;
`tracker verify` passes on the restored instance.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.ops.support import (
    postgres_url,
    prepare_demo,
    run_flask,
    run_python,
    throwaway_database,
    tracker_env,
    verify_passes,
)
from tracker import backup
from tracker.models import Blob
from tracker.storage import LocalBlobStorage

pytestmark = pytest.mark.slow


def snapshot(env) -> dict:
    return json.loads(run_python(env, "tests.ops.appdata", "snapshot"))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A demo instance with real work in it, on its own database (shared by this module)."""
    root = tmp_path_factory.mktemp("source")
    with throwaway_database(root, "src") as url:
        env = tracker_env(url, root / "instance")
        prepare_demo(env)
        run_python(env, "tests.ops.appdata", "seed", "6")
        yield env


@pytest.fixture
def empty_target(tmp_path):
    """An empty instance (no schema at all) with local blob storage."""
    with throwaway_database(tmp_path, "dst") as url:
        yield tracker_env(url, tmp_path / "dst")


@pytest.fixture
def empty_s3_target(tmp_path):
    """An empty instance whose evidence storage is an S3 bucket (moto's server on loopback)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        }
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="restored")
        with throwaway_database(tmp_path, "dst") as url:
            yield tracker_env(
                url,
                tmp_path / "dst",
                TRACKER_STORAGE="s3",
                TRACKER_S3_BUCKET="restored",
                TRACKER_S3_ENDPOINT_URL=endpoint,
                TRACKER_S3_REGION="us-east-1",
                **credentials,
            )
    finally:
        server.stop()


def test_restore_into_an_empty_instance_keeps_everything(tmp_path, source, empty_s3_target):
    """From an instance with local storage into an empty one whose storage is S3."""
    empty_target = empty_s3_target
    before = snapshot(source)
    file_hashes = {row[2] for row in before["evidence"] if row[2]}
    assert before["counts"]["evidence"] >= 12 and before["counts"]["blobs"] == len(file_hashes)
    out = tmp_path / "backup"

    made = run_flask(source, "tracker", "backup", "--out", str(out))
    assert f"Backup written to {out}" in made.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    blob_files = [f for f in manifest["files"] if f["path"].startswith("blobs/")]
    assert sorted(f["sha256"] for f in blob_files) == sorted(file_hashes)
    assert manifest["counts"]["audit_events"] == before["counts"]["audit_events"]
    # The backup itself is in the source's audit chain (after the snapshot it took).
    assert snapshot(source)["audit"][-1][2] == "backup.created"

    restored = run_flask(empty_target, "tracker", "restore", "--from", str(out))
    assert f"{len(file_hashes)} blobs stored" in restored.stdout
    after = snapshot(empty_target)
    assert after["counts"] == {**before["counts"], "audit_events": len(before["audit"]) + 1}
    assert after["evidence"] == before["evidence"]  # same rows, same bytes read back
    assert all(row[2] == row[3] for row in after["evidence"])
    assert after["audit"][: len(before["audit"])] == before["audit"]
    assert after["audit"][-1][2] == "backup.restored"
    assert after["statuses"] == before["statuses"] and after["roles"] == before["roles"]
    assert "S3BlobStorage(bucket='restored'" in verify_passes(empty_target)

    # A second restore meets a target with data: refused unless forced.
    again = run_flask(empty_target, "tracker", "restore", "--from", str(out), check=False)
    assert again.returncode == 1
    assert "the target is not empty" in again.stderr and "--force" in again.stderr
    assert snapshot(empty_target)["counts"] == after["counts"]
    forced = run_flask(empty_target, "tracker", "restore", "--from", str(out), "--force")
    assert f"0 blobs stored, {len(file_hashes)} already present" in forced.stdout
    verify_passes(empty_target)
    # Forced, the database is the backup's again, plus this restore's event.
    assert len(snapshot(empty_target)["audit"]) == len(before["audit"]) + 1


def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path, source, empty_target):
    out = tmp_path / "backup"
    run_flask(source, "tracker", "backup", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    blob = out / next(f["path"] for f in manifest["files"] if f["path"].startswith("blobs/"))
    blob.write_bytes(blob.read_bytes()[:-1] + b"X")  # one byte changed

    refused = run_flask(empty_target, "tracker", "restore", "--from", str(out), check=False)
    assert refused.returncode == 1
    assert "does not match its manifest" in refused.stderr
    assert f"{blob.relative_to(out)}: sha256 expected" in refused.stderr
    assert not (tmp_path / "dst" / "blobs").exists() or not any(
        (tmp_path / "dst" / "blobs").rglob("*")
    )

    (out / "manifest.json").unlink()
    incomplete = run_flask(empty_target, "tracker", "restore", "--from", str(out), check=False)
    assert incomplete.returncode == 1 and "holds no manifest.json" in incomplete.stderr


def test_backup_refuses_a_folder_that_is_not_empty(tmp_path, source):
    out = tmp_path / "used"
    out.mkdir()
    (out / "something").write_text("keep me")
    refused = run_flask(source, "tracker", "backup", "--out", str(out), check=False)
    assert refused.returncode == 1 and "is not an empty folder" in refused.stderr
    assert (out / "something").read_text() == "keep me"


def test_postgresql_dump_and_blob_list_come_from_one_snapshot(tmp_path, monkeypatch):
    """A blob committed after the backup's snapshot is in neither the dump nor the blob list,
    although pg_dump only starts after that commit."""
    if postgres_url() is None:
        if os.environ.get("CI") and os.environ.get("TRACKER_REQUIRE_POSTGRES", "1") == "1":
            pytest.fail("CI run without PostgreSQL: the snapshot test cannot be skipped.")
        pytest.skip("PostgreSQL only (SQLite's copy is read back for its blob list)")
    with (
        throwaway_database(tmp_path, "snap") as url,
        throwaway_database(tmp_path, "back") as restored_url,
    ):
        run_flask(tracker_env(url, tmp_path / "instance"), "db", "upgrade")
        engine = sa.create_engine(url)
        restored = sa.create_engine(restored_url)
        storage = LocalBlobStorage(tmp_path / "blobs")
        try:
            before = store_blob(engine, storage, b"stored before the backup")
            real_run = subprocess.run
            late: list[str] = []

            def commit_then_dump(*args, **kwargs):
                if not late:  # once: between the blob list and pg_dump
                    late.append(store_blob(engine, storage, b"committed during the backup"))
                return real_run(*args, **kwargs)

            monkeypatch.setattr(backup.subprocess, "run", commit_then_dump)
            result = backup.create_backup(engine, storage, tmp_path / "bk", now=datetime.now(UTC))
            monkeypatch.undo()
            assert late and result.counts["blobs"] == 1
            manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
            assert [f["sha256"] for f in manifest["files"][1:]] == [before]

            outcome = backup.restore_backup(
                restored, LocalBlobStorage(tmp_path / "restored"), tmp_path / "bk"
            )
            assert outcome.problems == [] and outcome.counts["blobs"] == 1
            with restored.connect() as connection:
                assert list(connection.scalars(sa.select(Blob.sha256))) == [before]
        finally:
            engine.dispose()
            restored.dispose()


def store_blob(engine: sa.Engine, storage: LocalBlobStorage, data: bytes) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    with storage.begin() as pending:
        pending.write(data)
        pending.commit(sha256)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(Blob).values(
                sha256=sha256,
                size=len(data),
                content_type="text/plain",
                created_at=datetime.now(UTC),
            )
        )
    return sha256
