"""The authorization matrix: every route declares who may use it, and every route is called as
every role (and anonymously) with objects of the caller's own unit and of another unit.

The expected answer of each (route, method, role, object) is data generated from the route's
declaration (`tracker.guards.Access`), the role permissions (`tracker.permissions`) and the
scoping rules written out below, independently of the guards' code: chiefs and officers of SEC
see SEC's items, evidence and cases and not STA's; API tokens are visible to their owner only.
Forbidden calls must answer 403, or 404 for objects the caller may not see, and change nothing.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient

from tests.security.world import HOLIDAY, PDF, ROLES, World, audit_count, build_world
from tracker import create_app
from tracker.config import TestConfig
from tracker.guards import PUBLIC, SIGNED_IN, Access, access_of
from tracker.models import Role
from tracker.permissions import ROLE_PERMISSIONS

# Served by Flask and Bootstrap-Flask themselves: open to everyone by design (CSS, JS, fonts).
STATIC_ENDPOINTS = frozenset({"static", "bootstrap.static"})
API_PREFIX = "/api/v1"
# URL arguments naming objects that belong to a unit, or to a person.
UNIT_SCOPED_ARGS = frozenset({"item_id", "evidence_id", "case_id"})
PERSONAL_ARGS = frozenset({"token_id"})
# Routes naming objects in their form rather than their URL: the role check comes first (the
# route itself is forbidden), then objects the caller may not see are 404.
FORM_OBJECTS = {"items.bulk_assign": "item_id"}
# Roles whose view is limited to their own unit (SEC, in the test bureau).
SCOPED_ROLES = frozenset({"chief", "staff"})

OK = "ok"  # any answer but 401/403/404/5xx and the sign-in redirect
LOGIN = "login"  # the web pages send anonymous visitors to the sign-in page


def _url_map_app() -> Flask:
    """An app built only to read its URL map at collection time (it touches no database)."""
    root = Path(tempfile.mkdtemp(prefix="tracker-urlmap-"))
    return create_app(TestConfig(instance_path=root / "instance", database_url="sqlite://"))


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    method: str
    arguments: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.rule.startswith(API_PREFIX + "/")

    @property
    def variants(self) -> tuple[str, ...]:
        if (
            set(self.arguments) & (UNIT_SCOPED_ARGS | PERSONAL_ARGS)
            or self.endpoint in FORM_OBJECTS
        ):
            return ("own", "other")
        return ("-",)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


_APP = _url_map_app()
ROUTES = sorted(
    (
        Route(rule.endpoint, rule.rule, method, tuple(sorted(rule.arguments)))
        for rule in _APP.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ),
    key=lambda r: (r.rule, r.method),
)
DECLARATIONS: dict[str, Access | None] = {
    endpoint: access_of(view) for endpoint, view in _APP.view_functions.items()
}


def test_every_route_declares_who_may_use_it():
    undeclared = [
        str(route)
        for route in ROUTES
        if route.endpoint not in STATIC_ENDPOINTS and DECLARATIONS[route.endpoint] is None
    ]
    assert undeclared == []
    # Every declaration is one of the three kinds, and object rules come with their objects.
    for endpoint, access in DECLARATIONS.items():
        if access is None:
            continue
        assert isinstance(access, Access), endpoint
        assert access.level in {PUBLIC, SIGNED_IN, "permission"}, endpoint
        assert (access.permission is None) == (access.level != "permission"), endpoint
        assert access.rule is None or access.objects, endpoint


def test_routes_naming_objects_load_them_through_the_guard():
    """An object id in a URL is loaded (and scoped) by the declaration, never by hand."""
    unguarded = []
    for route in ROUTES:
        access = DECLARATIONS[route.endpoint]
        if access is None or access.level == PUBLIC:
            continue
        named = {a for a in route.arguments if a.endswith("_id")}
        declared = {arg for arg, _model in access.objects}
        if named - declared:
            unguarded.append((str(route), sorted(named - declared)))
    assert unguarded == []


# ---------------------------------------------------------------- the matrix as data


def _sees(role: str, route: Route, variant: str) -> bool:
    if set(route.arguments) & PERSONAL_ARGS:
        return variant == "own"
    if set(route.arguments) & UNIT_SCOPED_ARGS or route.endpoint in FORM_OBJECTS:
        return variant == "own" or role not in SCOPED_ROLES
    return True


def expected(route: Route, role: str, variant: str) -> str | int:
    """What the declaration and the scoping rules say this caller gets (OK, LOGIN or a status).

    Routes with an object rule get "rule": allowed only if the rule allows this user on this
    object, which the test evaluates against the objects it made.
    """
    access = DECLARATIONS[route.endpoint]
    if route.endpoint in STATIC_ENDPOINTS or (access is not None and access.level == PUBLIC):
        return OK
    assert access is not None
    if role == "anonymous":
        return 401 if route.is_api else LOGIN
    permitted = access.permission is None or access.permission in ROLE_PERMISSIONS[Role(role)]
    if route.endpoint in FORM_OBJECTS and not permitted:
        return 403
    if not _sees(role, route, variant):
        return 404
    if not permitted:
        return 403
    return "rule" if access.rule is not None else OK


MATRIX: dict[Route, dict[tuple[str, str], str | int]] = {
    route: {
        (role, variant): expected(route, role, variant)
        for role in ROLES
        for variant in route.variants
    }
    for route in ROUTES
}


def test_the_matrix_covers_the_cases_that_matter():
    """Spot checks of the generated data against the roles' job descriptions."""
    by_endpoint = {(r.endpoint, r.method): cells for r, cells in MATRIX.items()}
    detail = by_endpoint[("items.detail", "GET")]
    assert detail[("chief", "other")] == 404 and detail[("chief", "own")] == OK
    assert detail[("leader", "other")] == OK and detail[("anonymous", "own")] == LOGIN
    review = by_endpoint[("items.review", "POST")]
    assert review[("staff", "own")] == 403 and review[("staff", "other")] == 404
    assert review[("inspector", "other")] == "rule"
    assert by_endpoint[("api.get_item", "GET")][("anonymous", "own")] == 401
    assert by_endpoint[("admin.users", "GET")][("leader", "-")] == 403
    revoke = by_endpoint[("main.revoke_api_token", "POST")]
    assert revoke[("admin", "other")] == 404 and revoke[("staff", "own")] == OK


