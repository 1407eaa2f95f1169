"""The issue's targets checked against a bench run, and the printed tables."""

from __future__ import annotations

from typing import Any

PAGE_P95_LIMIT_MS = 100.0
SCALING_LIMIT = 1.5
REMINDER_LIMIT_S = 2.0
UPLOAD_MIN_SHARE = 0.70
UPLOAD_RSS_LIMIT_MB = 50.0
EXPORT_TIME_LIMIT = 1.5
EXPORT_RSS_LIMIT_MB = 300.0
THROUGHPUT_MIN_SHARE = 0.25


def _target(name: str, value: float, limit: float, *, at_most: bool = True) -> dict[str, Any]:
    holds = value <= limit if at_most else value >= limit
    return {
        "target": name,
        "value": round(value, 3),
        "limit": ("≤ " if at_most else "≥ ") + f"{limit:g}",
        "holds": holds,
    }


def evaluate_targets(results: dict) -> list[dict[str, Any]]:
    """Every target the run has figures for (the largest scale stands for 1,000,000 items)."""
    scales = list(results["scales"].values())
    if not scales:
        return []
    first, last = scales[0], scales[-1]
    targets = []
    for page, timing in last["pages"].items():
        if len(scales) > 1:
            ratio = timing["p95_ms"] / first["pages"][page]["p95_ms"]
            targets.append(
                _target(f"{page}: p95 {last['scale']} / p95 {first['scale']}", ratio, SCALING_LIMIT)
            )
        targets.append(
            _target(f"{page}: p95 ms at {last['scale']}", timing["p95_ms"], PAGE_P95_LIMIT_MS)
        )
    if "reminders" in last:
        targets.append(
            _target("reminder pass: p95 s", last["reminders"]["p95_s"], REMINDER_LIMIT_S)
        )
    if "upload" in last:
        up = last["upload"]
        targets.append(
            _target(
                "upload: MB/s ÷ baseline MB/s",
                up["upload_mb_per_s"] / up["baseline_mb_per_s"],
                UPLOAD_MIN_SHARE,
                at_most=False,
            )
        )
        targets.append(
            _target("upload: peak RSS growth MB", up["rss_growth_mb"], UPLOAD_RSS_LIMIT_MB)
        )
    if "ledger_export" in last:
        ex = last["ledger_export"]
        targets.append(
            _target(
                "ledger export: time ÷ baseline time",
                ex["export"]["median_s"] / ex["baseline"]["median_s"],
                EXPORT_TIME_LIMIT,
            )
        )
        targets.append(
            _target("ledger export: peak RSS MB", ex["export"]["peak_rss_mb"], EXPORT_RSS_LIMIT_MB)
        )
    if "throughput" in last:
        tp = last["throughput"]
        targets.append(
            _target(
                "throughput: checklist rps ÷ hello rps",
                tp["checklist"]["requests_per_second"] / tp["hello"]["requests_per_second"],
                THROUGHPUT_MIN_SHARE,
                at_most=False,
            )
        )
    return targets


def _table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def print_report(results: dict) -> None:
    """Tables of the run: pages per scale, scaling, the largest scale's extras, targets."""
    print(
        f"database: {results['database']}   load at start/end: "
        f"{results['machine']['load_average_at_start']} / "
        f"{results['machine'].get('load_average_at_end')}"
    )
    scales = list(results["scales"].values())
    for scale in scales:
        floor = scale["hello"]["p95_ms"]
        rows = [["hello (floor)", scale["hello"]["median_ms"], floor, "1.0", "200"]]
        for page, t in scale["pages"].items():
            rows.append(
                [
                    page,
                    t["median_ms"],
                    t["p95_ms"],
                    f"{t['p95_ms'] / floor:.1f}",
                    ",".join(map(str, t["statuses"])),
                ]
            )
        counts = scale["counts"]
        _table(
            f"{scale['scale']}: {counts['checklist_item']:,} items, {counts['evidence']:,} "
            f"evidence, {counts['audit_event']:,} audit events (generated in "
            f"{scale['generate_s']} s)",
            ["page", "median ms", "p95 ms", "p95 ÷ floor", "status"],
            rows,
        )
    if len(scales) > 1:
        rows = []
        for page in scales[0]["pages"]:
            p95s = [s["pages"][page]["p95_ms"] for s in scales]
            rows.append([page, *p95s, f"{p95s[-1] / p95s[0]:.2f}"])
        _table("scaling (p95 ms)", ["page", *[s["scale"] for s in scales], "ratio"], rows)
    last = scales[-1]
    if "reminders" in last:
        r = last["reminders"]
        _table(
            "reminder pass",
            ["day", "median s", "p95 s", "written"],
            [[r["day"], r["median_s"], r["p95_s"], r["summary"].get("written")]],
        )
    if "upload" in last:
        u = last["upload"]
        _table(
            f"upload of {u['megabytes']} MB",
            ["", "MB/s", "peak RSS growth MB"],
            [
                ["API upload", u["upload_mb_per_s"], u["rss_growth_mb"]],
                ["read+sha256+write baseline", u["baseline_mb_per_s"], "-"],
                ["ratio", f"{u['upload_mb_per_s'] / u['baseline_mb_per_s']:.2f}", ""],
            ],
        )
    if "ledger_export" in last:
        e = last["ledger_export"]
        _table(
            f"ledger export {e['year']} ({e['rows']:,} rows)",
            ["", "median s", "peak RSS MB"],
            [
                ["tracker export-ledger", e["export"]["median_s"], e["export"]["peak_rss_mb"]],
                ["openpyxl write-only", e["baseline"]["median_s"], e["baseline"]["peak_rss_mb"]],
                ["ratio", f"{e['export']['median_s'] / e['baseline']['median_s']:.2f}", ""],
            ],
        )
    if "throughput" in last:
        t = last["throughput"]
        _table(
            f"throughput, {t['checklist']['connections']} connections",
            ["page", "req/s", "errors", "requests"],
            [[k, v["requests_per_second"], v["errors"], v["requests"]] for k, v in t.items()],
        )
    _table(
        "targets",
        ["target", "value", "limit", "holds"],
        [
            [t["target"], t["value"], t["limit"], "yes" if t["holds"] else "NO"]
            for t in results["targets"]
        ],
    )


