"""Helpers for reading pages and posting forms like a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from sqlalchemy import event

from tracker.extensions import db

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    """The CSRF token a browser would read from a form on `url`."""
    token = page(client.get(url)).find("input", {"name": "csrf_token"})
    assert token is not None, f"no CSRF token on {url}"
    return token["value"]


def post_form(client: FlaskClient, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """POST like a browser: with the CSRF token read from the page that holds the form."""
    return client.post(
        url, data={**data, "csrf_token": csrf_token(client, form_url or url)}, **kwargs
    )


def nav_endpoints(response) -> list[str]:
    return [a["data-nav"] for a in page(response).select("nav [data-nav]")]


def flashes(response) -> list[str]:
    return [div.get_text(" ", strip=True) for div in page(response).select(".alert")]


def visible_text(response) -> str:
    soup = page(response)
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup.get_text(" ", strip=True)


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements() -> Iterator[StatementCounter]:
    """Count SQL statements sent to the database inside the block (savepoints excluded)."""
    counter = StatementCounter()

    def before_cursor_execute(_conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            counter.statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)
