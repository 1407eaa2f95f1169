"""Factories for test data, built through the services so audit events are real."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Role, Unit, UnitKind, User
from tracker.services import directory

PASSWORD = "correct-horse-battery"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_sequence = itertools.count(1)


def make_unit(
    session: Session,
    *,
    parent: Unit | None = None,
    code: str | None = None,
    name: str | None = None,
    kind: UnitKind = UnitKind.SECTION,
) -> Unit:
    n = next(_sequence)
    return directory.create_unit(
        session,
        actor=None,
        code=code or f"U{n}",
        name=name or f"测试科{n}",
        name_en=f"Test section {n}",
        kind=kind,
        parent=parent,
        now=T0,
    )


def make_user(
    session: Session,
    *,
    unit: Unit,
    role: Role = Role.STAFF,
    email: str | None = None,
    name: str | None = None,
    password: str = PASSWORD,
) -> User:
    n = next(_sequence)
    return directory.create_user(
        session,
        actor=None,
        email=email or f"user{n}@test.example.org",
        name=name or f"测试{n}",
        role=role,
        unit=unit,
        password=password,
        now=T0,
    )


@dataclass
class Bureau:
    root: Unit
    legal: Unit  # 法规科: home of the admin and an inspector
    section: Unit  # a business section with a chief and staff
    station: Unit  # another unit, with its own chief and staff
    users: dict[str, User] = field(default_factory=dict)

    def user(self, role: Role | str) -> User:
        return self.users[str(role)]


def make_bureau(session: Session) -> Bureau:
    root = make_unit(session, code="ROOT", name="区市场监督管理局", kind=UnitKind.BUREAU)
    legal = make_unit(session, parent=root, code="LEGAL", name="法规科")
    section = make_unit(session, parent=root, code="SEC", name="食品安全监管科")
    station = make_unit(
        session, parent=root, code="STA", name="仓前市场监管所", kind=UnitKind.STATION
    )
    bureau = Bureau(root, legal, section, station)
    for role, unit in [
        (Role.ADMIN, legal),
        (Role.LEADER, root),
        (Role.INSPECTOR, legal),
        (Role.CHIEF, section),
        (Role.STAFF, section),
    ]:
        bureau.users[str(role)] = make_user(
            session, unit=unit, role=role, email=f"{role}@test.example.org"
        )
    bureau.users["other_chief"] = make_user(
        session, unit=station, role=Role.CHIEF, email="other.chief@test.example.org"
    )
    session.commit()
    return bureau


# ---------------------------------------------------------------- catalogue, calendar, cases


def catalogue_entry(code: str | None = None, **overrides) -> dict:
    """A valid catalogue entry (format 1) for an event requirement; override any field."""
    n = next(_sequence)
    entry = {
        "code": code or f"T{chr(65 + (n // 100) % 26)}-{n % 100:02d}",
        "family": "publicity",
        "title_zh": f"测试要求{n}",
        "title_en": f"Test requirement {n}",
        "description_zh": "测试用要求。",
        "description_en": "A requirement made by the tests.",
        "legal_basis": "《测试规定》第一条",
        "kind": "task",
        "cadence": "event",
        "trigger": "decided_on",
        "applies_to": "all",
        "deadline": {"type": "working_days", "days": 20},
        "evidence_hint_zh": "截图",
        "evidence_hint_en": "Screenshot",
        "owners": ["case_unit"],
    }
    if overrides.get("cadence", "event") != "event":
        entry.pop("trigger")
        entry.pop("applies_to")
        entry["deadline"] = {"type": "period_end", "working_days": 10}
        entry["owners"] = ["kind:station"]
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


def make_requirement(session: Session, code: str | None = None, **overrides):
    """A requirement saved through the catalogue service (version 1 with its snapshot)."""
    from tracker.models import Requirement
    from tracker.services import catalogue

    entry = catalogue.validate_entry(catalogue_entry(code, **overrides), source="factory")
    catalogue.save_entries(session, actor=None, entries=[entry], source="factory", now=T0)
    return session.scalar(select(Requirement).where(Requirement.code == entry["code"]))


def seed_official_holidays(session: Session) -> None:
    """The chinesecalendar years, as `bootstrap` loads them."""
    from tracker.services import holidays

    holidays.seed_official(session, now=T0)


def make_case(session: Session, *, unit: Unit, decided_on, now: datetime = T0, **fields):
    """A case registered through the service, with its event items."""
    from tracker.services import cases

    fields.setdefault("case_no", f"测试〔2026〕{next(_sequence)}号")
    return cases.register_case(
        session, actor=None, unit=unit, decided_on=decided_on, now=now, **fields
    )


def make_item(
    session: Session,
    *,
    unit: Unit,
    requirement=None,
    period: str = "2026",
    now: datetime = T0,
    **fields,
):
    """One periodic checklist item of `unit` (an annual task requirement unless one is given)."""
    from tracker.models import ChecklistItem
    from tracker.services import checklist, holidays

    if requirement is None:
        requirement = make_requirement(session, cadence="annual", owners=[unit.code])
    deadline = checklist.item_deadline(
        requirement.deadline_rule, calendar=holidays.load_calendar(session), period=period
    )
    row = checklist.item_row(
        requirement_id=requirement.id,
        requirement_version=requirement.version,
        unit_id=unit.id,
        deadline=deadline,
        now=now,
        today=checklist.local_today(now),
        period=period,
    )
    item = ChecklistItem(**{**row, **fields})
    session.add(item)
    session.flush()
    return item
