"""The dashboard's SVG bars (tracker/dashboard/charts.py): geometry, labels and escaping."""

from __future__ import annotations

from bs4 import BeautifulSoup

from tracker.dashboard.charts import BAR_WIDTH, LABEL_WIDTH, stacked_bars


def bar(label: str, counts: dict[str, int], overdue: int = 0, value: str = "7") -> dict:
    return {
        "key": "unit",
        "value": value,
        "label": label,
        "total": sum(counts.values()),
        "segments": [
            {
                "status": s,
                "label": s.title(),
                "count": n,
                "href": f"/items/?unit={value}&status={s}",
            }
            for s, n in counts.items()
        ],
        "overdue": {"count": overdue, "href": f"/items/?unit={value}&status=overdue"},
    }


def svg(*bars: dict) -> BeautifulSoup:
    html = stacked_bars("chart-unit", "Title", "Desc", list(bars), overdue_label="Overdue")
    return BeautifulSoup(str(html), "html.parser")


def test_segments_share_one_scale_and_empty_ones_are_left_out():
    chart = svg(
        bar("A", {"approved": 300, "submitted": 0, "open": 100}, overdue=1),
        bar("B", {"approved": 200}, value="8"),
    )
    first, second = chart.select("g.bar")
    rects = first.select("a.segment rect")
    assert [a["data-status"] for a in first.select("a.segment")] == ["approved", "open", "overdue"]
    assert [float(r["width"]) for r in rects[:2]] == [BAR_WIDTH * 0.75, BAR_WIDTH * 0.25]
    assert float(rects[1]["x"]) == LABEL_WIDTH + BAR_WIDTH * 0.75  # stacked after the first
    assert float(rects[2]["width"]) == 2.0  # the overdue line is never thinner than 2
    assert float(second.select_one("rect")["width"]) == BAR_WIDTH * 0.5
    assert first.select_one("a.segment")["href"] == "/items/?unit=7&status=approved"
    assert first.select_one("a.segment")["aria-label"] == "A: Approved 300"


def test_long_names_are_cut_in_the_label_only_and_text_is_escaped():
    long_name = "一二三四五六七八九十一二三四五六七八九十一二"  # 22 characters
    chart = svg(bar(long_name, {"open": 5}), bar('<script>"x"</script>', {"open": 5}, value="8"))
    first, second = chart.select("g.bar")
    assert first.select_one("text").get_text() == long_name[:15] + "…"
    assert first.select_one("title").get_text() == f"{long_name}: Open 5"
    assert (
        svg(bar(long_name[:21], {"open": 1})).select_one("g.bar text").get_text()
        == (
            long_name[:21]  # Jinja's truncate leeway of 5 characters, kept
        )
    )
    raw = str(
        stacked_bars("c", "t", "d", [bar('<script>"x"</script>', {"open": 5})], overdue_label="O")
    )
    assert "<script>" not in raw and "&lt;script&gt;&#34;x&#34;" in raw
    assert second.select_one("text").get_text() == '<script>"x"</script>'
