"""Helpers available in every template: navigation, permissions, labels, dates."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, current_app
from flask_babel import format_date, format_datetime
from flask_login import current_user

from tracker.i18n import current_locale
from tracker.permissions import (
    NAV_GROUPS,
    ROLE_LABELS,
    Permission,
    has_permission,
    navigation_menu,
)
from tracker.review.queue import waiting_in_this_request


def long_date(value: date | datetime | None) -> str:
    """2026年12月1日 in Chinese, 1 Dec 2026 in English."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = current_app.extensions["tracker_clock"].local(value).date()
    if current_locale().startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return format_date(value, "d MMM y")


def long_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = current_app.extensions["tracker_clock"].local(value)
    if current_locale().startswith("zh"):
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return format_datetime(local, "d MMM y HH:mm")


def weekday(value: date) -> str:
    """周三 in Chinese, Wed in English (Babel's abbreviated day name)."""
    return format_date(value, "EEE")


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["long_date"] = long_date
    app.jinja_env.filters["weekday"] = weekday
    app.jinja_env.filters["long_datetime"] = long_datetime

    @app.context_processor
    def inject_helpers() -> dict:
        return {
            "navigation_menu": navigation_menu(current_user),
            "nav_group_labels": NAV_GROUPS,
            # Shown as a badge on the review-queue entry; one COUNT, for reviewers only.
            "review_waiting": waiting_in_this_request(),
            "can": lambda permission: has_permission(current_user, Permission(permission)),
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "current_locale": current_locale(),
            "unit_label": lambda unit: unit.display_name(current_locale()) if unit else "",
        }
