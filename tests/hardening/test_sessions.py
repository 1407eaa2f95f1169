"""Sessions: a new one at every sign-in, sign-out after idling, Secure cookies behind HTTPS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from tests.factories import PASSWORD
from tests.helpers import csrf_token, flashes, page, post_form
from tracker.auth.session import LAST_SEEN_KEY, SESSION_ID_KEY
from tracker.config import Config
from tracker.models import Role

IDLE_SIGNED_OUT = (
    "You were signed out after %(minutes)d minutes without activity. Please sign in again."
)


def sign_in(client, email, password=PASSWORD, **extra):
    return post_form(client, "/login", {"email": email, "password": password, **extra})


def session_of(app: Flask, client) -> dict:
    """The decoded contents of the client's session cookie."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}
    serializer = app.session_interface.get_signing_serializer(app)
    return dict(serializer.loads(cookie.value))


def idle_message(app: Flask, locale: str, minutes: int) -> str:
    """The idle sign-out message as the catalogue of `locale` words it."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale(locale):
        return gettext(IDLE_SIGNED_OUT, minutes=minutes)


def test_the_idle_message_has_a_chinese_translation():
    """Chinese is the default: the message is in the catalogue or awaits merging with its text."""
    from pathlib import Path

    import tracker

    root = Path(tracker.__file__).parent / "translations"
    catalogue = (root / "zh" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    pending = root / "pending_hardening.tsv"
    lines = pending.read_text(encoding="utf-8").splitlines() if pending.exists() else []
    translated = {msgid: text for msgid, _, text in (line.partition("\t") for line in lines)}
    assert f'msgid "{IDLE_SIGNED_OUT}"' in catalogue.replace('"\n"', "") or (
        "分钟" in translated.get(IDLE_SIGNED_OUT, "")
    )


def with_cookie(app: Flask, name: str, value: str):
    fresh = app.test_client()
    fresh.set_cookie(name, value)
    return fresh


# ---------------------------------------------------------------- rotation on sign-in


def test_sign_in_starts_a_new_session(app, client, bureau):
    chief = bureau.user(Role.CHIEF)
    before_token = csrf_token(client, "/login")
    before = client.get_cookie("session").value
    assert "_user_id" not in session_of(app, client)

    assert sign_in(client, chief.email).status_code == 302
    after = session_of(app, client)
    assert client.get_cookie("session").value != before
    assert after["_user_id"] == f"{chief.session_token}.{open_sign_in_keys(chief)[0]}"
    assert len(after[SESSION_ID_KEY]) >= 16
    # Nothing of the visitor's session survives, its CSRF token included.
    assert after.get("csrf_token") != session_of_value(app, before).get("csrf_token")
    stale = client.post("/account/password", data={"csrf_token": before_token})
    assert stale.status_code == 400
    # The cookie held before signing in (planted or copied) never becomes a signed-in one.
    assert with_cookie(app, "session", before).get("/items/").status_code == 302
    assert client.get("/items/").status_code == 200


def open_sign_in_keys(user) -> list[str]:
    """The keys of the user's sign-ins still open (rows the cookies name)."""
    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import SignIn

    return db.session.scalars(select(SignIn.key).where(SignIn.user_id == user.id)).all()


def session_of_value(app: Flask, value: str) -> dict:
    return dict(app.session_interface.get_signing_serializer(app).loads(value))


def test_each_sign_in_gets_its_own_session_id(app, client, bureau):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email)
    first = session_of(app, client)[SESSION_ID_KEY]
    post_form(client, "/logout", {}, form_url="/account/password")
    assert SESSION_ID_KEY not in session_of(app, client)
    sign_in(client, chief.email)
    elsewhere = app.test_client()
    sign_in(elsewhere, chief.email)
    ids = {
        first,
        session_of(app, client)[SESSION_ID_KEY],
        session_of(app, elsewhere)[SESSION_ID_KEY],
    }
    assert len(ids) == 3
    # Two computers signed in at once both keep working.
    assert client.get("/items/").status_code == 200
    assert elsewhere.get("/items/").status_code == 200


def test_the_language_chosen_before_signing_in_is_kept(app, client, bureau):
    chief = bureau.user(Role.CHIEF)
    post_form(client, "/language", {"locale": "en", "next": "/login"}, form_url="/login")
    sign_in(client, chief.email)
    assert session_of(app, client)["locale"] == "en"
    assert page(client.get("/items/")).html["lang"] == "en"


def test_sign_out_also_ends_remember_me(app, client, bureau):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email, remember="y")
    remember = client.get_cookie("remember_token")
    assert remember is not None
    response = post_form(client, "/logout", {}, form_url="/account/password")
    assert response.status_code == 302
    assert client.get_cookie("remember_token") is None  # deleted by the response
    assert client.get("/items/").headers["Location"].startswith("/login")


