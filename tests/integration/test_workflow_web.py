"""The item workflow on the item page: submit, review, resubmit, comments, history, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item, make_user
from tests.helpers import count_statements, flashes, page, post_form
from tests.integration.test_submissions import add_evidence
from tracker.models import AuditEvent, Comment, Evidence, ItemStatus, Review, Role, Submission
from tracker.services import comments, reviews, submissions


@pytest.fixture
def staff(bureau):
    return bureau.user(Role.STAFF)


@pytest.fixture
def inspector(bureau):
    return bureau.user(Role.INSPECTOR)


@pytest.fixture
def item(db_session, bureau, staff, clock):
    item = make_item(db_session, unit=bureau.section, assignee_id=staff.id)
    db_session.commit()
    return item


def url(item, action: str = "") -> str:
    return f"/items/{item.id}" + (f"/{action}" if action else "")


def post(client, item, action: str, data: dict | None = None, **kwargs):
    """POST one of the panel's forms as a browser does (CSRF token from the item page)."""
    return post_form(client, url(item, action), data or {}, form_url=url(item), **kwargs)


def status_of(db_session, item) -> ItemStatus:
    db_session.expire_all()
    return db_session.get(type(item), item.id).status


def english(db_session, user) -> None:
    user.locale = "en"
    db_session.commit()


# ---------------------------------------------------------------- refusals with a message


def test_submitting_without_evidence_is_refused_with_a_message(
    staff_client, db_session, item, staff
):
    english(db_session, staff)
    soup = page(staff_client.get(url(item)))
    assert soup.select_one("#submit-form")
    response = post(staff_client, item, "submit")
    assert response.status_code == 303 and response.headers["Location"] == url(item)
    messages = flashes(staff_client.get(url(item)))
    assert any("Add at least one piece of evidence" in m for m in messages), messages
    assert status_of(db_session, item) == ItemStatus.OPEN
    assert db_session.scalar(select(func.count(Submission.id))) == 0


def test_a_return_without_reason_is_refused(
    staff_client, inspector_client, db_session, item, staff, inspector
):
    add_evidence(db_session, item, staff)
    db_session.commit()
    assert post(staff_client, item, "submit").status_code == 303
    english(db_session, inspector)
    response = post(inspector_client, item, "review", {"decision": "return", "comment": "  "})
    assert response.status_code == 303
    messages = flashes(inspector_client.get(url(item)))
    assert any("Give the reason for returning" in m for m in messages), messages
    assert status_of(db_session, item) == ItemStatus.SUBMITTED
    # No decision chosen: refused by the form.
    assert post(inspector_client, item, "review", {"comment": "ok"}).status_code == 303
    assert status_of(db_session, item) == ItemStatus.SUBMITTED
    assert db_session.scalar(select(func.count(Review.id))) == 0


# ---------------------------------------------------------------- the whole cycle


