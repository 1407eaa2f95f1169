"""The bench harness at a tiny scale: generator, served pages, upload, export, load, report.

Timings are not asserted (they belong to `make bench`); what is asserted is that the harness
measures what it claims to: the rows it generated, every page answering 200 through a real
gunicorn server, an intact audit chain, and a JSON report with every figure the issue asks for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import database
from bench.measure import PAGES, Options, run

ITEMS = 300


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    work = tmp_path_factory.mktemp("bench")
    out = work / "results.json"
    options = Options(
        database_url=None,  # SQLite in `work`: the bench empties the database it is given
        scales=("custom",),
        items=ITEMS,
        repetitions=2,
        throughput_seconds=0.5,
        connections=4,
        upload_mb=2,
        upload_repetitions=1,
        reminder_repetitions=1,
        out=out,
        workdir=work,
        fast_passwords=True,
    )
    return run(options), work


def test_generator_writes_the_scale_and_a_valid_audit_chain(results: tuple[dict, Path]) -> None:
    report, work = results
    counts = report["scales"]["custom"]["counts"]
    assert counts["checklist_item"] == ITEMS
    assert counts["evidence"] >= 2 * ITEMS
    assert counts["enforcement_case"] > 0
    assert counts["submission"] > 0 and counts["review"] > 0
    # every evidence row, submission, review and case has its audit event (plus the org's)
    implied = (
        counts["evidence"] + counts["submission"] + counts["review"] + counts["enforcement_case"]
    )
    assert counts["audit_event"] >= implied
    url = f"sqlite:///{work}/bench-custom.sqlite3"
    env = database.app_env(url, work / "instance-custom")
    output = database.flask("tracker", "verify", env=env)
    assert "Verification passed." in output


def test_every_page_is_measured_and_answers_200(results: tuple[dict, Path]) -> None:
    scale = results[0]["scales"]["custom"]
    assert set(scale["pages"]) == {name for name, _who, _path in PAGES}
    for timing in [scale["hello"], *scale["pages"].values()]:
        assert timing["statuses"] == [200], timing
        assert timing["repetitions"] == 2
        assert 0 < timing["median_ms"] <= timing["p95_ms"]
    assert scale["pages"]["item_page"]["bytes"] > 0


def test_the_largest_scale_measures_upload_export_reminders_and_load(
    results: tuple[dict, Path],
) -> None:
    scale = results[0]["scales"]["custom"]
    assert scale["upload"]["statuses"] == [201]
    assert scale["upload"]["upload_mb_per_s"] > 0 and scale["upload"]["baseline_mb_per_s"] > 0
    export = scale["ledger_export"]
    assert export["rows"] > 0
    assert export["export"]["peak_rss_mb"] > 0 and export["baseline"]["median_s"] > 0
    assert scale["reminders"]["repetitions"] == 1
    for page in ("checklist", "checklist_uncached", "hello"):
        assert scale["throughput"][page]["requests"] > 0
        assert scale["throughput"][page]["errors"] == 0


def test_the_json_report_has_every_figure_and_target(results: tuple[dict, Path]) -> None:
    report, work = results
    written = json.loads((work / "results.json").read_text())
    assert written == report
    assert written["database"] == "sqlite"
    assert {"started_at", "machine", "settings", "scales", "targets"} <= set(written)
    names = [t["target"] for t in written["targets"]]
    assert "reminder pass: p95 s" in names
    assert "throughput: checklist rps ÷ hello rps" in names
    assert all({"target", "value", "limit", "holds"} <= set(t) for t in written["targets"])
