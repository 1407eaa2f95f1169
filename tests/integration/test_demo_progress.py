"""The demo bureau comes with a year of work, done through the real services."""

from __future__ import annotations

from sqlalchemy import func, select

from tracker.models import ChecklistItem, Evidence, ItemStatus, Review, Submission


def run(app, *args):
    return app.test_cli_runner().invoke(args=["tracker", *args])


def test_bootstrap_demo_records_a_year_of_work_once(app, db_session, clock):
    result = run(app, "bootstrap", "--demo")
    assert result.exit_code == 0, result.output
    assert "Demo work:" in result.output

    by_status = dict(
        db_session.execute(
            select(ChecklistItem.status, func.count()).group_by(ChecklistItem.status)
        ).all()
    )
    approved, returned = by_status[ItemStatus.APPROVED], by_status[ItemStatus.RETURNED]
    waiting, still_open = by_status[ItemStatus.SUBMITTED], by_status[ItemStatus.OPEN]
    assert approved > 5 * returned > 0
    assert waiting > 0 and still_open > 0
    today = clock.today()
    overdue = db_session.scalar(
        select(func.count())
        .select_from(ChecklistItem)
        .where(ChecklistItem.status == ItemStatus.OPEN, ChecklistItem.due_date < today)
    )
    assert overdue > 0, "some past-due work was left undone"

    # Every worked item has evidence, a submission and, unless it waits, a review by an
    # inspector who did not work on it.
    submitted_items = db_session.scalar(select(func.count(func.distinct(Submission.item_id))))
    assert submitted_items == approved + returned + waiting
    assert db_session.scalar(select(func.count(func.distinct(Evidence.item_id)))) == submitted_items
    reviews = db_session.execute(
        select(Review.reviewer_id, Evidence.uploaded_by_id, Submission.submitted_by_id)
        .join(Submission, Submission.id == Review.submission_id)
        .join(Evidence, Evidence.item_id == Submission.item_id)
    ).all()
    assert len(reviews) >= approved + returned
    assert all(reviewer not in (uploader, submitter) for reviewer, uploader, submitter in reviews)

    # Only case items can be born overdue: the year's checklist dates from New Year's Day.
    born_overdue = db_session.scalars(
        select(ChecklistItem.case_id).where(ChecklistItem.created_overdue)
    ).all()
    assert all(case_id is not None for case_id in born_overdue)

    assert run(app, "verify").exit_code == 0

    rounds = db_session.scalar(select(func.count()).select_from(Submission))
    again = run(app, "bootstrap", "--demo")
    assert again.exit_code == 0 and "Demo work:" not in again.output
    assert db_session.scalar(select(func.count()).select_from(Submission)) == rounds
