"""API authentication: personal tokens (service, page, CLI), 401s, no session cookie, JSON errors
for every failure, and the per-token rate limit."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item
from tests.helpers import page, post_form
from tracker import create_app
from tracker.api.auth import rate_limit_key
from tracker.config import TestConfig
from tracker.extensions import limiter
from tracker.models import ApiToken, AuditEvent, Role
from tracker.services import api_tokens
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed


def make_token(db_session, user, name: str = "script", **kwargs) -> tuple[ApiToken, str]:
    token, secret = api_tokens.create(
        db_session, actor=None, user=user, name=name, now=T0, **kwargs
    )
    db_session.commit()
    return token, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) >= {"code", "message"} and error["message"]
    if code is not None:
        assert error["code"] == code
    body = response.get_data(as_text=True)
    assert "<html" not in body.lower() and "Traceback" not in body
    return error


# ---------------------------------------------------------------- the service


def test_create_stores_only_the_hash_and_audits_without_the_secret(db_session, bureau):
    chief = bureau.user(Role.CHIEF)
    token, secret = make_token(db_session, chief, name="  case  system ")
    assert secret.startswith("trk_") and len(secret) > 40
    assert token.name == "case system"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:8]
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "api_token.created")
    ).one()
    assert event.object_id == str(token.id)
    flat = repr(event.data)
    assert secret not in flat and token.token_hash not in flat and secret[8:] not in flat


def test_authenticate_refuses_unknown_revoked_expired_and_deactivated(db_session, bureau):
    chief = bureau.user(Role.CHIEF)
    token, secret = make_token(db_session, chief)
    assert api_tokens.authenticate(db_session, secret, now=T0) is token
    assert api_tokens.authenticate(db_session, secret + "x", now=T0) is None
    assert api_tokens.authenticate(db_session, "not-a-token", now=T0) is None
    assert api_tokens.authenticate(db_session, "", now=T0) is None

    expiring, expiring_secret = make_token(
        db_session, chief, name="short", expires_at=T0 + timedelta(days=1)
    )
    assert api_tokens.authenticate(db_session, expiring_secret, now=T0) is expiring
    assert api_tokens.authenticate(db_session, expiring_secret, now=T0 + timedelta(days=2)) is None

    api_tokens.revoke(db_session, actor=chief, token=token, now=T0)
    assert api_tokens.authenticate(db_session, secret, now=T0) is None
    with pytest.raises(InvalidTransition):
        api_tokens.revoke(db_session, actor=chief, token=token, now=T0)

    _other, other_secret = make_token(db_session, bureau.user(Role.STAFF))
    bureau.user(Role.STAFF).active = False
    assert api_tokens.authenticate(db_session, other_secret, now=T0) is None


def test_last_used_is_written_at_most_once_a_minute(db_session, bureau):
    token, secret = make_token(db_session, bureau.user(Role.CHIEF))
    assert token.last_used_at is None
    api_tokens.authenticate(db_session, secret, now=T0)
    assert token.last_used_at == T0
    api_tokens.authenticate(db_session, secret, now=T0 + timedelta(seconds=30))
    assert token.last_used_at == T0
    api_tokens.authenticate(db_session, secret, now=T0 + timedelta(seconds=61))
    assert token.last_used_at == T0 + timedelta(seconds=61)


def test_only_the_owner_or_an_admin_revokes_and_names_are_checked(db_session, bureau):
    token, _secret = make_token(db_session, bureau.user(Role.CHIEF))
    with pytest.raises(PermissionDenied):
        api_tokens.revoke(db_session, actor=bureau.user(Role.STAFF), token=token, now=T0)
    api_tokens.revoke(db_session, actor=bureau.user(Role.ADMIN), token=token, now=T0)
    assert db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "api_token.revoked")
    ).all() == ["api_token.revoked"]
    with pytest.raises(ValidationFailed):
        api_tokens.create(db_session, actor=None, user=bureau.user(Role.CHIEF), name=" ", now=T0)
    with pytest.raises(PermissionDenied):
        api_tokens.create(
            db_session,
            actor=bureau.user(Role.STAFF),
            user=bureau.user(Role.CHIEF),
            name="x",
            now=T0,
        )


# ---------------------------------------------------------------- 401 and the session cookie


API_GETS = ["/api/v1/items", "/api/v1/items/1", "/api/v1/cases/1", "/api/v1/dashboard"]
API_POSTS = [
    "/api/v1/items/1/evidence",
    "/api/v1/items/1/submit",
    "/api/v1/items/1/review",
    "/api/v1/cases",
]


@pytest.mark.parametrize("url", [*API_GETS, "/api/v1/evidence/1/download"])
def test_every_read_needs_a_token(client, bureau, url):
    error = assert_error(client.get(url), 401, "unauthorized")
    assert error["message"]
    assert client.get(url).headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", API_POSTS)
def test_every_write_needs_a_token(client, bureau, url):
    assert_error(client.post(url, json={}), 401, "unauthorized")


@pytest.mark.parametrize("url", API_GETS + API_POSTS)
def test_a_revoked_token_is_401(client, db_session, bureau, url):
    token, secret = make_token(db_session, bureau.user(Role.ADMIN))
    api_tokens.revoke(db_session, actor=None, token=token, now=T0)
    db_session.commit()
    call = client.get if url in API_GETS else client.post
    response = call(url, headers=bearer(secret))
    assert_error(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer  ", "trk_abc", "Bearer trk_x"])
def test_malformed_or_unknown_credentials_are_401(client, bureau, header):
    response = client.get("/api/v1/items", headers={"Authorization": header})
    assert_error(response, 401)


def test_a_deactivated_users_token_stops_working(client, db_session, bureau):
    staff = bureau.user(Role.STAFF)
    _token, secret = make_token(db_session, staff)
    assert client.get("/api/v1/items", headers=bearer(secret)).status_code == 200
    staff.active = False
    db_session.commit()
    assert_error(client.get("/api/v1/items", headers=bearer(secret)), 401, "invalid_token")


def test_the_session_cookie_alone_is_401(app, bureau):
    browser = signed_in_client(app, bureau.user(Role.ADMIN))
    assert browser.get("/items/").status_code == 200  # the cookie works on the web pages
    assert_error(browser.get("/api/v1/items"), 401)
    assert_error(browser.post("/api/v1/cases", json={"case_no": "x"}), 401)


def test_a_token_with_a_cookie_of_another_user_acts_as_the_token(app, db_session, bureau):
    """The cookie neither adds rights nor chooses the user: the token decides."""
    item = make_item(db_session, unit=bureau.station)
    db_session.commit()
    browser = signed_in_client(app, bureau.user(Role.ADMIN))
    _token, secret = make_token(db_session, bureau.user(Role.CHIEF))  # a chief of another unit
    assert_error(browser.get(f"/api/v1/items/{item.id}", headers=bearer(secret)), 404)


def test_last_used_is_recorded_by_a_call(client, db_session, bureau, clock):
    token, secret = make_token(db_session, bureau.user(Role.LEADER))
    client.get("/api/v1/dashboard", headers=bearer(secret))
    db_session.expire_all()
    assert token.last_used_at == clock.now()


def test_no_csrf_token_is_needed_with_a_bearer_token(client, db_session, bureau):
    _token, secret = make_token(db_session, bureau.user(Role.LEADER))
    # A leader may not register cases: 403 proves the request got past CSRF to the permission.
    assert_error(client.post("/api/v1/cases", json={}, headers=bearer(secret)), 403, "forbidden")


# ---------------------------------------------------------------- JSON for every error


def test_unknown_addresses_and_methods_are_json(client, db_session, bureau):
    _token, secret = make_token(db_session, bureau.user(Role.ADMIN))
    assert_error(client.get("/api/v1/nothing-here", headers=bearer(secret)), 404, "not_found")
    assert_error(client.get("/api/v1", headers=bearer(secret)), 404)
    response = client.delete("/api/v1/items", headers=bearer(secret))
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    # Outside the API the HTML error pages are untouched.
    assert client.get("/no-such-page").mimetype == "text/html"


def test_an_unexpected_exception_is_a_json_500_without_traceback(
    client, db_session, bureau, monkeypatch
):
    from tracker.api import items as api_items

    def boom(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api_items, "item_json", boom)
    make_item(db_session, unit=bureau.section)
    db_session.commit()
    _token, secret = make_token(db_session, bureau.user(Role.ADMIN))
    response = client.get("/api/v1/items", headers=bearer(secret))
    error = assert_error(response, 500, "server_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert error["message"]


def test_a_body_over_the_request_limit_is_a_json_413(app, client, db_session, bureau, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    item = make_item(db_session, unit=bureau.section)
    db_session.commit()
    _token, secret = make_token(db_session, bureau.user(Role.CHIEF))
    response = client.post(
        f"/api/v1/items/{item.id}/evidence",
        data={"file": (io.BytesIO(b"x" * 4096), "a.pdf")},
        content_type="multipart/form-data",
        headers=bearer(secret),
    )
    assert_error(response, 413, "request_too_large")


def test_messages_follow_the_token_users_language(client, db_session, bureau):
    chief = bureau.user(Role.CHIEF)
    item = make_item(db_session, unit=bureau.section)
    _token, secret = make_token(db_session, chief)
    chief.locale = "en"
    db_session.commit()
    url = f"/api/v1/items/{item.id}/review"
    english = assert_error(client.post(url, json={}, headers=bearer(secret)), 403, "forbidden")
    assert english["message"] == "You may not review this item."
    chief.locale = "zh_CN"
    db_session.commit()
    chinese = assert_error(client.post(url, json={}, headers=bearer(secret)), 403, "forbidden")
    assert chinese["message"] == "您无权审核此事项。"


# ---------------------------------------------------------------- the rate limit


def test_the_rate_limit_key_is_per_token(app):
    with app.test_request_context(headers=bearer("trk_one")):
        one = rate_limit_key()
    with app.test_request_context(headers=bearer("trk_two")):
        two = rate_limit_key()
    with app.test_request_context():
        anonymous = rate_limit_key()
    assert one != two and "trk_one" not in one
    assert anonymous.startswith("api-ip:")


def test_each_token_has_its_own_budget_then_429(tmp_path, app):
    """A separate app with the limiter on (the suite's app runs without it)."""
    config = TestConfig(
        instance_path=tmp_path / "instance", database_url=app.config["SQLALCHEMY_DATABASE_URI"]
    )
    config.RATELIMIT_ENABLED = True
    config.RATELIMIT_STORAGE_URI = "memory://"
    config.TRACKER_API_RATE_LIMIT = "3 per minute"
    limited = create_app(config)
    try:
        client = limited.test_client()
        first = [client.get("/api/v1/items", headers=bearer("trk_a")).status_code for _ in range(4)]
        assert first == [401, 401, 401, 429]
        response = client.get("/api/v1/items", headers=bearer("trk_a"))
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["Retry-After"]) >= 1
        # Another token is counted apart; the document stays reachable.
        assert client.get("/api/v1/items", headers=bearer("trk_b")).status_code == 401
        assert client.get("/api/v1/openapi.json").status_code == 200
    finally:
        limiter.enabled = False  # as the suite's app configured it
        with limited.app_context():
            from tracker.extensions import db

            db.engine.dispose()


