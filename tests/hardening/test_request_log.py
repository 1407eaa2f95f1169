"""Structured logs: one JSON line per request with its id, and no secret in any line."""

from __future__ import annotations

import json
import logging
import re

from tests.factories import PASSWORD
from tests.helpers import post_form
from tracker.models import Role
from tracker.services import api_tokens


def entries(log_output) -> list[dict]:
    """Every line written, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]


def request_lines(log_output) -> list[dict]:
    return [entry for entry in entries(log_output) if entry["logger"] == "tracker.request"]


def test_one_json_line_per_request_with_its_id(client, log_output):
    response = client.get("/login?next=/items/")
    (line,) = request_lines(log_output)
    assert set(line) >= {
        "timestamp",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
    }
    assert (line["level"], line["method"], line["path"], line["status"]) == (
        "INFO",
        "GET",
        "/login",  # never the query string
        200,
    )
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert response.headers["X-Request-ID"] == line["request_id"]
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["timestamp"].endswith("+00:00")
    assert "user_id" not in line  # anonymous


def test_a_well_formed_incoming_request_id_is_kept(client, log_output):
    response = client.get("/healthz", headers={"X-Request-ID": "proxy-7f3a.42:1"})
    assert response.headers["X-Request-ID"] == "proxy-7f3a.42:1"
    assert request_lines(log_output)[-1]["request_id"] == "proxy-7f3a.42:1"


def test_a_malformed_incoming_request_id_is_replaced(client, log_output):
    for hostile in ("x" * 65, "a b", 'x"} {"level":"ERROR"', "<script>", "ä"):
        response = client.get("/healthz", headers={"X-Request-ID": hostile})
        generated = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated), hostile
        assert request_lines(log_output)[-1]["request_id"] == generated
    assert all(entry["logger"] == "tracker.request" for entry in entries(log_output))


def test_the_line_names_the_user_of_the_session_or_token(
    client, chief_client, bureau, db_session, log_output
):
    chief = bureau.user(Role.CHIEF)
    chief_client.get("/items/")
    _token, secret = api_tokens.create(
        db_session, actor=None, user=chief, name="log", now=chief.created_at
    )
    db_session.commit()
    client.get("/api/v1/items", headers={"Authorization": f"Bearer {secret}"})
    web, api = request_lines(log_output)
    assert web["user_id"] == chief.id and web["path"] == "/items/"
    assert api["user_id"] == chief.id and api["path"] == "/api/v1/items"


def test_lines_logged_during_a_request_carry_its_id(app, log_output):
    with app.test_request_context("/items/", headers={"X-Request-ID": "trace-1"}):
        logging.getLogger("tracker.services.example").warning("something to look at")
    (line,) = entries(log_output)
    assert line["request_id"] == "trace-1" and line["path"] == "/items/"
    assert (line["level"], line["logger"]) == ("WARNING", "tracker.services.example")


def test_server_errors_are_logged_as_errors(app, log_output):
    with app.test_request_context("/boom"):
        response = app.process_response(app.response_class("x", status=503))
    line = request_lines(log_output)[-1]
    assert (line["level"], line["status"]) == ("ERROR", 503)
    assert response.headers["X-Request-ID"] == line["request_id"]


def test_secrets_never_reach_the_log(app, client, bureau, db_session, log_output):
    """Sign in, fail a sign-in, change the password, use an API token and a calendar feed."""
    from tracker.clock import now
    from tracker.reports.feed import create_feed

    chief = bureau.user(Role.CHIEF)
    wrong_password = "Wrong-Password-Attempt-77"
    new_password = "A-brand-new-password-2026"
    _token, api_secret = api_tokens.create(db_session, actor=None, user=chief, name="x", now=now())
    feed_token = create_feed(db_session, actor=chief, now=now())
    db_session.commit()

    failed = post_form(client, "/login", {"email": chief.email, "password": wrong_password})
    assert failed.status_code == 401
    signed_in = post_form(client, "/login", {"email": chief.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    changed = post_form(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": new_password, "confirm": new_password},
    )
    assert changed.status_code == 302
    bearer = {"Authorization": f"Bearer {api_secret}"}
    assert client.get("/api/v1/items", headers=bearer).status_code == 200
    assert client.get(f"/api/v1/items?token={api_secret}", headers=bearer).status_code == 200
    wrong_bearer = {"Authorization": "Bearer trk_" + "x" * 40}
    assert client.get("/api/v1/items", headers=wrong_bearer).status_code == 401
    assert client.get(f"/reports/feed/{feed_token}.ics").status_code == 200
    # Code that carelessly logs a secret still does not leak it.
    with app.test_request_context("/"):
        logging.getLogger("tracker.careless").warning(
            "token %s with key %s, password=%s", api_secret, app.config["SECRET_KEY"], PASSWORD
        )

    text = log_output.getvalue()
    paths = [(e["method"], e["path"], e["status"]) for e in request_lines(log_output)]
    assert ("POST", "/login", 401) in paths and ("POST", "/login", 302) in paths
    assert ("POST", "/account/password", 302) in paths
    assert ("GET", "/api/v1/items", 200) in paths and ("GET", "/api/v1/items", 401) in paths
    assert ("GET", "/reports/feed/***.ics", 200) in paths
    assert "tracker.careless" in text
    for secret in (
        PASSWORD,
        wrong_password,
        new_password,
        api_secret,
        api_secret.removeprefix("trk_"),
        feed_token,
        app.config["SECRET_KEY"],
    ):
        assert secret not in text
    # The request lines are the only trace of the traffic (plus the one careless line).
    assert len(entries(log_output)) == len(paths) + 1
