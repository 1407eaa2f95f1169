"""Sign-in, lock-out, deactivation, CSRF, sessions and password changes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.factories import PASSWORD
from tests.helpers import csrf_token, flashes, post_form
from tracker.models import AuditEvent, Role


def sign_in(client, email, password=PASSWORD, **extra):
    return post_form(client, "/login", {"email": email, "password": password, **extra})


def actions_for(db_session, user) -> list[str]:
    return list(
        db_session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id))
            .order_by(AuditEvent.seq)
        )
    )


def test_anonymous_is_redirected_to_sign_in(client, bureau):
    for url in ["/", "/admin/users", "/admin/units", "/account/password"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url


def test_sign_in_lands_on_home_and_is_audited(client, bureau, db_session):
    chief = bureau.user(Role.CHIEF)
    response = sign_in(client, chief.email.upper())  # emails match regardless of case
    assert response.status_code == 302 and response.headers["Location"] == "/"
    # The home page sends a chief on to the checklist.
    landing = client.get("/")
    assert landing.status_code == 302 and landing.headers["Location"] == "/items/"
    assert client.get("/items/").status_code == 200
    assert actions_for(db_session, chief)[-1] == "login.success"


def test_sign_in_follows_only_local_next(client, bureau):
    chief = bureau.user(Role.CHIEF)
    response = sign_in(client, chief.email, next="https://evil.example.com/")
    assert response.headers["Location"] == "/"
    client.get("/login")  # signed in now: a second sign-in redirects home
    other = bureau.users["other_chief"]
    fresh = client.application.test_client()
    response = sign_in(fresh, other.email, next="/account/password")
    assert response.headers["Location"] == "/account/password"


def test_wrong_password_is_refused_and_audited(client, bureau, db_session):
    chief = bureau.user(Role.CHIEF)
    response = sign_in(client, chief.email, "wrong-password")
    assert response.status_code == 401
    assert any("邮箱或密码错误" in text for text in flashes(response))
    assert actions_for(db_session, chief)[-1] == "login.failed"


def test_unknown_email_is_refused_and_audited(client, bureau, db_session):
    response = sign_in(client, "nobody@test.example.org")
    assert response.status_code == 401
    event = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert (event.action, event.actor_label) == ("login.failed", "nobody@test.example.org")


def test_sixth_wrong_password_locks_the_account(client, bureau, db_session, clock):
    chief = bureau.user(Role.CHIEF)
    for _ in range(5):
        response = sign_in(client, chief.email, "wrong-password")
        assert any("邮箱或密码错误" in text for text in flashes(response))
    response = sign_in(client, chief.email, "wrong-password")
    assert response.status_code == 401
    assert any("账户已锁定" in text for text in flashes(response))
    assert "account.locked" in actions_for(db_session, chief)

    # While locked even the right password is refused.
    clock.freeze(clock.now() + timedelta(minutes=14))
    response = sign_in(client, chief.email)
    assert any("账户已锁定" in text for text in flashes(response))
    assert actions_for(db_session, chief)[-1] == "login.refused_locked"

    # After 15 minutes the lock has expired.
    clock.freeze(clock.now() + timedelta(minutes=2))
    assert sign_in(client, chief.email).status_code == 302


def test_failures_outside_the_window_do_not_lock(client, bureau, clock):
    chief = bureau.user(Role.CHIEF)
    for _ in range(5):
        sign_in(client, chief.email, "wrong-password")
    clock.freeze(clock.now() + timedelta(minutes=16))
    response = sign_in(client, chief.email, "wrong-password")
    assert not any("账户已锁定" in text for text in flashes(response))
    assert sign_in(client, chief.email).status_code == 302


def test_deactivated_user_cannot_sign_in(client, bureau, db_session):
    staff = bureau.user(Role.STAFF)
    staff.active = False
    db_session.commit()
    response = sign_in(client, staff.email)
    assert response.status_code == 401
    assert any("已停用" in text for text in flashes(response))
    assert client.get("/items/").headers["Location"].startswith("/login")


def test_deactivation_ends_an_open_session(app, admin_client, bureau):
    from tests.conftest import signed_in_client

    staff = bureau.user(Role.STAFF)
    staff_client = signed_in_client(app, staff)
    assert staff_client.get("/items/").status_code == 200
    post_form(
        admin_client, f"/admin/users/{staff.id}/active", {"active": "0"}, form_url="/admin/users"
    )
    assert staff_client.get("/items/").headers["Location"].startswith("/login")


def test_post_without_csrf_token_is_refused(client, bureau):
    chief = bureau.user(Role.CHIEF)
    response = client.post("/login", data={"email": chief.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/items/").headers["Location"].startswith("/login")  # not signed in


def test_session_cookies_are_httponly_and_samesite(client, bureau):
    chief = bureau.user(Role.CHIEF)
    response = sign_in(client, chief.email, remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    remember_cookie = next(c for c in cookies if c.startswith("remember_token="))
    for cookie in (session_cookie, remember_cookie):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_remember_me_restores_the_session(app, client, bureau):
    chief = bureau.user(Role.CHIEF)
    sign_in(client, chief.email, remember="y")
    remember = client.get_cookie("remember_token")
    assert remember is not None
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember.value)
    assert fresh.get("/items/").status_code == 200


def test_sign_out_needs_post_and_ends_session(chief_client):
    assert chief_client.get("/logout").status_code == 405
    response = post_form(chief_client, "/logout", {}, form_url="/items/")
    assert response.status_code == 302
    assert chief_client.get("/items/").headers["Location"].startswith("/login")


def test_password_change_signs_out_other_sessions(app, bureau, db_session):
    from tests.conftest import signed_in_client

    chief = bureau.user(Role.CHIEF)
    here, elsewhere = signed_in_client(app, chief), signed_in_client(app, chief)
    response = post_form(
        here,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "a-new-long-password",
            "confirm": "a-new-long-password",
        },
    )
    assert response.status_code == 302
    assert here.get("/items/").status_code == 200
    assert elsewhere.get("/items/").headers["Location"].startswith("/login")
    assert actions_for(db_session, chief)[-1] == "user.password_changed"
    fresh = app.test_client()
    assert sign_in(fresh, chief.email, "a-new-long-password").status_code == 302


def test_password_change_errors_show_next_to_the_field(chief_client):
    response = post_form(
        chief_client,
        "/account/password",
        {
            "current_password": "not-my-password",
            "new_password": "a-new-long-password",
            "confirm": "a-new-long-password",
        },
    )
    assert response.status_code == 200
    assert "当前密码不正确" in response.get_data(as_text=True)
    response = post_form(
        chief_client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
    )
    assert "is-invalid" in response.get_data(as_text=True)


def test_login_page_has_csrf_token(client):
    assert csrf_token(client, "/login")
