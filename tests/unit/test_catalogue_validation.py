"""Catalogue validation: every error collected, each located by file, line, entry and field."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.factories import catalogue_entry
from tracker.services import catalogue
from tracker.services.catalogue import (
    DEFAULT_CATALOGUE,
    CatalogueInvalid,
    parse_catalogue,
    validate_catalogue,
)

SOURCE = "test.yaml"


def _l(message: str, **params) -> str:
    """The message as the service renders it, in the current locale (translation-proof)."""
    from flask_babel import lazy_gettext

    return str(lazy_gettext(message, **params))


def check(*entries: dict, **top) -> list[dict]:
    document = {"format": 1, "requirements": list(entries), **top}
    return validate_catalogue(document, source=SOURCE)


def issues_of(*entries: dict, **top) -> list[catalogue.CatalogueIssue]:
    with pytest.raises(CatalogueInvalid) as caught:
        check(*entries, **top)
    assert caught.value.source == SOURCE
    return caught.value.issues


def located(issues) -> set[tuple[int | None, str | None]]:
    return {(i.entry, i.field) for i in issues}


def test_a_valid_entry_is_normalised_with_defaults():
    periodic = catalogue_entry("GS-01", cadence="quarterly", owners=["FGK", "kind:station"])
    event = catalogue_entry("GS-03", owners=["kind:station", "JCDD"], active=False)
    entries = check(periodic, event)
    assert [e["code"] for e in entries] == ["GS-01", "GS-03"]
    first = entries[0]
    assert list(first) == list(catalogue.ENTRY_FIELDS)
    assert first["active"] is True
    assert first["trigger"] is None and first["applies_to"] is None
    assert first["target_count"] is None and first["target_value"] is None
    assert first["deadline"] == {"type": "period_end", "working_days": 10}
    assert entries[1]["active"] is False and entries[1]["trigger"] == "decided_on"
    # The file form leaves out what is empty and round-trips through validation.
    assert catalogue.validate_entry(catalogue.file_form(first)) == first


def test_the_acceptance_errors_each_name_entry_and_field():
    issues = issues_of(
        catalogue_entry("GS-01", family="publicty"),
        catalogue_entry("GS-02", cadence="weekly"),
        catalogue_entry("GS-03", title_zh=None),
    )
    assert located(issues) >= {(1, "family"), (2, "cadence"), (3, "title_zh")}
    by_field = {i.field: i for i in issues}
    assert by_field["title_zh"].code == "GS-03"
    assert str(by_field["title_zh"].message) == _l("required field is missing")
    assert "publicity" in str(by_field["family"].message)  # the allowed values are listed
    assert "quarterly" in str(by_field["cadence"].message)


def test_every_error_of_every_entry_is_collected():
    issues = issues_of(
        catalogue_entry("GS-01", family="nope", kind="big", colour="red"),
        catalogue_entry("bad code"),
        catalogue_entry("GS-01"),  # duplicate of entry 1
        catalogue_entry("GS-04", owners=[]),
    )
    assert located(issues) == {
        (1, "family"),
        (1, "kind"),
        (1, "colour"),
        (2, "code"),
        (3, "code"),
        (4, "owners"),
    }
    duplicate = next(i for i in issues if i.entry == 3)
    assert str(duplicate.message) == _l("duplicate code: already used by entry %(n)d", n=1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trigger": None}, "trigger"),
        ({"trigger": "appealed_on"}, "trigger"),
        ({"applies_to": None}, "applies_to"),
        ({"applies_to": "minor"}, "applies_to"),
        ({"cadence": "monthly", "trigger": "decided_on"}, "trigger"),
        ({"cadence": "annual", "applies_to": "all"}, "applies_to"),
        ({"kind": "count"}, "target_count"),
        ({"kind": "count", "target_count": 0}, "target_count"),
        ({"kind": "count", "target_count": True}, "target_count"),
        ({"kind": "task", "target_count": 2}, "target_count"),
        ({"kind": "indicator", "target_op": ">="}, "target_value"),
        ({"kind": "indicator", "target_value": 100}, "target_op"),
        ({"kind": "indicator", "target_value": "all", "target_op": ">="}, "target_value"),
        ({"kind": "indicator", "target_value": 100, "target_op": "=="}, "target_op"),
        ({"kind": "task", "target_unit": "%"}, "target_unit"),
        ({"deadline": {"type": "weeks", "weeks": 2}}, "deadline.type"),
        ({"deadline": {"type": "working_days", "days": 0}}, "deadline.days"),
        ({"deadline": {"type": "working_days", "days": 5, "extra": 1}}, "deadline.extra"),
        ({"deadline": {"type": "period_end", "working_days": 5}}, "deadline.type"),
        ({"deadline": "20 working days"}, "deadline"),
        ({"owners": "FGK"}, "owners"),
        ({"owners": ["FGK", "FGK"]}, "owners"),
        ({"owners": ["kind:planet"]}, "owners"),
        ({"owners": ["fgk"]}, "owners"),
        ({"title_en": ""}, "title_en"),
        ({"title_zh": "长" * 61}, "title_zh"),
        ({"legal_basis": 12}, "legal_basis"),
        ({"active": "yes"}, "active"),
    ],
)
def test_event_entry_field_errors(overrides, field):
    issues = issues_of(catalogue_entry("GS-09", **overrides))
    assert (1, field) in located(issues), [i.describe(SOURCE) for i in issues]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"deadline": {"type": "working_days", "days": 5}}, "deadline.type"),
        (
            {"cadence": "quarterly", "deadline": {"type": "fixed", "month": 3, "day": 31}},
            "deadline.type",
        ),
        ({"deadline": {"type": "fixed", "month": 2, "day": 29}}, "deadline.day"),
        ({"owners": ["case_unit"]}, "owners"),
    ],
)
def test_periodic_entry_field_errors(overrides, field):
    entry = catalogue_entry("DK-01", cadence="annual", owners=["FGK"])
    entry.update(overrides)
    assert (1, field) in located(issues_of(entry))


def test_targets_are_kept_per_kind():
    count = catalogue_entry("XF-01", cadence="annual", kind="count", target_count=2)
    indicator = catalogue_entry(
        "GS-12",
        cadence="annual",
        kind="indicator",
        target_value=99.5,
        target_unit="%",
        target_op=">=",
    )
    entries = check(count, indicator)
    assert entries[0]["target_count"] == 2
    assert (entries[1]["target_value"], entries[1]["target_unit"], entries[1]["target_op"]) == (
        99.5,
        "%",
        ">=",
    )


def test_top_level_errors():
    assert located(issues_of(format=2)) == {(None, "format")}
    assert (None, "colour") in located(issues_of(colour=1))
    with pytest.raises(CatalogueInvalid) as caught:
        validate_catalogue({"format": 1, "requirements": {"a": 1}}, source=SOURCE)
    assert located(caught.value.issues) == {(None, "requirements")}
    with pytest.raises(CatalogueInvalid):
        validate_catalogue(["not", "a", "mapping"], source=SOURCE)
    assert located(issues_of("just text")) == {(1, None)}


YAML_TEXT = """\
format: 1
requirements:
  - code: GS-01
    family: publicity
    title_zh: 甲
    title_en: A
    description_zh: 说明
    description_en: Description
    legal_basis: 《规定》
    kind: task
    cadence: fortnightly
    deadline: {type: period_end, working_days: 0}
    evidence_hint_zh: 截图
    evidence_hint_en: Screenshot
    owners: [FGK]