def test_submit_return_resubmit_approve_on_the_page(
    staff_client, inspector_client, chief_client, db_session, item, staff, inspector, clock
):
    first = add_evidence(db_session, item, staff)
    db_session.commit()

    response = post(staff_client, item, "submit", {"note": "请审核"})
    assert response.status_code == 303 and response.headers["Location"] == url(item)
    assert status_of(db_session, item) == ItemStatus.SUBMITTED
    db_session.refresh(first)
    assert first.submitted_round == 1  # frozen with round 1
    soup = page(staff_client.get(url(item)))
    assert not soup.select_one("#submit-form") and soup.select_one("[data-awaiting-review]")

    soup = page(inspector_client.get(url(item)))
    assert soup.select_one("#review-form input[name=csrf_token]")
    assert {i["value"] for i in soup.select("#review-form input[name=decision]")} == {
        "approve",
        "return",
    }
    clock.freeze(T0 + timedelta(hours=2))
    response = post(inspector_client, item, "review", {"decision": "return", "comment": "缺少截图"})
    assert response.status_code == 303
    assert status_of(db_session, item) == ItemStatus.RETURNED

    soup = page(chief_client.get(url(item)))
    alert = soup.select_one("#return-reason")
    assert alert is not None and "alert-warning" in alert["class"]
    assert alert.select_one("[data-reason]").get_text(strip=True) == "缺少截图"
    assert soup.select_one("#submit-form")  # the chief may resubmit
    assert not soup.select_one("#review-form")

    second = add_evidence(db_session, item, staff)
    db_session.commit()
    clock.freeze(T0 + timedelta(hours=4))
    assert post(staff_client, item, "submit").status_code == 303
    db_session.refresh(second)
    assert second.submitted_round == 2
    assert not page(staff_client.get(url(item))).select_one("#return-reason")

    assert post(inspector_client, item, "review", {"decision": "approve"}).status_code == 303
    assert status_of(db_session, item) == ItemStatus.APPROVED

    soup = page(chief_client.get(url(item)))
    rows = soup.select("#rounds tbody tr")
    assert [(r["data-round"], r.get("data-decision")) for r in rows] == [
        ("1", "return"),
        ("2", "approve"),
    ]
    assert rows[0].select_one("[data-reason]").get_text(strip=True) == "缺少截图"
    assert rows[0].select_one("[data-note]").get_text(strip=True) == "请审核"
    assert [r.select_one("[data-evidence-count]").get_text(strip=True) for r in rows] == ["1", "2"]
    assert not soup.select_one("#submit-form") and not soup.select_one("#return-reason")
    actions = [li["data-action"] for li in soup.select("#history [data-action]")]
    assert actions[:4] == ["item.approved", "item.submitted", "item.returned", "item.submitted"]
    details = [d.get_text(strip=True) for d in soup.select("#history [data-detail]")]
    assert "缺少截图" in details[2]

    audited = db_session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "checklist_item", AuditEvent.object_id == str(item.id))
        .order_by(AuditEvent.seq)
    ).all()
    assert audited == ["item.submitted", "item.returned", "item.submitted", "item.approved"]


def test_history_labels_are_english_for_an_english_reader(
    chief_client, db_session, bureau, item, staff
):
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    english(db_session, bureau.user(Role.CHIEF))
    soup = page(chief_client.get(url(item)))
    labels = [s.get_text(strip=True) for s in soup.select("#history [data-label]")]
    assert labels == ["Submitted for review"]
    assert soup.select_one("#rounds").find(string="Round") is not None


# ---------------------------------------------------------------- comments


def test_comments_are_posted_shown_and_audited(
    staff_client, leader_client, db_session, item, staff, bureau
):
    assert post(staff_client, item, "comments", {"body": "已补充材料"}).status_code == 303
    assert post(leader_client, item, "comments", {"body": "请抓紧"}).status_code == 303
    assert post(staff_client, item, "comments", {"body": "   "}).status_code == 303
    soup = page(staff_client.get(url(item)))
    bodies = [b.get_text(strip=True) for b in soup.select("#comments [data-body]")]
    assert bodies == ["已补充材料", "请抓紧"]
    assert soup.select_one("#comment-form textarea[name=body]")
    assert db_session.scalar(select(func.count(Comment.id))) == 2
    history = [li["data-action"] for li in soup.select("#history [data-action]")]
    assert history == ["item.commented", "item.commented"]


# ---------------------------------------------------------------- separation of duties


def test_an_inspector_who_uploaded_evidence_gets_403(
    inspector_client, db_session, bureau, item, staff, inspector
):
    add_evidence(db_session, item, inspector)
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    db_session.commit()
    soup = page(inspector_client.get(url(item)))
    assert not soup.select_one("#review-form")
    assert soup.select_one("[data-review-conflict]")
    response = post(inspector_client, item, "review", {"decision": "approve"})
    assert response.status_code == 403
    assert status_of(db_session, item) == ItemStatus.SUBMITTED

    colleague = make_user(db_session, unit=bureau.legal, role=Role.INSPECTOR)
    db_session.commit()
    client = signed_in_client(inspector_client.application, colleague)
    assert page(client.get(url(item))).select_one("#review-form")
    assert post(client, item, "review", {"decision": "approve"}).status_code == 303
    assert status_of(db_session, item) == ItemStatus.APPROVED


def test_an_admin_who_submitted_gets_403(admin_client, db_session, bureau, item, staff):
    add_evidence(db_session, item, staff)
    db_session.commit()
    assert post(admin_client, item, "submit").status_code == 303
    assert status_of(db_session, item) == ItemStatus.SUBMITTED
    response = post(admin_client, item, "review", {"decision": "approve"})
    assert response.status_code == 403
    assert status_of(db_session, item) == ItemStatus.SUBMITTED


