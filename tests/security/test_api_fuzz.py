"""A hypothesis run over the JSON API with bodies and query strings off the schema (schemathesis
in tests/integration/test_api_openapi.py keeps to it): any JSON value, wrong types, odd Unicode,
huge numbers, unknown members; random multipart parts. Every answer is JSON and none is 5xx."""

from __future__ import annotations

import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.world import build_world

# Modest by default (the suite runs in minutes); TRACKER_FUZZ_EXAMPLES=200 for a longer hunt.
EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "40"))
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    text,
    st.sampled_from(["2026-10-09", "2026-02-30", "0001-01-01", "approve", "return", "STA", "SEC"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "decision",
    "comment",
    "note",
    "case_no",
    "unit",
    "decided_on",
    "served_on",
    "closed_on",
    "registered_on",
    "major",
    "party",
]
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, json_values)),
)
QUERY_NAMES = [
    "unit",
    "family",
    "status",
    "overdue",
    "due_from",
    "due_to",
    "period",
    "page",
    "per_page",
    "year",
    "q",
]
queries = st.dictionaries(st.sampled_from(QUERY_NAMES), text | scalars.map(str), max_size=6)


def test_the_api_answers_any_body_and_query_without_a_server_error(app, db_session, clock, bureau):
    world = build_world(db_session, bureau)
    client = app.test_client()
    chief = {"Authorization": f"Bearer {world.tokens['chief'][1]}"}
    inspector = {"Authorization": f"Bearer {world.tokens['inspector'][1]}"}
    item = world.items["own"].id
    posts = [
        (f"/api/v1/items/{item}/submit", chief),
        (f"/api/v1/items/{item}/review", inspector),
        ("/api/v1/cases", chief),
    ]
    gets = ["/api/v1/items", "/api/v1/dashboard", f"/api/v1/items/{item}"]

    def check(response, what) -> None:
        assert response.status_code < 500, what
        assert response.mimetype == "application/json", what

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        body=bodies,
        query=queries,
        parts=st.dictionaries(st.sampled_from(["file", "note", "occurred_on", "x"]), text),
        data=st.binary(max_size=200),
    )
    def sends(body, query, parts, data):
        nested = db_session.begin_nested()
        try:
            for url, headers in posts:
                check(client.post(url, json=body, headers=headers), (url, body))
            for url in gets:
                check(client.get(url, query_string=query, headers=chief), (url, query))
            form = {**parts, "file": (io.BytesIO(data), parts.get("file", "f.pdf"))}
            response = client.post(
                f"/api/v1/items/{item}/evidence",
                data=form,
                content_type="multipart/form-data",
                headers=chief,
            )
            check(response, ("evidence", parts))
        finally:
            nested.rollback()

    sends()
