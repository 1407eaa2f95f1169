"""A per-process cache of whole pages, for the pages people reload all day.

The checklist, the review queue and the dashboard cost tens of milliseconds to build, mostly in
rendering, and they are reloaded far more often than the ledger changes. A page is kept under
everything it is built from:

- the viewer (user id) and the address (path and query string);
- the language and the bureau's date (traffic lights and "overdue" move at midnight);
- the ledger's stamp: the last `seq` and hash of the audit chain (every change the application
  makes writes an audit event in the same transaction; `tests/write_audit_guard.py` fails any
  test during which a request or command commits a write without one) and the working
  calendar's revisions (database triggers renew them even for a hand-written holiday fix).

The stamp is read before the view reads anything, so a page is never kept under a stamp newer
than its data: a write committed meanwhile only files an up-to-date page under the older stamp,
which nobody asks for once the stamp has moved.

What belongs to one request is not kept: the CSRF token is put back fresh on every hit, and a
request with flash messages to show is built afresh and not kept. Each gunicorn worker keeps
its own pages (`TRACKER_PAGE_CACHE_MB` each, least recently used dropped first; 0 turns the
cache off).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session
from flask.globals import request_ctx
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from tracker.clock import today
from tracker.extensions import db
from tracker.i18n import current_locale
from tracker.models.audit import AuditHead
from tracker.services.holidays import calendar_key

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION = "tracker_page_cache"
# Stands for the CSRF token inside a kept page; random, so that no page text can contain it.
_CSRF_PLACEHOLDER = f"csrf-{secrets.token_hex(16)}".encode()


@dataclass(frozen=True)
class _Page:
    html: bytes  # UTF-8, as served: its size is what it costs to keep
    has_csrf: bool  # whether the placeholder must be replaced by this request's token


class PageCache:
    """Least recently used pages, bounded by their total size; safe across threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, _Page] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def total_bytes(self) -> int:
        return self._total

    def get(self, key: Hashable) -> _Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: _Page) -> None:
        size = len(page.html)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._pages:
                self._drop(key)
            while self._total + size > self.max_bytes:
                self._drop(next(iter(self._pages)))
            self._pages[key] = page
            self._sizes[key] = size
            self._total += size

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._sizes.clear()
            self._total = 0

    def _drop(self, key: Hashable) -> None:
        del self._pages[key]
        self._total -= self._sizes.pop(key)


def init_app(app: Flask) -> None:
    megabytes = app.config.get("TRACKER_PAGE_CACHE_MB", 0)
    if megabytes > 0:
        app.extensions[EXTENSION] = PageCache(megabytes * 1024 * 1024)


def page_key() -> tuple[Hashable, ...]:
    """Everything a cached page is built from; see the module's docstring. Two statements."""
    return (
        current_user.id,
        request.full_path,
        current_locale(),
        today(),
        # The hash too: after a backup is restored, the same seq can end a different chain.
        db.session.execute(select(AuditHead.last_seq, AuditHead.last_hash)).tuples().first(),
        calendar_key(db.session),
    )


def cached_page(view: F) -> F:
    """Serve the view's page from the cache while its key holds (under `requires`, so that
    sign-in and permissions are checked on every request, hit or not)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cache: PageCache | None = current_app.extensions.get(EXTENSION)
        if cache is None or request.method != "GET" or "_flashes" in session:
            return view(*args, **kwargs)
        key = page_key()
        page = cache.get(key)
        if page is not None:
            if page.has_csrf:
                return page.html.replace(_CSRF_PLACEHOLDER, generate_csrf().encode())
            return page.html
        response = view(*args, **kwargs)
        if isinstance(response, str) and not request_ctx.flashes:
            html = response.encode()
            token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
            if token:
                html = html.replace(token.encode(), _CSRF_PLACEHOLDER)
            cache.put(key, _Page(html, has_csrf=bool(token)))
        return response

    return wrapper  # type: ignore[return-value]
