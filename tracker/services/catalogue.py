"""The requirement catalogue: read and validate a catalogue file, upsert it by code with versions.

The file format is documented in docs/catalog-format.md. Validation collects every error, each
located as "PATH:LINE: entry N (CODE): field: message", and nothing is imported when any exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import (
    AppliesTo,
    Cadence,
    Family,
    Requirement,
    RequirementKind,
    RequirementVersion,
    Trigger,
    UnitKind,
    User,
)
from tracker.services import audit
from tracker.services.deadlines import PERIOD_RULES, TRIGGER_RULES, DeadlineRuleError, validate_rule
from tracker.services.errors import ValidationFailed

FORMAT_VERSION = 1
DEFAULT_CATALOGUE = Path(__file__).resolve().parent.parent / "catalog" / "default.yaml"

CODE_RE = re.compile(r"^[A-Z]{2}-\d{2}$")
UNIT_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
KIND_SELECTOR_PREFIX = "kind:"
CASE_UNIT = "case_unit"  # event requirements only: the case's own unit
KIND_SELECTORS = tuple(f"{KIND_SELECTOR_PREFIX}{k.value}" for k in UnitKind)
TARGET_OPS = (">=", "<=")
# Which kind of requirement each target field belongs to; the first three are required there.
TARGET_FIELDS = {
    "target_count": RequirementKind.COUNT,
    "target_value": RequirementKind.INDICATOR,
    "target_op": RequirementKind.INDICATOR,
    "target_unit": RequirementKind.INDICATOR,
}
REQUIRED_TARGETS = ("target_count", "target_value", "target_op")
TITLE_LIMITS = {"title_zh": 60, "title_en": 100}
_TARGET_MAX = Decimal("1e10")  # Numeric(14, 4)

TEXT_FIELDS = (
    "title_zh",
    "title_en",
    "description_zh",
    "description_en",
    "legal_basis",
    "evidence_hint_zh",
    "evidence_hint_en",
)
REQUIRED_FIELDS = ("code", "family", *TEXT_FIELDS, "kind", "cadence", "deadline", "owners")
OPTIONAL_FIELDS = (
    "target_count",
    "target_value",
    "target_unit",
    "target_op",
    "trigger",
    "applies_to",
    "active",
)
# Canonical order of an entry (the order of the documentation's field table).
ENTRY_FIELDS = (
    "code",
    "family",
    "title_zh",
    "title_en",
    "description_zh",
    "description_en",
    "legal_basis",
    "kind",
    "target_count",
    "target_value",
    "target_unit",
    "target_op",
    "cadence",
    "trigger",
    "applies_to",
    "deadline",
    "evidence_hint_zh",
    "evidence_hint_en",
    "owners",
    "active",
)


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class CatalogueIssue:
    """One problem found in a catalogue, located precisely enough to fix it."""

    message: object  # a lazy translated string
    entry: int | None = None  # 1-based position in `requirements`
    code: str | None = None
    field: str | None = None
    line: int | None = None

    def describe(self, source: str) -> str:
        """'PATH:LINE: entry N (CODE): field: message'."""
        parts = [f"{source}:{self.line}" if self.line else source]
        if self.entry is not None:
            parts.append(f"entry {self.entry}" + (f" ({self.code})" if self.code else ""))
        if self.field:
            parts.append(self.field)
        parts.append(str(self.message))
        return ": ".join(parts)


class CatalogueInvalid(ValidationFailed):
    """The catalogue has errors; nothing was imported."""

    def __init__(self, source: str, issues: list[CatalogueIssue]) -> None:
        super().__init__(
            _l(
                "The catalogue %(source)s was not imported: %(count)d errors.",
                source=source,
                count=len(issues),
            )
        )
        self.source = source
        self.issues = issues

    def lines(self) -> list[str]:
        """Every error as one located line."""
        return [issue.describe(self.source) for issue in self.issues]


# ---------------------------------------------------------------- reading


class _CatalogueLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (plain safe_load silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass
class _Lines:
    """Line numbers of the entries and of their fields, for error messages."""

    entries: list[int] = field(default_factory=list)
    fields: list[dict[str, int]] = field(default_factory=list)

    def of(self, entry: int | None, name: str | None) -> int | None:
        if entry is None or entry > len(self.entries):
            return None
        key = (name or "").split(".")[0]
        return self.fields[entry - 1].get(key, self.entries[entry - 1])


def _lines_of(node: yaml.Node | None) -> _Lines:
    lines = _Lines()
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == "requirements" and isinstance(
            value_node, yaml.SequenceNode
        ):
            for item in value_node.value:
                lines.entries.append(item.start_mark.line + 1)
                fields: dict[str, int] = {}
                if isinstance(item, yaml.MappingNode):
                    for k, v in item.value:
                        fields[str(getattr(k, "value", ""))] = v.start_mark.line + 1
                lines.fields.append(fields)
    return lines


def parse_catalogue(text: str, *, source: str) -> tuple[Any, _Lines]:
    """The YAML document and its line map; CatalogueInvalid on a syntax error."""
    loader = _CatalogueLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or str(error)
        raise CatalogueInvalid(
            source,
            [
                CatalogueIssue(
                    _l("YAML syntax error: %(error)s", error=problem),
                    line=mark.line + 1 if mark else None,
                )
            ],
        ) from error
    except yaml.YAMLError as error:
        raise CatalogueInvalid(
            source, [CatalogueIssue(_l("YAML syntax error: %(error)s", error=str(error)))]
        ) from error
    finally:
        loader.dispose()
    return document, _lines_of(node)


def read_catalogue_file(path: str | Path) -> tuple[Any, _Lines, str]:
    """Read a catalogue file: (document, line map, source label)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogueInvalid(
            source, [CatalogueIssue(_l("cannot read the file: %(error)s", error=str(error)))]
        ) from error
    document, lines = parse_catalogue(text, source=source)
    return document, lines, source


