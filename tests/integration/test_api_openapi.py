"""The OpenAPI document: valid 3.1, complete (every API route is in it), shown by a local Swagger
UI; and a schemathesis property run against it that finds no 5xx and no response off the schema."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
import schemathesis
from flask.globals import _cv_app
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import T0, make_case, make_item, make_requirement, seed_official_holidays
from tests.helpers import page
from tests.unit.test_filetypes import pdf_bytes
from tracker.api.openapi import OPENAPI_ATTRIBUTE
from tracker.models import Role
from tracker.services import api_tokens, evidence, submissions
from tracker.storage import LocalBlobStorage

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 25


def test_the_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")  # public: it holds no ledger data
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_api_route_is_documented_with_its_methods(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        assert hasattr(view, OPENAPI_ATTRIBUTE), f"{rule.endpoint} declares no operation"
        if getattr(view, OPENAPI_ATTRIBUTE) is None:  # the HTML docs page and its assets
            continue
        path = rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace(">", "}")
        served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    # The surface of design.md §4.
    assert {p for p, _m in served} >= {
        "/items",
        "/items/{item_id}",
        "/items/{item_id}/evidence",
        "/evidence/{evidence_id}/download",
        "/items/{item_id}/submit",
        "/items/{item_id}/review",
        "/cases",
        "/cases/{case_id}",
        "/dashboard",
        "/openapi.json",
    }


def test_docs_page_uses_the_local_swagger_ui(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    soup = page(response)
    sources = [s["src"] for s in soup.select("script[src]")] + [
        link["href"] for link in soup.select("link[rel=stylesheet]")
    ]
    assert sources and not [s for s in sources if s.startswith(("http:", "https:", "//"))]
    assert soup.select_one("#swagger-ui")["data-spec-url"] == "/api/v1/openapi.json"
    bundle = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.get_data()) > 100_000
    bundle.close()
    assert client.get("/api/v1/docs/assets/../../../etc/passwd").status_code == 404
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404


def test_docs_page_is_english_when_asked(client):
    from tests.helpers import CJK, visible_text

    text = visible_text(client.get("/api/v1/docs", headers={"Accept-Language": "en"}))
    assert "API documentation" in text
    assert not CJK.search(text.replace("中文", "")), CJK.findall(text)


# ---------------------------------------------------------------- the property run


def _fresh_context(app):
    """The app as WSGI with a fresh app context per request, as in production (the test holds
    one open; Flask would otherwise share it, and `g`, between requests)."""

    def wsgi(environ, start_response):
        token = _cv_app.set(None)
        try:
            return app(environ, start_response)
        finally:
            _cv_app.reset(token)

    return wsgi


@pytest.fixture
def seeded(app, db_session, bureau, clock, tmp_path: Path, monkeypatch) -> dict:
    """Real objects for the generated requests to hit: items of two units, evidence, a case."""
    monkeypatch.setitem(app.config, "TRACKER_STORAGE", "local")
    monkeypatch.setitem(app.config, "TRACKER_STORAGE_PATH", str(tmp_path / "blobs"))
    seed_official_holidays(db_session)
    make_requirement(db_session, "GS-01")
    section = make_item(db_session, unit=bureau.section)
    station = make_item(db_session, unit=bureau.station)
    added = evidence.add_files(
        db_session,
        actor=bureau.user(Role.CHIEF),
        item=section,
        files=[(io.BytesIO(pdf_bytes()), "a.pdf")],
        storage=LocalBlobStorage(tmp_path / "blobs"),
        max_bytes=1 << 20,
        now=T0,
    )
    waiting = make_item(db_session, unit=bureau.section)  # submitted: for the reviews
    evidence.add_files(
        db_session,
        actor=bureau.user(Role.CHIEF),
        item=waiting,
        files=[(io.BytesIO(pdf_bytes()), "b.pdf")],
        storage=LocalBlobStorage(tmp_path / "blobs"),
        max_bytes=1 << 20,
        now=T0,
    )
    submissions.submit(db_session, actor=bureau.user(Role.CHIEF), item=waiting, now=T0)
    case = make_case(db_session, unit=bureau.section, decided_on=date(2026, 10, 9)).case
    db_session.commit()
    return {
        "item_id": [
            section.id,
            station.id,
            waiting.id,
            *(i.id for i in case_items(db_session, case)),
        ],
        "evidence_id": [added[0].id],
        "case_id": [case.id],
    }


def case_items(db_session, case):
    from tracker.services.cases import case_items as items_of

    return items_of(db_session, case)


def _workflow_order(operation) -> int:
    """Reads and cases first, then the item workflow in its order: upload, submit, review."""
    if operation.method.upper() == "POST":
        for rank, step in enumerate(("/evidence", "/submit", "/review"), start=1):
            if operation.path.endswith(step):
                return rank
    return 0


def _with_unit(code: str):
    def change(case):
        if isinstance(case.body, dict):
            case.body["unit"] = code
        return case

    return change


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CHIEF])
def test_property_run_finds_no_5xx_and_no_schema_violation(app, db_session, bureau, seeded, role):
    _token, secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(role), name="schemathesis", now=T0
    )
    db_session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _fresh_context(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the operation that serves the document it was loaded from.
    assert sorted(op.label for op in operations) == [
        "GET /cases/{case_id}",
        "GET /dashboard",
        "GET /evidence/{evidence_id}/download",
        "GET /items",
        "GET /items/{item_id}",
        "POST /cases",
        "POST /items/{item_id}/evidence",
        "POST /items/{item_id}/review",
        "POST /items/{item_id}/submit",
    ]
    operations.sort(key=_workflow_order)
    for operation in operations:
        names = [p.name for p in operation.path_parameters]
        strategies = [operation.as_strategy(headers=headers)]
        for name in names:  # aim mostly at real objects, not only at random ids (404)
            strategies += [
                operation.as_strategy(headers=headers, path_parameters={name: value})
                for value in seeded[name]
                for _weight in range(2)
            ]
        if operation.path == "/cases" and operation.method.upper() == "POST":
            strategies.append(operation.as_strategy(headers=headers).map(_with_unit("SEC")))

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call_and_check(case) -> None:
            response = case.call()
            case.validate_response(response, checks=CHECKS)

        call_and_check()


def test_nul_characters_are_refused_not_a_500(client, db_session, bureau, seeded):
    """PostgreSQL cannot store NUL: every text input refuses it (found by the property run)."""
    _token, secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.CHIEF), name="t", now=T0
    )
    db_session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    item_id = seeded["item_id"][0]
    calls = [
        (client.get, "/api/v1/items?unit=S%00EC", {}, "unit"),
        (client.get, "/api/v1/items?period=2026%00", {}, "period"),
        (client.post, "/api/v1/cases", {"json": {"case_no": "a\x00", "unit": "SEC"}}, "case_no"),
        (client.post, f"/api/v1/items/{item_id}/submit", {"json": {"note": "\x00"}}, "note"),
        (
            client.post,
            f"/api/v1/items/{item_id}/evidence",
            {
                "data": {"note": "x\x00", "file": (io.BytesIO(pdf_bytes()), "a\x00.pdf")},
                "content_type": "multipart/form-data",
            },
            "note",
        ),
    ]
    for call, url, kwargs, field in calls:
        response = call(url, headers=headers, **kwargs)
        assert response.status_code == 422, (url, response.get_data(as_text=True))
        assert field in response.get_json()["error"]["fields"]
    # A file name with a NUL is cleaned by the upload pipeline, as on the web.
    response = client.post(
        f"/api/v1/items/{item_id}/evidence",
        data={"file": (io.BytesIO(pdf_bytes()), "公\x00示.pdf")},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert (
        response.status_code == 201 and "\x00" not in response.get_json()["evidence"][0]["filename"]
    )
