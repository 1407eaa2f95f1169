"""The ledger export at scale: 200,000 checklist items through `tracker export-ledger`.

Builds a throwaway database (SQLite by default, or the PostgreSQL URL given, which is emptied),
loads the demo bureau, adds ROWS items of 2026 (a quarter of them submitted and approved), then
runs the real command for XLSX and for CSV in a child process and prints its wall time and peak
resident memory (the child's ru_maxrss). The issue asks for peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from run import empty_postgresql  # noqa: E402

LIMIT_MB = 300


def flask(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name("flask")
    result = subprocess.run(
        [str(binary), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def fill(url: str, rows: int) -> None:
    """ROWS items spread over the demo units and requirements; every 4th approved."""
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    item = sa.Table("checklist_item", meta, autoload_with=engine)
    submission = sa.Table("submission", meta, autoload_with=engine)
    review = sa.Table("review", meta, autoload_with=engine)
    sqlite = url.startswith("sqlite")
    stamp = datetime(2026, 1, 1, tzinfo=UTC)

    def instant(value: datetime):
        return value.replace(tzinfo=None) if sqlite else value

    with engine.begin() as conn:
        units = [r[0] for r in conn.execute(sa.text("SELECT id FROM unit ORDER BY id"))]
        requirements = list(
            conn.execute(sa.text("SELECT id, version FROM requirement ORDER BY id")).all()
        )
        user_id = conn.execute(sa.text("SELECT min(id) FROM user_account")).scalar_one()
        first_id = (conn.execute(sa.text("SELECT max(id) FROM checklist_item")).scalar() or 0) + 1
        batch: list[dict] = []
        approvals: list[int] = []
        for n in range(rows):
            req_id, version = requirements[n % len(requirements)]
            due = date(2026, 1, 1) + timedelta(days=n % 365)
            approved = n % 4 == 0
            batch.append(
                {
                    "id": first_id + n,
                    "requirement_id": req_id,
                    "requirement_version": version,
                    "unit_id": units[n % len(units)],
                    "period": f"2026-{(n % 12) + 1:02d}",
                    "scope_key": f"bench{n}",
                    "due_date": due,
                    "due_provisional": False,
                    "due_basis_zh": "基准测试",
                    "due_basis_en": "benchmark",
                    "calendar_version": "bench",
                    "status": "approved" if approved else ("open", "submitted", "returned")[n % 3],
                    "created_overdue": False,
                    "created_at": instant(stamp),
                    "updated_at": instant(stamp),
                }
            )
            if approved:
                approvals.append(first_id + n)
            if len(batch) == 10_000:
                conn.execute(item.insert(), batch)
                batch = []
        if batch:
            conn.execute(item.insert(), batch)
        first_sub = (conn.execute(sa.text("SELECT max(id) FROM submission")).scalar() or 0) + 1
        for start in range(0, len(approvals), 10_000):
            chunk = approvals[start : start + 10_000]
            conn.execute(
                submission.insert(),
                [
                    {
                        "id": first_sub + start + k,
                        "item_id": item_id,
                        "round": 1,
                        "submitted_by_id": user_id,
                        "submitted_at": instant(stamp + timedelta(days=k % 365)),
                        "evidence_count": 1,
                    }
                    for k, item_id in enumerate(chunk)
                ],
            )
            conn.execute(
                review.insert(),
                [
                    {
                        "item_id": item_id,
                        "submission_id": first_sub + start + k,
                        "reviewer_id": user_id,
                        "decision": "approve",
                        "decided_at": instant(stamp + timedelta(days=k % 365 + 1)),
                    }
                    for k, item_id in enumerate(chunk)
                ],
            )
    engine.dispose()


def measured(label: str, *args: str, env: dict[str, str]) -> tuple[float, float]:
    """Run one command in a fresh child; (seconds, that child's own peak RSS in MB)."""
    binary = Path(sys.executable).with_name("flask")
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [str(binary), "--app", "wsgi", *args], cwd=ROOT, env=env, stdout=out, stderr=err
        )
        # wait4 gives this child's rusage alone (RUSAGE_CHILDREN would keep the largest so far).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        sys.exit(f"{label} failed:\n{stdout}\n{stderr}")
    peak_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    verdict = "OK" if peak_mb < LIMIT_MB else f"OVER {LIMIT_MB} MB"
    last = (stdout.strip().splitlines() or [""])[-1]
    print(f"{label:<28} {elapsed:7.1f} s   peak {peak_mb:6.1f} MB  {verdict}   {last}")
    return elapsed, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied first); default SQLite")
    parser.add_argument("--rows", type=int, default=200_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-ledger-bench-") as tmp:
        url = options.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        if url.startswith("postgresql"):
            empty_postgresql(url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TRACKER_INSTANCE_PATH": tmp,
            "TRACKER_SECRET_KEY": "bench-only",
        }
        print(f"database: {url.split('@')[-1]}")
        flask("db", "upgrade", env=env)
        flask("tracker", "bootstrap", "--demo", env=env)
        started = time.perf_counter()
        fill(url, options.rows)
        print(
            f"{'insert ' + format(options.rows, ',') + ' items':<28} "
            f"{time.perf_counter() - started:7.1f} s"
        )
        # The baseline: what starting Python and the app costs on its own.
        measured("start-up only (--help)", "tracker", "--help", env=env)
        xlsx = Path(tmp) / "ledger.xlsx"
        csv = Path(tmp) / "ledger.csv"
        _, peak_x = measured(
            "export-ledger xlsx",
            "tracker",
            "export-ledger",
            "--year",
            "2026",
            "--out",
            str(xlsx),
            env=env,
        )
        print(f"{'':<28} file {xlsx.stat().st_size / 1e6:.1f} MB")
        _, peak_c = measured(
            "export-ledger csv",
            "tracker",
            "export-ledger",
            "--year",
            "2026",
            "--out",
            str(csv),
            "--format",
            "csv",
            env=env,
        )
        print(f"{'':<28} file {csv.stat().st_size / 1e6:.1f} MB")
        if max(peak_x, peak_c) >= LIMIT_MB:
            sys.exit(f"peak memory above {LIMIT_MB} MB")


if __name__ == "__main__":
    main()
