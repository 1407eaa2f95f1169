"""Fixtures of the hardening tests: settings turned on for one test, a second app, the log."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade

from tracker import create_app, request_log
from tracker.config import TestConfig
from tracker.extensions import db, limiter


@pytest.fixture
def idle_minutes(app: Flask) -> Iterator[int]:
    """The idle sign-out at its production default (the suite runs with it off)."""
    app.config["TRACKER_IDLE_MINUTES"] = 30
    try:
        yield 30
    finally:
        app.config["TRACKER_IDLE_MINUTES"] = 0


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the app's JSON log handler writes during the test."""
    handler = request_log.log_handler()
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.fixture(scope="session")
def side_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database of its own for second apps (their writes really commit)."""
    root = tmp_path_factory.mktemp("side")
    url = f"sqlite:///{root / 'side.sqlite3'}"
    config = TestConfig(instance_path=root / "instance", database_url=url)
    application = create_app(config)
    with application.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def make_app(side_database: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Builds apps configured like production in one respect or another (`make_app(X=...)`).

    They share the process-wide extensions with the suite's app, so the limiter is switched
    off again afterwards, as the suite's configuration has it.
    """
    built: list[Flask] = []

    def build(**settings: object) -> Flask:
        config = TestConfig(instance_path=tmp_path / "instance", database_url=side_database)
        for name, value in settings.items():
            setattr(config, name, value)
        application = create_app(config)
        built.append(application)
        return application

    try:
        yield build
    finally:
        limiter.enabled = False
        # Flask-Limiter keeps "storage unreachable" on the (process-wide) limiter itself.
        limiter._storage_dead = False
        for application in built:
            with application.app_context():
                db.engine.dispose()