# ---------------------------------------------------------------- who may act


def test_staff_submit_only_their_own_items(app, db_session, bureau, item, staff):
    other = make_user(db_session, unit=bureau.section, role=Role.STAFF)
    add_evidence(db_session, item, staff)
    db_session.commit()
    client = signed_in_client(app, other)
    assert not page(client.get(url(item))).select_one("#submit-form")
    assert post(client, item, "submit").status_code == 403
    assert status_of(db_session, item) == ItemStatus.OPEN
    assert post(signed_in_client(app, staff), item, "submit").status_code == 303
    assert status_of(db_session, item) == ItemStatus.SUBMITTED


def test_leader_and_chief_refusals(leader_client, chief_client, db_session, item, staff):
    add_evidence(db_session, item, staff)
    db_session.commit()
    assert post(leader_client, item, "submit").status_code == 403
    assert post(chief_client, item, "submit").status_code == 303
    assert post(leader_client, item, "review", {"decision": "approve"}).status_code == 403
    assert post(chief_client, item, "review", {"decision": "approve"}).status_code == 403
    soup = page(leader_client.get(url(item)))
    assert not soup.select_one("#submit-form") and not soup.select_one("#review-form")
    assert status_of(db_session, item) == ItemStatus.SUBMITTED


@pytest.mark.parametrize("action", ["submit", "review", "comments"])
def test_another_units_item_is_404(app, db_session, bureau, action, clock):
    station_item = make_item(db_session, unit=bureau.station)
    db_session.commit()
    data = {"decision": "approve", "body": "x"}
    for user in (bureau.user(Role.CHIEF), bureau.user(Role.STAFF)):
        client = signed_in_client(app, user)
        response = post_form(client, url(station_item, action), data, form_url="/account/password")
        assert response.status_code == 404
    chief = signed_in_client(app, bureau.users["other_chief"])
    missing = post_form(chief, f"/items/999999/{action}", data, form_url="/account/password")
    assert missing.status_code == 404


@pytest.mark.parametrize("action", ["submit", "review", "comments"])
def test_a_post_without_csrf_token_is_400(admin_client, db_session, item, staff, action):
    add_evidence(db_session, item, staff)
    db_session.commit()
    response = admin_client.post(url(item, action), data={"decision": "approve", "body": "x"})
    assert response.status_code == 400
    assert status_of(db_session, item) == ItemStatus.OPEN
    assert db_session.scalar(select(func.count(Comment.id))) == 0


# ---------------------------------------------------------------- cost of the page


def _cycle(db_session, item, staff, inspector, *, rounds: int, comment_count: int) -> None:
    """`rounds` submissions, each but the last returned, and `comment_count` comments."""
    add_evidence(db_session, item, staff)
    for n in range(rounds):
        if n:
            reviews.decide(
                db_session, actor=inspector, item=item, decision="return", comment=f"r{n}", now=T0
            )
        submissions.submit(db_session, actor=staff, item=item, now=T0)
    for n in range(comment_count):
        comments.add_comment(db_session, actor=staff, item=item, body=f"c{n}", now=T0)
    db_session.commit()


def test_item_page_cost_does_not_grow_with_rounds_and_comments(
    app, db_session, bureau, staff, inspector, clock
):
    small = make_item(db_session, unit=bureau.section, assignee_id=staff.id)
    large = make_item(db_session, unit=bureau.section, assignee_id=staff.id)
    _cycle(db_session, small, staff, inspector, rounds=1, comment_count=1)
    _cycle(db_session, large, staff, inspector, rounds=10, comment_count=40)
    assert db_session.scalar(select(func.count(Evidence.id)).where(Evidence.item_id == large.id))

    def statements(client, item) -> int:
        assert client.get(url(item)).status_code == 200
        with count_statements() as counter:
            response = client.get(url(item))
        assert response.status_code == 200
        return counter.count

    for user in (inspector, bureau.user(Role.CHIEF)):
        client = signed_in_client(app, user)
        assert statements(client, small) == statements(client, large)
    soup = page(signed_in_client(app, inspector).get(url(large)))
    assert len(soup.select("#rounds tbody tr")) == 10
    assert len(soup.select("#comments [data-comment-id]")) == 40
    assert soup.select_one("#review-form")
