"""The foundation commands: bootstrap --demo, create-unit, create-user."""

from __future__ import annotations

from sqlalchemy import func, select

from tracker.models import Role, Unit, UnitKind, User
from tracker.services.demo import DEMO_UNITS, demo_people


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["tracker", *args], input=input)


def count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


def test_bootstrap_demo_creates_the_bureau_once(app, db_session):
    result = run(app, "bootstrap", "--demo")
    assert result.exit_code == 0, result.output
    assert "Demo bureau created." in result.output
    people = demo_people()
    for person in people:
        assert person.email in result.output
    assert count(db_session, Unit) == len(DEMO_UNITS)
    assert count(db_session, User) == len(people)

    kinds = dict(db_session.execute(select(Unit.code, Unit.kind)).all())
    assert kinds["FGK"] == UnitKind.SECTION and kinds["JCDD"] == UnitKind.BRIGADE
    assert sum(kind == UnitKind.SECTION for kind in kinds.values()) >= 5  # 法规科 + 4 business
    assert sum(kind == UnitKind.STATION for kind in kinds.values()) >= 4
    roles = [role for (role,) in db_session.execute(select(User.role))]
    assert roles.count(Role.ADMIN) == 1 and roles.count(Role.LEADER) == 1
    assert roles.count(Role.INSPECTOR) == 2
    for code, *_ in DEMO_UNITS[1:]:
        unit_roles = set(
            db_session.scalars(select(User.role).join(User.unit).where(Unit.code == code))
        )
        assert {Role.CHIEF, Role.STAFF} <= unit_roles, code

    again = run(app, "bootstrap", "--demo")
    assert again.exit_code == 0 and "already present" in again.output
    assert count(db_session, User) == len(people)


def test_demo_sign_in_works(app, client, db_session):
    from tests.helpers import post_form

    run(app, "bootstrap", "--demo")
    chief = next(p for p in demo_people() if p.role == Role.CHIEF)
    response = post_form(
        client, "/login", {"email": chief.email, "password": app.config["DEMO_PASSWORD"]}
    )
    assert response.status_code == 302
    landing = client.get("/", follow_redirects=True)  # a chief lands on the checklist
    assert landing.status_code == 200 and chief.name in landing.get_data(as_text=True)


def test_create_unit_and_user(app, db_session):
    assert (
        run(app, "create-unit", "--code", "top", "--name", "局", "--kind", "bureau").exit_code == 0
    )
    result = run(app, "create-unit", "--code", "sub", "--name", "科", "--parent", "TOP")
    assert result.exit_code == 0 and "Created unit SUB" in result.output
    result = run(
        app,
        "create-user",
        "--email",
        "A@Test.example.org",
        "--name",
        "甲",
        "--role",
        "chief",
        "--unit",
        "SUB",
        "--password-stdin",
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    user = db_session.scalar(select(User).where(User.email == "a@test.example.org"))
    assert user.role == Role.CHIEF and user.unit.code == "SUB"


def test_create_user_errors_are_clear(app, db_session):
    result = run(
        app,
        "create-user",
        "--email",
        "b@test.example.org",
        "--name",
        "乙",
        "--role",
        "staff",
        "--unit",
        "NOPE",
        "--password-stdin",
        input="x" * 12,
    )
    assert result.exit_code == 1 and "no unit with code NOPE" in result.output
    run(app, "create-unit", "--code", "U1", "--name", "科")
    result = run(
        app,
        "create-user",
        "--email",
        "b@test.example.org",
        "--name",
        "乙",
        "--role",
        "staff",
        "--unit",
        "U1",
        "--password-stdin",
        input="short\n",
    )
    assert result.exit_code == 1 and "密码至少需要 10 个字符" in result.output
    assert count(db_session, User) == 0
