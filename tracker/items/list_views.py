"""'My checklist': the item list with filters and traffic lights; assigning items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires, safe_next
from tracker.i18n import current_locale
from tracker.items import bp
from tracker.items.forms import UNASSIGNED, AssignForm, BulkAssignForm
from tracker.items.page import item_panel
from tracker.models import ChecklistItem, ItemStatus, Requirement, Unit, User
from tracker.models.catalogue import FAMILY_LABELS
from tracker.models.checklist import OWED_STATUSES, STATUS_LABELS
from tracker.page_cache import cached_page
from tracker.permissions import Permission, can_assign_item, can_see_unit, has_permission
from tracker.scoping import unit_choices, unit_scope
from tracker.services import assignment, item_filters, tally
from tracker.services.assignment import ASSIGNABLE_ROLES
from tracker.services.calendar import WorkingCalendar
from tracker.services.errors import PermissionDenied, ValidationFailed
from tracker.services.holidays import load_calendar
from tracker.services.item_filters import ItemFilters

MAX_BULK_ITEMS = 500  # bounds the one query loading the ticked items


# ---------------------------------------------------------------- traffic lights


def traffic_light(
    item: ChecklistItem,
    *,
    today_: date,
    calendar: WorkingCalendar,
    soon_limit: date,
    grace: int,
) -> str:
    """red: overdue beyond the grace; yellow: owed and due soon (or late within the grace)."""
    if item.status not in OWED_STATUSES:
        return "none"
    if item.due_date < today_:
        # With no grace any overdue item is red, even one due on a weekend a day ago.
        if grace <= 0 or calendar.working_days_between(item.due_date, today_) > grace:
            return "red"
        return "yellow"
    return "yellow" if item.due_date <= soon_limit else "none"


# ---------------------------------------------------------------- people


@dataclass(frozen=True)
class Person:
    id: int
    label: str
    active: bool


def _assignable_people(scope: Any, locale: str) -> list[Person]:
    """Officers and chiefs of the units in scope, active or not, labelled, in one query of the
    few columns the labels need (a city chief's select lists hold hundreds of people)."""
    stmt = (
        select(User.id, User.name, User.active, Unit.name, Unit.name_en)
        .join(User.unit)
        .where(User.role.in_(ASSIGNABLE_ROLES))
        .order_by(Unit.path, User.name, User.id)
    )
    if scope is not None:
        stmt = stmt.where(scope)
    deactivated = f" ({_('Deactivated')})"
    english = locale.startswith("en")
    return [
        Person(
            user_id,
            f"{name} · {(unit_en if english and unit_en else unit_name)}"
            + ("" if active else deactivated),
            active,
        )
        for user_id, name, active, unit_name, unit_en in db.session.execute(stmt)
    ]


# ---------------------------------------------------------------- the checklist


@bp.get("/")
@requires(Permission.VIEW_ITEMS)
@cached_page
def index():
    locale = current_locale()
    today_ = today()
    scope = unit_scope(current_user)
    units_stmt = select(Unit).order_by(Unit.path)
    if scope is not None:
        units_stmt = units_stmt.where(scope)
    units = list(db.session.scalars(units_stmt))
    filters = ItemFilters.from_args(request.args)
    calendar = load_calendar(db.session)

    conditions = item_filters.conditions(
        db.session,
        filters,
        user=current_user,
        today=today_,
        calendar=calendar,
        with_status=False,  # the counts per status are over everything else
    )
    counts = tally.list_counts(
        db.session, filters, user=current_user, item_conditions=conditions, today=today_
    )

    due_order = ChecklistItem.due_date.desc() if filters.sort == "-due" else ChecklistItem.due_date
    total = tally.listed_total(counts, filters.status)
    stmt = (
        item_filters.join_unit_and_requirement(
            select(ChecklistItem),
            items_first=total >= item_filters.LONG_LIST,
            dialect=db.session.get_bind().dialect.name,
        )
        .options(
            contains_eager(ChecklistItem.unit),
            contains_eager(ChecklistItem.requirement),
            joinedload(ChecklistItem.assignee),
            joinedload(ChecklistItem.case),
        )
        .where(*conditions)
        .order_by(due_order, Requirement.code, ChecklistItem.id)
    )
    if filters.status:
        stmt = stmt.where(item_filters.status_condition(filters.status, today_))
    page_number = request.args.get("page", 1, type=int) or 1
    page = db.paginate(
        stmt,
        page=page_number,
        per_page=current_app.config["PER_PAGE"],
        error_out=False,
        count=False,  # the counts above give the total without counting the items again
    )
    page.total = total

    soon_limit = calendar.add_working_days(
        today_, current_app.config["TRACKER_DUE_SOON_WORKING_DAYS"]
    )
    grace = current_app.config["TRACKER_OVERDUE_GRACE_WORKING_DAYS"]
    rows = [
        (
            item,
            traffic_light(
                item, today_=today_, calendar=calendar, soon_limit=soon_limit, grace=grace
            ),
        )
        for item in page.items
    ]

    people = _assignable_people(scope, locale)
    bulk_form = None
    if has_permission(current_user, Permission.ASSIGN_ITEMS):
        bulk_form = BulkAssignForm(formdata=None)
        # Rendered by `select_options`: WTForms' per-option widgets cost more than the rest
        # of the page for a few hundred people.
        bulk_form.assignee_id.choices = [(UNASSIGNED, _("Unassigned"))] + [
            (p.id, p.label) for p in people if p.active
        ]
        bulk_form.next.data = request.full_path.rstrip("?")

    # Translated once: a lazy label is translated again wherever the page prints it.
    status_labels = {status: str(label) for status, label in STATUS_LABELS.items()}
    return render_template(
        "items/index.html",
        page=page,
        rows=rows,
        counts=counts,
        filters=filters,
        status_filters=[(s, status_labels[s]) for s in ItemStatus],
        status_labels=status_labels,
        families=list(FAMILY_LABELS.items()),
        units=[(choice.value, choice.label) for choice in unit_choices(units)],
        people=[(p.id, p.label) for p in people],
        bulk_form=bulk_form,
        light_labels={"red": _("Overdue"), "yellow": _("Due soon"), "none": ""},
        today=today_,
    )


# ---------------------------------------------------------------- assigning


def _assignee_or_none(assignee_id: int | None) -> tuple[bool, User | None]:
    """(found, user): the chosen person; (True, None) for "unassigned"."""
    if not assignee_id:
        return True, None
    user = db.session.get(User, assignee_id)
    return user is not None, user


@item_panel
def assign_panel(item: ChecklistItem) -> dict[str, Any]:
    """Context for templates/items/_assign_panel.html on the item page."""
    if not can_assign_item(current_user, item):
        return {"can_assign": False}
    people = list(
        db.session.scalars(
            select(User)
            .where(
                User.unit_id == item.unit_id,
                User.active,
                User.role.in_(ASSIGNABLE_ROLES),
            )
            .order_by(User.name, User.id)
        )
    )
    choices = [(UNASSIGNED, _("Unassigned"))] + [(u.id, u.name) for u in people]
    current = item.assignee
    if current is not None and all(u.id != current.id for u in people):
        # Keep showing who holds it now, even if they could no longer be chosen.
        label = current.name if current.active else f"{current.name} ({_('Deactivated')})"
        choices.append((current.id, label))
    form = AssignForm(formdata=None)
    form.assignee_id.choices = choices
    form.assignee_id.data = item.assignee_id or UNASSIGNED
    return {
        "can_assign": True,
        "assign_form": form,
        "assign_action": url_for("items.assign", item_id=item.id),
    }


@bp.post("/<int:item_id>/assign")
@requires(Permission.ASSIGN_ITEMS, item_id=ChecklistItem, rule=can_assign_item)
def assign(item: ChecklistItem):
    # 404 for another unit's item (its existence is not revealed), then 403 for non-assigners.
    if not can_see_unit(current_user, item.unit):
        abort(404)
    if not can_assign_item(current_user, item):
        abort(403)
    back = url_for("items.detail", item_id=item.id)
    form = AssignForm()
    if not form.validate_on_submit():
        flash(_("Choose a person from the list."), "danger")
        return redirect(back)
    found, assignee = _assignee_or_none(form.assignee_id.data)
    if not found:
        flash(_("Choose a person from the list."), "danger")
        return redirect(back)
    try:
        changed = assignment.assign(
            db.session, actor=current_user, item=item, assignee=assignee, now=now()
        )
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except ValidationFailed as error:
        db.session.rollback()
        flash(str(error.message), "danger")
        return redirect(back)
    db.session.commit()
    code = item.requirement.code
    if not changed:
        flash(_("Nothing changed."), "info")
    elif assignee is None:
        flash(_("%(code)s is no longer assigned to anyone.", code=code), "success")
    else:
        flash(_("%(code)s assigned to %(name)s.", code=code, name=assignee.name), "success")
    return redirect(back)


@bp.post("/bulk-assign")
@requires(Permission.ASSIGN_ITEMS)
def bulk_assign():
    form = BulkAssignForm()
    back = safe_next(form.next.data, url_for("items.index"))
    if not form.validate_on_submit() or not form.item_ids.data:
        flash(_("Select at least one item to assign."), "warning")
        return redirect(back)
    ids = set(form.item_ids.data)
    if len(ids) > MAX_BULK_ITEMS:
        abort(400)
    items = list(
        db.session.scalars(
            select(ChecklistItem)
            .options(joinedload(ChecklistItem.unit), joinedload(ChecklistItem.requirement))
            .where(ChecklistItem.id.in_(ids))
            .order_by(ChecklistItem.id)
        )
    )
    # A missing item and one outside the user's units look the same: neither is revealed.
    if len(items) != len(ids) or not all(can_see_unit(current_user, i.unit) for i in items):
        abort(404)
    found, assignee = _assignee_or_none(form.assignee_id.data)
    if not found:
        flash(_("Choose a person from the list."), "danger")
        return redirect(back)
    try:
        changed = assignment.bulk_assign(
            db.session, actor=current_user, items=items, assignee=assignee, now=now()
        )
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except ValidationFailed as error:
        db.session.rollback()
        flash(
            _(
                "Nothing was assigned: %(reason)s",
                reason=str(error.message),
            ),
            "danger",
        )
        return redirect(back)
    db.session.commit()
    if assignee is None:
        flash(_("Items unassigned: %(count)d.", count=changed), "success")
    else:
        flash(
            _("Items assigned to %(name)s: %(count)d.", name=assignee.name, count=changed),
            "success",
        )
    return redirect(back)
