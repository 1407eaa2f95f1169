"""The bench harness (`make bench`): generate each scale, measure it, write JSON and a table.

For each scale (10,000 → 100,000 → 1,000,000 items by default) a database of its own is emptied,
migrated, bootstrapped and generated. Then every scale is served by gunicorn (2 sync workers on
loopback) and every page of every scale is timed, round after round, beside a bare Flask + Jinja
"hello" page served the same way. At the largest scale the reminder pass, a large upload, the
ledger export and throughput under load are measured too.

    python bench/measure.py                                  # SQLite in a temporary folder
    python bench/measure.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import database, generate, upload  # noqa: E402
from bench.client import Browser, Page, percentile, time_pages  # noqa: E402
from bench.ledger_export import export_vs_baseline  # noqa: E402
from bench.load import throughput  # noqa: E402
from bench.report import evaluate_targets, print_report  # noqa: E402
from bench.server import gunicorn  # noqa: E402

PASSWORD = os.environ.get("TRACKER_DEMO_PASSWORD", "demo-tracker-2026")
CHIEF = database.BENCH_CHIEF
INSPECTOR = "inspector1@demo.example.org"
LEADER = "leader@demo.example.org"
# (name, who, path); {year} is this year, {item} the item with 20 evidence rows.
PAGES = (
    ("checklist", CHIEF, "/items/?year={year}"),
    ("review_queue", INSPECTOR, "/review/"),
    ("dashboard", LEADER, "/dashboard/?year={year}"),
    ("item_page", CHIEF, "/items/{item}"),
    ("api_items", "token", "/api/v1/items"),
)


@dataclass
class Options:
    database_url: str | None = None
    scales: tuple[str, ...] = ("small", "medium", "city")
    items: int | None = None  # for the custom scale
    repetitions: int = 200
    throughput_seconds: float = 30.0
    connections: int = 20
    upload_mb: int = 1024
    upload_repetitions: int = 3
    export_repetitions: int = 1
    reminder_repetitions: int = 3
    out: Path | None = None
    workdir: Path | None = None
    fast_passwords: bool = False  # the smoke test only


def backend(url: str) -> str:
    return sa.engine.make_url(url).get_backend_name()


def _show_item(url: str) -> tuple[int, int, int]:
    """(item with the most evidence in the chief's unit, an open item there, this year)."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        unit = connection.execute(
            sa.text("SELECT unit_id FROM user_account WHERE email = :e"), {"e": CHIEF}
        ).scalar_one()
        showcase = connection.execute(
            sa.text(
                "SELECT e.item_id FROM evidence e JOIN checklist_item i ON i.id = e.item_id "
                "WHERE i.unit_id = :u GROUP BY e.item_id ORDER BY count(*) DESC, e.item_id "
                "LIMIT 1"
            ),
            {"u": unit},
        ).scalar_one()
        open_item = connection.execute(
            sa.text(
                "SELECT i.id FROM checklist_item i JOIN unit u ON u.id = i.unit_id "
                "WHERE u.path LIKE (SELECT path FROM unit WHERE id = :u) || '%' "
                "AND i.status = 'open' ORDER BY i.due_date DESC, i.id LIMIT 1"
            ),
            {"u": unit},
        ).scalar_one()
    engine.dispose()
    return showcase, open_item, generate.bureau_today().year


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    tables = (
        "unit",
        "user_account",
        "checklist_item",
        "enforcement_case",
        "evidence",
        "submission",
        "review",
        "audit_event",
        "blob",
    )
    with engine.connect() as connection:
        counts = {
            t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
        }
    engine.dispose()
    return counts


def _pages_of(port: int, token: str, url: str) -> dict[str, Page]:
    """Every page of PAGES on one scale's server, as its person (signed in here)."""
    showcase, _open_item, year = _show_item(url)
    headers = {"token": {"Authorization": f"Bearer {token}"}}
    for email in {who for _name, who, _path in PAGES if who != "token"}:
        browser = Browser(port)
        browser.sign_in(email, PASSWORD)
        headers[email] = browser.headers()
    return {
        name: Page(port, path.format(year=year, item=showcase), headers[who])
        for name, who, path in PAGES
    }