# ---------------------------------------------------------------- calling the routes


def _url_values(route: Route, world: World, role: str, variant: str) -> dict:
    side = "own" if variant == "-" else variant
    token_owner = role if role != "anonymous" else "chief"
    values = {
        "item_id": world.items[side].id,
        "evidence_id": world.evidence[side].id,
        "case_id": world.cases[side].id,
        "token_id": world.tokens[token_owner if side == "own" else "other"][0].id,
        "unit_id": world.bureau.station.id,
        "user_id": world.bureau.users["other_chief"].id,
        "requirement_id": world.requirement_id,
        "template_id": world.template_id,
        "exclusion_id": world.exclusion_id,
        "notification_id": world.notification_id,
        "sample_id": world.sample_id,
        "entry_id": world.entry_id,
        "day": HOLIDAY.isoformat(),
        "token": world.feed_token,
    }
    if route.endpoint == "api.docs_asset":
        values["filename"] = "swagger-ui.css"
    elif route.endpoint == "static":
        values["filename"] = "favicon.svg"
    elif route.endpoint == "bootstrap.static":
        values["filename"] = "css/bootstrap.min.css"
    return {arg: values[arg] for arg in route.arguments}


def _form(route: Route, world: World, side: str) -> dict:
    """A complete, valid form for the route, so that a missing check would change something."""
    staff = world.bureau.user(Role.STAFF)
    forms = {
        "items.comment": {"body": "评论"},
        "items.assign": {"assignee_id": str(staff.id)},
        "items.submit": {"note": "请审核"},
        "items.review": {"decision": "approve", "comment": "好"},
        "items.reopen": {"reason": "发现问题"},
        "items.add_link": {"url": "https://example.org/x", "title": "公示"},
        "items.set_value": {"value": "1"},
        "items.bulk_assign": {
            "item_ids": [str(world.items[side].id)],
            "assignee_id": str(staff.id),
        },
        "cases.edit": {"case_no": "改〔2026〕1号", "decided_on": "2026-10-09", "party": "某公司"},
        "main.api_tokens": {"name": "script"},
        "admin.outbox_retry": {},
    }
    return forms.get(route.endpoint, {})


