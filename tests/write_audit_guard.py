"""Every request and command that commits a write also writes an audit event with it.

The page cache (tracker/page_cache.py) keeps pages under the audit chain's head: a change made
without moving the head would leave cached pages stale. The suite installs this guard on its
app and fails any test during which a request or a `flask` command commits a write to a table
other than those listed below without appending to the audit chain in the same transaction;
every view and command the suite exercises is checked this way.

The tests' own factories write outside both and are not checked: they stand for data already
on record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import click
from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_AUDIT_TABLES = frozenset({"audit_event", "audit_head"})

# Written without an audit event on purpose; no cached page shows them.
UNAUDITED_TABLES = frozenset(
    {
        "api_token",  # its last use, stamped on every API call
        "blob",  # an upload's stored file, committed before the (audited) evidence row
        "job_run",  # the scheduler's own record of which job ran for which slot
        "notification",  # reminders queued and sent: the outbox is their record
        "sign_in",  # a browser's sign-in, ended when it idles out (sign-in and out are audited)
    }
)


@dataclass
class WriteAuditGuard:
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = f"_written_tables_{id(self)}"  # each guard counts its own engine's writes

    def install(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._on_statement)
        event.listen(Session, "after_commit", self._on_commit)
        event.listen(Session, "after_rollback", self._on_rollback)

    def uninstall(self, engine: Engine) -> None:
        event.remove(engine, "before_cursor_execute", self._on_statement)
        event.remove(Session, "after_commit", self._on_commit)
        event.remove(Session, "after_rollback", self._on_rollback)

    def take(self) -> list[str]:
        found, self.violations = self.violations, []
        return found

    def _on_statement(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        if not _watched():
            return
        match = _WRITE.match(statement)
        if match:
            g.setdefault(self._key, set()).add(match.group(1).lower())

    def _on_commit(self, _session: Session) -> None:
        if not _watched():
            return
        written = g.pop(self._key, set())
        unaudited = written - _AUDIT_TABLES - UNAUDITED_TABLES
        if unaudited and not written & _AUDIT_TABLES:
            self.violations.append(f"{_who()} committed {sorted(unaudited)} without an audit event")

    def _on_rollback(self, _session: Session) -> None:
        if _watched():
            g.pop(self._key, None)


def _watched() -> bool:
    return has_request_context() or click.get_current_context(silent=True) is not None


def _who() -> str:
    if has_request_context():
        return f"{request.method} {request.path}"
    return f"command {click.get_current_context().command_path}"
