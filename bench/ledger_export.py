"""The ledger export at scale: `tracker export-ledger` against a bare openpyxl baseline.

`export_vs_baseline` is what `bench/measure.py` runs on the generated city data. Run alone
(`make bench-ledger`), this builds a throwaway database (SQLite by default, or the PostgreSQL URL
given, which is emptied), adds ROWS items of 2026 in one go (a quarter approved) and compares the
real command, in a child process, with `bench/ledger_baseline.py` writing the same rows with
openpyxl in write-only mode: wall time and peak resident memory (the child's ru_maxrss).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import database  # noqa: E402
from bench.client import percentile  # noqa: E402
from bench.peak_rss import MARK  # noqa: E402

LIMIT_MB = 300


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


def measured(module_args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `python -m <module> args` in a fresh child: (seconds, its peak RSS in MB, stdout)."""
    command = [sys.executable, str(ROOT / "bench" / "peak_rss.py"), *module_args]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    marks = [line for line in result.stderr.splitlines() if line.startswith(MARK)]
    return elapsed, int(marks[-1][len(MARK) :]) / 1024, result.stdout


def export_vs_baseline(
    url: str, env: dict[str, str], *, year: int, workdir: Path, repetitions: int = 1
) -> dict:
    """`tracker export-ledger` for the year as XLSX against the write-only openpyxl baseline."""
    out = workdir / "ledger.xlsx"
    base_out = workdir / "ledger-baseline.xlsx"
    runs: dict[str, list[tuple[float, float]]] = {"export": [], "baseline": []}
    rows = 0
    for _ in range(repetitions):
        seconds, peak, _stdout = measured(
            [
                "flask",
                "--app",
                "wsgi",
                "tracker",
                "export-ledger",
                "--year",
                str(year),
                "--out",
                str(out),
            ],
            env,
        )
        runs["export"].append((seconds, peak))
        seconds, peak, stdout = measured(
            [
                "bench.ledger_baseline",
                "--database-url",
                url,
                "--year",
                str(year),
                "--out",
                str(base_out),
            ],
            env,
        )
        runs["baseline"].append((seconds, peak))
        rows = int(stdout.strip().splitlines()[-1])
    result: dict = {
        "year": year,
        "rows": rows,
        "repetitions": repetitions,
        "file_mb": round(out.stat().st_size / 1e6, 1),
    }
    for name, samples in runs.items():
        times = [s for s, _peak in samples]
        result[name] = {
            "median_s": round(statistics.median(times), 2),
            "p95_s": round(percentile(times, 95), 2),
            "peak_rss_mb": round(max(p for _s, p in samples), 1),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (emptied first); default SQLite")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repetitions", type=int, default=1)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-ledger-bench-") as tmp:
        url = options.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        env = database.prepare(url, Path(tmp)).env
        print(f"database: {url.split('@')[-1]}")
        started = time.perf_counter()
        fill(url, options.rows)
        print(f"insert {options.rows:,} items: {time.perf_counter() - started:.1f} s")
        result = export_vs_baseline(
            url, env, year=2026, workdir=Path(tmp), repetitions=options.repetitions
        )
        export, base = result["export"], result["baseline"]
        print(
            f"export-ledger xlsx ({result['rows']:,} rows): {export['median_s']} s, "
            f"peak {export['peak_rss_mb']} MB; openpyxl write-only baseline: "
            f"{base['median_s']} s, peak {base['peak_rss_mb']} MB; "
            f"ratio {export['median_s'] / base['median_s']:.2f}x"
        )
        if export["peak_rss_mb"] >= LIMIT_MB:
            sys.exit(f"peak memory above {LIMIT_MB} MB")


if __name__ == "__main__":
    main()