def markdown(results: dict) -> str:
    """The run as Markdown tables, for bench/README.md."""
    out: list[str] = []
    scales = list(results["scales"].values())
    names = [s["scale"] for s in scales]
    out.append(f"| page | {' | '.join(f'{n} median / p95 ms' for n in names)} | p95 ratio |")
    out.append("|---|" + "---:|" * (len(names) + 1))
    rows = [("hello (floor)", [s["hello"] for s in scales])]
    rows += [(page, [s["pages"][page] for s in scales]) for page in scales[0]["pages"]]
    for label, timings in rows:
        cells = [f"{t['median_ms']:.0f} / {t['p95_ms']:.0f}" for t in timings]
        ratio = timings[-1]["p95_ms"] / timings[0]["p95_ms"]
        out.append(f"| {label} | {' | '.join(cells)} | {ratio:.2f} |")
    last = scales[-1]
    floor = last["hello"]["p95_ms"]
    out.append("")
    out.append(
        f"p95 ÷ floor at {last['scale']}: "
        + ", ".join(f"{p} {t['p95_ms'] / floor:.0f}×" for p, t in last["pages"].items())
    )
    out.append("")
    out.append("| figure | measured | baseline | ratio |")
    out.append("|---|---:|---:|---:|")
    if "reminders" in last:
        r = last["reminders"]
        out.append(f"| reminder pass (median / p95 s) | {r['median_s']} / {r['p95_s']} | – | – |")
    if "upload" in last:
        u = last["upload"]
        out.append(
            f"| upload {u['megabytes']} MB (MB/s) | {u['upload_mb_per_s']} | "
            f"{u['baseline_mb_per_s']} | {u['upload_mb_per_s'] / u['baseline_mb_per_s']:.2f} |"
        )
        out.append(f"| upload: workers' peak RSS growth (MB) | {u['rss_growth_mb']} | – | – |")
    if "ledger_export" in last:
        e = last["ledger_export"]
        ex, base = e["export"], e["baseline"]
        out.append(
            f"| ledger export {e['year']}, {e['rows']:,} rows (s) | {ex['median_s']} | "
            f"{base['median_s']} | {ex['median_s'] / base['median_s']:.2f} |"
        )
        out.append(
            f"| ledger export peak RSS (MB) | {ex['peak_rss_mb']} | {base['peak_rss_mb']} | "
            f"{ex['peak_rss_mb'] / base['peak_rss_mb']:.2f} |"
        )
    if "throughput" in last:
        t = last["throughput"]
        h = t["hello"]
        for key, label in (("checklist", ""), ("checklist_uncached", ", page cache off")):
            if key not in t:  # results written before the page cache
                continue
            c = t[key]
            out.append(
                f"| throughput{label}, {c['connections']} connections (req/s; errors) | "
                f"{c['requests_per_second']}; {c['errors']} | {h['requests_per_second']}; "
                f"{h['errors']} | {c['requests_per_second'] / h['requests_per_second']:.3f} |"
            )
    out.append("")
    out.append("| target | value | limit | holds |")
    out.append("|---|---:|---:|---|")
    for t in results["targets"]:
        out.append(
            f"| {t['target']} | {t['value']} | {t['limit']} | {'yes' if t['holds'] else '**no**'} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    print(markdown(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
