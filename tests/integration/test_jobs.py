"""The job runner: each slot runs once, across restarts and concurrent schedulers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tracker import jobs
from tracker.models import ChecklistItem, JobRun, JobRunStatus, Role


def _counting_job(calls: list, fail: bool = False) -> jobs.Job:
    def run(_session, now):
        calls.append(now)
        if fail:
            raise RuntimeError("broken job")
        return {"n": len(calls)}

    return jobs.Job("test_job", jobs.daily_at(9, 0), run)


def local(hour: int, minute: int = 0, day: int = 1) -> datetime:
    # 2026-12-01 hh:mm in Asia/Shanghai, expressed in UTC.
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_job_is_not_due_before_its_hour(app, db_session):
    calls: list = []
    assert jobs.run_due_jobs(local(8, 59), [_counting_job(calls)]) == []
    assert calls == []


def test_a_slot_runs_once_however_often_ticked(app, db_session):
    calls: list = []
    job = _counting_job(calls)
    first = jobs.run_due_jobs(local(9, 0), [job])
    assert [(o.slot, o.status) for o in first] == [("2026-12-01", "done")]
    # Later ticks the same day, e.g. after a restart: nothing runs again.
    for minute in (1, 30):
        again = jobs.run_due_jobs(local(10, minute), [job])
        assert [o.status for o in again] == ["skipped"]
    assert len(calls) == 1
    # A process that was down all morning catches the day up once.
    assert [o.status for o in jobs.run_due_jobs(local(15, 0, day=2), [job])] == ["done"]
    assert len(calls) == 2


def test_a_second_scheduler_does_not_run_a_claimed_slot(app, db_session):
    calls: list = []
    job = _counting_job(calls)
    db_session.add(
        JobRun(
            job="test_job", slot="2026-12-01", status=JobRunStatus.RUNNING, started_at=local(9, 0)
        )
    )
    db_session.commit()
    assert [o.status for o in jobs.run_due_jobs(local(9, 5), [job])] == ["skipped"]
    assert calls == []
    # The holder died: after the stale period another scheduler takes the slot over.
    assert [o.status for o in jobs.run_due_jobs(local(9, 31), [job])] == ["done"]
    assert len(calls) == 1


def test_a_failed_job_is_recorded_and_retried_later(app, db_session):
    calls: list = []
    failing = _counting_job(calls, fail=True)
    assert [o.status for o in jobs.run_due_jobs(local(9, 0), [failing])] == ["failed"]
    run = db_session.scalar(select(JobRun).where(JobRun.job == "test_job"))
    assert run.status == JobRunStatus.FAILED and "broken job" in run.error
    assert [o.status for o in jobs.run_due_jobs(local(9, 10), [failing])] == ["skipped"]
    assert [o.status for o in jobs.run_due_jobs(local(9, 40), [failing])] == ["failed"]
    assert len(calls) == 2


def test_tick_command_generates_the_year_once(app, db_session):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["tracker", "bootstrap", "--demo"]).exit_code == 0
    before = db_session.scalar(select(func.count()).select_from(ChecklistItem))
    result = runner.invoke(args=["tracker", "tick", "--now", "2027-01-04T01:30"])
    assert result.exit_code == 0, result.output
    assert "generate_items [2027-01-04]: done" in result.output
    after = db_session.scalar(select(func.count()).select_from(ChecklistItem))
    assert after > before  # the 2027 items now exist
    again = runner.invoke(args=["tracker", "tick", "--now", "2027-01-04T02:00"])
    assert "generate_items [2027-01-04]: skipped" in again.output
    assert db_session.scalar(select(func.count()).select_from(ChecklistItem)) == after


def test_tick_rejects_a_bad_instant(app, db_session):
    result = app.test_cli_runner().invoke(args=["tracker", "tick", "--now", "yesterday"])
    assert result.exit_code == 1 and "ISO-8601" in result.output


def test_a_job_that_claims_its_own_work_runs_every_minute_without_run_records(app, db_session):
    calls: list = []

    def run(_session, now):
        calls.append(now)
        return {}

    every_minute = jobs.Job("test_every_minute", jobs.every_minute, run, once_per_slot=False)
    for minute in (0, 0, 1, 2):
        outcomes = jobs.run_due_jobs(local(9, minute), [every_minute])
        assert [(o.slot[-5:], o.status) for o in outcomes] == [(f"09:0{minute}", "done")]
    assert len(calls) == 4
    assert db_session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_the_job_table_runs_items_reminders_then_dispatch(app):
    with app.app_context():
        table = jobs.job_table()
    assert [(j.name, j.once_per_slot) for j in table] == [
        ("generate_items", True),
        ("reminders", True),
        ("dispatch", False),
        ("clean_storage", True),
        ("prune_sign_ins", True),
        ("refresh_statistics", True),
    ]


def test_storage_cleaning_removes_only_stale_temporary_files(app, db_session):
    """A killed upload leaves its pending file in the store: the nightly job removes it once
    nobody has written to it for a day; an upload in progress keeps its file."""
    import os

    from tracker.storage import storage_from_config

    storage = storage_from_config(app.config)
    stale, fresh = storage.begin(), storage.begin()
    for pending in (stale, fresh):
        pending.write(b"%PDF-1.7 partial")
    stale_path, fresh_path = stale.temp_path, fresh.temp_path
    day_and_more = (datetime.now() - timedelta(hours=25)).timestamp()
    os.utime(stale_path, (day_and_more, day_and_more))
    outcomes = jobs.run_due_jobs(
        local(2, 30), [j for j in jobs.job_table() if j.name == "clean_storage"]
    )
    assert [(o.status, o.summary) for o in outcomes] == [("done", {"temporary_files_removed": 1})]
    assert storage.temp_files() == [fresh_path] and not stale_path.exists()
    stale.abort()  # what the killed process would have done: its file is gone already
    fresh.abort()


def test_sign_ins_past_their_lifetime_are_deleted_nightly(app, db_session, bureau):
    """Browsers closed without signing out leave their sign-in: gone once it could not be
    used any more (older than TRACKER_REMEMBER_DAYS)."""
    from tracker.models import SignIn
    from tracker.services.sign_ins import open_sign_in

    chief, night = bureau.user(Role.CHIEF), local(2, 40)
    lifetime = app.config["REMEMBER_COOKIE_DURATION"]
    open_sign_in(db_session, user=chief, now=night - lifetime - timedelta(seconds=1))
    open_sign_in(db_session, user=chief, now=night - lifetime + timedelta(minutes=1))
    kept = chief.sign_in_key
    db_session.commit()
    outcomes = jobs.run_due_jobs(night, [j for j in jobs.job_table() if j.name == "prune_sign_ins"])
    assert [(o.status, o.summary) for o in outcomes] == [("done", {"sign_ins_removed": 1})]
    assert db_session.scalars(select(SignIn.key)).all() == [kept]


def test_planner_statistics_are_refreshed_nightly_on_sqlite(app, db_session, bureau):
    """SQLite plans from the statistics ANALYZE writes; PostgreSQL's autovacuum keeps its own."""
    from sqlalchemy import text

    from tests.factories import make_item

    for _ in range(3):
        make_item(db_session, unit=bureau.section)
    db_session.commit()
    outcomes = jobs.run_due_jobs(
        local(2, 45), [j for j in jobs.job_table() if j.name == "refresh_statistics"]
    )
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    assert [(o.status, o.summary) for o in outcomes] == [("done", {"analyzed": sqlite})]
    if sqlite:
        analysed = db_session.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1")).all()
        assert {"checklist_item", "item_tally", "unit"} <= set(analysed)