def measure_pages(built: list[Built], repetitions: int) -> None:
    """Every page of every scale and the hello page, timed in shared rounds.

    Pages are timed with the page cache off: each request builds its page, which is what grows
    (or not) with the data. The hello page is timed once per scale in each round, so that each
    scale has its own floor measured beside its pages.
    """
    with ExitStack() as stack:
        hello = stack.enter_context(gunicorn("bench.hello_app:app", built[0].env))
        pages: list[tuple[Built, str, Page]] = []
        for scale in built:
            uncached = {**scale.env, "TRACKER_PAGE_CACHE_MB": "0"}
            server = stack.enter_context(gunicorn("wsgi:app", uncached, check_path="/healthz"))
            pages.append((scale, "hello", Page(hello.port, "/", {})))
            for name, page in _pages_of(server.port, scale.token, scale.url).items():
                pages.append((scale, name, page))
        timings = time_pages([page for _s, _n, page in pages], repetitions=repetitions)
    for (scale, name, _page), timing in zip(pages, timings, strict=True):
        if name == "hello":
            scale.result["hello"] = timing.summary()
        else:
            scale.result.setdefault("pages", {})[name] = timing.summary()


def measure_reminders(env: dict[str, str], repetitions: int) -> dict:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "reminder_pass.py"), str(repetitions)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"reminder pass failed:\n{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "day": data["day"],
        "repetitions": len(data["seconds"]),
        "median_s": round(statistics.median(data["seconds"]), 3),
        "p95_s": round(percentile(data["seconds"], 95), 3),
        "seconds": [round(s, 3) for s in data["seconds"]],  # the first in a fresh process
        "summary": data["summary"],
    }


def measure_upload(server, token: str, url: str, options: Options, work: Path) -> dict:
    _showcase, open_item, _year = _show_item(url)
    source = upload.make_file(work / "upload.bin", options.upload_mb)
    runs, baselines = [], []
    for _ in range(options.upload_repetitions):
        baselines.append(upload.baseline(source, work))
        runs.append(upload.upload(server, token, open_item, source))
    source.unlink()
    megabytes = options.upload_mb
    upload_mbs = [megabytes / r["seconds"] for r in runs]
    baseline_mbs = [megabytes / s for s in baselines]
    return {
        "megabytes": megabytes,
        "repetitions": len(runs),
        "statuses": [r["status"] for r in runs],
        "upload_mb_per_s": round(statistics.median(upload_mbs), 1),
        "upload_mb_per_s_p95_worst": round(min(upload_mbs), 1),
        "baseline_mb_per_s": round(statistics.median(baseline_mbs), 1),
        "rss_growth_mb": round(max(r["rss_growth_mb"] for r in runs), 1),
    }


def _checklist_throughput(port: int, path: str, options: Options) -> dict:
    browser = Browser(port)
    browser.sign_in(CHIEF, PASSWORD)
    return throughput(
        port,
        path,
        browser.headers(),
        connections=options.connections,
        seconds=options.throughput_seconds,
    )


@dataclass
class Built:
    """One scale's generated database, the environment of its app and its results so far."""

    name: str
    url: str
    env: dict[str, str]
    token: str  # the bench chief's API token
    result: dict


def build_scale(name: str, options: Options, work: Path) -> Built:
    """Empty, migrate, bootstrap and generate one scale's own database."""
    url = database.scale_url(options.database_url, name, work)
    instance = work / f"instance-{name}"
    shutil.rmtree(instance, ignore_errors=True)
    scale = generate.scale_named(name, items=options.items)
    started = time.perf_counter()
    prepared = database.prepare(url, instance, fast_passwords=options.fast_passwords)
    prepare_s = time.perf_counter() - started
    counts = generate.generate(url, scale, instance / "blobs")
    print(f"[{name}] generated {counts.items:,} items in {counts.seconds:.0f} s", flush=True)
    env = {
        **prepared.env,
        "TRACKER_API_RATE_LIMIT": "1000000 per minute",
        "TRACKER_RATELIMIT_LOGIN": "1000 per minute",
        "TRACKER_MAX_UPLOAD_MB": str(options.upload_mb + 16),
    }
    result: dict = {
        "scale": name,
        "prepare_s": round(prepare_s, 1),
        "generate_s": round(counts.seconds, 1),
        "counts": _counts(url),
    }
    return Built(name, url, env, prepared.token, result)


