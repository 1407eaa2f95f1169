"""The scheduled jobs: one table, one runner.

A scheduler (APScheduler, in `make run`'s server process or in `tracker scheduler`) only calls
`run_due_jobs` every minute. Whether a job is due, and whether it already ran, is decided from the
database (`JobRun`, unique per job and slot), so a restart catches a missed run up once, and two
schedulers running at once still run each slot once.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.clock import get_clock
from tracker.extensions import db
from tracker.models.scheduling import JobRun, JobRunStatus

log = logging.getLogger(__name__)

# A claim older than this whose process never finished (killed mid-run) may be taken over.
STALE_CLAIM = timedelta(minutes=30)


@dataclass(frozen=True)
class Job:
    name: str
    # The slot due at this local instant (e.g. "2026-12-01"), or None when nothing is due yet.
    due_slot: Callable[[datetime], str | None]
    # The one service call: (session, now) -> summary for the log and `tick`'s output.
    run: Callable[[Session, datetime], dict]
    # Claim each slot in JobRun (run once per slot across processes). A job safe to run anywhere
    # at any time (the dispatcher claims its own rows) skips it: no row per minute piles up.
    once_per_slot: bool = True


def daily_at(hour: int, minute: int = 0) -> Callable[[datetime], str | None]:
    """Due once a day from hh:mm local time on; a day missed entirely is not replayed."""

    def due_slot(local_now: datetime) -> str | None:
        if (local_now.hour, local_now.minute) < (hour, minute):
            return None
        return local_now.date().isoformat()

    return due_slot


def every_minute(local_now: datetime) -> str:
    """Due every minute: the slot is the local minute, so each minute's run happens once."""
    return local_now.strftime("%Y-%m-%dT%H:%M")


def _generate_items(session: Session, now: datetime) -> dict:
    from tracker.services import checklist, holidays

    year = get_clock().local(now).year
    result = checklist.generate_year(
        session, year=year, now=now, calendar=holidays.load_calendar(session)
    )
    return {"year": year, "created": result.created, "existing": result.existing}


def _reminders(session: Session, now: datetime) -> dict:
    from tracker.services.reminders import run_reminder_pass

    return run_reminder_pass(session, now=now)


def _dispatch(session: Session, now: datetime) -> dict:
    from tracker.services.dispatch import dispatch_due

    return dispatch_due(session, now)


TEMP_FILE_AGE = timedelta(hours=24)  # an upload in progress keeps touching its file


def _clean_storage(_session: Session, _now: datetime) -> dict:
    """Remove the temporary files of uploads a killed process left in blob storage."""
    from tracker.storage import storage_from_config

    removed = storage_from_config(current_app.config).cleanup_temp(TEMP_FILE_AGE)
    return {"temporary_files_removed": removed}


def _prune_sign_ins(session: Session, now: datetime) -> dict:
    """Delete the sign-ins of browsers closed without signing out, once past their lifetime."""
    from tracker.services.sign_ins import prune_sign_ins, sign_in_lifetime

    removed = prune_sign_ins(session, now=now, lifetime=sign_in_lifetime(current_app.config))
    return {"sign_ins_removed": removed}


def _refresh_statistics(session: Session, _now: datetime) -> dict:
    """Refresh SQLite's query-planner statistics (PostgreSQL's autovacuum keeps its own).

    Without them SQLite guesses how selective each index is, and a database that grew from a
    few items to a city's never had any: the bench measures analysed databases, production
    should be one too (with statistics missing for one index, a chief's counts took a plan
    ten times slower). Sampled (`analysis_limit`): milliseconds on a million items.
    """
    if session.get_bind().dialect.name != "sqlite":
        return {"analyzed": False}
    session.execute(text("PRAGMA analysis_limit=1000"))
    session.execute(text("ANALYZE"))
    return {"analyzed": True}