# ---------------------------------------------------------------- validation


def _choices(enum_class: Iterable[Any]) -> str:
    return ", ".join(str(getattr(m, "value", m)) for m in enum_class)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _normal_number(value: Decimal) -> int | float:
    """A target as a plain JSON number: int when whole, else float (4 decimal places)."""
    value = value.quantize(Decimal("0.0001"))
    return int(value) if value == value.to_integral_value() else float(value)


class _EntryChecker:
    """Validates one entry, recording issues, and builds its normalised form."""

    def __init__(self, raw: Any, index: int, issues: list[CatalogueIssue], lines: _Lines) -> None:
        self.raw = raw
        self.index = index
        self.issues = issues
        self.lines = lines
        code = raw.get("code") if isinstance(raw, dict) else None
        self.code = code if isinstance(code, str) and code.strip() else None
        self.ok = True

    def error(self, name: str | None, message: object) -> None:
        self.ok = False
        self.issues.append(
            CatalogueIssue(
                message,
                entry=self.index,
                code=self.code,
                field=name,
                line=self.lines.of(self.index, name),
            )
        )

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if not isinstance(value, str) or not value.strip():
            self.error(name, _l("must be a non-empty text"))
            return None
        value = " ".join(value.split()) if name in TITLE_LIMITS else value.strip()
        limit = TITLE_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            self.error(name, _l("must be at most %(limit)d characters", limit=limit))
        return value

    def choice(self, name: str, enum_class: type) -> Any:
        value = self.raw.get(name)
        try:
            return enum_class(value)
        except ValueError:
            self.error(name, _l("must be one of: %(choices)s", choices=_choices(enum_class)))
            return None

    def check(self) -> dict[str, Any] | None:
        raw = self.raw
        if not isinstance(raw, dict):
            self.error(None, _l("an entry must be a mapping of fields"))
            return None
        for key in raw:
            if key not in REQUIRED_FIELDS and key not in OPTIONAL_FIELDS:
                self.error(str(key), _l("unknown field"))
        missing = [name for name in REQUIRED_FIELDS if name not in raw]
        for name in missing:
            self.error(name, _l("required field is missing"))

        entry: dict[str, Any] = dict.fromkeys(ENTRY_FIELDS)
        if "code" in raw:
            code = raw["code"]
            if not isinstance(code, str) or not CODE_RE.match(code):
                self.error(
                    "code",
                    _l("must be a code like GS-03: two capital letters, a hyphen, two digits"),
                )
            entry["code"] = code
        if "family" in raw:
            entry["family"] = self.choice("family", Family)
        for name in TEXT_FIELDS:
            if name in raw:
                entry[name] = self.text(name)
        kind = self.choice("kind", RequirementKind) if "kind" in raw else None
        cadence = self.choice("cadence", Cadence) if "cadence" in raw else None
        entry["kind"], entry["cadence"] = kind, cadence
        self._targets(entry, kind)
        self._event_fields(entry, cadence)
        if "deadline" in raw:
            entry["deadline"] = self._deadline(cadence)
        if "owners" in raw:
            entry["owners"] = self._owners(cadence)
        active = raw.get("active", True)
        if not isinstance(active, bool):
            self.error("active", _l("must be true or false"))
        entry["active"] = active
        if not self.ok:
            return None
        return {k: (v.value if hasattr(v, "value") else v) for k, v in entry.items()}

    def _targets(self, entry: dict[str, Any], kind: RequirementKind | None) -> None:
        raw = self.raw
        if kind is None:  # already reported; target errors would only add noise
            return
        for name, target_kind in TARGET_FIELDS.items():
            if name in raw and kind != target_kind:
                self.error(
                    name, _l("only for requirements of kind %(kind)s", kind=target_kind.value)
                )
            elif name not in raw and kind == target_kind and name in REQUIRED_TARGETS:
                self.error(name, _l("required for requirements of kind %(kind)s", kind=kind.value))
        if kind == RequirementKind.COUNT and "target_count" in raw:
            value = raw["target_count"]
            if not _is_int(value) or value < 1:
                self.error("target_count", _l("must be a whole number of at least 1"))
            entry["target_count"] = value
        if kind != RequirementKind.INDICATOR:
            return
        if "target_value" in raw:
            value = raw["target_value"]
            number = None
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    number = Decimal(str(value))
                except InvalidOperation:
                    number = None
            if number is None or not number.is_finite() or abs(number) >= _TARGET_MAX:
                self.error("target_value", _l("must be a number"))
            else:
                entry["target_value"] = _normal_number(number)
        if "target_op" in raw:
            if raw["target_op"] not in TARGET_OPS:
                self.error(
                    "target_op", _l("must be one of: %(choices)s", choices=", ".join(TARGET_OPS))
                )
            entry["target_op"] = raw["target_op"]
        if "target_unit" in raw:
            unit = raw["target_unit"]
            if not isinstance(unit, str) or not unit.strip():
                self.error("target_unit", _l("must be a non-empty text"))
            elif len(unit.strip()) > 16:
                self.error("target_unit", _l("must be at most %(limit)d characters", limit=16))
            else:
                entry["target_unit"] = unit.strip()

    def _event_fields(self, entry: dict[str, Any], cadence: Cadence | None) -> None:
        if cadence is None:
            return
        for name, enum_class in (("trigger", Trigger), ("applies_to", AppliesTo)):
            if cadence == Cadence.EVENT:
                if name not in self.raw:
                    self.error(name, _l("required for event requirements"))
                else:
                    entry[name] = self.choice(name, enum_class)
            elif name in self.raw:
                self.error(name, _l("only for event requirements (cadence: event)"))

    def _deadline(self, cadence: Cadence | None) -> dict[str, Any] | None:
        rule = self.raw["deadline"]
        try:
            validate_rule(rule)
        except DeadlineRuleError as error:
            name = f"deadline.{error.field}" if error.field else "deadline"
            self.error(name, _l("invalid deadline rule: %(error)s", error=error.message))
            return None
        kind = rule["type"]
        if cadence == Cadence.EVENT and kind not in TRIGGER_RULES:
            self.error(
                "deadline.type",
                _l(
                    "an event requirement counts from a case date: use %(types)s",
                    types=", ".join(sorted(TRIGGER_RULES)),
                ),
            )
        elif cadence is not None and cadence != Cadence.EVENT and kind not in PERIOD_RULES:
            self.error(
                "deadline.type",
                _l(
                    "a periodic requirement counts from its period: use %(types)s",
                    types=", ".join(sorted(PERIOD_RULES)),
                ),
            )
        elif kind == "fixed" and cadence not in (Cadence.ANNUAL, Cadence.ONCE, None):
            self.error("deadline.type", _l("a fixed date is only for the annual and once cadences"))
        return dict(rule)

    def _owners(self, cadence: Cadence | None) -> list[str] | None:
        owners = self.raw["owners"]
        if not isinstance(owners, list) or not owners:
            self.error("owners", _l("must be a non-empty list of unit codes or selectors"))
            return None
        seen: set[str] = set()
        for owner in owners:
            if not isinstance(owner, str) or not (
                UNIT_CODE_RE.match(owner) or owner in KIND_SELECTORS or owner == CASE_UNIT
            ):
                self.error(
                    "owners",
                    _l(
                        "%(owner)s is not a unit code or a selector (%(selectors)s)",
                        owner=repr(owner),
                        selectors=", ".join((*KIND_SELECTORS, CASE_UNIT)),
                    ),
                )
            elif owner in seen:
                self.error("owners", _l("%(owner)s is listed twice", owner=owner))
            elif owner == CASE_UNIT and cadence is not None and cadence != Cadence.EVENT:
                self.error("owners", _l("case_unit is only for event requirements"))
            seen.add(str(owner))
        return list(owners)


