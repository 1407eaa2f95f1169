"""The dashboard's stacked bar charts, drawn as SVG on the server: no JavaScript, readable as
text, every segment a link to the list of its items.

Built in Python rather than a Jinja macro: a city's 25 units each have every status and an
overdue share, and the macro's per-segment work (arithmetic, formatting, escaping through
Jinja's attribute lookups) was a fifth of the dashboard's time, the part that grows when the
units fill up. `bars` are the dicts of `views._bars`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

SEGMENT_FILL = {
    "approved": "#198754",
    "submitted": "#0d6efd",
    "returned": "#ffc107",
    "open": "#6c757d",
}
SEGMENT_TEXT = {
    "approved": "#ffffff",
    "submitted": "#ffffff",
    "returned": "#212529",
    "open": "#ffffff",
}
OVERDUE_FILL, OVERDUE_TEXT = "#dc3545", "#b02a37"
LEGEND_FILL = {**SEGMENT_FILL, "overdue": OVERDUE_FILL}  # the legend above the charts
LABEL_WIDTH, BAR_WIDTH, TOTAL_WIDTH = 190, 420, 60
ROW_HEIGHT, BAR_HEIGHT, TOP = 38, 20, 6
TEXT_BASELINE = BAR_HEIGHT * 0.7
MIN_LABELLED_WIDTH = 22  # a segment narrower than this shows its count only in its title
LABEL_LENGTH = 16  # longer unit names are cut, with "…" (the full name is in every title)
LABEL_LEEWAY = 5  # ... but not those at most this much longer (Jinja's truncate leeway)
TEXT_FILL = "#212529"


def _short(label: str) -> str:
    """The name cut as Jinja's `truncate(16, true, '…')` cut it in the template before."""
    return label if len(label) <= LABEL_LENGTH + LABEL_LEEWAY else label[: LABEL_LENGTH - 1] + "…"


def stacked_bars(
    chart_id: str, title: str, desc: str, bars: Sequence[dict[str, Any]], *, overdue_label: str
) -> Markup:
    """One row per bar: its label, a stacked bar of the stored statuses, the total, and under it
    a thin red bar for the overdue share. Bars share one scale (the largest total)."""
    width = LABEL_WIDTH + BAR_WIDTH + TOTAL_WIDTH
    height = TOP + ROW_HEIGHT * len(bars) + 4
    scale = max((bar["total"] for bar in bars), default=1)
    chart_id = escape(chart_id)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'id="{chart_id}" class="dashboard-chart chart-wide" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" '
        'font-family="sans-serif" font-size="12" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" role="group">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    ]
    overdue_label = escape(overdue_label)
    for index, bar in enumerate(bars):
        y = TOP + index * ROW_HEIGHT
        label = escape(bar["label"])
        out.append(
            f'<g class="bar" data-{escape(bar["key"])}="{escape(bar["value"])}" '
            f'data-total="{bar["total"]}">'
            f'<text x="{LABEL_WIDTH - 8}" y="{y + TEXT_BASELINE}" text-anchor="end" '
            f'fill="{TEXT_FILL}">{escape(_short(bar["label"]))}</text>'
        )
        x = float(LABEL_WIDTH)
        for segment in bar["segments"]:
            count = segment["count"]
            if not count:
                continue
            status, href = segment["status"], escape(segment["href"])
            named = f"{label}: {escape(segment['label'])} {count}"
            w = count / scale * BAR_WIDTH
            out.append(
                f'<a href="{href}" xlink:href="{href}" class="segment" data-status="{status}" '
                f'data-count="{count}" aria-label="{named}">'
                f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{BAR_HEIGHT}" '
                f'fill="{SEGMENT_FILL[status]}" stroke="#ffffff" stroke-width="1">'
                f"<title>{named}</title></rect>"
            )
            if w >= MIN_LABELLED_WIDTH:
                out.append(
                    f'<text x="{x + w / 2:.2f}" y="{y + TEXT_BASELINE}" text-anchor="middle" '
                    f'fill="{SEGMENT_TEXT[status]}">{count}</text>'
                )
            out.append("</a>")
            x += w
        out.append(
            f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{y + TEXT_BASELINE}" '
            f'fill="{TEXT_FILL}">{bar["total"]}</text>'
        )
        overdue = bar["overdue"]
        if overdue["count"]:
            count, href = overdue["count"], escape(overdue["href"])
            named = f"{label}: {overdue_label} {count}"
            w = max(count / scale * BAR_WIDTH, 2)
            out.append(
                f'<a href="{href}" xlink:href="{href}" class="segment" data-status="overdue" '
                f'data-count="{count}" aria-label="{named}">'
                f'<rect x="{LABEL_WIDTH}" y="{y + BAR_HEIGHT + 3}" width="{w:.2f}" height="7" '
                f'fill="{OVERDUE_FILL}"><title>{named}</title></rect>'
                f'<text x="{LABEL_WIDTH + w + 4:.2f}" y="{y + BAR_HEIGHT + 10}" font-size="10" '
                f'fill="{OVERDUE_TEXT}">{overdue_label} {count}</text></a>'
            )
        out.append("</g>")
    out.append("</svg>")
    # Safe: every text and attribute that comes from the data or a translation is escaped
    # above (markupsafe.escape quotes too); the rest are numbers and constants.
    return Markup("".join(out))  # noqa: S704