def job_table() -> list[Job]:
    """Every scheduled job of the application, in the order a tick runs them.

    Items first (a new year's items get their reminders the same day), then the reminder pass
    that writes the outbox, then the dispatcher that sends it.
    """
    reminder_hour = int(current_app.config.get("TRACKER_REMINDER_HOUR", 9))
    return [
        Job("generate_items", daily_at(1, 0), _generate_items),
        Job("reminders", daily_at(reminder_hour), _reminders),
        Job("dispatch", every_minute, _dispatch, once_per_slot=False),
        Job("clean_storage", daily_at(2, 30), _clean_storage),
        Job("prune_sign_ins", daily_at(2, 40), _prune_sign_ins),
        Job("refresh_statistics", daily_at(2, 45), _refresh_statistics),
    ]


@dataclass(frozen=True)
class JobOutcome:
    job: str
    slot: str
    status: str  # done | failed | skipped (already claimed by this or another process)
    summary: dict


def _claim(session: Session, job: str, slot: str, now: datetime) -> bool:
    """Claim the slot for this process; False when another process holds or finished it."""
    try:
        with session.begin_nested():
            session.add(JobRun(job=job, slot=slot, status=JobRunStatus.RUNNING, started_at=now))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
    # Taken: take it over only if its holder died (still RUNNING long after it started).
    taken = session.execute(
        update(JobRun)
        .where(
            JobRun.job == job,
            JobRun.slot == slot,
            JobRun.status.in_([JobRunStatus.RUNNING, JobRunStatus.FAILED]),
            JobRun.started_at < now - STALE_CLAIM,
        )
        .values(status=JobRunStatus.RUNNING, started_at=now, error=None)
    ).rowcount
    session.commit()
    return taken == 1


def run_job(session: Session, job: Job, now: datetime) -> JobOutcome | None:
    """Run one job if a slot is due and unclaimed; commits its work and its record."""
    slot = job.due_slot(get_clock().local(now))
    if slot is None:
        return None
    if not job.once_per_slot:
        return _run_unrecorded(session, job, slot, now)
    if not _claim(session, job.name, slot, now):
        return JobOutcome(job.name, slot, "skipped", {})
    try:
        summary = job.run(session, now)
        session.flush()
    except Exception as error:  # a failed job is recorded, retried after STALE_CLAIM
        session.rollback()
        log.exception("job %s for %s failed", job.name, slot)
        session.execute(
            update(JobRun)
            .where(JobRun.job == job.name, JobRun.slot == slot)
            .values(
                status=JobRunStatus.FAILED,
                finished_at=now,
                error="".join(traceback.format_exception_only(error))[:2000],
            )
        )
        session.commit()
        return JobOutcome(job.name, slot, "failed", {"error": str(error)})
    record = session.scalar(select(JobRun).where(JobRun.job == job.name, JobRun.slot == slot))
    record.status = JobRunStatus.DONE
    record.finished_at = now
    record.summary = summary
    session.commit()
    return JobOutcome(job.name, slot, "done", summary)


def _run_unrecorded(session: Session, job: Job, slot: str, now: datetime) -> JobOutcome:
    try:
        summary = job.run(session, now)
        session.commit()
    except Exception as error:  # logged; the next minute tries again
        session.rollback()
        log.exception("job %s for %s failed", job.name, slot)
        return JobOutcome(job.name, slot, "failed", {"error": str(error)})
    return JobOutcome(job.name, slot, "done", summary)


def run_due_jobs(now: datetime, jobs: list[Job] | None = None) -> list[JobOutcome]:
    """One pass of every due job as of `now` (what `tracker tick` and the scheduler call)."""
    outcomes = []
    for job in jobs or job_table():
        outcome = run_job(db.session, job, now)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def start_scheduler(app: Flask, *, blocking: bool = False):
    """Start APScheduler calling `run_due_jobs` every minute (one instance at a time)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    def tick() -> None:
        with app.app_context():
            for outcome in run_due_jobs(get_clock().now()):
                log.info(
                    "job %s %s: %s %s", outcome.job, outcome.slot, outcome.status, outcome.summary
                )

    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(timezone=app.config["TRACKER_TIMEZONE"])
    # coalesce + max_instances=1: a slow pass is never run twice at once or replayed N times.
    scheduler.add_job(
        tick,
        "interval",
        minutes=1,
        id="tick",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now(get_clock().tz),
    )
    scheduler.start()
    return scheduler
