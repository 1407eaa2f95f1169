"""Command-level benchmarks on a throwaway database (run with `make bench`).

Times what a bureau does in bulk — migrating, bootstrapping the demo bureau, importing 1,000
enforcement cases from CSV, generating a year's checklist — through the real `flask` commands, on
SQLite by default or on PostgreSQL with `--database-url` (the database is emptied first: never
point it at one you care about). Figures are printed, not asserted: tests check behaviour and
statement counts; this shows the time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = ["JCDD", "CQS", "LZS"]  # units of the demo bureau that register cases
HEADER = "case_no,unit,decided_on,served_on,closed_on,registered_on,major,party\n"


def cases_csv(count: int) -> str:
    """`count` plausible cases spread over 2026 and three units; one in ten is major."""
    lines = [HEADER]
    start = date(2026, 1, 5)
    for n in range(count):
        decided = start + timedelta(days=(n * 7) % 350)
        served = (decided + timedelta(days=4)).isoformat() if n % 3 else ""
        closed = (decided + timedelta(days=30)).isoformat() if n % 4 == 0 else ""
        registered = (decided - timedelta(days=45)).isoformat()
        major = "是" if n % 10 == 0 else "否"
        lines.append(
            f"测速〔2026〕{n + 1}号,{UNITS[n % 3]},{decided},{served},{closed},"
            f"{registered},{major},杭州某某{n}有限公司\n"
        )
    return "".join(lines)


def empty_postgresql(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def timed(label: str, *args: str, env: dict[str, str]) -> float:
    flask = Path(sys.executable).with_name("flask")
    started = time.perf_counter()
    result = subprocess.run(
        [str(flask), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{label} failed:\n{result.stdout}\n{result.stderr}")
    last = (result.stdout.strip().splitlines() or [""])[-1]
    print(f"{label:<34} {elapsed:7.2f} s   {last}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied first); default SQLite")
    parser.add_argument("--cases", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        url = options.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        if url.startswith("postgresql"):
            empty_postgresql(url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TRACKER_INSTANCE_PATH": tmp,
            "TRACKER_SECRET_KEY": "bench-only",
        }
        csv_file = Path(tmp) / "cases.csv"
        csv_file.write_text(cases_csv(options.cases), encoding="utf-8")
        print(f"database: {url.split('@')[-1]}")
        # Every line includes starting Python and the app; this line is that cost alone.
        timed("start-up only (tracker --help)", "tracker", "--help", env=env)
        timed("db upgrade", "db", "upgrade", env=env)
        timed("bootstrap --demo", "tracker", "bootstrap", "--demo", env=env)
        timed(
            f"import-cases ({options.cases} cases)",
            "tracker",
            "import-cases",
            str(csv_file),
            env=env,
        )
        timed("generate --year 2027", "tracker", "generate", "--year", "2027", env=env)
        timed("generate --year 2027 (again)", "tracker", "generate", "--year", "2027", env=env)


if __name__ == "__main__":
    main()
