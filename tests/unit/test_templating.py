"""Template helpers that build markup in Python: escaping and the selected option."""

from __future__ import annotations

from tracker.templating import select_options


def test_select_options_escape_values_and_labels_and_mark_the_chosen_one():
    html = str(
        select_options(
            [(1, "张三 · 法制科"), (2, "<script>alert(\"x\")</script> & 'co'"), ("me", "Me")],
            selected="2",
        )
    )
    assert html == (
        '<option value="1">张三 · 法制科</option>'
        '<option value="2" selected>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; '
        "&amp; &#x27;co&#x27;</option>"
        '<option value="me">Me</option>'
    )
    assert "selected" not in str(select_options([(1, "a"), (2, "b")]))  # nothing chosen
    assert 'value="&quot;&gt;"' in str(select_options([('">', "x")]))  # attribute quoting


def test_select_options_compare_the_chosen_value_as_text():
    """Filters keep their arguments as text ("12"), choices have ids (12): they must match."""
    assert 'value="12" selected' in str(select_options([(12, "x"), (3, "y")], selected="12"))
    assert 'value="0" selected' in str(select_options([(0, "All"), (5, "y")], selected=0))
