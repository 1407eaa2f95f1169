"""Deadline rules of the requirement catalogue turned into a due date and a stated basis."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tracker.services.calendar import WorkingCalendar
from tracker.services.periods import Period

_ONE_DAY = timedelta(days=1)

# Required and optional fields of each rule type, and which input the rule counts from.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "working_days": ("days",),
    "natural_days": ("days",),
    "months": ("months",),
    "years": ("years",),
    "period_end": ("working_days",),
    "fixed": ("month", "day"),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {"fixed": ("year_offset", "exclusive")}
RULE_TYPES: tuple[str, ...] = tuple(_REQUIRED)
TRIGGER_RULES = frozenset({"working_days", "natural_days", "months", "years"})
PERIOD_RULES = frozenset({"period_end", "fixed"})

# Fixed dates are validated against a common year: a statute never sets a deadline on 29 February,
# and a rule that did would have no date in three years out of four.
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_HOLIDAYS_EN: dict[str, str] = {
    "春节": "Spring Festival",
    "国庆节": "National Day",
    "元旦": "New Year's Day",
    "清明节": "Qingming Festival",
    "劳动节": "Labour Day",
    "端午节": "Dragon Boat Festival",
    "中秋节": "Mid-Autumn Festival",
    "抗战胜利纪念日": "Victory Day",
}
_MAX_YEAR_OFFSET = 10


class DeadlineRuleError(ValueError):
    """A deadline rule is malformed or lacks its trigger or period; `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Deadline:
    """A computed due date with the reasoning shown to users."""

    due: date
    provisional: (
        bool  # some year between the start of the count and the due date lacks official data
    )
    basis_zh: str
    basis_en: str
    calendar_version: str


def _int_field(rule: Mapping[str, Any], name: str, *, minimum: int | None = None) -> int:
    """An integer field of a rule, checked for presence, type and lower bound."""
    kind = rule["type"]
    if name not in rule:
        raise DeadlineRuleError(f"deadline rule {kind!r}: missing field {name!r}", field=name)
    value = rule[name]
    # bool is an int subclass; `days: true` in YAML is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeadlineRuleError(
            f"deadline rule {kind!r}: field {name!r} must be an integer, got {value!r}", field=name
        )
    if minimum is not None and value < minimum:
        raise DeadlineRuleError(
            f"deadline rule {kind!r}: field {name!r} must be >= {minimum}, got {value}", field=name
        )
    return value


def validate_rule(rule: Mapping[str, Any]) -> None:
    """Check a catalogue deadline rule; raise DeadlineRuleError naming the faulty field."""
    if not isinstance(rule, Mapping):
        raise DeadlineRuleError(f"deadline rule must be a mapping, got {type(rule).__name__}")
    if "type" not in rule:
        raise DeadlineRuleError("deadline rule: missing field 'type'", field="type")
    kind = rule["type"]
    if not isinstance(kind, str) or kind not in _REQUIRED:
        raise DeadlineRuleError(
            f"deadline rule: field 'type' has unknown value {kind!r}; "
            f"expected one of {', '.join(RULE_TYPES)}",
            field="type",
        )
    # Unknown keys are refused: a misspelt optional field ("exlusive") would otherwise be
    # ignored silently and move a statutory deadline.
    allowed = {"type", *_REQUIRED[kind], *_OPTIONAL.get(kind, ())}
    for key in rule:
        if key not in allowed:
            raise DeadlineRuleError(
                f"deadline rule {kind!r}: unknown field {key!r}; "
                f"allowed: {', '.join(sorted(allowed))}",
                field=str(key),
            )
    match kind:
        case "working_days":
            if _int_field(rule, "days") == 0:
                raise DeadlineRuleError(
                    "deadline rule 'working_days': field 'days' must not be 0 "
                    "(use natural_days with days 0 for a same-day deadline)",
                    field="days",
                )
        case "natural_days":
            _int_field(rule, "days", minimum=0)
        case "months":
            _int_field(rule, "months", minimum=0)
        case "years":
            _int_field(rule, "years", minimum=0)
        case "period_end":
            _int_field(rule, "working_days", minimum=0)
        case "fixed":
            month = _int_field(rule, "month", minimum=1)
            if month > 12:
                raise DeadlineRuleError(
                    f"deadline rule 'fixed': field 'month' must be 1..12, got {month}",
                    field="month",
                )
            day = _int_field(rule, "day", minimum=1)
            if day > _DAYS_IN_MONTH[month - 1]:
                raise DeadlineRuleError(
                    f"deadline rule 'fixed': field 'day' must be 1..{_DAYS_IN_MONTH[month - 1]} "
                    f"for month {month}, got {day}",
                    field="day",
                )
            if "year_offset" in rule:
                offset = _int_field(rule, "year_offset", minimum=-_MAX_YEAR_OFFSET)
                if offset > _MAX_YEAR_OFFSET:
                    raise DeadlineRuleError(
                        f"deadline rule 'fixed': field 'year_offset' must be "
                        f"-{_MAX_YEAR_OFFSET}..{_MAX_YEAR_OFFSET}, got {offset}",
                        field="year_offset",
                    )
            if "exclusive" in rule and not isinstance(rule["exclusive"], bool):
                raise DeadlineRuleError(
                    f"deadline rule 'fixed': field 'exclusive' must be true or false, "
                    f"got {rule['exclusive']!r}",
                    field="exclusive",
                )


def _plural(n: int, word: str) -> str:
    """'1 working day' / '20 working days'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _holiday_en(name: str) -> str:
    """English name of a holiday; unknown names pass through."""
    return _HOLIDAYS_EN.get(name, name)


def _join_en(items: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _count_clauses(calendar: WorkingCalendar, start: date, due: date) -> tuple[str, str]:
    """What a working-day count passed over: holidays skipped and make-up days counted."""
    zh = en = ""
    skipped = calendar.holidays_skipped(start, due)
    if skipped:
        zh += f"，跳过{'、'.join(skipped)}"
        en += f", skipping {_join_en([_holiday_en(n) for n in skipped])}"
    make_up = [d.isoformat() for d in calendar.make_up_days(start, due)]
    if make_up:
        zh += f"，含补班日 {'、'.join(make_up)}"
        word = "make-up working day" if len(make_up) == 1 else "make-up working days"
        en += f", counting {word} {_join_en(make_up)}"
    return zh, en


def _roll(calendar: WorkingCalendar, last: date) -> tuple[date, str, str]:
    """Move a last day off rest days (Civil Procedure Law art. 85) and say so when it moves."""
    due = calendar.roll_forward(last)
    if due == last:
        return due, "", ""
    names = calendar.holidays_skipped(last - _ONE_DAY, due)
    zh_name = f"（{'、'.join(names)}）" if names else ""
    en_name = f" ({_join_en([_holiday_en(n) for n in names])})" if names else ""
    return (
        due,
        f"，末日 {last.isoformat()} 逢休息日{zh_name}顺延至 {due.isoformat()}",
        f"; last day {last.isoformat()} is a rest day{en_name}, moved to {due.isoformat()}",
    )


def _add_months(start: date, months: int) -> tuple[date, bool]:
    """Same day of month `months` later, or that month's last day; also whether it was clamped."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last = monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last)), start.day > last


def compute_deadline(
    rule: Mapping[str, Any],
    *,
    calendar: WorkingCalendar,
    period: Period | None = None,
    trigger: date | None = None,
) -> Deadline:
    """Due date of a rule for an event trigger or a period, with its basis in zh and en."""
    validate_rule(rule)
    kind: str = rule["type"]
    if kind in TRIGGER_RULES:
        if trigger is None:
            raise DeadlineRuleError(f"deadline rule {kind!r} needs a trigger date", field="trigger")
        start = trigger
        code = ""
    else:
        if period is None:
            raise DeadlineRuleError(f"deadline rule {kind!r} needs a period", field="period")
        start = period.end
        code = period.code
    provisional_possible = True

    match kind:
        case "working_days":
            n = rule["days"]
            due = calendar.add_working_days(start, n)
            if n > 0:
                zh = f"{n} 个工作日，自 {start.isoformat()} 起算"
                en = f"{_plural(n, 'working day')} from {start.isoformat()}"
            else:
                zh = f"{start.isoformat()} 前 {-n} 个工作日"
                en = f"{_plural(-n, 'working day')} before {start.isoformat()}"
            zh_more, en_more = _count_clauses(calendar, start, due)
            zh, en = zh + zh_more, en + en_more
        case "natural_days":
            n = rule["days"]
            due, zh_roll, en_roll = _roll(calendar, start + timedelta(days=n))
            zh = f"{n} 日，自 {start.isoformat()} 起算{zh_roll}"
            en = f"{_plural(n, 'calendar day')} from {start.isoformat()}{en_roll}"
        case "months" | "years":
            n = rule[kind]
            last, clamped = _add_months(start, n if kind == "months" else 12 * n)
            zh = f"{n} {'个月' if kind == 'months' else '年'}，自 {start.isoformat()} 起算"
            en = f"{_plural(n, kind[:-1])} from {start.isoformat()}"
            if clamped:
                zh += f"（{last:%Y-%m} 无 {start.day} 日，取月末 {last.isoformat()}）"
                en += f" ({last:%Y-%m} has no day {start.day}; month-end {last.isoformat()} used)"
            due, zh_roll, en_roll = _roll(calendar, last)
            zh, en = zh + zh_roll, en + en_roll
        case "period_end":
            n = rule["working_days"]
            if n > 0:
                due = calendar.add_working_days(start, n)
                zh = f"{code} 期末（{start.isoformat()}）后 {n} 个工作日"
                en = (
                    f"{_plural(n, 'working day')} after the end of period {code} "
                    f"({start.isoformat()})"
                )
                zh_more, en_more = _count_clauses(calendar, start, due)
            else:
                due, zh_more, en_more = _roll(calendar, start)
                # The roll clause repeats the last day when it moves; say it once.
                zh = f"{code} 期末" if due != start else f"{code} 期末 {start.isoformat()}"
                en = f"end of period {code}" if due != start else f"end of period {code}, {start}"
            zh, en = zh + zh_more, en + en_more
        case _:  # "fixed"
            month, day = rule["month"], rule["day"]
            # start is the period's last day, which lies in the period's year.
            target = date(start.year + rule.get("year_offset", 0), month, day)
            exclusive = rule.get("exclusive", False)
            # "之前" is read conservatively as "by the day before" (deadline-rules.md, rule 3).
            due = target - _ONE_DAY if exclusive else target
            zh = f"固定日期 {due.isoformat()}"
            en = f"fixed date {due.isoformat()}"
            if exclusive:
                zh += f"（{month}月{day}日之前）"
                en += f" (before {day} {_MONTHS_EN[month - 1]})"
            if not calendar.is_working_day(due):
                zh += "，逢休息日不顺延"
                en += ", not moved off rest days"
            # A hard date does not depend on any holiday table, so it is never provisional.
            provisional_possible = False

    missing = sorted(calendar.uncovered_years(start, due)) if provisional_possible else []
    if missing:
        years_zh = "、".join(str(y) for y in missing)
        years_en = ", ".join(str(y) for y in missing)
        zh += f"（{years_zh} 年官方节假日安排未发布，暂按周末计算）"
        en += f" (provisional: no official {years_en} holiday calendar, weekends only)"
    return Deadline(
        due=due,
        provisional=bool(missing),
        basis_zh=zh,
        basis_en=en,
        calendar_version=calendar.version,
    )