# ---------------------------------------------------------------- copied cookies after sign-out


def test_sign_out_refuses_a_copy_of_the_session_cookie_and_spares_other_browsers(
    app, client, bureau
):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email)
    elsewhere = app.test_client()
    sign_in(elsewhere, chief.email)
    copied = client.get_cookie("session").value
    assert with_cookie(app, "session", copied).get("/items/").status_code == 200
    assert len(open_sign_in_keys(chief)) == 2

    post_form(client, "/logout", {}, form_url="/items/")
    assert (
        with_cookie(app, "session", copied).get("/items/").headers["Location"].startswith("/login")
    )
    assert elsewhere.get("/items/").status_code == 200  # the other computer's own sign-in
    assert len(open_sign_in_keys(chief)) == 1


def test_sign_out_refuses_a_copy_of_the_remember_cookie(app, client, bureau):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email, remember="y")
    copied = client.get_cookie("remember_token").value
    assert with_cookie(app, "remember_token", copied).get("/items/").status_code == 200

    post_form(client, "/logout", {}, form_url="/items/")
    restored = with_cookie(app, "remember_token", copied).get("/items/")
    assert restored.headers["Location"].startswith("/login")


def test_idling_out_refuses_a_copy_kept_busy_elsewhere(app, client, bureau, clock, idle_minutes):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email)
    copy = with_cookie(app, "session", client.get_cookie("session").value)
    clock.freeze(clock.now() + timedelta(minutes=20))
    assert copy.get("/items/").status_code == 200  # the copy's own activity, 20 minutes in
    clock.freeze(clock.now() + timedelta(minutes=11))
    assert client.get("/items/").headers["Location"].startswith("/login")  # idled out
    clock.freeze(clock.now() + timedelta(minutes=5))
    # Idle for 16 minutes only by its own clock, but its sign-in has ended.
    assert copy.get("/items/").headers["Location"].startswith("/login")


def test_a_sign_in_ends_after_the_remember_days_however_active(
    app, client, bureau, clock, monkeypatch
):
    lifetime = timedelta(days=14)  # the default TRACKER_REMEMBER_DAYS (tests run with more)
    monkeypatch.setitem(app.config, "REMEMBER_COOKIE_DURATION", lifetime)
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email, remember="y")
    clock.freeze(clock.now() + lifetime - timedelta(minutes=1))
    assert client.get("/items/").status_code == 200
    clock.freeze(clock.now() + timedelta(minutes=2))
    assert client.get("/items/").headers["Location"].startswith("/login")


def test_remember_days_below_one_are_refused_at_start(monkeypatch, tmp_path):
    """They are also the longest a sign-in lasts: zero days would let nobody stay signed in."""
    monkeypatch.setenv("TRACKER_REMEMBER_DAYS", "0")
    with pytest.raises(ValueError, match="TRACKER_REMEMBER_DAYS must be at least 1"):
        Config(tmp_path)
    monkeypatch.setenv("TRACKER_REMEMBER_DAYS", "1")
    remembered_for = Config(tmp_path).REMEMBER_COOKIE_DURATION
    assert remembered_for == timedelta(days=1)


def test_a_cookie_naming_no_sign_in_is_refused(app, bureau):
    """As the cookies of sessions signed in before sign-ins were recorded: sign in again."""
    chief = bureau.user(Role.CHIEF)
    for cookie_id in (chief.session_token, f"{chief.session_token}.", f"{chief.session_token}.x"):
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = cookie_id
        assert client.get("/items/").headers["Location"].startswith("/login")


# ---------------------------------------------------------------- idle timeout


def test_idle_session_is_signed_out_with_a_message(app, client, bureau, clock, idle_minutes):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email)
    assert client.get("/items/").status_code == 200
    clock.freeze(clock.now() + timedelta(minutes=29))
    assert client.get("/items/").status_code == 200  # activity: the half hour starts again
    clock.freeze(clock.now() + timedelta(minutes=29))
    assert client.get("/items/?status=open").status_code == 200
    clock.freeze(clock.now() + timedelta(minutes=31))

    response = client.get("/items/?status=open")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/items/?status%3Dopen"
    assert "_user_id" not in session_of(app, client)
    login_page = client.get(response.headers["Location"])
    assert idle_message(app, "zh_CN", 30) in flashes(login_page)[0]
    # Signed out for good: the next request is anonymous, and a new sign-in goes back there.
    assert client.get("/items/").headers["Location"].startswith("/login")
    again = post_form(
        client,
        "/login",
        {"email": chief.email, "password": PASSWORD, "next": "/items/?status=open"},
        form_url=response.headers["Location"],
    )
    assert again.headers["Location"] == "/items/?status=open"