# ---------------------------------------------------------------- the tokens page


def test_tokens_page_creates_shows_once_lists_and_revokes(app, db_session, bureau, clock):
    chief = bureau.user(Role.CHIEF)
    browser = signed_in_client(app, chief)
    listing = browser.get("/account/tokens")
    assert listing.status_code == 200 and page(listing).select_one("#no-tokens")
    created = post_form(browser, "/account/tokens", {"name": "案件系统"})
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    secret = page(created).select_one("#new-token-value")["value"]
    assert secret.startswith("trk_")
    # Works on the API, as the chief.
    assert browser.get("/api/v1/items", headers=bearer(secret)).status_code == 200

    again = browser.get("/account/tokens")
    soup = page(again)
    assert soup.select_one("#new-token") is None and secret not in again.get_data(as_text=True)
    row = soup.select_one("#tokens tbody tr")
    assert "案件系统" in row.get_text() and secret[:8] in row.get_text()

    token = db_session.scalars(select(ApiToken).where(ApiToken.user_id == chief.id)).one()
    revoked = post_form(
        browser, f"/account/tokens/{token.id}/revoke", {}, form_url="/account/tokens"
    )
    assert revoked.status_code == 303
    assert browser.get("/api/v1/items", headers=bearer(secret)).status_code == 401
    assert "trk_" not in browser.get("/account/tokens").get_data(as_text=True).replace(
        token.prefix, ""
    )


