"""A hypothesis run over every web form: the forms are read from the pages that show them (as a
browser would), then sent with generated values (odd Unicode, NUL and control characters, huge
and empty values, numbers and dates out of range, missing fields, random files) with a valid
CSRF token. No combination may make the app answer 5xx (the test app re-raises errors)."""

from __future__ import annotations

import io
import os
from urllib.parse import urlencode, urlsplit

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import T0
from tests.helpers import page
from tests.security.world import build_world
from tracker.models import Role
from tracker.services import submissions

# Modest by default (the suite runs in minutes); TRACKER_FUZZ_EXAMPLES=200 for a longer hunt.
EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "12"))
# Pages showing forms, with the role that sees them; {placeholders} name the world's objects.
FORM_PAGES = [
    ("chief", "/items/{item}"),
    ("inspector", "/items/{item}"),
    ("admin", "/items/{item}"),
    ("chief", "/items/"),
    ("chief", "/cases/"),
    ("chief", "/cases/new"),
    ("chief", "/cases/{case}/edit"),
    ("chief", "/cases/import"),
    ("chief", "/account/tokens"),
    ("chief", "/account/notifications"),
    ("chief", "/account/password"),
    ("chief", "/reports/feed"),
    ("admin", "/admin/units/new"),
    ("admin", "/admin/units/{unit}/edit"),
    ("admin", "/admin/users/new"),
    ("admin", "/admin/users/{user}/edit"),
    ("admin", "/admin/users"),
    ("admin", "/admin/requirements"),
    ("admin", "/admin/requirements/{requirement}"),
    ("admin", "/admin/calendar"),
    ("admin", "/admin/reasons"),
    ("admin", "/admin/reasons/new"),
    ("admin", "/admin/exclusions"),
    ("admin", "/admin/reminders"),
    ("admin", "/admin/outbox"),
    ("admin", "/admin/outbox/{notification}"),
    ("admin", "/audit/"),
    ("admin", "/reports/"),
    ("admin", "/reports/narrative"),
    ("admin", "/dashboard/"),
    ("admin", "/dashboard/scores"),
    ("admin", "/dashboard/scores/weights"),
    ("inspector", "/review/"),
    ("inspector", "/review/samples"),
    ("inspector", "/review/samples/{sample}"),
    ("inspector", "/review/package"),
    ("anonymous", "/login"),
]
# Forms that would end the test's session, not exercise the app.
SKIPPED_ACTIONS = ("/logout", "/language")

odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40
)  # any character a form can carry (lone surrogates cannot be encoded)
values = st.one_of(
    odd_text,
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "99999999999999999999",
            "1e309",
            "NaN",
            "2026-02-30",
            "9999-12-31",
            "0001-01-01",
            "\x00",
            "a\x00b",
            "\u202e",
            "<script>x</script>",
            "=1+2",
            "../../x",
            "%s%n",
            "null",
            "[]",
            "{}",
            "true",
        ]
    ),
    st.text(max_size=1).map(lambda c: (c or "x") * 5000),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
)


def _forms(html: str, page_url: str) -> list[dict]:
    """(method, action, fields, options, files) of every form on the page."""
    forms = []
    for form in page_from(html).find_all("form"):
        action = form.get("action") or page_url
        if action.startswith(SKIPPED_ACTIONS) or urlsplit(action).netloc:
            continue
        fields, options, files = {}, {}, []
        for element in form.find_all(["input", "select", "textarea"]):
            name = element.get("name")
            if not name:
                continue
            kind = (element.get("type") or "").lower()
            if kind == "file":
                files.append(name)
                continue
            if element.name == "select":
                choices = [o.get("value", o.get_text()) for o in element.find_all("option")]
                options[name] = choices
                selected = element.find("option", selected=True)
                fields[name] = selected.get("value", "") if selected else (choices or [""])[0]
            elif element.name == "textarea":
                fields[name] = element.get_text()
            elif kind in ("checkbox", "radio"):
                options.setdefault(name, []).append(element.get("value", "y"))
                if element.has_attr("checked") or name not in fields:
                    fields[name] = element.get("value", "y")
            else:
                fields[name] = element.get("value", "")
        forms.append(
            {
                "method": (form.get("method") or "get").upper(),
                "action": action,
                "fields": fields,
                "options": options,
                "files": files,
            }
        )
    return forms


def page_from(html: str):
    class _Response:
        def get_data(self, as_text: bool = False):
            return html

    return page(_Response())


@st.composite
def submissions_for(draw, form: dict) -> tuple[dict, list]:
    """The form's fields, each kept, dropped, given another choice or a generated value."""
    data = {}
    for name, default in form["fields"].items():
        if name == "csrf_token":
            continue
        how = draw(st.sampled_from(["keep", "keep", "drop", "fuzz", "fuzz", "choice"]))
        if how == "keep":
            data[name] = default
        elif how == "fuzz":
            data[name] = draw(values)
        elif how == "choice" and form["options"].get(name):
            data[name] = draw(st.sampled_from(form["options"][name]))
        elif how == "choice":
            data[name] = [draw(values), draw(values)]  # a field sent twice
    files = [
        (
            name,
            draw(st.binary(max_size=300)),
            draw(odd_text)
            + draw(st.sampled_from([".pdf", ".csv", ".svg", ".html", "", ".png", ".exe"])),
        )
        for name in form["files"]
        if draw(st.booleans())
    ]
    return data, files


def _send(client: FlaskClient, form: dict, data: dict, files: list, token: str):
    token_ctx = _cv_app.set(None)
    try:
        if form["method"] == "GET":
            query = urlencode(
                [(k, v) for k, vs in data.items() for v in (vs if isinstance(vs, list) else [vs])]
            )
            response = FlaskClient.open(client, f"{form['action'].split('?')[0]}?{query}")
        else:
            body = {**data, "csrf_token": token}
            for name, content, filename in files:
                body[name] = (io.BytesIO(content), filename)
            response = FlaskClient.open(
                client,
                form["action"],
                method="POST",
                data=body,
                content_type="multipart/form-data" if files else None,
            )
        response.get_data()
        response.close()
    finally:
        _cv_app.reset(token_ctx)
    return response


@pytest.mark.parametrize(("role", "path"), FORM_PAGES, ids=lambda v: str(v))
def test_no_form_input_makes_a_server_error(app, db_session, clock, bureau, role, path):
    world = build_world(db_session, bureau)
    if role == "inspector":  # a submitted item shows the review form
        submissions.submit(
            db_session, actor=bureau.user(Role.CHIEF), item=world.items["own"], note=None, now=T0
        )
        db_session.commit()
    url = path.format(
        item=world.items["own"].id,
        case=world.cases["own"].id,
        unit=bureau.station.id,
        user=bureau.users["other_chief"].id,
        requirement=world.requirement_id,
        notification=world.notification_id,
        sample=world.sample_id,
    )
    client = world.client(app, role)
    token = world.csrf[role]
    shown = client.get(url)
    assert shown.status_code == 200, url
    forms = _forms(shown.get_data(as_text=True), url)
    assert forms, f"no form on {url}"

    for form in forms:
        _fuzz(client, db_session, form, token)


def _fuzz(client: FlaskClient, db_session, form: dict, token: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(submission=submissions_for(form))
    def sends(submission):
        data, files = submission
        nested = db_session.begin_nested()
        try:
            response = _send(client, form, data, files, token)
        finally:
            nested.rollback()
        assert response.status_code < 500, (form["action"], data)

    sends()