def send(app: Flask, world: World, route: Route, role: str, variant: str):
    from flask import url_for

    with app.test_request_context():
        url = url_for(route.endpoint, **_url_values(route, world, role, variant))
    client = world.client(app, role)
    # Not the conftest client's override: the request's own context stays until it is read.
    get = partial(FlaskClient.open, client, method="GET")
    post = partial(FlaskClient.open, client, method="POST")
    if route.is_api:
        headers = {}
        if role != "anonymous":
            headers["Authorization"] = f"Bearer {world.tokens[role][1]}"
        if route.method == "GET":
            return get(url, headers=headers)
        if route.endpoint == "api.upload_evidence":
            return post(
                url,
                data={"file": (io.BytesIO(PDF), "api.pdf")},
                content_type="multipart/form-data",
                headers=headers,
            )
        body = {"decision": "approve"} if route.endpoint == "api.review_item" else {}
        if route.endpoint == "api.create_case":
            body = {"case_no": "接口〔2026〕1号", "unit": "STA", "decided_on": "2026-10-09"}
        return post(url, json=body, headers=headers)
    if route.method == "GET":
        return get(url)
    side = "other" if variant == "other" else "own"
    data = {**_form(route, world, side), "csrf_token": world.csrf[role]}
    if route.endpoint == "items.upload_evidence":
        data["files"] = (io.BytesIO(PDF), "upload.pdf")
        return post(url, data=data, content_type="multipart/form-data")
    return post(url, data=data)


def call(app: Flask, world: World, route: Route, role: str, variant: str):
    """Send the request and read its whole body in the request's own context (streamed
    exports run their generator while being read; see tests/integration/test_samples_web)."""
    token = _cv_app.set(None)
    try:
        response = send(app, world, route, role, variant)
        response.get_data()  # in the request's context: not the conftest client's override
        response.close()
    finally:
        _cv_app.reset(token)
    return response


def outcome(route: Route, role: str, response) -> str | int:
    status = response.status_code
    if route.endpoint == "auth.logout" and role != "anonymous" and status in (302, 303):
        return OK  # signing out ends on the sign-in page
    if status in (401, 403, 404) or status >= 500:
        return status
    if status in (301, 302, 303) and "/login" in response.headers.get("Location", ""):
        return LOGIN
    return OK


def _rule_allows(route: Route, world: World, role: str, variant: str) -> bool:
    access = DECLARATIONS[route.endpoint]
    assert access is not None and access.rule is not None
    arg = access.objects[0][0]
    side = "own" if variant == "-" else variant
    obj = {"item_id": world.items, "evidence_id": world.evidence, "case_id": world.cases}[arg]
    user = world.user(role)
    return bool(access.rule(user, obj[side]))


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_answers_every_caller_as_declared(app, db_session, clock, bureau, route):
    world = build_world(db_session, bureau)
    for role, _variant in MATRIX[route]:
        world.client(app, role)  # signed in before the savepoints below roll their writes back
    wrong = {}
    for (role, variant), want in MATRIX[route].items():
        if want == "rule":
            want = OK if _rule_allows(route, world, role, variant) else 403
        nested = db_session.begin_nested()
        try:
            before = audit_count(db_session)
            response = call(app, world, route, role, variant)
            got = outcome(route, role, response)
            changed = audit_count(db_session) - before
        finally:
            nested.rollback()
        if got != want:
            wrong[(role, variant)] = f"expected {want}, got {response.status_code}"
        elif want != OK and changed:
            wrong[(role, variant)] = f"refused with {response.status_code} but wrote {changed}"
    assert wrong == {}


def test_the_matrix_posts_with_a_token_the_app_accepts(app, db_session, clock, bureau):
    """Allowed POSTs count as allowed whatever they answer: prove the CSRF token is good, so an
    "allowed" 400 in the matrix is the form's verdict, not a refused token."""
    from sqlalchemy import func, select

    from tracker.models import Comment

    world = build_world(db_session, bureau)
    route = next(r for r in ROUTES if r.endpoint == "items.comment")
    for role in ("admin", "chief", "staff", "leader", "inspector"):
        response = call(app, world, route, role, "own")
        assert response.status_code == 303, role
    count = db_session.scalar(select(func.count()).select_from(Comment))
    assert count == 5
    client = world.client(app, "chief")
    refused = client.post(route.rule.replace("<int:item_id>", str(world.items["own"].id)))
    assert refused.status_code == 400  # no token: refused before the view