"""


def test_messages_carry_file_line_entry_code_and_field():
    document, lines = parse_catalogue(YAML_TEXT, source="cat.yaml")
    with pytest.raises(CatalogueInvalid) as caught:
        validate_catalogue(document, source="cat.yaml", lines=lines)
    (message,) = caught.value.lines()
    assert re.match(r"^cat\.yaml:11: entry 1 \(GS-01\): cadence: .+", message), message


def test_yaml_syntax_errors_and_duplicate_keys_are_located():
    with pytest.raises(CatalogueInvalid) as caught:
        parse_catalogue("format: 1\nrequirements:\n  - code: [GS-01\n", source="cat.yaml")
    assert caught.value.issues[0].line is not None
    assert caught.value.lines()[0].startswith("cat.yaml:")

    duplicated = YAML_TEXT.replace("    kind: task\n", "    kind: task\n    kind: count\n")
    with pytest.raises(CatalogueInvalid) as caught:
        parse_catalogue(duplicated, source="cat.yaml")
    assert caught.value.issues[0].line == 11
    assert "kind" in caught.value.lines()[0]


def test_the_shipped_catalogue_is_valid():
    document, lines, source = catalogue.read_catalogue_file(DEFAULT_CATALOGUE)
    entries = validate_catalogue(document, source=source, lines=lines)
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))["requirements"]
    assert len(entries) == len(raw) >= 40
    # The stored file form is the file's entry, key for key (plus the explicit default).
    for entry, original in zip(entries, raw, strict=True):
        assert catalogue.file_form(entry) == {"active": True, **original}
