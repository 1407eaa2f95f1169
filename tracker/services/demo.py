"""The demo bureau, modelled on the seed report's district Market Supervision Bureau."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tracker.models import Role, Unit, UnitKind
from tracker.services import directory

DEMO_DOMAIN = "demo.example.org"

# (code, name, English name, kind); BUREAU is the root, the rest sit under it.
DEMO_UNITS: tuple[tuple[str, str, str, UnitKind], ...] = (
    ("BUREAU", "区市场监督管理局", "District Market Supervision Bureau", UnitKind.BUREAU),
    ("FGK", "法规科", "Legal Affairs Section", UnitKind.SECTION),
    ("BGS", "局办公室", "General Office", UnitKind.OFFICE),
    ("JCDD", "稽查大队", "Inspection Brigade", UnitKind.BRIGADE),
    ("XYK", "信用监管科", "Credit Supervision Section", UnitKind.SECTION),
    ("SPK", "食品安全监管科", "Food Safety Supervision Section", UnitKind.SECTION),
    ("TZK", "特种设备安全监察科", "Special Equipment Safety Section", UnitKind.SECTION),
    ("ZSCQ", "知识产权科", "Intellectual Property Section", UnitKind.SECTION),
    ("CQS", "仓前市场监管所", "Cangqian Market Supervision Station", UnitKind.STATION),
    ("LZS", "良渚市场监管所", "Liangzhu Market Supervision Station", UnitKind.STATION),
    ("WCS", "五常市场监管所", "Wuchang Market Supervision Station", UnitKind.STATION),
    ("XLS", "闲林市场监管所", "Xianlin Market Supervision Station", UnitKind.STATION),
)

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐"
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "平",
    "刚",
    "桂英",
    "丹",
    "萍",
    "鹏",
    "辉",
)


@dataclass(frozen=True)
class DemoSignIn:
    email: str
    name: str
    role: Role
    unit_code: str


def _person(index: int) -> str:
    return _SURNAMES[index % len(_SURNAMES)] + _GIVEN[(index * 7) % len(_GIVEN)]


def demo_people() -> list[DemoSignIn]:
    """Everyone in the demo bureau: admin, leader, two inspectors, a chief and staff per unit."""
    people = [
        DemoSignIn(f"admin@{DEMO_DOMAIN}", "法规科管理员", Role.ADMIN, "FGK"),
        DemoSignIn(f"leader@{DEMO_DOMAIN}", _person(0) + "局长", Role.LEADER, "BUREAU"),
        DemoSignIn(f"inspector1@{DEMO_DOMAIN}", _person(1), Role.INSPECTOR, "FGK"),
        DemoSignIn(f"inspector2@{DEMO_DOMAIN}", _person(2), Role.INSPECTOR, "BGS"),
    ]
    index = 3
    for code, *_rest in DEMO_UNITS[1:]:
        lower = code.lower()
        people.append(DemoSignIn(f"chief.{lower}@{DEMO_DOMAIN}", _person(index), Role.CHIEF, code))
        people.append(
            DemoSignIn(f"staff.{lower}@{DEMO_DOMAIN}", _person(index + 1), Role.STAFF, code)
        )
        index += 2
    return people


def demo_present(session: Session) -> bool:
    return directory.unit_by_code(session, "BUREAU") is not None


def create_demo_bureau(session: Session, *, password: str, now: datetime) -> list[DemoSignIn]:
    """Create the demo units and people unless they exist; returns the sign-ins."""
    people = demo_people()
    if demo_present(session):
        return people
    units: dict[str, Unit] = {}
    for code, name, name_en, kind in DEMO_UNITS:
        units[code] = directory.create_unit(
            session,
            actor=None,
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            parent=units.get("BUREAU"),
            now=now,
        )
    for person in people:
        directory.create_user(
            session,
            actor=None,
            email=person.email,
            name=person.name,
            role=person.role,
            unit=units[person.unit_code],
            password=password,
            now=now,
        )
    return people
