"""Security headers on every kind of response; no inline script or style in the pages."""

from __future__ import annotations

import pytest

from tests.helpers import page, post_form
from tracker.models import Role
from tracker.services import api_tokens


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no CSP on {response.request.path}"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_hardened(response) -> None:
    csp = policy(response)
    scripts = csp.get("script-src", csp["default-src"])
    assert scripts == ["'self'"], scripts  # no inline script, no eval, no other host
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_kind_of_response_carries_the_headers(app, client, chief_client, bureau, db_session):
    chief = bureau.user(Role.CHIEF)
    _token, secret = api_tokens.create(
        db_session, actor=None, user=chief, name="headers", now=chief.created_at
    )
    db_session.commit()
    responses = {
        "sign-in page": client.get("/login"),
        "redirect": client.get("/items/"),
        "signed-in page": chief_client.get("/items/"),
        "404 page": chief_client.get("/no-such-page"),
        "403 page": chief_client.get("/admin/users"),
        "static file": client.get("/static/css/tracker.css"),
        "bootstrap file": client.get("/bootstrap/static/css/bootstrap.min.css"),
        "health check": client.get("/healthz"),
        "API 401": client.get("/api/v1/items"),
        "API list": client.get("/api/v1/items", headers={"Authorization": f"Bearer {secret}"}),
        "API document": client.get("/api/v1/openapi.json"),
        "API docs page": client.get("/api/v1/docs"),
        "form error": post_form(client, "/login", {"email": chief.email, "password": "nope"}),
    }
    expected = {"redirect": 302, "404 page": 404, "403 page": 403, "API 401": 401}
    expected["form error"] = 401
    for name, response in responses.items():
        assert response.status_code == expected.get(name, 200), name
        assert_hardened(response)
        assert "Strict-Transport-Security" not in response.headers, name  # plain http
        response.close()  # file responses hold their file open until closed
    # Styles come from files only (tracker.css, Bootstrap, Swagger UI).
    assert policy(responses["signed-in page"])["style-src"] == ["'self'"]


def test_evidence_previews_keep_their_own_stricter_policy(app):
    """A view that sets its own policy (sandboxed previews) is not overwritten."""
    from flask import Response

    from tracker.security_headers import CONTENT_SECURITY_POLICY

    with app.test_request_context("/"):
        response = Response("x")
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response = app.process_response(response)
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://ledger.example.org")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Without a configured proxy, a client claiming https is not believed.
    spoofed = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_behind_a_proxy_the_forwarded_scheme_and_address_count(make_app, log_output):
    import json

    proxied = make_app(TRACKER_PROXY_HOPS=1).test_client()
    response = proxied.get(
        "/login",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    request_line = [entry for entry in lines if entry["logger"] == "tracker.request"][-1]
    assert request_line["remote_addr"] == "203.0.113.7"  # the client, not the proxy
    # Only the one proxy's entry is trusted: an address the client prepends is ignored.
    proxied.get(
        "/login",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert [e for e in lines if e["logger"] == "tracker.request"][-1]["remote_addr"] == (
        "203.0.113.7"
    )


def test_the_api_docs_page_runs_swagger_from_files(client):
    response = client.get("/api/v1/docs")
    scripts = page(response).find_all("script")
    assert scripts and all(script.get("src") for script in scripts)
    assert all(not script.get_text(strip=True) for script in scripts)
    sources = [script["src"] for script in scripts]
    assert "/static/js/swagger-init.js" in sources
    with client.get("/static/js/swagger-init.js") as init:
        assert init.status_code == 200 and "SwaggerUIBundle" in init.get_data(as_text=True)
        assert "javascript" in init.headers["Content-Type"]


ROLE_PAGES = ("/", "/account/password", "/account/notifications", "/account/tokens")


@pytest.mark.parametrize("role", list(Role))
def test_pages_have_no_inline_script_handlers_or_styles(app, bureau, role):
    """What the policy forbids must not be in the pages: every page of each role's menu."""
    from tests.conftest import signed_in_client

    browser = signed_in_client(app, bureau.user(role))
    visited: dict[str, object] = {}
    queue = list(ROLE_PAGES)
    landing = browser.get("/", follow_redirects=True)
    queue += [a["href"] for a in page(landing).select("nav a[data-nav]")]
    queue += ["/reports/feed", "/api/v1/docs"]
    for url in queue:
        if url in visited:
            continue
        response = browser.get(url, follow_redirects=True)
        assert response.status_code == 200, url
        visited[url] = response
        assert_hardened(response)
        soup = page(response)
        for script in soup.find_all("script"):
            assert script.get("src") and not script.get_text(strip=True), (url, str(script)[:80])
        assert not soup.find_all("style"), url
        for tag in soup.find_all(True):
            for attribute, value in tag.attrs.items():
                assert not attribute.lower().startswith("on"), (url, tag.name, attribute)
                assert attribute.lower() != "style", (url, tag.name, value)
                if attribute in {"href", "src", "action", "formaction"}:
                    assert not str(value).strip().lower().startswith("javascript:"), url
    assert len(visited) >= 5
