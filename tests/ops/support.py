"""Support for the operations tests: throwaway databases and `flask tracker` subprocesses.

These tests run real commands and servers, so they need a database of their own: a temporary
SQLite file, or (in the PostgreSQL pass, TRACKER_TEST_DATABASE_URL set) a database created for
the test on the same server and dropped afterwards. The session's test database is never used.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PG_ENV = "TRACKER_TEST_DATABASE_URL"
DEMO_PASSWORD = "demo-tracker-2026"


def postgres_url() -> str | None:
    """The PostgreSQL server of this test run, if it runs on PostgreSQL."""
    return os.environ.get(PG_ENV) or None


@contextmanager
def throwaway_database(tmp_path: Path, name: str = "db") -> Iterator[str]:
    """A new empty database URL of this run's dialect; dropped (or deleted) afterwards."""
    base = postgres_url()
    if base is None:
        yield f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
        return
    server = sa.engine.make_url(base)
    database = f"ops_{name}_{secrets.token_hex(4)}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
        yield server.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def tracker_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a tracker process on its own database and instance folder."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TRACKER_", "MAIL_", "DATABASE_URL", "FLASK_"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "TRACKER_INSTANCE_PATH": str(instance),
            "SECRET_KEY": "ops-test-secret-key-not-for-production",
            "TRACKER_DEMO_PASSWORD": DEMO_PASSWORD,
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    env.update(extra)
    return env


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def run_flask(env: dict[str, str], *args: str, check: bool = True, timeout: float = 300):
    """Run `flask --app wsgi ARGS` to completion; the CompletedProcess (text output)."""
    result = subprocess.run(
        flask_command(*args),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"flask {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def prepare_demo(env: dict[str, str]) -> None:
    """Migrate the database and load the demo bureau."""
    run_flask(env, "db", "upgrade")
    run_flask(env, "tracker", "bootstrap", "--demo")


def run_python(env: dict[str, str], module: str, *args: str, timeout: float = 300) -> str:
    """Run `python -m MODULE ARGS` in the project with this environment; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"python -m {module} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def verify_passes(env: dict[str, str]) -> str:
    """`tracker verify` exits 0; its output."""
    result = run_flask(env, "tracker", "verify", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification passed." in result.stdout
    return result.stdout
