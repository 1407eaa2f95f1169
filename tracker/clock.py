"""The one clock of the application: real time by default, frozen in tests and `tick --now`."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


class Clock:
    """Gives the current instant (aware UTC) and today's date in the bureau's timezone."""

    def __init__(self, timezone: str = "Asia/Shanghai", frozen: datetime | None = None) -> None:
        self.tz: tzinfo = ZoneInfo(timezone)
        self.frozen = frozen

    def now(self) -> datetime:
        """Current instant, timezone-aware UTC."""
        if self.frozen is not None:
            return self.frozen.astimezone(UTC)
        return datetime.now(UTC)

    def today(self) -> date:
        """Today's date in the bureau's timezone (a deadline is a local date)."""
        return self.now().astimezone(self.tz).date()

    def local(self, instant: datetime) -> datetime:
        """An instant expressed in the bureau's timezone."""
        return instant.astimezone(self.tz)

    def freeze(self, instant: datetime | None) -> None:
        """Pin the clock to an instant (naive values are read as bureau-local); None unpins."""
        if instant is not None and instant.tzinfo is None:
            instant = instant.replace(tzinfo=self.tz)
        self.frozen = instant


def get_clock() -> Clock:
    """The application's clock, or a real-time clock outside an application."""
    if has_app_context():
        return current_app.extensions["tracker_clock"]
    return Clock()


def now() -> datetime:
    return get_clock().now()


def today() -> date:
    return get_clock().today()
