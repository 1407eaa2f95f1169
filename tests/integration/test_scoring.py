"""Assessment scores: every component and the score equal values worked out by hand.

Today is 2026-11-02 (Monday) in Asia/Shanghai. Default weights: base 100, on-time weight 100,
2 points per return, 0.5 per overdue working day, 5 per sample-audit problem.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item, make_requirement, make_unit, seed_official_holidays
from tests.helpers import count_statements, flashes, page, post_form
from tracker.models import (
    AuditEvent,
    AuditSample,
    AuditSampleItem,
    ItemStatus,
    Review,
    ReviewDecision,
    Role,
    SampleResult,
    ScoreWeights,
    Submission,
)
from tracker.services import scoring
from tracker.services.errors import ValidationFailed
from tracker.services.holidays import load_calendar

# ---------------------------------------------------------------- building the data set


class Builder:
    def __init__(self, session, bureau):
        self.session = session
        self.bureau = bureau
        self.requirement = make_requirement(
            session, cadence="annual", owners=["SEC", "STA", "LEGAL"]
        )
        self.n = 0
        self.reviewer = bureau.user(Role.INSPECTOR)
        self.worker = bureau.user(Role.CHIEF)

    def item(self, unit, due: date, status=ItemStatus.OPEN, period="2026"):
        self.n += 1
        return make_item(
            self.session,
            unit=unit,
            requirement=self.requirement,
            period=period,
            due_date=due,
            status=status,
            scope_key=f"s{self.n}",
        )

    def submit(self, item, on: date, decision: ReviewDecision | None = None) -> Submission:
        """A round submitted at local noon on `on`, with an optional review of it."""
        rounds = self.session.scalars(select(Submission).where(Submission.item_id == item.id))
        submission = Submission(
            item_id=item.id,
            round=len(list(rounds)) + 1,
            submitted_by_id=self.worker.id,
            submitted_at=datetime(on.year, on.month, on.day, 4, 0, tzinfo=UTC),
        )
        self.session.add(submission)
        item.last_submitted_at = submission.submitted_at  # as the submit service keeps it
        self.session.flush()
        if decision is not None:
            self.review(item, submission, decision)
        return submission

    def review(self, item, submission, decision: ReviewDecision) -> None:
        self.session.add(
            Review(
                item_id=item.id,
                submission_id=submission.id,
                reviewer_id=self.reviewer.id,
                decision=decision,
                comment="x",
                decided_at=T0,
            )
        )
        self.session.flush()

    def sample(self, item, result=SampleResult.PROBLEM) -> None:
        sample = AuditSample(
            seed="s",
            request={"size": 1},
            population=1,
            population_hash="0" * 64,
            drawn_by_id=self.reviewer.id,
            drawn_at=T0,
        )
        self.session.add(sample)
        self.session.flush()
        self.session.add(
            AuditSampleItem(sample_id=sample.id, item_id=item.id, position=1, result=result)
        )
        self.session.flush()


@pytest.fixture
def data(db_session, bureau, clock):
    seed_official_holidays(db_session)
    b = Builder(db_session, bureau)
    sec, sta, legal = bureau.section, bureau.station, bureau.legal
    A, R, RE = ReviewDecision.APPROVE, ReviewDecision.RETURN, ReviewDecision.REOPEN

    # Section: six items of 2026.
    i1 = b.item(sec, date(2026, 3, 31), ItemStatus.APPROVED)
    b.submit(i1, date(2026, 3, 30), A)  # on time
    b.sample(i1)  # re-audit found a problem: 1 sample problem
    i2 = b.item(sec, date(2026, 6, 30), ItemStatus.APPROVED)
    b.submit(i2, date(2026, 7, 2), A)  # late: 1 and 2 July = 2 working days
    b.item(sec, date(2026, 9, 30))  # open: overdue 19 working days (National Day, make-up 10-10)
    b.item(sec, date(2026, 12, 31))  # not due yet: outside the on-time rate
    i5 = b.item(sec, date(2026, 5, 29), ItemStatus.APPROVED)
    b.submit(i5, date(2026, 5, 20), R)  # one return
    b.submit(i5, date(2026, 5, 28), A)  # then on time
    b.sample(i5, SampleResult.CONFIRMED)  # a confirmed sample costs nothing
    i6 = b.item(sec, date(2026, 4, 30), ItemStatus.APPROVED)
    first = b.submit(i6, date(2026, 4, 29), A)
    b.review(i6, first, RE)  # reopened: one return
    b.submit(i6, date(2026, 5, 6), A)  # resubmitted after Labour Day: 1 working day late
    # Section, 2025: not counted in 2026.
    old = b.item(sec, date(2025, 3, 31), ItemStatus.RETURNED, period="2025")
    b.submit(old, date(2025, 3, 1), R)
    b.sample(old)

    # Station: three items.
    i7 = b.item(sta, date(2026, 2, 27), ItemStatus.APPROVED)
    b.submit(i7, date(2026, 2, 26), A)  # on time
    for _ in range(3):
        b.sample(i7)  # 3 sample problems
    i8 = b.item(sta, date(2026, 10, 30), ItemStatus.SUBMITTED)
    b.submit(i8, date(2026, 10, 29))  # in time, awaiting review: due, not on time, not late
    i9 = b.item(sta, date(2026, 8, 31), ItemStatus.RETURNED)
    b.submit(i9, date(2026, 8, 28), R)  # one return; owed since: 41 working days overdue

    # Legal Affairs Section: nothing due yet.
    b.item(legal, date(2026, 12, 15))
    db_session.commit()
    return b


# Worked out by hand from the data above (working days checked against the 2026 calendar).
EXPECTED = {
    "SEC": {
        "items": 6,
        "due_or_done": 5,
        "on_time": 2,
        "rate": Decimal("0.4"),
        "returns": 2,
        "overdue_days": 2 + 19 + 1,
        "sample_problems": 1,
        "on_time_deduction": Decimal("60.00"),
        "returns_deduction": Decimal("4.00"),
        "overdue_deduction": Decimal("11.00"),
        "sample_deduction": Decimal("5.00"),
        "score": Decimal("20.00"),  # 100 − 60 − 4 − 11 − 5
        "rank": 2,
    },
    "STA": {
        "items": 3,
        "due_or_done": 3,
        "on_time": 1,
        "rate": Decimal(1) / Decimal(3),
        "returns": 1,
        "overdue_days": 41,
        "sample_problems": 3,
        "on_time_deduction": Decimal("66.67"),
        "returns_deduction": Decimal("2.00"),
        "overdue_deduction": Decimal("20.50"),
        "sample_deduction": Decimal("15.00"),
        "score": Decimal("0.00"),  # 100 − 66.67 − 2 − 20.5 − 15 < 0: floored
        "rank": 3,
    },
    "LEGAL": {
        "items": 1,
        "due_or_done": 0,
        "on_time": 0,
        "rate": None,
        "returns": 0,
        "overdue_days": 0,
        "sample_problems": 0,
        "on_time_deduction": Decimal("0.00"),
        "returns_deduction": Decimal("0.00"),
        "overdue_deduction": Decimal("0.00"),
        "sample_deduction": Decimal("0.00"),
        "score": Decimal("100.00"),
        "rank": 1,
    },
}


def compute(session, viewer, weights=None):
    return scoring.unit_scores(
        session,
        year=2026,
        viewer=viewer,
        today=date(2026, 11, 2),
        weights=weights or scoring.get_weights(session),
        calendar=load_calendar(session),
        timezone="Asia/Shanghai",
    )


def as_dict(entry) -> dict:
    return {key: getattr(entry, key) for key in EXPECTED["SEC"]}


# ---------------------------------------------------------------- the service


def test_hand_counted_working_days_match_the_calendar(db_session, data):
    calendar = load_calendar(db_session)
    assert calendar.working_days_between(date(2026, 6, 30), date(2026, 7, 2)) == 2
    assert calendar.working_days_between(date(2026, 9, 30), date(2026, 11, 2)) == 19
    assert calendar.working_days_between(date(2026, 4, 30), date(2026, 5, 6)) == 1
    assert calendar.working_days_between(date(2026, 8, 31), date(2026, 11, 2)) == 41


def test_every_component_and_score_equal_the_hand_computed_values(db_session, bureau, data):
    scores = compute(db_session, bureau.user(Role.ADMIN))
    assert [s.unit.code for s in scores] == ["LEGAL", "SEC", "STA"]  # ranked by score
    for entry in scores:
        assert as_dict(entry) == EXPECTED[entry.unit.code], entry.unit.code


def test_chief_sees_his_subtree_only(db_session, bureau, data):
    assert [s.unit.code for s in compute(db_session, bureau.user(Role.CHIEF))] == ["SEC"]
    assert [s.unit.code for s in compute(db_session, bureau.users["other_chief"])] == ["STA"]


def test_other_weights_give_other_scores(db_session, bureau, data):
    weights = ScoreWeights(
        base=Decimal("90"),
        on_time_weight=Decimal("50"),
        returned_penalty=Decimal("1"),
        overdue_day_penalty=Decimal("0"),
        sample_problem_penalty=Decimal("0"),
    )
    scores = {s.unit.code: s.score for s in compute(db_session, bureau.user(Role.ADMIN), weights)}
    # SEC: 90 − 50 × 3/5 − 2 = 58; STA: 90 − 50 × 2/3 − 1 = 55.67 (55.666…); LEGAL: 90.
    assert scores == {"SEC": Decimal("58.00"), "STA": Decimal("55.67"), "LEGAL": Decimal("90.00")}


def test_equal_scores_share_a_rank(db_session, bureau, data):
    b = data
    b.item(bureau.root, date(2026, 12, 20))  # nothing due: 100, like the Legal Affairs Section
    db_session.commit()
    ranks = {s.unit.code: s.rank for s in compute(db_session, bureau.user(Role.ADMIN))}
    assert ranks == {"LEGAL": 1, "ROOT": 1, "SEC": 3, "STA": 4}


def test_update_weights_validates_and_audits(db_session, bureau, data):
    admin = bureau.user(Role.ADMIN)
    values = {
        "base": "100",
        "on_time_weight": "100",
        "returned_penalty": "3",
        "overdue_day_penalty": "0.5",
        "sample_problem_penalty": "5",
    }
    for name, bad in [
        ("base", "0"),
        ("returned_penalty", "-1"),
        ("overdue_day_penalty", "0.125"),
        ("sample_problem_penalty", "NaN"),
        ("on_time_weight", "lots"),
        ("returned_penalty", "1000.01"),
    ]:
        with pytest.raises(ValidationFailed) as error:
            scoring.update_weights(db_session, actor=admin, values={**values, name: bad}, now=T0)
        assert error.value.field == name
    assert scoring.update_weights(db_session, actor=admin, values=values, now=T0) == [
        "returned_penalty"
    ]
    db_session.commit()
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "score_weights.updated")
    ).one()
    assert event.actor_id == admin.id
    assert event.data == {
        "before": {"returned_penalty": "2.00"},
        "after": {"returned_penalty": "3.00"},
    }
    # Saving the same values again changes nothing and records nothing.
    assert scoring.update_weights(db_session, actor=admin, values=values, now=T0) == []
    assert db_session.scalar(select(ScoreWeights)).returned_penalty == Decimal("3")


# ---------------------------------------------------------------- the pages


def table(response) -> dict[str, dict[str, str]]:
    return {
        row["data-unit"]: {
            td["data-col"]: td.get_text(strip=True) for td in row.select("[data-col]")
        }
        for row in page(response).select("#scores tbody tr")
    }


def test_scores_page_shows_the_breakdown_and_formula(admin_client, data):
    response = admin_client.get("/dashboard/scores?year=2026")
    assert response.status_code == 200
    rows = table(response)
    assert list(rows) == ["LEGAL", "SEC", "STA"]
    assert rows["SEC"]["score"] == "20.00" and rows["SEC"]["rate"] == "40.0%"
    assert rows["SEC"]["overdue_days"] == "22" and rows["SEC"]["returns"] == "2"
    assert rows["STA"]["score"] == "0.00" and rows["STA"]["sample_problems"] == "3"
    assert rows["LEGAL"]["rate"] == "—" and rows["LEGAL"]["rank"] == "1"
    formula = page(response).select_one("#formula-text").get_text()
    assert formula.startswith("得分 = 100 − 100 ×") and "− 0.5 × 逾期工作日" in formula
    assert page(response).select_one("#weights-link") is not None


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR])
def test_leader_and_inspector_see_every_unit(app, bureau, data, role):
    client = signed_in_client(app, bureau.user(role))
    response = client.get("/dashboard/scores?year=2026")
    assert list(table(response)) == ["LEGAL", "SEC", "STA"]
    assert page(response).select_one("#weights-link") is None


def test_chief_page_lists_his_units_only(chief_client, data):
    assert list(table(chief_client.get("/dashboard/scores?year=2026"))) == ["SEC"]


def test_staff_get_403_on_scores(staff_client, data):
    assert staff_client.get("/dashboard/scores").status_code == 403
    assert staff_client.get("/dashboard/scores.csv").status_code == 403


@pytest.mark.parametrize("role", [Role.LEADER, Role.INSPECTOR, Role.CHIEF, Role.STAFF])
def test_only_admins_edit_the_weights(app, bureau, role):
    client = signed_in_client(app, bureau.user(role))
    assert client.get("/dashboard/scores/weights").status_code == 403
    assert client.post("/dashboard/scores/weights", data={"base": "1"}).status_code in (400, 403)


def test_csv_export_matches_the_table(admin_client, db_session, data):
    response = admin_client.get("/dashboard/scores.csv?year=2026")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][0] == "排名" and rows[0][-1] == "得分"
    assert [(r[1], r[-1]) for r in rows[1:]] == [
        ("LEGAL", "100.00"),
        ("SEC", "20.00"),
        ("STA", "0.00"),
    ]
    sec = rows[2]
    assert sec[3:10] == ["6", "5", "2", "40.0%", "2", "22", "1"]
    assert db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "scores.exported")
    ).one().data == {"year": 2026, "units": 3}


WEIGHTS_FORM = {
    "base": "100",
    "on_time_weight": "100",
    "returned_penalty": "2",
    "overdue_day_penalty": "0",
    "sample_problem_penalty": "0",
}


def test_editing_the_weights_changes_the_scores(admin_client, db_session, bureau, data):
    form = page(admin_client.get("/dashboard/scores/weights")).select_one("#weights-form")
    assert form.select_one("input[name=overdue_day_penalty]")["value"] == "0.50"  # the default
    response = post_form(
        admin_client, "/dashboard/scores/weights", WEIGHTS_FORM, follow_redirects=True
    )
    assert "考核权重已保存。" in flashes(response)[0]
    rows = table(response)
    # SEC: 100 − 60 − 4 = 36; STA: 100 − 66.67 − 2 = 31.33 (31.333…).
    assert rows["SEC"]["score"] == "36.00" and rows["STA"]["score"] == "31.33"
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "score_weights.updated")
    ).one()
    assert event.data["after"] == {"overdue_day_penalty": "0.00", "sample_problem_penalty": "0.00"}


@pytest.mark.parametrize(
    ("field", "value", "zh", "en"),
    [
        ("base", "abc", "请输入数字，例如 2 或 0.5。", "Enter a number, e.g. 2 or 0.5."),
        ("base", "", "请输入数字，例如 2 或 0.5。", "Enter a number, e.g. 2 or 0.5."),
        (
            "returned_penalty",
            "-1",
            "请输入 0 到 1000 之间的数字。",
            "Enter a number between 0 and 1000.",
        ),
        ("base", "0", "请输入 0.01 到 1000 之间的数字。", "Enter a number between 0.01 and 1000."),
        ("overdue_day_penalty", "0.125", "最多保留两位小数。", "Use at most two decimal places."),
    ],
)
def test_weights_form_validation_messages(app, bureau, db_session, field, value, zh, en):
    admin = bureau.user(Role.ADMIN)
    for locale, message in (("zh_CN", zh), ("en", en)):
        admin.locale = locale
        db_session.commit()
        client = signed_in_client(app, admin)
        response = post_form(client, "/dashboard/scores/weights", {**WEIGHTS_FORM, field: value})
        assert response.status_code == 200
        errors = page(response).select(f"#{field}-error")
        assert [e.get_text(strip=True) for e in errors] == [message], locale
    assert db_session.scalar(select(ScoreWeights)) is None  # nothing saved


def test_english_scores_page(admin_client, bureau, db_session, data):
    bureau.user(Role.ADMIN).locale = "en"
    db_session.commit()
    soup = page(admin_client.get("/dashboard/scores?year=2026"))
    assert "Assessment scores 2026" in soup.select_one("h1").get_text()
    assert (
        "Score = 100 − 100 × (1 − on-time rate) − 2 × returns − 0.5 ×"
        in soup.select_one("#formula-text").get_text()
    )


# ---------------------------------------------------------------- cost


def _units_with_items(db_session, bureau, b, count):
    for _ in range(count):
        unit = make_unit(db_session, parent=bureau.root)
        done = b.item(unit, date(2026, 6, 30), ItemStatus.APPROVED)
        b.submit(done, date(2026, 7, 3), ReviewDecision.RETURN)
        b.submit(done, date(2026, 7, 6), ReviewDecision.APPROVE)
        b.sample(done)
        b.item(unit, date(2026, 9, 1))
    db_session.commit()


def test_statements_do_not_grow_with_the_units(admin_client, db_session, bureau, clock):
    seed_official_holidays(db_session)
    b = Builder(db_session, bureau)
    _units_with_items(db_session, bureau, b, 2)
    admin_client.get("/dashboard/scores?year=2026")  # warm-up
    with count_statements() as two:
        assert len(table(admin_client.get("/dashboard/scores?year=2026"))) == 2
    _units_with_items(db_session, bureau, b, 8)
    with count_statements() as ten:
        assert len(table(admin_client.get("/dashboard/scores?year=2026"))) == 10
    assert ten.count == two.count, ten.statements
    admin = bureau.user(Role.ADMIN)
    db_session.refresh(admin)  # loaded before counting: only the service's queries count
    with count_statements() as service:
        compute(db_session, admin)
    # Weights, the calendar's revisions (the pages above built it), five aggregates.
    assert service.count == 7, service.statements
