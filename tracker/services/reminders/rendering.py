"""The text of the day's messages in one language: emails (plain text and HTML) and DingTalk
group markdown, each line rendered once and shared by every message that lists it."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape

from tracker.models import ItemStatus, NotificationChannel, NotificationKind, ReminderPolicy, Unit
from tracker.models.checklist import STATUS_LABELS
from tracker.notify.dingtalk import markdown_text
from tracker.services.reminders.drafts import (
    DUE_SOON,
    OVERDUE,
    SECTION_ORDER,
    WAITING,
    Draft,
    Line,
    line_order,
)

PREFERENCES_PATH = "/account/notifications"  # main.notification_preferences, linked in emails
# Lines listed per section of one message (the most urgent first); the rest are counted and
# linked. Unbounded, a bureau's backlog made messages of thousands of lines that nobody reads
# and a daily pass of a minute at a million items (bench/README.md).
MAX_ROWS_PER_SECTION = 50


def _base_url() -> str:
    return current_app.config.get("TRACKER_BASE_URL", "").rstrip("/")


def _date_label(value: date, locale: str) -> str:
    if locale.startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value:%Y-%m-%d}"


# What the templates read: objects with attributes, not dicts (Jinja's `section.rows` on a dict
# raises and catches an AttributeError first).


@dataclass
class _Row:
    """One listed line, translated, and as the emails show it."""

    id: int
    section: str
    code: str
    title: str
    scope: str
    unit: str
    due: str
    status: str
    note: str
    url: str
    assignee: str | None  # only in messages that show the assignee
    # Rendered once by `_text_row` and `_html_row`, then pasted into every email listing it.
    text: str = ""
    html: Markup = field(default_factory=Markup)


@dataclass(frozen=True)
class _Section:
    key: str  # OVERDUE | DUE_SOON | WAITING
    heading: str
    total: int
    rows: list[_Row]
    more: int  # lines not listed
    more_text: str
    more_url: str


@dataclass(frozen=True)
class _Labels:
    requirement: str
    unit: str
    due_date: str
    status: str
    assignee: str


class Renderer:
    """The day's messages in one language (used inside `force_locale` of that language).

    Every label is translated once, and each line's row once, then shared by every message
    that lists it (a waiting submission goes to every inspector, an overdue item to its
    assignee, its chiefs and the leaders): Babel lookups per line were most of a city's pass.
    """

    def __init__(
        self, locale: str, *, day: date, policy: ReminderPolicy, units: dict[int, Unit]
    ) -> None:
        self.locale = locale
        self.day = day
        self.policy = policy
        self.units = units
        self.base_url = _base_url()
        self.statuses = {status: str(label) for status, label in STATUS_LABELS.items()}
        self.headings = {
            OVERDUE: _("Overdue"),
            DUE_SOON: _("Due soon"),
            WAITING: _("Waiting for review"),
        }
        self.unassigned = _("Unassigned")
        self.date_line = _("Reminders of %(date)s", date=_date_label(day, locale))
        self.labels = _Labels(
            requirement=_("Requirement"),
            unit=_("Unit"),
            due_date=_("Due date"),
            status=_("Status"),
            assignee=_("Assigned to"),
        )
        self.app_name = _("Compliance Ledger")
        self.email_context = {
            "app_name": self.app_name,
            "date_line": self.date_line,
            "labels": self.labels,
            "preferences_url": f"{self.base_url}{PREFERENCES_PATH}",
            "preferences_text": _("Choose which reminders you receive:"),
            "preferences_link": _("Reminder settings"),
            "footer": _("This message was sent automatically by the Compliance Ledger."),
            "lang": "en" if locale.startswith("en") else "zh-CN",
        }
        # Compiled once by the app's Jinja environment (no per-message context processors).
        jinja = current_app.jinja_env
        self.text_template = jinja.get_template("email/digest.txt")
        self.html_template = jinja.get_template("email/digest.html")
        self._rows: dict[tuple[int, str, bool], _Row] = {}
        self._notes: dict[tuple[str, int, date | None], str] = {}
        self._more: dict[int, str] = {}
        self._listings: dict[int, tuple[dict[int, Line], tuple[list[Line], list[int]]]] = {}
        self._subjects: dict[tuple[NotificationKind, int, int, int], tuple[str, str]] = {}

    def listing(self, draft: Draft) -> tuple[list[Line], list[int]]:
        """The draft's lines, most urgent first, and their item ids; built once for all the
        drafts sharing their lines (each inspector's message lists every waiting submission)."""
        if not draft.shared:
            return _listing(draft.lines)
        key = id(draft.lines)
        if key not in self._listings:
            # The dict is kept with its listing, so its id cannot be reused meanwhile.
            self._listings[key] = (draft.lines, _listing(draft.lines))
        return self._listings[key][1]

    def outbox_row(self, draft: Draft, *, now: datetime) -> dict[str, Any]:
        """The values of the draft's `Notification` row."""
        lines, item_ids = self.listing(draft)
        if draft.channel == NotificationChannel.DINGTALK:
            subject, text, html = self.unit_digest(draft, lines)
        else:
            subject, text, html = self.email(draft, lines)
        return {
            "channel": draft.channel,
            "kind": draft.kind,
            "recipient_key": draft.recipient_key,
            "recipient_id": draft.user.id if draft.user is not None else None,
            "unit_id": draft.unit.id if draft.unit is not None else None,
            "address": draft.user.email if draft.user is not None else None,
            "digest_date": self.day,
            "locale": self.locale,
            "subject": subject[:300],
            "body_text": text,
            "body_html": html,
            "item_ids": item_ids,
            "next_attempt_at": now,
            "created_at": now,
        }

    def note(self, line: Line) -> str:
        """Why the line is listed: how late, how soon, or how long waiting."""
        on = (line.submitted_on or line.item.due_date) if line.section == WAITING else None
        key = (line.section, line.days, on)
        if key not in self._notes:
            self._notes[key] = _note(
                line.section, line.days, _date_label(on, self.locale) if on else ""
            )
        return self._notes[key]

    def row(self, line: Line, *, with_assignee: bool) -> _Row:
        """The line as the templates show it (built once per line, read by every template)."""
        key = (line.item.id, line.section, with_assignee)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = self._build_row(line, with_assignee=with_assignee)
            row.text = _text_row(row, self.labels, with_assignee=with_assignee)
            row.html = _html_row(row, with_assignee=with_assignee)
        return row

    def _build_row(self, line: Line, *, with_assignee: bool) -> _Row:
        item = line.item
        assignee = None
        if with_assignee:
            assignee = line.assignee.name if line.assignee is not None else self.unassigned
        return _Row(
            id=item.id,
            section=line.section,
            code=item.code,
            title=item.title_en if self.locale.startswith("en") else item.title_zh,
            scope=item.scope_label,
            unit=self.units[item.unit_id].display_name(self.locale),
            due=_date_label(item.due_date, self.locale),
            status=self.statuses[ItemStatus(item.status)],
            note=self.note(line),
            url=f"{self.base_url}/items/{item.id}",
            assignee=assignee,
        )

    def more_text(self, more: int) -> str:
        if more not in self._more:
            self._more[more] = ngettext(
                "… and %(num)d more item, listed in the tracker:",
                "… and %(num)d more items, listed in the tracker:",
                more,
            )
        return self._more[more]

    def sections(self, lines: list[Line], *, with_assignee: bool) -> list[_Section]:
        """The (sorted) lines per section, the most urgent MAX_ROWS_PER_SECTION each; the rest
        counted."""
        sections: list[_Section] = []
        for section, order in SECTION_ORDER.items():
            # Bisected, not scanned: an inspector's message holds every waiting submission.
            start = bisect_left(lines, (order,), key=line_order)
            end = bisect_left(lines, (order + 1,), key=line_order)
            if start == end:
                continue
            shown = lines[start : min(end, start + MAX_ROWS_PER_SECTION)]
            more = end - start - len(shown)
            sections.append(
                _Section(
                    key=section,
                    heading=self.headings[section],
                    total=end - start,
                    rows=[self.row(line, with_assignee=with_assignee) for line in shown],
                    more=more,
                    more_text=self.more_text(more) if more else "",
                    more_url=f"{self.base_url}{MORE_PATHS[section]}",
                )
            )
        return sections

    def subject_and_intro(self, kind: NotificationKind, lines: list[Line]) -> tuple[str, str]:
        """Translated once per kind and count: most digests list one or two items."""
        overdue = soon = 0
        if kind == NotificationKind.DIGEST:  # the only subject that counts per section
            overdue = sum(1 for line in lines if line.section == OVERDUE)
            soon = sum(1 for line in lines if line.section == DUE_SOON)
        key = (kind, overdue, soon, len(lines))
        if key not in self._subjects:
            self._subjects[key] = _email_subject_and_intro(
                kind, overdue=overdue, soon=soon, total=len(lines), policy=self.policy
            )
        return self._subjects[key]

    def email(self, draft: Draft, lines: list[Line]) -> tuple[str, str, str]:
        """Subject, plain text and HTML of one email."""
        subject, intro = self.subject_and_intro(draft.kind, lines)
        with_assignee = draft.kind != NotificationKind.DIGEST
        context = {
            **self.email_context,
            "subject": subject,
            "greeting": _("Dear %(name)s,", name=draft.user.name if draft.user else ""),
            "intro": intro,
            "sections": self.sections(lines, with_assignee=with_assignee),
            "with_assignee": with_assignee,
        }
        text = self.text_template.render(context)
        html = self.html_template.render(context)
        return f"[{self.app_name}] {subject}", text, html

    def unit_digest(self, draft: Draft, lines: list[Line]) -> tuple[str, str, None]:
        """Subject and markdown body of a unit's DingTalk group message."""
        unit = draft.unit
        assert unit is not None
        overdue = sum(1 for line in lines if line.section == OVERDUE)
        soon = sum(1 for line in lines if line.section == DUE_SOON)
        subject = _(
            "%(unit)s: %(overdue)d overdue, %(soon)d due soon",
            unit=unit.display_name(self.locale),
            overdue=overdue,
            soon=soon,
        )
        out = [f"### {_md(subject)}", "", _md(self.date_line)]
        due_label, assignee_label = _md(self.labels.due_date), _md(self.labels.assignee)
        for section in self.sections(lines, with_assignee=True):
            out += ["", f"#### {_md(section.heading)}", ""]
            for row in section.rows:
                out.append(
                    f"- [{_md(row.code)} {_md(row.title)}]({row.url})  \n"
                    f"  {due_label}: {row.due} · {_md(row.status)} · "
                    f"{_md(row.note)} · {assignee_label}: {_md(row.assignee)}"
                )
            if section.more:
                out.append(f"- {_md(section.more_text)} {section.more_url}")
        return subject, "\n".join(out) + "\n", None


# A line's rows in the emails, made here rather than by a Jinja macro: a city's pass renders
# thousands of them, and the macro calls (argument binding, an attribute lookup through the
# environment per field) cost twice these functions, about a third of the pass. digest.txt
# and digest.html paste them in.


def _text_row(row: _Row, labels: _Labels, *, with_assignee: bool) -> str:
    scope = f" · {row.scope}" if row.scope else ""
    assignee = f"\n  {labels.assignee}: {row.assignee}" if with_assignee else ""
    return (
        f"* {row.code} {row.title}{scope}\n"
        f"  {labels.unit}: {row.unit}\n"
        f"  {labels.due_date}: {row.due} ({row.note})\n"
        f"  {labels.status}: {row.status}{assignee}\n"
        f"  {row.url}"
    )


def _html_row(row: _Row, *, with_assignee: bool) -> Markup:
    """The line as a table row, every value escaped (the id is an int)."""
    scope = f" · {escape(row.scope)}" if row.scope else ""
    assignee = f"<td>{escape(row.assignee)}</td>" if with_assignee else ""
    return Markup(  # noqa: S704
        f'      <tr data-item-id="{row.id}">\n'
        f'        <td><a href="{escape(row.url)}">{escape(row.code)} {escape(row.title)}</a>'
        f"{scope}</td>\n"
        f"        <td>{escape(row.unit)}</td>\n"
        f"        <td>{escape(row.due)}<br>"
        f'<span style="color: #6c757d;">{escape(row.note)}</span></td>\n'
        f"        <td>{escape(row.status)}</td>\n"
        f"        {assignee}\n"
        "      </tr>"
    )


def _listing(lines: dict[int, Line]) -> tuple[list[Line], list[int]]:
    ordered = sorted(lines.values(), key=line_order)
    return ordered, [line.item.id for line in ordered]


# Where the rest of a long section can be read in full.
MORE_PATHS = {OVERDUE: "/items/?status=overdue", DUE_SOON: "/items/", WAITING: "/review/"}


def _note(section: str, days: int, date_label: str) -> str:
    if section == OVERDUE:
        return ngettext("Overdue by %(num)d working day", "Overdue by %(num)d working days", days)
    if section == WAITING:
        return ngettext(
            "Submitted on %(date)s, waiting for %(num)d working day",
            "Submitted on %(date)s, waiting for %(num)d working days",
            days,
            date=date_label,
        )
    if days == 0:
        return _("Due today")
    return ngettext("Due in %(num)d working day", "Due in %(num)d working days", days)


def _email_subject_and_intro(
    kind: NotificationKind, *, overdue: int, soon: int, total: int, policy: ReminderPolicy
) -> tuple[str, str]:
    """The email's subject and first paragraph, in the active (forced) locale."""
    if kind == NotificationKind.DIGEST:
        subject = _("Reminder: %(overdue)d overdue, %(soon)d due soon", overdue=overdue, soon=soon)
        intro = _("These checklist items need your attention.")
    elif kind == NotificationKind.ESCALATION_CHIEF:
        subject = ngettext(
            "Escalation: %(num)d item of your unit overdue more than %(days)d working days",
            "Escalation: %(num)d items of your unit overdue more than %(days)d working days",
            total,
            days=policy.escalate_chief_after,
        )
        intro = _(
            "As unit chief you receive the items of your unit that are overdue by more than "
            "%(days)d working days. Please see that they are completed.",
            days=policy.escalate_chief_after,
        )
    elif kind == NotificationKind.ESCALATION_LEADERS:
        subject = ngettext(
            "Escalation: %(num)d item overdue more than %(days)d working days",
            "Escalation: %(num)d items overdue more than %(days)d working days",
            total,
            days=policy.escalate_leaders_after,
        )
        intro = _(
            "These items of the bureau are overdue by more than %(days)d working days.",
            days=policy.escalate_leaders_after,
        )
    else:
        subject = ngettext(
            "Review: %(num)d submission waiting more than %(days)d working days",
            "Review: %(num)d submissions waiting more than %(days)d working days",
            total,
            days=policy.review_waiting_after,
        )
        intro = _(
            "These submissions have waited for review for more than %(days)d working days.",
            days=policy.review_waiting_after,
        )
    return subject, intro


def _md(value: object) -> str:
    """Plain text made inert in DingTalk markdown (no links, images, emphasis or HTML)."""
    return markdown_text(value)