def validate_catalogue(
    document: Any, *, source: str, lines: _Lines | None = None
) -> list[dict[str, Any]]:
    """The normalised entries of a catalogue document; CatalogueInvalid listing every error."""
    lines = lines or _Lines()
    issues: list[CatalogueIssue] = []
    if not isinstance(document, dict):
        raise CatalogueInvalid(
            source,
            [CatalogueIssue(_l("the file must be a mapping with format and requirements"))],
        )
    for key in document:
        if key not in ("format", "requirements"):
            issues.append(CatalogueIssue(_l("unknown field"), field=str(key)))
    if "format" not in document:
        issues.append(CatalogueIssue(_l("required field is missing"), field="format"))
    elif document["format"] != FORMAT_VERSION or isinstance(document["format"], bool):
        issues.append(
            CatalogueIssue(
                _l(
                    "unsupported format %(found)s: expected %(expected)d",
                    found=repr(document["format"]),
                    expected=FORMAT_VERSION,
                ),
                field="format",
            )
        )
    requirements = document.get("requirements")
    if not isinstance(requirements, list):
        issues.append(CatalogueIssue(_l("must be a list of requirements"), field="requirements"))
        raise CatalogueInvalid(source, issues)

    entries: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(requirements, start=1):
        checker = _EntryChecker(raw, index, issues, lines)
        entry = checker.check()
        code = checker.code
        if isinstance(code, str):
            if code in first_seen:
                checker.error(
                    "code", _l("duplicate code: already used by entry %(n)d", n=first_seen[code])
                )
                entry = None
            else:
                first_seen[code] = index
        if entry is not None:
            entries.append(entry)
    if issues:
        raise CatalogueInvalid(source, issues)
    return entries


