"""Time the daily reminder pass on the bench database (run as a child process; prints JSON).

Each repetition runs `run_reminder_pass` on the latest working day at 10:00 and rolls back, so
every repetition writes the same messages into an outbox that has none for that day yet. The
app comes from wsgi.py, as in the scheduler process that runs the pass.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(repetitions: int) -> None:
    from tracker.clock import get_clock
    from tracker.extensions import db
    from tracker.services import holidays
    from tracker.services.reminders import run_reminder_pass

    # The app as the scheduler process has it (`flask --app wsgi tracker scheduler`), with
    # wsgi.py's settings of the garbage collector: create_app() alone measured a process the
    # application never runs in (1.0 s a pass instead of 0.75 on the city copy).
    from wsgi import app

    with app.app_context():
        calendar = holidays.load_calendar(db.session)
        day = get_clock().today()
        while not calendar.is_working_day(day):
            day -= timedelta(days=1)
        now = datetime.combine(day, datetime.min.time().replace(hour=10), get_clock().tz)
        seconds, summary = [], {}
        for _ in range(repetitions):
            started = time.perf_counter()
            summary = run_reminder_pass(db.session, now=now)
            db.session.flush()
            seconds.append(time.perf_counter() - started)
            db.session.rollback()
        print(json.dumps({"day": day.isoformat(), "seconds": seconds, "summary": summary}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
