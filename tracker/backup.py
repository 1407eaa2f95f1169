"""`tracker backup` and `tracker restore`: a consistent database copy, the blobs, a manifest.

A backup is a folder:

    manifest.json           format, dialect, schema revision, row counts, sha256 of every file
    database.sqlite3        SQLite: a page-for-page copy made with the online backup API
    database.pgdump         PostgreSQL: `pg_dump --format=custom`
    blobs/ab/cd/<sha256>    the bytes of every blob the copied database refers to

Consistency: the database copy is one snapshot (SQLite's backup API copies a consistent
database while others keep writing; on PostgreSQL the blob list is read inside one
REPEATABLE READ transaction whose snapshot is exported to `pg_dump --snapshot`), and the blobs
copied are exactly those the snapshot's `blob` rows name. Blobs are immutable and addressed by
their hash, so copying them after the snapshot is safe: a blob row is committed only after its
bytes are stored. The manifest is written last, so a folder without one is an interrupted backup.

Restore verifies every hash of the manifest before it touches anything, refuses a target that
already holds data unless forced, loads the database copy, stores the blobs (through the
configured storage, local or S3), checks the restored row counts against the manifest and records
the restore in the audit chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from tracker.models import AuditEvent, Blob, Case, ChecklistItem, Evidence, Unit, User
from tracker.services import audit
from tracker.storage.base import SHA256_HEX, BlobStorage

FORMAT = "tracker-backup/1"
MANIFEST = "manifest.json"
BLOB_DIR = "blobs"
SQLITE_FILE = "database.sqlite3"
PGDUMP_FILE = "database.pgdump"
CHUNK = 1 << 20

# What a restore compares, and what makes a target "not empty".
COUNTED = {
    "units": Unit,
    "users": User,
    "items": ChecklistItem,
    "cases": Case,
    "evidence": Evidence,
    "blobs": Blob,
    "audit_events": AuditEvent,
}


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why (nothing was changed)."""


@dataclass
class BackupResult:
    path: Path
    dialect: str
    counts: dict[str, int]
    files: int
    bytes: int


@dataclass
class RestoreResult:
    path: Path
    dialect: str
    counts: dict[str, int]
    blobs_stored: int
    blobs_present: int
    problems: list[str] = field(default_factory=list)


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _blob_relpath(sha256: str) -> str:
    return f"{BLOB_DIR}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _counts(connection: Connection | Session) -> dict[str, int]:
    return {
        name: int(connection.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in COUNTED.items()
    }


def _alembic_revision(connection: Connection | Session) -> str | None:
    try:
        return connection.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001 (an unmigrated database has no version table)
        return None


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore, the password passed in the environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _require_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} is not installed (Debian: apt-get install postgresql-client-15; "
            "use the client of the server's major version)."
        )
    return found


# ---------------------------------------------------------------- backup


def create_backup(
    engine: Engine, storage: BlobStorage, out: Path, *, now: datetime
) -> BackupResult:
    """Write a complete backup into `out` (a new or empty folder)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database_file, blobs, counts, revision = _backup_sqlite(engine, out)
    elif dialect == "postgresql":
        database_file, blobs, counts, revision = _backup_postgresql(engine, out)
    else:
        raise BackupError(f"backups of {dialect} databases are not supported.")

    files = []
    sha256, size = _sha256_file(out / database_file)
    files.append({"path": database_file, "sha256": sha256, "size": size})
    total = size
    for blob_sha, blob_size in blobs:
        target = out / _blob_relpath(blob_sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        copied = 0
        with storage.open(blob_sha) as reader, target.open("wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                copied += len(chunk)
        if digest.hexdigest() != blob_sha or copied != blob_size:
            raise BackupError(
                f"stored blob {blob_sha} does not match its record "
                f"(found sha256 {digest.hexdigest()}, {copied} bytes): run `tracker verify`."
            )
        files.append({"path": _blob_relpath(blob_sha), "sha256": blob_sha, "size": copied})
        total += copied

    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "dialect": dialect,
        "alembic_revision": revision,
        "database_file": database_file,
        "counts": counts,
        "files": files,
    }
    # Written last and renamed into place: a folder without a manifest is not a backup.
    partial = out / (MANIFEST + ".part")
    partial.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    partial.replace(out / MANIFEST)
    return BackupResult(out, dialect, counts, len(files), total)


def _snapshot_contents(connection: Connection) -> tuple[list[tuple[str, int]], dict, str | None]:
    blobs = [(row[0], int(row[1])) for row in connection.execute(select(Blob.sha256, Blob.size))]
    return blobs, _counts(connection), _alembic_revision(connection)


def _backup_sqlite(engine: Engine, out: Path):
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up.")
    target = out / SQLITE_FILE
    source = sqlite3.connect(database)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # SQLite's online backup: one consistent copy, writers may continue
    finally:
        copy.close()
        source.close()
    # The blob list and counts come from the copy itself: exactly what the copy refers to.
    copy_engine = create_engine(f"sqlite:///{target}")
    try:
        with copy_engine.connect() as connection:
            blobs, counts, revision = _snapshot_contents(connection)
    finally:
        copy_engine.dispose()
    return SQLITE_FILE, blobs, counts, revision


def _backup_postgresql(engine: Engine, out: Path):
    pg_dump = _require_tool("pg_dump")
    dsn, env = _libpq(engine.url)
    with (
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection,
        connection.begin(),
    ):
        # pg_dump reads the very snapshot the blob list is read in (the transaction stays
        # open until the dump is done).
        snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        blobs, counts, revision = _snapshot_contents(connection)
        result = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            [
                pg_dump,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={out / PGDUMP_FILE}",
                f"--dbname={dsn}",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    return PGDUMP_FILE, blobs, counts, revision


# ---------------------------------------------------------------- restore


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of a backup folder, checked for shape (not yet for hashes)."""
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} holds no {MANIFEST}: not a backup, or an interrupted one.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest.")
    return manifest


