"""On the item page: return-reason templates, remarks on evidence, reopening, exclusions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item
from tests.helpers import count_statements, page, post_form
from tests.integration.test_submissions import add_evidence
from tracker.models import (
    AuditEvent,
    Evidence,
    EvidenceRemark,
    InspectorExclusion,
    ItemStatus,
    Review,
    ReviewDecision,
    Role,
)
from tracker.services import review_settings, reviews, submissions
from tracker.services.errors import ValidationFailed


@pytest.fixture
def staff(bureau):
    return bureau.user(Role.STAFF)


@pytest.fixture
def inspector(bureau):
    return bureau.user(Role.INSPECTOR)


@pytest.fixture
def item(db_session, bureau, staff, clock):
    """A section item with two pieces of evidence, submitted (round 1) by its staff."""
    item = make_item(db_session, unit=bureau.section, assignee_id=staff.id)
    add_evidence(db_session, item, staff)
    add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    db_session.commit()
    return item


@pytest.fixture
def evidence(db_session, item):
    return list(
        db_session.scalars(
            select(Evidence).where(Evidence.item_id == item.id).order_by(Evidence.id)
        )
    )


@pytest.fixture
def reason(db_session, bureau):
    return review_settings.create_template(
        db_session,
        actor=bureau.user("admin"),
        text_zh="缺少执法人员签字",
        text_en="The officers' signatures are missing",
        now=T0,
    )


def url(item, action: str = "") -> str:
    return f"/items/{item.id}" + (f"/{action}" if action else "")


def post(client, item, action: str, data: dict | None = None, **kwargs):
    return post_form(client, url(item, action), data or {}, form_url=url(item), **kwargs)


def refreshed(db_session, item):
    db_session.expire_all()
    return db_session.get(type(item), item.id)


def refusals(response) -> list[str]:
    """The flashed error messages (the page may carry other alerts, e.g. a provisional date)."""
    return [a.get_text(" ", strip=True) for a in page(response).select(".alert-danger")]


def last_event(db_session, action: str) -> AuditEvent:
    return db_session.scalar(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
    )


# ---------------------------------------------------------------- return-reason templates


def test_a_return_with_a_template_and_no_text_uses_the_template(
    inspector_client, db_session, item, reason
):
    db_session.commit()
    response = post(
        inspector_client,
        item,
        "review",
        {"decision": "return", "comment": "", "reason_template": str(reason.id)},
    )
    assert response.status_code == 303
    assert refreshed(db_session, item).status == ItemStatus.RETURNED
    review = db_session.scalar(select(Review).where(Review.item_id == item.id))
    assert review.comment == "缺少执法人员签字"
    event = last_event(db_session, "item.returned")
    assert event.data["reason"] == "缺少执法人员签字"
    assert event.data["reason_template_id"] == reason.id


def test_the_template_text_follows_the_reviewer_language_and_typed_text_wins(
    db_session, bureau, item, reason, inspector
):
    inspector.locale = "en"
    review = reviews.decide(
        db_session,
        actor=inspector,
        item=item,
        decision="return",
        reason_template_id=reason.id,
        now=T0,
    )
    assert review.comment == "The officers' signatures are missing"
    submissions.submit(db_session, actor=bureau.user("staff"), item=item, now=T0)
    review = reviews.decide(
        db_session,
        actor=inspector,
        item=item,
        decision="return",
        comment="缺少签字，另附说明",
        reason_template_id=reason.id,
        now=T0,
    )
    assert review.comment == "缺少签字，另附说明"


def test_a_deactivated_template_is_refused(inspector_client, db_session, bureau, item, reason):
    review_settings.set_template_active(
        db_session, actor=bureau.user("admin"), template=reason, active=False, now=T0
    )
    db_session.commit()
    response = post(
        inspector_client,
        item,
        "review",
        {"decision": "return", "comment": "", "reason_template": str(reason.id)},
    )
    assert response.status_code == 303 and response.headers["Location"] == url(item)
    assert len(refusals(inspector_client.get(url(item)))) == 1
    assert refreshed(db_session, item).status == ItemStatus.SUBMITTED
    assert db_session.scalar(select(func.count(Review.id))) == 0


# ---------------------------------------------------------------- remarks on evidence


def test_remarks_are_saved_per_evidence_and_shown_under_their_review(
    inspector_client, chief_client, db_session, item, evidence
):
    first, second = evidence
    soup = page(inspector_client.get(url(item)))
    names = [t["name"] for t in soup.select("#review-form textarea[name^=remark-]")]
    assert names == [f"remark-{first.id}", f"remark-{second.id}"]

    response = post(
        inspector_client,
        item,
        "review",
        {
            "decision": "return",
            "comment": "请补充",
            f"remark-{first.id}": "  照片模糊  ",
            f"remark-{second.id}": "",
        },
    )
    assert response.status_code == 303
    review = db_session.scalar(select(Review).where(Review.item_id == item.id))
    saved = db_session.execute(
        select(EvidenceRemark.evidence_id, EvidenceRemark.remark).where(
            EvidenceRemark.review_id == review.id
        )
    ).all()
    assert saved == [(first.id, "照片模糊")]
    event = last_event(db_session, "item.returned")
    assert event.data["remarks"] == [{"evidence_id": first.id, "remark": "照片模糊"}]

    soup = page(chief_client.get(url(item)))
    row = soup.select_one(f"#rounds tr[data-round='1'][data-decision='{ReviewDecision.RETURN}']")
    remarks = row.select("[data-remarks] li")
    assert [li["data-evidence-id"] for li in remarks] == [str(first.id)]
    assert remarks[0].select_one("[data-remark]").get_text(strip=True) == "照片模糊"


def test_remarks_on_evidence_outside_the_round_are_refused(
    inspector_client, db_session, bureau, item, evidence, staff, inspector
):
    late = add_evidence(db_session, item, staff)  # added after the submission: not under review
    other_item = make_item(db_session, unit=bureau.section)
    foreign = add_evidence(db_session, other_item, staff)
    db_session.commit()
    assert not page(inspector_client.get(url(item))).select(f"textarea[name=remark-{late.id}]")
    for stranger in (late, foreign):
        response = post(
            inspector_client,
            item,
            "review",
            {"decision": "approve", f"remark-{stranger.id}": "不属于本轮"},
        )
        assert response.status_code == 303
        assert refreshed(db_session, item).status == ItemStatus.SUBMITTED
    assert db_session.scalar(select(func.count(Review.id))) == 0
    assert db_session.scalar(select(func.count(EvidenceRemark.id))) == 0

    for bad in ({evidence[0].id: "  "}, {evidence[0].id: "长" * 1001}):
        with pytest.raises(ValidationFailed) as refused:
            reviews.decide(
                db_session, actor=inspector, item=item, decision="approve", remarks=bad, now=T0
            )
        assert refused.value.field == "remarks"


def test_a_resubmitted_round_carries_its_earlier_evidence(
    db_session, item, evidence, staff, inspector
):
    reviews.decide(db_session, actor=inspector, item=item, decision="return", comment="x", now=T0)
    newer = add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    review = reviews.decide(
        db_session,
        actor=inspector,
        item=item,
        decision="approve",
        remarks={evidence[0].id: "仍可用", newer.id: "补充到位"},
        now=T0,
    )
    assert (
        db_session.scalar(
            select(func.count(EvidenceRemark.id)).where(EvidenceRemark.review_id == review.id)
        )
        == 2
    )


# ---------------------------------------------------------------- reopening


@pytest.fixture
def approved(db_session, item, inspector):
    reviews.decide(db_session, actor=inspector, item=item, decision="approve", now=T0)
    db_session.commit()
    return item


def test_reopen_through_the_page(inspector_client, db_session, approved):
    soup = page(inspector_client.get(url(approved)))
    assert soup.select_one("#reopen-form textarea[name=reason]") is not None

    response = post(inspector_client, approved, "reopen", {"reason": "  "})
    assert response.status_code == 303 and response.headers["Location"] == url(approved)
    assert len(refusals(inspector_client.get(url(approved)))) == 1
    assert refreshed(db_session, approved).status == ItemStatus.APPROVED

    response = post(inspector_client, approved, "reopen", {"reason": "抽查发现公示日期有误"})
    assert response.status_code == 303 and response.headers["Location"] == url(approved)
    assert refreshed(db_session, approved).status == ItemStatus.RETURNED
    latest = db_session.scalar(
        select(Review).where(Review.item_id == approved.id).order_by(Review.id.desc()).limit(1)
    )
    assert (latest.decision, latest.comment) == (ReviewDecision.REOPEN, "抽查发现公示日期有误")
    assert last_event(db_session, "item.reopened").data["reason"] == "抽查发现公示日期有误"
    soup = page(inspector_client.get(url(approved)))
    assert soup.select_one("#reopen-form") is None
    assert soup.select_one("#return-reason [data-reason]").get_text(strip=True) == (
        "抽查发现公示日期有误"
    )
    # Reopening an item that is not approved: refused with a message, nothing written.
    response = post(inspector_client, approved, "reopen", {"reason": "再次"})
    assert response.status_code == 303
    assert (
        db_session.scalar(
            select(func.count(Review.id)).where(Review.decision == ReviewDecision.REOPEN)
        )
        == 1
    )


def test_only_reviewers_reopen_and_other_units_see_nothing(app, db_session, bureau, approved):
    for role in ("chief", "staff", "leader"):
        client = signed_in_client(app, bureau.user(role))
        assert page(client.get(url(approved))).select_one("#reopen-form") is None
        assert post(client, approved, "reopen", {"reason": "x"}).status_code == 403, role
    other_chief = signed_in_client(app, bureau.users["other_chief"])
    response = post_form(other_chief, url(approved, "reopen"), {"reason": "x"}, form_url="/items/")
    assert response.status_code == 404
    assert refreshed(db_session, approved).status == ItemStatus.APPROVED
    assert (
        signed_in_client(app, bureau.user("admin"))
        .post(url(approved, "reopen"), data={"reason": "no token"})
        .status_code
        == 400
    )
    assert refreshed(db_session, approved).status == ItemStatus.APPROVED


# ---------------------------------------------------------------- exclusions on the web


def test_an_excluded_inspector_is_refused_and_the_item_leaves_his_queue(
    admin_client, inspector_client, db_session, bureau, item, inspector
):
    def queue_ids() -> list[int]:
        rows = page(inspector_client.get("/review/")).select("#queue tbody tr[data-item]")
        return [int(r["data-item"]) for r in rows]

    assert queue_ids() == [item.id]
    response = post_form(
        admin_client,
        "/admin/exclusions",
        {"inspector_id": inspector.id, "unit_id": bureau.section.id},
    )
    assert response.status_code == 303
    assert db_session.scalar(select(func.count(InspectorExclusion.id))) == 1

    assert queue_ids() == []
    soup = page(inspector_client.get(url(item)))
    assert soup.select_one("#review-form") is None and soup.select_one("[data-review-conflict]")
    response = post(inspector_client, item, "review", {"decision": "approve"})
    assert response.status_code == 403
    assert refreshed(db_session, item).status == ItemStatus.SUBMITTED


# ---------------------------------------------------------------- cost of the page


def _reviewed_rounds(db_session, item, staff, inspector, count: int) -> None:
    """`count` rounds returned with a remark on each piece of evidence, then one more pending."""
    add_evidence(db_session, item, staff)
    for n in range(count):
        submissions.submit(db_session, actor=staff, item=item, now=T0)
        ids = db_session.scalars(select(Evidence.id).where(Evidence.item_id == item.id)).all()
        reviews.decide(
            db_session,
            actor=inspector,
            item=item,
            decision="return",
            comment=f"r{n}",
            remarks=dict.fromkeys(ids, f"备注{n}"),
            now=T0,
        )
        add_evidence(db_session, item, staff)
    submissions.submit(db_session, actor=staff, item=item, now=T0)
    db_session.commit()


def test_the_item_page_cost_does_not_grow_with_reviews_and_remarks(
    app, db_session, bureau, staff, inspector, reason, clock
):
    small = make_item(db_session, unit=bureau.section, assignee_id=staff.id)
    large = make_item(db_session, unit=bureau.section, assignee_id=staff.id)
    _reviewed_rounds(db_session, small, staff, inspector, 1)
    _reviewed_rounds(db_session, large, staff, inspector, 10)

    def statements(client, item) -> int:
        assert client.get(url(item)).status_code == 200
        with count_statements() as counter:
            response = client.get(url(item))
        assert response.status_code == 200
        return counter.count

    admin = bureau.user("admin")  # reviews without having worked on the items
    for user in (admin, bureau.user(Role.CHIEF)):
        client = signed_in_client(app, user)
        assert statements(client, small) == statements(client, large)
    soup = page(signed_in_client(app, admin).get(url(large)))
    assert len(soup.select("#rounds [data-remarks] li")) == sum(range(1, 11))
    assert len(soup.select("#review-form textarea[name^=remark-]")) == 11
