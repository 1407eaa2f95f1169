"""Hostile uploads and malformed requests: markup files refused, dangerous file names made safe,
broken multipart, huge fields, NUL characters and broken JSON answered with a clear 4xx."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.conftest import signed_in_client
from tests.factories import T0
from tests.helpers import csrf_token, page, post_form
from tests.security.world import PDF, audit_count
from tracker.models import Comment, Evidence, Role
from tracker.services import api_tokens

FORM_PAGE = "/account/tokens"  # any page with a form: the CSRF token is per session
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def multipart(fields: dict, files: list[tuple[bytes, str]], field: str = "files") -> dict:
    values = MultiDict(fields)
    for data, name in files:
        values.add(field, FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def evidence_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Evidence)) or 0


@pytest.fixture
def secret(db_session, bureau):
    _token, value = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.CHIEF), name="t", now=T0
    )
    db_session.commit()
    return value


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# ---------------------------------------------------------------- markup uploads


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (SVG, "drawing.svg"),
        (SVG, "disguised.png"),
        (HTML, "page.html"),
        (HTML, "page.pdf"),
        (b"<?xml version='1.0'?>" + SVG, "scan.jpg"),
        (PNG_HEAD + b"\x00" * 32 + b"<script>alert(1)</script>", "polyglot.html"),
    ],
)
def test_markup_uploads_are_refused_on_the_web_and_the_api(
    app, chief_client, db_session, item, secret, data, name
):
    before = (evidence_count(db_session), audit_count(db_session))
    token = csrf_token(chief_client, FORM_PAGE)
    web = chief_client.post(
        f"/items/{item.id}/evidence", **multipart({"csrf_token": token}, [(data, name)])
    )
    assert 400 <= web.status_code < 500
    api = app.test_client().post(
        f"/api/v1/items/{item.id}/evidence",
        headers=bearer(secret),
        **multipart({}, [(data, name)], field="file"),
    )
    assert api.status_code in (415, 422), api.get_json()
    assert (evidence_count(db_session), audit_count(db_session)) == before


# ---------------------------------------------------------------- file names

HOSTILE_NAMES = [
    "a\x00b.pdf",
    "invoice\u202efdp.exe.pdf",
    "\u202e\u2066report\u2069.pdf",
    "x" * 1000 + ".pdf",
    "../../../../etc/passwd.pdf",
    "..\\..\\windows\\system32\\evil.pdf",
    "/absolute/path/证据.pdf",
    "CON.pdf",
    "semi;colon,comma 'quote'.pdf",
    "证据" * 300 + ".pdf",
]


def _check_name(evidence: Evidence) -> None:
    for name in (evidence.original_filename, evidence.safe_filename):
        assert name
        assert len(name) <= 255
        assert not any(ch in name for ch in "\x00\u202e\u2066\u2069\r\n/\\")
    assert ".." not in evidence.safe_filename.replace("...", "")
    assert evidence.safe_filename.lower().endswith(".pdf")


def _check_download(response) -> None:
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert not any(ch in disposition for ch in "\x00\r\n\u202e")
    assert "X-Injected" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == PDF
    response.close()


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n[:30]))
def test_hostile_file_names_are_stored_shown_and_served_safely(
    app, chief_client, db_session, item, secret, name
):
    token = csrf_token(chief_client, FORM_PAGE)
    web = chief_client.post(
        f"/items/{item.id}/evidence", **multipart({"csrf_token": token}, [(PDF, name)])
    )
    assert web.status_code == 303, page(web).get_text(" ")[:500]
    api = app.test_client().post(
        f"/api/v1/items/{item.id}/evidence",
        headers=bearer(secret),
        **multipart({}, [(PDF, name)], field="file"),
    )
    assert api.status_code == 201, api.get_json()
    rows = db_session.scalars(select(Evidence).where(Evidence.item_id == item.id)).all()
    assert len(rows) == 2
    for evidence in rows:
        _check_name(evidence)
        _check_download(chief_client.get(f"/items/evidence/{evidence.id}/download"))
        _check_download(
            app.test_client().get(
                f"/api/v1/evidence/{evidence.id}/download", headers=bearer(secret)
            )
        )
    shown = chief_client.get(f"/items/{item.id}")
    assert shown.status_code == 200
    assert "\u202e" not in shown.get_data(as_text=True)


@pytest.mark.parametrize("name", ['quote"x\r\nX-Injected: 1.pdf', "   .pdf", ".pdf", ""])
def test_names_without_a_usable_extension_are_refused_with_their_reason(
    chief_client, db_session, item, name
):
    token = csrf_token(chief_client, FORM_PAGE)
    response = chief_client.post(
        f"/items/{item.id}/evidence", **multipart({"csrf_token": token}, [(PDF, name)])
    )
    assert response.status_code == 400
    assert evidence_count(db_session) == 0
    assert page(response).select(".alert-danger, .invalid-feedback, .text-danger")


def test_the_preview_serves_only_inert_types_inline_and_sandboxed(chief_client, db_session, item):
    token = csrf_token(chief_client, FORM_PAGE)
    chief_client.post(
        f"/items/{item.id}/evidence", **multipart({"csrf_token": token}, [(PDF, "a.pdf")])
    )
    evidence = db_session.scalar(select(Evidence).where(Evidence.item_id == item.id))
    response = chief_client.get(f"/items/evidence/{evidence.id}/preview")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


# ---------------------------------------------------------------- malformed requests


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"garbage without any boundary"),
        ("multipart/form-data", b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\nb"),
        pytest.param(
            "multipart/form-data; boundary=xyz",
            b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.4 truncated",
            # werkzeug's parser drops the temporary file of the cut part to the collector.
            marks=pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
            id="truncated-file-part",
        ),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\n\r\n\r\n--xyz--\r\n"),
        ("application/x-www-form-urlencoded", b"%ZZ=%%%&&&=\xff\xfe"),
        ("application/json", b"{not json"),
    ],
)
def test_malformed_bodies_are_a_clear_4xx(
    app, chief_client, db_session, item, secret, content_type, body
):
    before = (evidence_count(db_session), audit_count(db_session))
    for url in (f"/items/{item.id}/evidence", f"/items/{item.id}/comments"):
        response = chief_client.post(url, data=body, content_type=content_type)
        assert 400 <= response.status_code < 500, url
    api = app.test_client()
    for url in (f"/api/v1/items/{item.id}/evidence", f"/api/v1/items/{item.id}/submit"):
        response = api.post(url, data=body, content_type=content_type, headers=bearer(secret))
        assert 400 <= response.status_code < 500, url
        assert response.mimetype == "application/json"
    assert (evidence_count(db_session), audit_count(db_session)) == before


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"decision": "approve",}',
        b"[1, 2, 3]",
        b'"a string"',
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"note": "' + b"x" * 2_000_000 + b'"}',
        b'{"note": "\\ud800"}',
        b'{"decision": "approve", "comment": "\\u0000"}',
    ],
    ids=lambda b: repr(b[:20]),
)
def test_broken_json_is_a_clear_4xx(app, db_session, bureau, item, secret, body):
    inspector_secret = api_tokens.create(
        db_session, actor=None, user=bureau.user(Role.INSPECTOR), name="t", now=T0
    )[1]
    db_session.commit()
    before = audit_count(db_session)
    api = app.test_client()
    for url, key in (
        (f"/api/v1/items/{item.id}/submit", secret),
        (f"/api/v1/items/{item.id}/review", inspector_secret),
        ("/api/v1/cases", secret),
    ):
        response = api.post(url, data=body, content_type="application/json", headers=bearer(key))
        assert 400 <= response.status_code < 500, (url, response.get_json())
        assert response.get_json()["error"]["code"]
    assert audit_count(db_session) == before


def test_huge_form_fields_are_refused_or_cut_never_a_500(
    app, chief_client, client, db_session, item
):
    huge = "长" * 600_000
    before = db_session.scalar(select(func.count()).select_from(Comment))
    response = post_form(
        chief_client, f"/items/{item.id}/comments", {"body": huge}, form_url=FORM_PAGE
    )
    assert 400 <= response.status_code < 500 or response.status_code in (302, 303)
    assert db_session.scalar(select(func.count()).select_from(Comment)) == before
    response = post_form(client, "/login", {"email": huge, "password": huge})
    assert 200 <= response.status_code < 500
    response = chief_client.get("/items/?q=" + "x" * 20_000)
    assert response.status_code < 500


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/items/{item}/comments", "body"),
        ("/items/{item}/submit", "note"),
        ("/account/tokens", "name"),
    ],
)
def test_nul_characters_in_form_fields_are_refused_not_a_database_error(
    chief_client, db_session, item, url, field
):
    before = audit_count(db_session)
    response = post_form(
        chief_client, url.format(item=item.id), {field: "前\x00后"}, form_url=FORM_PAGE
    )
    assert 400 <= response.status_code < 500 or response.status_code in (302, 303)
    assert audit_count(db_session) == before


def test_nul_in_query_strings_is_not_a_database_error(app, bureau):
    for role in (Role.ADMIN, Role.CHIEF):
        client = signed_in_client(app, bureau.user(role))
        for url in (
            "/items/?q=a%00b",
            "/cases/?q=a%00b",
            "/admin/users?q=a%00b",
            "/audit/?actor=a%00b",
            "/admin/requirements?q=%00",
        ):
            response = client.get(url)
            assert response.status_code < 500, url


LIST_PAGES = [
    ("chief", "/items/"),
    ("chief", "/cases/"),
    ("chief", "/dashboard/deadlines"),
    ("chief", "/dashboard/"),
    ("chief", "/dashboard/scores"),
    ("chief", "/dashboard/scores.csv"),
    ("chief", "/reports/"),
    ("admin", "/admin/users"),
    ("admin", "/admin/units"),
    ("admin", "/admin/requirements"),
    ("admin", "/admin/reasons"),
    ("admin", "/admin/exclusions"),
    ("admin", "/admin/outbox"),
    ("admin", "/admin/calendar"),
    ("admin", "/audit/"),
    ("inspector", "/review/"),
    ("inspector", "/review/samples"),
    ("inspector", "/review/package"),
]
QUERY_ARGS = (
    "page",
    "unit",
    "year",
    "waiting",
    "sample",
    "from",
    "to",
    "day",
    "month",
    "period",
    "status",
    "family",
    "due_within",
    "assignee",
    "q",
    "sort",
    "state",
    "role",
    "major",
    "actor",
    "action",
    "object_type",
    "object_id",
    "channel",
    "kind",
)
ODD_VALUES = (
    "99999999999999999999",
    "-99999999999999999999",
    "0",
    "-1",
    "2147483648",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2026-13",
    "x",
    "１２",
    "1e5",
)


@pytest.mark.parametrize(("role", "url"), LIST_PAGES, ids=lambda v: str(v))
def test_list_filters_with_odd_values_are_never_a_server_error(app, bureau, role, url):
    client = signed_in_client(app, bureau.user(role))
    failures = []
    targets = [f"{url}?" + "&".join(f"{arg}={value}" for arg in QUERY_ARGS) for value in ODD_VALUES]
    # One at a time too, for the values a single refused argument would hide from the others.
    targets += [
        f"{url}?{arg}={v}" for arg in QUERY_ARGS for v in ("99999999999999999999", "0001-01-01")
    ]
    for target in targets:
        try:
            status = client.get(target).status_code
        except Exception as error:  # noqa: BLE001 (the test app re-raises what would be a 500)
            failures.append((target, type(error).__name__))
            continue
        if status >= 500:
            failures.append((target, status))
    assert failures == []


def test_path_arguments_with_traversal_or_nul_are_404(app, admin_client):
    for url in (
        "/api/v1/docs/assets/%00",
        "/api/v1/docs/assets/..%2f..%2fconfig.py",
        "/api/v1/docs/assets/a%00b.css",
        "/static/%00",
        "/static/..%2f__init__.py",
        "/bootstrap/static/..%2f..%2f__init__.py",
        "/reports/feed/%00.ics",
        "/reports/feed/..%2f..%2fadmin.ics",
    ):
        assert admin_client.get(url).status_code == 404, url
    token = csrf_token(admin_client, "/admin/calendar")
    for day in ("%00", "2026-01-01%00", "99999-01-01", "0001-01-01", "x%2f.."):
        response = admin_client.post(
            f"/admin/calendar/days/{day}/remove", data={"csrf_token": token}
        )
        assert response.status_code == 404, day


@pytest.mark.parametrize("deadline", ["0000-01-01", "{type: working_days, days: 0000-01-01}"])
def test_a_catalogue_rule_python_cannot_read_is_a_field_error(admin_client, db_session, deadline):
    from tests.factories import make_requirement
    from tests.security.test_form_fuzz import _forms

    requirement = make_requirement(db_session, cadence="annual", owners=["SEC"])
    db_session.commit()
    url = f"/admin/requirements/{requirement.id}"
    (form,) = [
        f
        for f in _forms(admin_client.get(url).get_data(as_text=True), url)
        if f["action"] == url and f["method"] == "POST"
    ]
    before = audit_count(db_session)
    response = admin_client.post(url, data={**form["fields"], "deadline": deadline})
    assert response.status_code == 200
    assert page(response).select(".invalid-feedback, .text-danger, .alert-danger")
    assert audit_count(db_session) == before


@pytest.mark.parametrize("value", ["1e30", "-1e30", "9" * 40, "1e-30"])
def test_score_weights_out_of_any_range_are_field_errors(admin_client, db_session, value):
    from tests.security.test_form_fuzz import _forms

    url = "/dashboard/scores/weights"
    (form,) = [
        f
        for f in _forms(admin_client.get(url).get_data(as_text=True), url)
        if f["method"] == "POST"
    ]
    before = audit_count(db_session)
    response = admin_client.post(url, data={**form["fields"], "base": value})
    assert response.status_code in (200, 400)
    assert page(response).select(".invalid-feedback, .text-danger, .alert-danger")
    assert audit_count(db_session) == before