def test_idle_message_follows_the_users_language(app, bureau, clock, idle_minutes, db_session):
    chief = bureau.user(Role.CHIEF)
    chief.locale = "en"
    db_session.commit()
    client = app.test_client()
    sign_in(client, chief.email)
    clock.freeze(clock.now() + timedelta(minutes=45))
    response = client.get("/items/", follow_redirects=True)
    assert (
        "You were signed out after 30 minutes without activity. Please sign in again."
        in flashes(response)[0]
    )
    assert page(response).html["lang"] == "en"  # the sign-in page in his language too


def test_an_idle_form_post_does_nothing(app, bureau, clock, idle_minutes, db_session):
    chief = bureau.user(Role.CHIEF)
    client = app.test_client()
    sign_in(client, chief.email)
    token = csrf_token(client, "/account/password")
    clock.freeze(clock.now() + timedelta(hours=2))
    response = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "another-long-password",
            "confirm": "another-long-password",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    db_session.refresh(chief)
    from tracker.services.passwords import verify_password

    assert verify_password(chief.password_hash, PASSWORD)  # unchanged


def test_remember_me_is_not_timed_out(app, bureau, clock, idle_minutes):
    chief = bureau.user(Role.CHIEF)
    client = app.test_client()
    sign_in(client, chief.email, remember="y")
    clock.freeze(clock.now() + timedelta(hours=6))
    assert client.get("/items/").status_code == 200
    # A session rebuilt from the remember cookie alone (the browser was closed) is remembered too.
    restored = with_cookie(app, "remember_token", client.get_cookie("remember_token").value)
    assert restored.get("/items/").status_code == 200
    assert session_of(app, restored)[SESSION_ID_KEY]
    clock.freeze(clock.now() + timedelta(hours=3))
    assert restored.get("/items/").status_code == 200


def test_the_activity_time_is_not_rewritten_on_every_request(app, client, bureau, clock):
    """The cookie is re-sent at most once a minute, not on each request."""
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email)
    client.get("/items/")  # the first page adds the CSRF token to the session
    first = session_of(app, client)[LAST_SEEN_KEY]
    clock.freeze(clock.now() + timedelta(seconds=20))
    response = client.get("/items/")
    assert not any(c.startswith("session=") for c in response.headers.getlist("Set-Cookie"))
    clock.freeze(clock.now() + timedelta(seconds=60))
    client.get("/items/")
    assert session_of(app, client)[LAST_SEEN_KEY] == first + 80


def test_idle_timeout_is_configurable_and_zero_disables(app, bureau, clock, idle_minutes):
    chief = bureau.user(Role.CHIEF)
    client = app.test_client()
    sign_in(client, chief.email)
    app.config["TRACKER_IDLE_MINUTES"] = 5
    clock.freeze(clock.now() + timedelta(minutes=6))
    response = client.get("/items/", follow_redirects=True)
    assert idle_message(app, "zh_CN", 5) in flashes(response)[0]
    sign_in(client, chief.email)
    app.config["TRACKER_IDLE_MINUTES"] = 0
    clock.freeze(clock.now() + timedelta(hours=7))
    assert client.get("/items/").status_code == 200


# ---------------------------------------------------------------- cookies behind HTTPS


def test_secure_cookies_when_configured(make_app, monkeypatch, side_database, tmp_path):
    from tracker.config import TestConfig

    monkeypatch.setenv("TRACKER_SECURE_COOKIES", "1")
    config = TestConfig(instance_path=tmp_path / "env", database_url=side_database)
    assert config.SESSION_COOKIE_SECURE and config.REMEMBER_COOKIE_SECURE
    monkeypatch.delenv("TRACKER_SECURE_COOKIES")
    config = TestConfig(instance_path=tmp_path / "env", database_url=side_database)
    assert not config.SESSION_COOKIE_SECURE and not config.REMEMBER_COOKIE_SECURE  # default

    secure_app = make_app(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    email = create_side_user(secure_app, "secure-cookies@test.example.org")
    client = secure_app.test_client()
    base = "https://ledger.example.org"
    form = page(client.get("/login", base_url=base)).find("input", {"name": "csrf_token"})
    response = client.post(
        "/login",
        base_url=base,
        headers={"Referer": base + "/login"},  # Flask-WTF checks it over HTTPS
        data={"email": email, "password": PASSWORD, "remember": "y", "csrf_token": form["value"]},
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "remember_token="):
        cookie = next(c for c in cookies if c.startswith(name))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def create_side_user(application: Flask, email: str) -> str:
    """A chief in the side database (committed there; each test uses its own email)."""
    from tests.factories import make_unit, make_user
    from tracker.extensions import db

    with application.app_context():
        make_user(db.session, unit=make_unit(db.session), role=Role.CHIEF, email=email)
        db.session.commit()
    return email
