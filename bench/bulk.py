"""Bulk row writing for the data generator: SQLite executemany or PostgreSQL COPY.

The generator bypasses the ORM (a million objects would take far longer than the rows
themselves); this module turns plain tuples into the stored form each database expects, the same
form SQLAlchemy's column types would have written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa


class BulkWriter:
    """One connection, one transaction: `insert()` rows, then `finish()` commits and analyses."""

    def __init__(self, url: str) -> None:
        self.url = sa.engine.make_url(url)
        self.sqlite = self.url.get_backend_name() == "sqlite"
        if self.sqlite:
            self.conn: Any = sqlite3.connect(self.url.database, isolation_level=None)
            # The generator only: a crash mid-run leaves a database we would rebuild anyway.
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            self.conn.execute("PRAGMA cache_size=-262144")
            self.conn.execute("BEGIN")
        else:
            import psycopg

            plain = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(plain)
            # The tallies are recounted once at the end (`finish`): kept row by row, a million
            # items in one transaction pile up versions of the same tally rows.
            self.conn.execute("ALTER TABLE checklist_item DISABLE TRIGGER USER")
        self.tables: set[str] = set()

    # ---------------------------------------------------------------- values

    def instant(self, value: datetime) -> Any:
        """A UTC instant as UTCDateTime stores it (SQLite: naive ISO text with microseconds)."""
        if self.sqlite:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    # ---------------------------------------------------------------- statements

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.rows(sql, params)
        return row[0][0] if row else None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        cursor = self.conn.execute(sql, params)
        return [tuple(r) for r in cursor.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        self.conn.execute(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert every row; returns how many."""
        self.tables.add(table)
        names = ", ".join(columns)
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            rows = list(rows)
            self.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            return len(rows)
        count = 0
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def finish(self) -> None:
        """Commit, move PostgreSQL's id sequences past the explicit ids, recount the tallies,
        vacuum, analyze."""
        if self.sqlite:
            self.conn.execute("COMMIT")
            self.conn.execute("ANALYZE")
            self.conn.close()
            return
        with self.conn.cursor() as cursor:
            for table in sorted(self.tables):
                row = cursor.execute(
                    "SELECT pg_get_serial_sequence(table_name, column_name) "
                    "FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s "
                    "AND column_name = 'id'",
                    (table,),
                ).fetchone()
                sequence = row[0] if row else None
                if sequence:
                    cursor.execute(
                        f"SELECT setval(%s, (SELECT coalesce(max(id), 1) FROM {table}))",
                        (sequence,),
                    )
        self.conn.execute("ALTER TABLE checklist_item ENABLE TRIGGER USER")
        self.conn.commit()
        self._recount_tallies()
        self.conn.autocommit = True
        # VACUUM too: a settled database has its visibility map set (autovacuum would set it
        # minutes later), so index-only scans do not visit the freshly loaded heap.
        self.conn.execute("VACUUM ANALYZE")
        self.conn.close()

    def _recount_tallies(self) -> None:
        """PostgreSQL: the item tallies counted from the items, as `tracker verify` counts them."""
        from tracker.services import tally

        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as connection:
                tally.rebuild(connection)
        finally:
            engine.dispose()
