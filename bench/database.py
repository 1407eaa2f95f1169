"""Throwaway bench databases: emptied, migrated, bootstrapped with the demo bureau, generated."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BENCH_CHIEF = "chief.cqs@demo.example.org"  # the chief whose pages and API are measured


def app_env(url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment every bench process of the app runs with."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "TRACKER_INSTANCE_PATH": str(instance),
        "TRACKER_STORAGE": "local",
        "TRACKER_STORAGE_PATH": str(instance / "blobs"),
        "SECRET_KEY": "bench-only",
        "TRACKER_SCHEDULER": "off",
        **extra,
    }


def flask(*args: str, env: dict[str, str]) -> str:
    """Run one `flask --app wsgi` command; its stdout (exits with its output on failure)."""
    binary = Path(sys.executable).with_name("flask")
    result = subprocess.run(
        [str(binary), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def scale_url(url: str | None, scale: str, workdir: Path) -> str:
    """The database of one scale: every scale keeps its own, so that their pages can be timed
    side by side once all are built (see `measure.measure_pages`).

    SQLite: a file per scale in the workdir. PostgreSQL: `<database>_<scale>` on the server of
    `url`, created when missing (emptied by `prepare` like the rest).
    """
    if url is None:
        return f"sqlite:///{workdir}/bench-{scale}.sqlite3"
    given = sa.engine.make_url(url)
    name = f"{given.database}_{scale}"
    engine = sa.create_engine(given, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
        if found is None:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


def empty(url: str) -> None:
    """Drop everything in the database (PostgreSQL schema, or the SQLite file)."""
    if url.startswith("sqlite"):
        path = Path(sa.engine.make_url(url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass(frozen=True)
class Prepared:
    env: dict[str, str]  # the environment of every app process on this database
    token: str  # an API token of the bench chief (BENCH_CHIEF)


def prepare(url: str, instance: Path, *, fast_passwords: bool = False) -> Prepared:
    """An empty, migrated database with the catalogue, the demo bureau and an API token.

    `fast_passwords` (the smoke test) hashes the demo passwords with the test suite's cheap
    Argon2 parameters: real ones cost a third of a second per person.
    """
    instance.mkdir(parents=True, exist_ok=True)
    empty(url)
    env = app_env(url, instance)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        *(["--fast"] if fast_passwords else []),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"preparing {url} failed:\n{result.stdout}\n{result.stderr}")
    return Prepared(env=env, token=result.stdout.strip().splitlines()[-1])


def _upgrade_and_bootstrap(fast_passwords: bool) -> None:
    """`db upgrade`, `tracker bootstrap`, the demo units and people, and the chief's API token
    (printed last), in this one process.

    The demo bureau's sample work (`bootstrap --demo`) is left out: the generator writes the
    history, and the sample takes seconds the smoke test cannot spare.
    """
    sys.path.insert(0, str(ROOT))
    from tracker import create_app
    from tracker.clock import now
    from tracker.extensions import db
    from tracker.services import api_tokens, demo
    from tracker.services.auth import find_user_by_email

    app = create_app()
    app.config["PASSWORD_HASH_FAST"] = fast_passwords
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["tracker", "bootstrap"]):
        outcome = runner.invoke(args=args)
        if outcome.exit_code != 0:
            sys.exit(f"{' '.join(args)} failed:\n{outcome.output}\n{outcome.exception!r}")
    with app.app_context():
        demo.create_demo_bureau(db.session, password=app.config["DEMO_PASSWORD"], now=now())
        chief = find_user_by_email(db.session, BENCH_CHIEF)
        _token, secret = api_tokens.create(
            db.session, actor=None, user=chief, name="bench", now=now()
        )
        db.session.commit()
    print(secret)


if __name__ == "__main__":
    _upgrade_and_bootstrap(fast_passwords="--fast" in sys.argv[1:])
