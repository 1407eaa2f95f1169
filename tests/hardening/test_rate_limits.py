"""Rate limits on sign-in and the API: in memory by default, in Redis when configured.

The suite's app runs without the limiter; these tests build apps with it on (`make_app`).
The Redis test uses the local server (127.0.0.1:6379, or TRACKER_TEST_REDIS_URL): without it the
test is skipped on a workstation, and fails when CI is set.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.factories import PASSWORD
from tests.helpers import page
from tracker.extensions import limiter

REDIS_URL = os.environ.get("TRACKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def limited(make_app, **settings):
    values = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_LOGIN": "3 per minute",
        "TRACKER_API_RATE_LIMIT": "3 per minute",
    }
    values.update(settings)
    return make_app(**values)


def failed_sign_in(client, *, address="192.0.2.10", language="zh-CN,zh;q=0.9"):
    """A sign-in with a wrong password from `address` (CSRF token read like a browser)."""
    environ = {"REMOTE_ADDR": address}
    form = page(client.get("/login", environ_base=environ)).find("input", {"name": "csrf_token"})
    return client.post(
        "/login",
        data={
            "email": "nobody@test.example.org",
            "password": "not-the-password",
            "csrf_token": form["value"],
        },
        environ_base=environ,
        headers={"Accept-Language": language},
    )


def test_sign_in_attempts_are_limited_per_address(make_app):
    client = limited(make_app).test_client()
    assert [failed_sign_in(client).status_code for _ in range(3)] == [401, 401, 401]

    refused = failed_sign_in(client)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Frame-Options"] == "DENY" and refused.headers["X-Request-ID"]
    assert refused.mimetype == "text/html"
    chinese = page(refused)
    assert chinese.html["lang"] == "zh-CN"
    assert "请求过于频繁" in chinese.get_text()

    english = failed_sign_in(client, language="en")
    assert english.status_code == 429
    assert page(english).html["lang"] == "en"
    assert "Too many requests" in page(english).get_text()

    # Another address has its own budget, and reading the sign-in page is never limited.
    assert failed_sign_in(client, address="192.0.2.11").status_code == 401
    assert client.get("/login", environ_base={"REMOTE_ADDR": "192.0.2.10"}).status_code == 200


def test_api_calls_are_limited_per_token_in_json(make_app):
    client = limited(make_app).test_client()
    headers = {"Authorization": "Bearer trk_not-a-real-token", "Accept-Language": "en"}
    assert [client.get("/api/v1/items", headers=headers).status_code for _ in range(3)] == [
        401,
        401,
        401,
    ]
    refused = client.get("/api/v1/items", headers=headers)
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    assert refused.get_json() == {
        "error": {
            "code": "rate_limited",
            "message": "Too many requests with this token: wait a moment and retry.",
        }
    }
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Content-Security-Policy"]


def test_a_storage_outage_falls_back_to_memory(make_app):
    """Redis down: sign-in still answers (never a 500), counted in this process meanwhile."""
    client = limited(make_app, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()
    statuses = [failed_sign_in(client).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def redis_client():
    """The local Redis, or a skip (a failure under CI) with the reason."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        reason = f"Redis at {REDIS_URL} is unreachable: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the Redis rate-limit test)", pytrace=False)
        pytest.skip(f"{reason}; start redis-server to run this test (CI fails here)")
    return client


def test_limits_are_shared_through_redis(make_app):
    """Two workers (two apps, each with its own storage connection) share one budget."""
    redis = redis_client()
    prefix = f"tracker-test-{uuid.uuid4().hex}"
    settings = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    try:
        first_worker = limited(make_app, **settings).test_client()
        assert [failed_sign_in(first_worker).status_code for _ in range(2)] == [401, 401]
        assert type(limiter.storage).__name__ == "RedisStorage"
        keys = [key.decode() for key in redis.scan_iter(match=f"*{prefix}*")]
        assert keys, "no rate-limit counter in Redis"

        # A second worker starts: with memory:// it would count from zero.
        second_worker = limited(make_app, **settings).test_client()
        assert failed_sign_in(second_worker).status_code == 401
        assert failed_sign_in(second_worker).status_code == 429
        assert failed_sign_in(first_worker).status_code == 429
    finally:
        for key in redis.scan_iter(match=f"*{prefix}*"):
            redis.delete(key)
        redis.close()


def test_password_changes_are_limited_like_sign_in(make_app):
    """The current password can be guessed on the change form: it is limited the same way."""
    from tests.hardening.test_sessions import create_side_user
    from tests.helpers import post_form

    app = limited(make_app)
    email = create_side_user(app, f"limit-{uuid.uuid4().hex[:8]}@test.example.org")
    client = app.test_client()
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302
    guess = {"current_password": "a-guess", "new_password": "x" * 12, "confirm": "x" * 12}
    statuses = [post_form(client, "/account/password", guess).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/account/password").status_code == 200  # the form itself stays readable