def validate_entry(raw: Mapping[str, Any], *, source: str = "form") -> dict[str, Any]:
    """One entry checked as in a file (for edits made in the admin pages)."""
    return validate_catalogue(
        {"format": FORMAT_VERSION, "requirements": [dict(raw)]}, source=source
    )[0]


# ---------------------------------------------------------------- upsert


@dataclass
class CatalogueImportResult:
    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"created {len(self.created)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}"
        )


def snapshot_of(requirement: Requirement) -> dict[str, Any]:
    """A requirement in normalised catalogue-entry form (comparable with validated entries)."""
    target = requirement.target_value
    return {
        "code": requirement.code,
        "family": str(requirement.family),
        "title_zh": requirement.title_zh,
        "title_en": requirement.title_en,
        "description_zh": requirement.description_zh,
        "description_en": requirement.description_en,
        "legal_basis": requirement.legal_basis,
        "kind": str(requirement.kind),
        "target_count": requirement.target_count,
        "target_value": None if target is None else _normal_number(Decimal(target)),
        "target_unit": requirement.target_unit,
        "target_op": requirement.target_op,
        "cadence": str(requirement.cadence),
        "trigger": None if requirement.trigger is None else str(requirement.trigger),
        "applies_to": None if requirement.applies_to is None else str(requirement.applies_to),
        "deadline": dict(requirement.deadline_rule),
        "evidence_hint_zh": requirement.evidence_hint_zh,
        "evidence_hint_en": requirement.evidence_hint_en,
        "owners": list(requirement.owners),
        "active": requirement.active,
    }