def measure_largest(scale: Built, options: Options, work: Path) -> None:
    """Throughput, the upload, the reminder pass and the ledger export of the largest scale."""
    env, result = scale.env, scale.result
    checklist_path = result["pages"]["checklist"]["path"]
    with gunicorn("bench.hello_app:app", env) as hello:
        hello_load = throughput(
            hello.port, "/", {}, connections=options.connections, seconds=options.throughput_seconds
        )
    # Throughput is measured as shipped, with the page cache, and without it for comparison.
    uncached = {**env, "TRACKER_PAGE_CACHE_MB": "0"}
    with gunicorn("wsgi:app", uncached, check_path="/healthz") as server:
        checklist_uncached = _checklist_throughput(server.port, checklist_path, options)
        result["upload"] = measure_upload(server, scale.token, scale.url, options, work)
    with gunicorn("wsgi:app", env, check_path="/healthz") as server:
        result["throughput"] = {
            "checklist": _checklist_throughput(server.port, checklist_path, options),
            "checklist_uncached": checklist_uncached,
            "hello": hello_load,
        }
    print(f"[{scale.name}] reminder pass and ledger export next", flush=True)
    result["reminders"] = measure_reminders(env, options.reminder_repetitions)
    result["ledger_export"] = export_vs_baseline(
        scale.url,
        env,
        year=generate.bureau_today().year - 1,
        workdir=work,
        repetitions=options.export_repetitions,
    )


def run(options: Options) -> dict:
    """Measure every scale; returns (and writes) the results."""
    url = options.database_url or "sqlite://"
    work = options.workdir or Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    results: dict = {
        "database": backend(url),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in load]},
        "settings": {
            "repetitions": options.repetitions,
            "pages_timed": "interleaved: every page of every scale once per shuffled round",
            "gunicorn_workers": 2,
            "connections": options.connections,
            "throughput_seconds": options.throughput_seconds,
        },
        "scales": {},
    }
    try:
        built = [build_scale(name, options, work) for name in options.scales]
        # The city's gigabytes are still being written back to disk: measured at once, the
        # first pages competed with that for the disk and the CPU.
        os.sync()
        measure_pages(built, options.repetitions)
        print("pages measured; throughput, upload, reminders and export next", flush=True)
        measure_largest(built[-1], options, work)
        results["scales"] = {scale.name: scale.result for scale in built}
    finally:
        if options.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = evaluate_targets(results)
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def remeasure_extras(options: Options) -> dict:
    """Measure the reminder pass and the ledger export again on a kept workdir's largest scale.

    For a fix to those two between runs: the pages, upload and load figures stay as they were,
    and the figures replaced are kept under "first_run".
    """
    assert options.workdir is not None and options.out is not None
    results = json.loads(options.out.read_text())
    name = options.scales[-1]
    url = database.scale_url(options.database_url, name, options.workdir)
    env = database.app_env(url, options.workdir / f"instance-{name}")
    scale = results["scales"][name]
    scale.setdefault("first_run", {k: scale[k] for k in ("reminders", "ledger_export")})
    scale["reminders"] = measure_reminders(env, options.reminder_repetitions)
    scale["ledger_export"] = export_vs_baseline(
        url,
        env,
        year=generate.bureau_today().year - 1,
        workdir=options.workdir,
        repetitions=options.export_repetitions,
    )
    scale["remeasured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["targets"] = evaluate_targets(results)
    options.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help="PostgreSQL URL: its <database>_<scale> are emptied; default SQLite"
    )
    parser.add_argument(
        "--scales", default="small,medium,city", help="comma-separated: small, medium, city, custom"
    )
    parser.add_argument("--items", type=int, help="items of the custom scale")
    parser.add_argument("--repetitions", type=int, default=Options.repetitions)
    parser.add_argument("--throughput-seconds", type=float, default=Options.throughput_seconds)
    parser.add_argument("--upload-mb", type=int, default=Options.upload_mb)
    parser.add_argument("--upload-repetitions", type=int, default=Options.upload_repetitions)
    parser.add_argument("--export-repetitions", type=int, default=Options.export_repetitions)
    parser.add_argument("--reminder-repetitions", type=int, default=Options.reminder_repetitions)
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/<db>.json)")
    parser.add_argument("--workdir", type=Path, help="keep databases and files here")
    parser.add_argument(
        "--extras-only",
        action="store_true",
        help="with --workdir of an earlier run: measure the reminder pass and export again",
    )
    args = parser.parse_args()
    url = args.database_url
    options = Options(
        database_url=url,
        scales=tuple(s.strip() for s in args.scales.split(",") if s.strip()),
        items=args.items,
        repetitions=args.repetitions,
        throughput_seconds=args.throughput_seconds,
        upload_mb=args.upload_mb,
        upload_repetitions=args.upload_repetitions,
        export_repetitions=args.export_repetitions,
        reminder_repetitions=args.reminder_repetitions,
        out=args.out or ROOT / "bench" / "results" / f"{backend(url or 'sqlite://')}.json",
        workdir=args.workdir,
    )
    results = remeasure_extras(options) if args.extras_only else run(options)
    print_report(results)
    print(f"\nwritten: {options.out}")


if __name__ == "__main__":
    main()
