"""Admin catalogue pages: browse, search, filter, edit with versions, (de)activate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_requirement
from tests.helpers import count_statements, flashes, page, post_form
from tracker.models import AuditEvent, Requirement, RequirementVersion


@pytest.fixture
def requirements(db_session, bureau):
    made = {
        "GS-90": make_requirement(
            db_session, "GS-90", title_zh="执法公示测试", legal_basis="行政处罚法"
        ),
        "JL-90": make_requirement(
            db_session, "JL-90", family="recording", cadence="annual", title_en="Recording review"
        ),
        "KH-90": make_requirement(
            db_session,
            "KH-90",
            family="assessment",
            cadence="annual",
            kind="count",
            target_count=4,
        ),
    }
    db_session.commit()
    return made


def codes(response) -> list[str]:
    return [c.get_text(strip=True) for c in page(response).select("tbody tr td:first-child code")]


def edit_data(requirement: Requirement, **overrides) -> dict:
    data = {
        "title_zh": requirement.title_zh,
        "title_en": requirement.title_en,
        "description_zh": requirement.description_zh,
        "description_en": requirement.description_en,
        "legal_basis": requirement.legal_basis,
        "evidence_hint_zh": requirement.evidence_hint_zh,
        "evidence_hint_en": requirement.evidence_hint_en,
        "owners": ", ".join(requirement.owners),
        "deadline": "{type: working_days, days: 20}",
        "target_count": "" if requirement.target_count is None else str(requirement.target_count),
    }
    data.update(overrides)
    return data


def errors_of(response, field_id: str) -> list[str]:
    return [
        e.get_text(strip=True) for e in page(response).select(f"#{field_id} ~ .invalid-feedback")
    ]


def test_search_and_filters(admin_client, requirements):
    assert codes(admin_client.get("/admin/requirements")) == ["GS-90", "JL-90", "KH-90"]
    assert codes(admin_client.get("/admin/requirements?q=公示")) == ["GS-90"]
    assert codes(admin_client.get("/admin/requirements?q=行政处罚")) == ["GS-90"]
    assert codes(admin_client.get("/admin/requirements?q=recording")) == ["JL-90"]
    assert codes(admin_client.get("/admin/requirements?family=assessment")) == ["KH-90"]
    assert codes(admin_client.get("/admin/requirements?cadence=annual")) == ["JL-90", "KH-90"]
    assert codes(admin_client.get("/admin/requirements?cadence=bogus")) == [
        "GS-90",
        "JL-90",
        "KH-90",
    ]
    empty = admin_client.get("/admin/requirements?q=nothing-like-this")
    assert codes(empty) == [] and "没有符合条件的要求" in empty.get_data(as_text=True)


def test_edit_makes_a_new_version_and_keeps_the_old_rule(admin_client, requirements, db_session):
    requirement = requirements["GS-90"]
    url = f"/admin/requirements/{requirement.id}"
    form = page(admin_client.get(url))
    assert form.select_one("#deadline")["value"] == "{days: 20, type: working_days}"
    response = post_form(
        admin_client,
        url,
        edit_data(requirement, title_zh="新标题", deadline="{type: working_days, days: 15}"),
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert any("版本 2" in f for f in flashes(response))
    db_session.expire_all()
    requirement = db_session.get(Requirement, requirement.id)
    assert (requirement.version, requirement.title_zh) == (2, "新标题")
    assert requirement.deadline_rule == {"type": "working_days", "days": 15}
    versions = db_session.scalars(
        select(RequirementVersion)
        .where(RequirementVersion.requirement_id == requirement.id)
        .order_by(RequirementVersion.version)
    ).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].snapshot["deadline"] == {"type": "working_days", "days": 20}
    assert len(page(response).select("#versions li")) == 2
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "requirement.updated"))
    assert event.data["changes"]["title_zh"] == ["执法公示测试", "新标题"]

    unchanged = post_form(
        admin_client,
        url,
        edit_data(requirement, deadline="{type: working_days, days: 15}"),
        follow_redirects=True,
    )
    assert any("没有改动" in f for f in flashes(unchanged))
    assert db_session.get(Requirement, requirement.id).version == 2


def test_bad_edits_show_the_validators_messages_and_change_nothing(
    admin_client, requirements, db_session
):
    requirement = requirements["KH-90"]
    url = f"/admin/requirements/{requirement.id}"
    cases = [
        ({"title_zh": ""}, "title_zh"),
        ({"deadline": "not: [a mapping"}, "deadline"),
        ({"deadline": "{type: fortnightly}"}, "deadline"),
        ({"owners": "NO SUCH UNIT!"}, "owners"),
        ({"target_count": "four"}, "target_count"),
    ]
    for overrides, field_id in cases:
        response = post_form(admin_client, url, edit_data(requirement, **overrides))
        assert response.status_code == 200, overrides
        assert errors_of(response, field_id), (overrides, response.get_data(as_text=True)[:2000])
    db_session.expire_all()
    assert db_session.get(Requirement, requirement.id).version == 1


def test_deactivate_and_activate(admin_client, requirements, db_session):
    requirement = requirements["JL-90"]
    url = f"/admin/requirements/{requirement.id}/active"
    response = post_form(
        admin_client,
        url,
        {"active": "0", "next": "/admin/requirements?state=inactive"},
        form_url="/admin/requirements",
        follow_redirects=True,
    )
    assert response.request.full_path.startswith("/admin/requirements?state=inactive")
    assert codes(response) == ["JL-90"]
    db_session.expire_all()
    assert db_session.get(Requirement, requirement.id).active is False
    assert codes(admin_client.get("/admin/requirements?state=active")) == ["GS-90", "KH-90"]

    outside = post_form(
        admin_client,
        url,
        {"active": "1", "next": "https://evil.example.com/"},
        form_url="/admin/requirements",
    )
    assert outside.headers["Location"].endswith("/admin/requirements")
    db_session.expire_all()
    assert db_session.get(Requirement, requirement.id).active is True
    assert db_session.get(Requirement, requirement.id).version == 3


def test_non_admins_are_refused_and_missing_requirements_are_404(
    app, chief_client, inspector_client, admin_client, requirements
):
    rid = requirements["GS-90"].id
    for client in (chief_client, inspector_client):
        assert client.get("/admin/requirements").status_code == 403
        assert client.get(f"/admin/requirements/{rid}").status_code == 403
        assert client.get("/admin/requirements/999999").status_code == 404
    assert admin_client.get("/admin/requirements/999999").status_code == 404
    # CSRF: a post without the token changes nothing.
    response = admin_client.post(f"/admin/requirements/{rid}/active", data={"active": "0"})
    assert response.status_code == 400
    assert requirements["GS-90"].active is True


def test_list_and_edit_pages_cost_a_fixed_number_of_statements(admin_client, db_session, bureau):
    def cost(url: str) -> int:
        admin_client.get(url)
        with count_statements() as counter:
            assert admin_client.get(url).status_code == 200
        return counter.count

    first = make_requirement(db_session, "QT-01")
    db_session.commit()
    small = cost("/admin/requirements"), cost(f"/admin/requirements/{first.id}")
    for n in range(2, 40):
        make_requirement(db_session, f"QT-{n:02d}")
    db_session.commit()
    assert (cost("/admin/requirements"), cost(f"/admin/requirements/{first.id}")) == small
    assert small[0] <= 6
