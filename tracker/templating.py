"""Helpers available in every template: navigation, permissions, labels, dates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from html import escape
from typing import Any

from flask import Flask, current_app
from flask_babel import format_date, format_datetime
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from tracker.i18n import current_locale
from tracker.permissions import (
    NAV_GROUPS,
    ROLE_LABELS,
    Permission,
    has_permission,
    navigation_menu,
)
from tracker.review.queue import waiting_in_this_request


def long_date(value: date | datetime | None, locale: str | None = None) -> str:
    """2026年12月1日 in Chinese, 1 Dec 2026 in English."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = current_app.extensions["tracker_clock"].local(value).date()
    if (locale or current_locale()).startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return format_date(value, "d MMM y")


@pass_context
def _long_date_filter(context: Context, value: date | datetime | None) -> str:
    """long_date in the page's locale, read once by the context processor: a list page
    formats a date per row, and each lookup of the locale walks Babel's request context."""
    return long_date(value, context.get("current_locale"))


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


def select_options(choices: Iterable[tuple[Any, Any]], selected: Any = None) -> Markup:
    """The <option> elements of a select, escaped here in one pass: a city chief's people
    lists hold hundreds of options, which a template loop builds at several times the cost."""
    chosen = None if selected is None else str(selected)
    # Safe: every value and label is escaped (quotes too) just below.
    return Markup(  # noqa: S704
        "".join(
            f'<option value="{escape(str(value), quote=True)}"'
            f"{' selected' if str(value) == chosen else ''}>{escape(str(label))}</option>"
            for value, label in choices
        )
    )


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["long_date"] = _long_date_filter
    app.jinja_env.filters["weekday"] = weekday
    app.jinja_env.filters["long_datetime"] = long_datetime
    app.jinja_env.globals["select_options"] = select_options

    @app.context_processor
    def inject_helpers() -> dict:
        locale = current_locale()
        return {
            "navigation_menu": navigation_menu(current_user),
            "nav_group_labels": NAV_GROUPS,
            # Shown as a badge on the review-queue entry; one COUNT, for reviewers only.
            "review_waiting": waiting_in_this_request(),
            "can": lambda permission: has_permission(current_user, Permission(permission)),
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "current_locale": locale,
            "unit_label": lambda unit: unit.display_name(locale) if unit else "",
        }