def file_form(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as written in a catalogue file: optional fields left out when empty."""
    return {k: entry[k] for k in ENTRY_FIELDS if entry.get(k) is not None}


def _apply(requirement: Requirement, entry: Mapping[str, Any]) -> None:
    for name in ENTRY_FIELDS:
        value = entry[name]
        if name == "deadline":
            requirement.deadline_rule = dict(value)
        elif name == "target_value":
            requirement.target_value = None if value is None else Decimal(str(value))
        elif name == "owners":
            requirement.owners = list(value)
        else:
            setattr(requirement, name, value)


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {k: [old[k], new[k]] for k in ENTRY_FIELDS if old[k] != new[k]}


def save_entries(
    session: Session,
    *,
    actor: User | None,
    entries: list[dict[str, Any]],
    source: str,
    now: datetime,
) -> CatalogueImportResult:
    """Upsert validated entries by code: new ones at version 1, changed ones at version + 1."""
    result = CatalogueImportResult(source=source)
    codes = [e["code"] for e in entries]
    existing = {
        r.code: r for r in session.scalars(select(Requirement).where(Requirement.code.in_(codes)))
    }
    new_requirements: list[tuple[Requirement, dict[str, Any]]] = []
    for entry in entries:
        requirement = existing.get(entry["code"])
        if requirement is None:
            requirement = Requirement(version=1, created_at=now, updated_at=now)
            _apply(requirement, entry)
            session.add(requirement)
            new_requirements.append((requirement, entry))
            result.created.append(entry["code"])
            continue
        changes = _changes(snapshot_of(requirement), entry)
        if not changes:
            result.unchanged.append(entry["code"])
            continue
        _apply(requirement, entry)
        requirement.version += 1
        requirement.updated_at = now
        session.add(
            RequirementVersion(
                requirement_id=requirement.id,
                version=requirement.version,
                snapshot=file_form(entry),
                source=source[:255],
                created_at=now,
                created_by_id=actor.id if actor else None,
            )
        )
        result.updated.append(entry["code"])
        audit.record(
            session,
            actor=actor,
            action="requirement.updated",
            object_type="requirement",
            object_id=requirement.id,
            data={
                "code": requirement.code,
                "version": requirement.version,
                "source": source,
                "changes": changes,
            },
            at=now,
        )
    session.flush()
    session.add_all(
        RequirementVersion(
            requirement_id=requirement.id,
            version=1,
            snapshot=file_form(entry),
            source=source[:255],
            created_at=now,
            created_by_id=actor.id if actor else None,
        )
        for requirement, entry in new_requirements
    )
    if result.created or result.updated:
        audit.record(
            session,
            actor=actor,
            action="catalogue.imported",
            object_type="catalogue",
            data={
                "source": source,
                "created": result.created,
                "updated": result.updated,
                "unchanged": len(result.unchanged),
            },
            at=now,
        )
    session.flush()
    return result


def import_catalogue_file(
    session: Session, *, actor: User | None, path: str | Path, now: datetime
) -> CatalogueImportResult:
    """Validate a catalogue file and upsert it all-or-nothing; CatalogueInvalid on any error."""
    document, lines, source = read_catalogue_file(path)
    entries = validate_catalogue(document, source=source, lines=lines)
    return save_entries(session, actor=actor, entries=entries, source=source, now=now)


def update_requirement(
    session: Session,
    *,
    actor: User | None,
    requirement: Requirement,
    values: Mapping[str, Any],
    now: datetime,
    source: str = "web",
) -> bool:
    """Edit one requirement (a new version when anything changed); False when nothing did."""
    merged = {**file_form(snapshot_of(requirement)), **values, "code": requirement.code}
    entry = validate_entry({k: v for k, v in merged.items() if v is not None}, source=source)
    result = save_entries(session, actor=actor, entries=[entry], source=source, now=now)
    return bool(result.updated)


def set_active(
    session: Session, *, actor: User | None, requirement: Requirement, active: bool, now: datetime
) -> bool:
    """Activate or deactivate a requirement (a new version); False when already so."""
    return update_requirement(
        session, actor=actor, requirement=requirement, values={"active": active}, now=now
    )


def rules_for_versions(
    session: Session, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The catalogue entry (snapshot) of each (requirement id, version), in one query per 500."""
    wanted = set(pairs)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    requirement_ids = sorted({rid for rid, _version in wanted})
    for start in range(0, len(requirement_ids), 500):
        chunk = requirement_ids[start : start + 500]
        rows = session.execute(
            select(
                RequirementVersion.requirement_id,
                RequirementVersion.version,
                RequirementVersion.snapshot,
            ).where(RequirementVersion.requirement_id.in_(chunk))
        )
        for rid, version, snapshot in rows:
            if (rid, version) in wanted:
                found[(rid, version)] = snapshot
    return found