def verify_backup(source: Path, manifest: dict[str, Any]) -> list[str]:
    """Re-hash every file the manifest lists; the problems found (empty when all match)."""
    source = Path(source).resolve()
    problems = []
    listed = set()
    for entry in manifest.get("files", []):
        relative = str(entry.get("path", ""))
        path = (source / relative).resolve()
        if source not in path.parents:
            problems.append(f"{relative}: outside the backup folder")
            continue
        listed.add(path)
        if relative.startswith(BLOB_DIR + "/") and (
            not SHA256_HEX.fullmatch(path.name) or path.name != entry.get("sha256")
        ):
            problems.append(f"{relative}: a blob's name must be its sha256")
            continue
        if not path.is_file():
            problems.append(f"{relative}: missing")
            continue
        found, size = _sha256_file(path)
        if found != entry.get("sha256"):
            problems.append(f"{relative}: sha256 expected {entry.get('sha256')}, found {found}")
        elif size != entry.get("size"):
            problems.append(f"{relative}: size expected {entry.get('size')}, found {size}")
    database = manifest.get("database_file")
    if database not in {SQLITE_FILE, PGDUMP_FILE} or (source / database).resolve() not in listed:
        problems.append(f"database file {database!r} is not listed in the manifest")
    for path in _files_under(source / BLOB_DIR):
        if path.resolve() not in listed:
            problems.append(f"{path.relative_to(source)}: not listed in the manifest")
    return problems


def _files_under(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from (p for p in sorted(root.rglob("*")) if p.is_file())


def target_contents(engine: Engine, storage: BlobStorage) -> list[str]:
    """What the target already holds (rows, blobs); empty when a restore may go ahead."""
    held = []
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        for name, model in COUNTED.items():
            if model.__tablename__ in tables:
                count = connection.scalar(select(func.count()).select_from(model)) or 0
                if count:
                    held.append(f"{count} {name}")
    if next(iter(storage.iter_hashes()), None) is not None:
        held.append("stored evidence blobs")
    return held


def restore_backup(
    engine: Engine, storage: BlobStorage, source: Path, *, force: bool = False
) -> RestoreResult:
    """Verify the backup in `source`, then load it into the target database and storage."""
    source = Path(source)
    manifest = read_manifest(source)
    problems = verify_backup(source, manifest)
    if problems:
        raise BackupError(
            "the backup does not match its manifest; nothing was restored:\n  "
            + "\n  ".join(problems)
        )
    dialect = engine.dialect.name
    if manifest["dialect"] != dialect:
        raise BackupError(
            f"the backup is of a {manifest['dialect']} database; the target is {dialect}."
        )
    held = target_contents(engine, storage)
    if held and not force:
        raise BackupError(
            "the target is not empty (" + ", ".join(held) + "); use --force to replace it."
        )

    # Blobs first: once the database names a blob, its bytes must already be there.
    stored = present = 0
    for entry in manifest["files"]:
        if not entry["path"].startswith(BLOB_DIR + "/"):
            continue
        sha256 = entry["sha256"]
        if storage.exists(sha256):
            present += 1
            continue
        with storage.begin() as pending, (source / entry["path"]).open("rb") as reader:
            while chunk := reader.read(CHUNK):
                pending.write(chunk)
            pending.commit(sha256)
        stored += 1

    database = source / manifest["database_file"]
    if dialect == "sqlite":
        _restore_sqlite(engine, database)
    else:
        _restore_postgresql(engine, database)

    with engine.connect() as connection:
        counts = _counts(connection)
    mismatches = [
        f"{name}: expected {manifest['counts'].get(name)}, found {counts[name]}"
        for name in COUNTED
        if counts[name] != manifest["counts"].get(name)
    ]
    return RestoreResult(source, dialect, counts, stored, present, mismatches)


def _restore_sqlite(engine: Engine, database: Path) -> None:
    target = engine.url.database
    if not target or target == ":memory:":
        raise BackupError("cannot restore into an in-memory SQLite database.")
    engine.dispose()  # no pooled connection may hold the file while its pages are replaced
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # replaces the whole target database in one step
    finally:
        copy.close()
        source.close()


def _restore_postgresql(engine: Engine, dump: Path) -> None:
    pg_restore = _require_tool("pg_restore")
    engine.dispose()
    dsn, env = _libpq(engine.url)
    result = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={dsn}",
            str(dump),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was restored): {result.stderr.strip()}")


def record_event(
    session: Session, *, action: str, path: Path, counts: dict[str, int], now: datetime, **data
) -> None:
    """The audit event of a backup or a restore (flushes; the command commits)."""
    audit.record(
        session,
        actor=None,
        action=action,
        object_type="backup",
        object_id=path.name[:64],
        data={"path": str(path), "counts": counts, **data},
        at=now,
        actor_label="command line",
    )
