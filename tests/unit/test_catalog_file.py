"""Structural checks of the shipped requirement catalogue, tracker/catalog/default.yaml.

Self-contained on purpose: it reads the file with PyYAML and checks it against the format in
docs/catalog-format.md, without importing the application's own loader.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

CATALOG = Path(__file__).resolve().parents[2] / "tracker" / "catalog" / "default.yaml"

MIN_ENTRIES = 40
CODE_RE = re.compile(r"^[A-Z]{2}-\d{2}$")
CJK_RE = re.compile(r"[\u4e00-\u9fff]")

# Code prefix of each family (the reference catalogue's numbering).
FAMILY_PREFIX = {
    "publicity": "GS",
    "recording": "JL",
    "legal_review": "SH",
    "normative_docs": "WJ",
    "assessment": "DK",
    "law_study": "XF",
    "other": "QT",
}
KINDS = {"task", "count", "indicator"}
PERIODIC_CADENCES = {"annual", "semiannual", "quarterly", "monthly", "once"}
CADENCES = PERIODIC_CADENCES | {"event"}
TRIGGERS = {"decided_on", "served_on", "closed_on", "registered_on"}
APPLIES_TO = {"all", "major"}
TARGET_OPS = {">=", "<="}

UNIT_CODES = {
    "BUREAU",
    "FGK",
    "BGS",
    "JCDD",
    "XYK",
    "SPK",
    "TZK",
    "ZSCQ",
    "CQS",
    "LZS",
    "WCS",
    "XLS",
}
KIND_SELECTORS = {"kind:section", "kind:station", "kind:brigade", "kind:office"}

TEXT_FIELDS_ZH = ("title_zh", "description_zh", "evidence_hint_zh")
TEXT_FIELDS_EN = ("title_en", "description_en", "evidence_hint_en")
REQUIRED = {
    "code",
    "family",
    *TEXT_FIELDS_ZH,
    *TEXT_FIELDS_EN,
    "legal_basis",
    "kind",
    "cadence",
    "deadline",
    "owners",
}
OPTIONAL = {
    "target_count",
    "target_value",
    "target_unit",
    "target_op",
    "trigger",
    "applies_to",
    "active",
}

# Deadline rule types: required and optional parameter keys, and which cadences they serve.
EVENT_RULES = {"working_days", "natural_days", "months", "years"}
PERIODIC_RULES = {"period_end", "fixed"}
RULE_KEYS = {
    "working_days": {"days"},
    "natural_days": {"days"},
    "months": {"months"},
    "years": {"years"},
    "period_end": {"working_days"},
    "fixed": {"month", "day"},
}
RULE_OPTIONAL_KEYS = {"fixed": {"year_offset", "exclusive"}}
MAX_YEAR_OFFSET = 10


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (plain safe_load keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@cache
def _document() -> dict[str, Any]:
    with CATALOG.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _requirements() -> list[dict[str, Any]]:
    doc = _document()
    assert isinstance(doc, dict)
    assert isinstance(doc.get("requirements"), list)
    return doc["requirements"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ids() -> list[str]:
    return [str(r.get("code", f"#{i}")) for i, r in enumerate(_requirements())]


each_requirement = pytest.mark.parametrize("req", _requirements(), ids=_ids())


# ---------------------------------------------------------------- whole file


def test_top_level_shape() -> None:
    doc = _document()
    assert set(doc) == {"format", "requirements"}
    assert doc["format"] == 1
    assert all(isinstance(r, dict) for r in doc["requirements"])


def test_no_duplicate_keys() -> None:
    with CATALOG.open(encoding="utf-8") as fh:
        yaml.load(fh, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def test_enough_entries() -> None:
    assert len(_requirements()) >= MIN_ENTRIES


def test_codes_unique() -> None:
    counts = Counter(r["code"] for r in _requirements())
    assert [code for code, n in counts.items() if n > 1] == []


def test_every_family_present() -> None:
    assert {r["family"] for r in _requirements()} == set(FAMILY_PREFIX)


def test_every_kind_and_cadence_used() -> None:
    reqs = _requirements()
    assert {r["kind"] for r in reqs} == KINDS
    assert {r["cadence"] for r in reqs} == CADENCES


# ---------------------------------------------------------------- per entry


@each_requirement
def test_keys_known_and_required_present(req: dict[str, Any]) -> None:
    assert set(req) >= REQUIRED, f"missing: {sorted(REQUIRED - set(req))}"
    assert set(req) <= REQUIRED | OPTIONAL, f"unknown: {sorted(set(req) - REQUIRED - OPTIONAL)}"


@each_requirement
def test_code_and_family(req: dict[str, Any]) -> None:
    assert isinstance(req["code"], str)
    assert CODE_RE.match(req["code"])
    assert req["family"] in FAMILY_PREFIX
    assert req["code"][:2] == FAMILY_PREFIX[req["family"]]


@each_requirement
def test_texts(req: dict[str, Any]) -> None:
    for field in (*TEXT_FIELDS_ZH, *TEXT_FIELDS_EN, "legal_basis"):
        value = req[field]
        assert isinstance(value, str), field
        assert value.strip(), field
        assert "\n" not in value, f"{field} spans lines"
    for field in (*TEXT_FIELDS_ZH, "legal_basis"):
        assert CJK_RE.search(req[field]), f"{field} has no Chinese"
    for field in TEXT_FIELDS_EN:
        assert not CJK_RE.search(req[field]), f"{field} contains Chinese"
    assert len(req["title_zh"]) <= 60
    assert len(req["title_en"]) <= 100


@each_requirement
def test_kind_and_targets(req: dict[str, Any]) -> None:
    kind = req["kind"]
    assert kind in KINDS
    if kind == "count":
        assert _is_int(req.get("target_count"))
        assert req["target_count"] >= 1
    else:
        assert "target_count" not in req
    if kind == "indicator":
        assert _is_number(req.get("target_value"))
        assert req.get("target_op") in TARGET_OPS
        if "target_unit" in req:
            assert isinstance(req["target_unit"], str)
            assert req["target_unit"]
    else:
        for field in ("target_value", "target_unit", "target_op"):
            assert field not in req, field


@each_requirement
def test_cadence_trigger_applies_to(req: dict[str, Any]) -> None:
    cadence = req["cadence"]
    assert cadence in CADENCES
    if cadence == "event":
        assert req.get("trigger") in TRIGGERS
        assert req.get("applies_to") in APPLIES_TO
    else:
        assert "trigger" not in req
        assert "applies_to" not in req


@each_requirement
def test_deadline_rule(req: dict[str, Any]) -> None:
    rule = req["deadline"]
    assert isinstance(rule, dict)
    rtype = rule.get("type")
    assert rtype in RULE_KEYS, rtype
    assert {"type"} | RULE_KEYS[rtype] <= set(rule)
    assert set(rule) <= {"type"} | RULE_KEYS[rtype] | RULE_OPTIONAL_KEYS.get(rtype, set())
    if req["cadence"] == "event":
        assert rtype in EVENT_RULES
    else:
        assert rtype in PERIODIC_RULES

    match rtype:
        case "working_days":
            assert _is_int(rule["days"])
            assert rule["days"] != 0
        case "natural_days":
            assert _is_int(rule["days"])
            assert rule["days"] >= 0
        case "months" | "years":
            assert _is_int(rule[rtype])
            assert rule[rtype] >= 1
        case "period_end":
            assert _is_int(rule["working_days"])
            assert rule["working_days"] >= 0
        case "fixed":
            # A fixed calendar date only makes sense once per year.
            assert req["cadence"] in {"annual", "once"}
            assert _is_int(rule["month"])
            assert 1 <= rule["month"] <= 12
            # Checked against a common year: 29 February would not exist most years.
            assert _is_int(rule["day"])
            assert 1 <= rule["day"] <= monthrange(2027, rule["month"])[1]
            offset = rule.get("year_offset", 0)
            assert _is_int(offset)
            assert -MAX_YEAR_OFFSET <= offset <= MAX_YEAR_OFFSET
            assert isinstance(rule.get("exclusive", False), bool)


@each_requirement
def test_owners(req: dict[str, Any]) -> None:
    owners = req["owners"]
    assert isinstance(owners, list)
    assert owners
    assert all(isinstance(o, str) for o in owners)
    assert len(set(owners)) == len(owners)
    unknown = [o for o in owners if o not in UNIT_CODES | KIND_SELECTORS]
    assert unknown == []


@each_requirement
def test_active_flag(req: dict[str, Any]) -> None:
    assert isinstance(req.get("active", True), bool)


# ---------------------------------------------------------------- anchors from the statutes


def _by_code(code: str) -> dict[str, Any]:
    return next(r for r in _requirements() if r["code"] == code)


def test_necips_publication_is_twenty_working_days_from_decision() -> None:
    gs03 = _by_code("GS-03")
    assert (gs03["cadence"], gs03["trigger"]) == ("event", "decided_on")
    assert gs03["deadline"] == {"type": "working_days", "days": 20}


def test_major_decision_review_precedes_the_decision() -> None:
    sh01 = _by_code("SH-01")
    assert (sh01["trigger"], sh01["applies_to"]) == ("decided_on", "major")
    assert sh01["deadline"]["type"] == "working_days"
    assert sh01["deadline"]["days"] < 0


def test_annual_report_published_before_first_of_april() -> None:
    assert _by_code("DK-04")["deadline"] == {
        "type": "fixed",
        "month": 4,
        "day": 1,
        "year_offset": 1,
        "exclusive": True,
    }