def test_tokens_page_refuses_an_empty_name_and_others_tokens(app, db_session, bureau):
    browser = signed_in_client(app, bureau.user(Role.STAFF))
    refused = post_form(browser, "/account/tokens", {"name": ""})
    assert refused.status_code == 400 and page(refused).select_one(".invalid-feedback")
    other, _secret = make_token(db_session, bureau.user(Role.CHIEF))
    response = post_form(
        browser, f"/account/tokens/{other.id}/revoke", {}, form_url="/account/tokens"
    )
    assert response.status_code == 404
    db_session.expire_all()
    assert other.revoked_at is None


def test_tokens_page_is_complete_in_english(app, db_session, bureau):
    from tests.helpers import CJK, visible_text

    chief = bureau.user(Role.CHIEF)
    chief.locale = "en"
    make_token(db_session, chief, name="etl")
    browser = signed_in_client(app, chief)
    created = post_form(browser, "/account/tokens", {"name": "script"})
    for response in (browser.get("/account/tokens"), created):
        text = visible_text(response).replace(chief.name, "").replace(chief.unit.name, "")
        assert "API tokens" in text
        assert not CJK.search(text.replace("中文", "")), CJK.findall(text)


def test_tokens_page_needs_sign_in(client):
    response = client.get("/account/tokens")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_user_menu_links_to_the_tokens_page(app, bureau):
    browser = signed_in_client(app, bureau.user(Role.STAFF))
    links = [a["href"] for a in page(browser.get("/account/password")).select(".dropdown-menu a")]
    assert "/account/tokens" in links


# ---------------------------------------------------------------- the command


def test_create_token_command_prints_the_token_once(app, db_session, bureau):
    runner = app.test_cli_runner(mix_stderr=False) if _mix_stderr_supported() else None
    runner = runner or app.test_cli_runner()
    result = runner.invoke(
        args=["tracker", "create-token", "--email", "Chief@Test.example.org", "--name", "etl"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("trk_")
    token = api_tokens.authenticate(db_session, secret, now=T0)
    assert token is not None and token.name == "etl" and token.user.role == Role.CHIEF
    missing = runner.invoke(args=["tracker", "create-token", "--email", "nobody@example.org"])
    assert missing.exit_code == 1


def _mix_stderr_supported() -> bool:
    import inspect

    from click.testing import CliRunner

    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters
