"""The draft annual rule-of-law report (法治政府建设年度报告) as a DOCX.

Sections follow the bureau's earlier reports (see ../shared/seeds/): law study, the principal
leader's duties, normative documents, the three enforcement systems, supervision and assessment.
Every figure is counted from the ledger in SQL; what the ledger cannot support is written as a
highlighted 【待填写：…】 for the author, never estimated. Admins write one narrative paragraph per
section, stored per year. The report is Chinese whatever the interface language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import (
    Case,
    ChecklistItem,
    ItemStatus,
    ReportNarrative,
    Requirement,
    Submission,
    Unit,
    User,
)
from tracker.models.catalogue import Family
from tracker.models.checklist import OWED_STATUSES
from tracker.services import audit
from tracker.services.errors import ValidationFailed
from tracker.services.item_filters import year_condition
from tracker.services.ledger import on_time_condition, on_time_rate

NARRATIVE_MAX = 20_000
PLACEHOLDER = "【待填写：{}】"
NO_DATA = "台账中暂无{year}年度本部分的数据。"
BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体"
TITLE_FONT = "宋体"


# ---------------------------------------------------------------- what the report contains


@dataclass(frozen=True)
class FamilyItems:
    """Items of a family in the year: total, approved, on time, overdue."""

    family: Family


@dataclass(frozen=True)
class PublicationRate:
    """Publicity items approved on time ÷ publicity items due or done."""


@dataclass(frozen=True)
class Occurrences:
    """Occurrences (meetings, trainings…) of a `count` requirement, on approved items."""

    code: str
    label: str


@dataclass(frozen=True)
class TaskDone:
    """How many of a requirement's items of the year are approved."""

    code: str
    label: str


@dataclass(frozen=True)
class Indicator:
    """The value reported for an indicator (average over its approved items)."""

    code: str
    label: str


@dataclass(frozen=True)
class TrainingsTotal:
    """All occurrences of the law-study `count` requirements."""


@dataclass(frozen=True)
class CasesDecided:
    """Enforcement cases with a decision in the year, and how many were major decisions."""


@dataclass(frozen=True)
class Placeholder:
    """A figure the ledger does not hold: always left for the author."""

    label: str


FigureSpec = (
    FamilyItems
    | PublicationRate
    | Occurrences
    | TaskDone
    | Indicator
    | TrainingsTotal
    | CasesDecided
    | Placeholder
)


@dataclass(frozen=True)
class Part:
    title: str | None
    figures: tuple[FigureSpec, ...]


@dataclass(frozen=True)
class SectionSpec:
    key: str
    title: str
    label_en: str  # for the narrative editor
    parts: tuple[Part, ...]


OVERVIEW = "overview"

SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec(
        "law_study",
        "一、深入学法用法，提高依法行政能力",
        "Study of the law",
        (
            Part(
                None,
                (
                    FamilyItems(Family.LAW_STUDY),
                    Occurrences("XF-01", "党委理论学习中心组集体学法"),
                    Occurrences("XF-02", "公务员“一月一学法”"),
                    Occurrences("XF-03", "“科长大讲堂”"),
                    Occurrences("XF-05", "执法人员与法制审核人员法制例会和培训"),
                    Occurrences("XF-06", "全员实务培训与实务竞赛"),
                    TrainingsTotal(),
                    TaskDone("XF-04", "领导干部学法用法考核"),
                    Placeholder("参加学法培训人次"),
                ),
            ),
        ),
    ),
    SectionSpec(
        "leader_duties",
        "二、党政主要负责人履行推进法治建设第一责任人职责",
        "The principal leader's duties",
        (
            Part(
                None,
                (
                    Occurrences("DK-02", "党委会、局长办公会研究部署法治建设"),
                    TaskDone("DK-01", "年度法治政府建设工作方案与责任分工"),
                    TaskDone("DK-07", "党政主要负责人年终述法"),
                    Occurrences("QT-09", "主要负责人参加全局信访工作会议"),
                    Placeholder("主要负责人出庭应诉、参加行政复议诉讼专题会议次数"),
                ),
            ),
        ),
    ),
    SectionSpec(
        "normative_docs",
        "三、加强行政规范性文件制定和监督管理",
        "Normative documents",
        (
            Part(
                None,
                (
                    FamilyItems(Family.NORMATIVE_DOCS),
                    TaskDone("WJ-03", "规范性文件合法性审核核查"),
                    TaskDone("WJ-07", "规范性文件报送备案核查"),
                    TaskDone("WJ-09", "规范性文件清理与目录公布"),
                    Indicator("WJ-10", "规范性文件报备率"),
                    Indicator("WJ-11", "规范性文件报备及时率"),
                    Placeholder("本年度制定的规范性文件件数"),
                    Placeholder("清理的规范性文件件数（继续有效、废止、失效）"),
                ),
            ),
        ),
    ),
    SectionSpec(
        "enforcement",
        "四、全面推行行政执法三项制度",
        "The three enforcement systems",
        (
            Part(None, (CasesDecided(),)),
            Part(
                "（一）行政执法公示制度",
                (
                    FamilyItems(Family.PUBLICITY),
                    PublicationRate(),
                    TaskDone("GS-03", "行政处罚信息在国家企业信用信息公示系统公示"),
                    Indicator("GS-12", "各单位上报的行政处罚信息公示率"),
                ),
            ),
            Part(
                "（二）执法全过程记录制度",
                (
                    FamilyItems(Family.RECORDING),
                    TaskDone("JL-01", "执法全过程文字记录完整性核对"),
                    TaskDone("JL-05", "案卷及音像资料归档"),
                    Indicator("JL-02", "现场执法全程音像记录率"),
                    Placeholder("执法记录仪等音像记录设备配备数量"),
                    Placeholder("执法现场和办公场所音像记录次数"),
                ),
            ),
            Part(
                "（三）重大执法决定法制审核制度",
                (
                    FamilyItems(Family.LEGAL_REVIEW),
                    TaskDone("SH-01", "重大执法决定法制审核"),
                    Indicator("SH-07", "重大执法决定法制审核率"),
                    Placeholder("法制审核人员、公职律师和法律顾问人数"),
                ),
            ),
        ),
    ),
    SectionSpec(
        "assessment",
        "五、加强督察考核，推动法治建设责任落实",
        "Supervision and assessment",
        (
            Part(
                None,
                (
                    FamilyItems(Family.ASSESSMENT),
                    Occurrences("DK-05", "法治政府建设定期督查与专项督查"),
                    TaskDone("DK-06", "法治建设纳入各科所年度目标责任制考核"),
                    TaskDone("DK-08", "行政处罚案卷评查"),
                    Indicator("DK-14", "行政处罚案卷评查合格率"),
                    TaskDone("DK-11", "复议诉讼败诉责任追究年度审查"),
                    TaskDone("DK-12", "容错免责事项年度梳理"),
                ),
            ),
        ),
    ),
)
SECTION_KEYS = (OVERVIEW, *(s.key for s in SECTIONS))
SECTION_LABELS_EN = {OVERVIEW: "Overview", **{s.key: s.label_en for s in SECTIONS}}
SECTION_TITLES = {OVERVIEW: "总体情况", **{s.key: s.title for s in SECTIONS}}


# ---------------------------------------------------------------- figures from the ledger


@dataclass(frozen=True)
class Figure:
    """One line of the report; `text` None means the author must fill it."""

    label: str
    text: str | None
    value: Any = None  # the number behind the text (tests compare it with the ledger)
    reason: str = ""
    from_ledger: bool = True

    @property
    def placeholder(self) -> bool:
        return self.text is None


@dataclass
class Counts:
    total: int = 0
    approved: int = 0
    submitted: int = 0
    owed: int = 0
    overdue: int = 0
    on_time: int = 0
    due_or_done: int = 0

    @property
    def rate(self) -> float | None:
        return on_time_rate(self.on_time, self.due_or_done)


@dataclass
class CodeCounts:
    title: str
    target_count: int | None
    items: int = 0
    approved: int = 0
    occurrences: Decimal = Decimal(0)
    value_sum: Decimal = Decimal(0)
    values: int = 0


@dataclass
class LedgerFigures:
    """What the ledger says about one year, gathered in a few grouped queries."""

    year: int
    families: dict[Family, Counts] = field(default_factory=dict)
    codes: dict[str, CodeCounts] = field(default_factory=dict)
    law_study_occurrences: Decimal = Decimal(0)
    law_study_count_items: int = 0
    cases: int = 0
    major_cases: int = 0

    def family(self, family: Family) -> Counts:
        return self.families.get(family, Counts())

    @property
    def total(self) -> Counts:
        result = Counts()
        for counts in self.families.values():
            for name in vars(result):
                setattr(result, name, getattr(result, name) + getattr(counts, name))
        return result


def _spec_codes() -> set[str]:
    return {
        figure.code
        for section in SECTIONS
        for part in section.parts
        for figure in part.figures
        if isinstance(figure, Occurrences | TaskDone | Indicator)
    }


def gather(session: Session, *, year: int, today: date, timezone: str) -> LedgerFigures:
    """The year's ledger figures: per family, per requirement of the report, cases."""
    figures = LedgerFigures(year=year)
    approved = ChecklistItem.status == ItemStatus.APPROVED
    in_year = year_condition(year)

    def flag(condition: Any) -> Any:
        return func.coalesce(func.sum(when((condition, 1), else_=0)), 0)

    for row in session.execute(
        select(
            Requirement.family,
            func.count(ChecklistItem.id),
            flag(approved),
            flag(ChecklistItem.status == ItemStatus.SUBMITTED),
            flag(ChecklistItem.status.in_([s.value for s in OWED_STATUSES])),
            flag(ChecklistItem.is_overdue(today)),
            flag(on_time_condition(timezone)),
            flag(approved | (ChecklistItem.due_date < today)),
        )
        .join(ChecklistItem.requirement)
        .where(in_year)
        .group_by(Requirement.family)
    ):
        figures.families[Family(row[0])] = Counts(*(int(v) for v in row[1:]))

    # The approved round's claimed value: the number of occurrences of a `count` item.
    occurrences = (
        select(Submission.value)
        .where(Submission.item_id == ChecklistItem.id)
        .correlate(ChecklistItem)
        .order_by(Submission.round.desc())
        .limit(1)
        .scalar_subquery()
    )
    approved_occurrences = func.coalesce(func.sum(when((approved, occurrences), else_=None)), 0)
    for row in session.execute(
        select(
            Requirement.code,
            Requirement.title_zh,
            Requirement.target_count,
            func.count(ChecklistItem.id),
            flag(approved),
            approved_occurrences,
            func.coalesce(func.sum(when((approved, ChecklistItem.value), else_=None)), 0),
            func.count(when((approved, ChecklistItem.value), else_=None)),
        )
        .join(ChecklistItem.requirement)
        .where(in_year, Requirement.code.in_(sorted(_spec_codes())))
        .group_by(Requirement.code, Requirement.title_zh, Requirement.target_count)
    ):
        figures.codes[row[0]] = CodeCounts(
            title=row[1],
            target_count=row[2],
            items=int(row[3]),
            approved=int(row[4]),
            occurrences=Decimal(row[5] or 0),
            value_sum=Decimal(row[6] or 0),
            values=int(row[7]),
        )

    row = session.execute(
        select(func.count(ChecklistItem.id), approved_occurrences)
        .join(ChecklistItem.requirement)
        .where(
            in_year,
            Requirement.family == Family.LAW_STUDY,
            Requirement.kind == "count",
        )
    ).one()
    figures.law_study_count_items = int(row[0])
    figures.law_study_occurrences = Decimal(row[1] or 0)

    row = session.execute(
        select(func.count(Case.id), flag(Case.major)).where(
            Case.decided_on.between(date(year, 1, 1), date(year, 12, 31))
        )
    ).one()
    figures.cases, figures.major_cases = int(row[0]), int(row[1])
    return figures


def _number(value: Decimal | float | int) -> str:
    value = Decimal(str(value))
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.quantize(Decimal('0.1'))}"


def percent(rate: float | None) -> str:
    """A rate as the report writes it: one decimal, e.g. 66.7%."""
    return "" if rate is None else f"{rate * 100:.1f}%"


def _placeholder(label: str, reason: str) -> Figure:
    return Figure(label, None, reason=reason)


def figure_lines(spec: FigureSpec, data: LedgerFigures) -> list[Figure]:
    """The report lines of one figure specification (placeholders where data is missing)."""
    if isinstance(spec, Placeholder):
        return [Figure(spec.label, None, reason="台账不记录此项", from_ledger=False)]
    if isinstance(spec, FamilyItems):
        counts = data.family(spec.family)
        if not counts.total:
            return []
        lines = [
            Figure("台账事项", f"{counts.total}项", counts.total),
            Figure("已审核通过", f"{counts.approved}项", counts.approved),
            Figure("按时完成", f"{counts.on_time}项", counts.on_time),
        ]
        if counts.rate is None:
            lines.append(_placeholder("按时完成率", "尚无到期事项"))
        else:
            lines.append(Figure("按时完成率", percent(counts.rate), counts.rate))
        lines.append(Figure("逾期未完成", f"{counts.overdue}项", counts.overdue))
        return lines
    if isinstance(spec, PublicationRate):
        counts = data.family(Family.PUBLICITY)
        label = "公示率（公示事项按时完成比例）"
        if counts.rate is None:
            return [_placeholder(label, "台账中尚无到期的公示事项")]
        text = f"{percent(counts.rate)}（{counts.on_time}/{counts.due_or_done}）"
        return [Figure(label, text, counts.rate)]
    if isinstance(spec, CasesDecided):
        if not data.cases:
            return []
        return [
            Figure("本年度作出处罚决定的执法案件", f"{data.cases}件", data.cases),
            Figure("其中重大执法决定", f"{data.major_cases}件", data.major_cases),
        ]
    if isinstance(spec, TrainingsTotal):
        if not data.law_study_count_items:
            return []
        value = data.law_study_occurrences
        return [Figure("学法培训活动合计（经审核确认）", f"{_number(value)}次", value)]
    code = data.codes.get(spec.code)
    label = spec.label
    if code is None:
        return [_placeholder(label, "台账无本年度记录")]
    if isinstance(spec, Occurrences):
        if not code.approved:
            return [_placeholder(label, f"台账{code.items}项事项尚未审核通过")]
        text = f"{_number(code.occurrences)}次"
        if code.target_count:
            text += f"（目标{code.target_count * code.items}次）"
        return [Figure(label, text, code.occurrences)]
    if isinstance(spec, TaskDone):
        text = f"已完成{code.approved}项（共{code.items}项）"
        return [Figure(label, text, code.approved)]
    # Indicator
    if not code.values:
        return [_placeholder(label, "尚无审核通过的数值")]
    average = code.value_sum / code.values
    text = f"{_number(average)}%"
    if code.values > 1:
        text += f"（{code.values}个单位平均）"
    return [Figure(label, text, average)]


@dataclass(frozen=True)
class ReportPart:
    title: str | None
    figures: list[Figure]


@dataclass(frozen=True)
class ReportSection:
    key: str
    title: str
    narrative: str
    parts: list[ReportPart]

    @property
    def has_data(self) -> bool:
        return any(f.from_ledger and not f.placeholder for p in self.parts for f in p.figures)


@dataclass(frozen=True)
class Report:
    year: int
    bureau: str
    generated_on: date
    overview: list[Figure]
    overview_narrative: str
    sections: list[ReportSection]


def compose(session: Session, *, year: int, today: date, timezone: str) -> Report:
    """Everything the DOCX shows, as data (the tests read figures from here and from the file)."""
    data = gather(session, year=year, today=today, timezone=timezone)
    narratives = load_narratives(session, year=year)
    total = data.total
    overview: list[Figure] = []
    if total.total:
        overview = [
            Figure("台账事项总数", f"{total.total}项", total.total),
            Figure("已审核通过", f"{total.approved}项", total.approved),
            Figure("按时完成", f"{total.on_time}项", total.on_time),
            (
                Figure("按时完成率", percent(total.rate), total.rate)
                if total.rate is not None
                else _placeholder("按时完成率", "尚无到期事项")
            ),
            Figure("逾期未完成", f"{total.overdue}项", total.overdue),
        ]
    sections = [
        ReportSection(
            key=spec.key,
            title=spec.title,
            narrative=narratives.get(spec.key, ""),
            parts=[
                ReportPart(
                    part.title,
                    [line for figure in part.figures for line in figure_lines(figure, data)],
                )
                for part in spec.parts
            ],
        )
        for spec in SECTIONS
    ]
    bureau = session.scalar(
        select(Unit.name).where(Unit.parent_id.is_(None)).order_by(Unit.id).limit(1)
    )
    return Report(
        year=year,
        bureau=bureau or "本局",
        generated_on=today,
        overview=overview,
        overview_narrative=narratives.get(OVERVIEW, ""),
        sections=sections,
    )


# ---------------------------------------------------------------- narratives


def load_narratives(session: Session, *, year: int) -> dict[str, str]:
    """Section key → the admin's text for the year."""
    return {
        n.section: n.text
        for n in session.scalars(select(ReportNarrative).where(ReportNarrative.year == year))
    }


def save_narratives(
    session: Session, *, actor: User, year: int, texts: dict[str, str], now: datetime
) -> list[str]:
    """Store the changed sections' texts (one audit event each); returns the changed keys."""
    unknown = set(texts) - set(SECTION_KEYS)
    if unknown:
        raise ValidationFailed(f"unknown report sections: {', '.join(sorted(unknown))}")
    existing = {
        n.section: n
        for n in session.scalars(select(ReportNarrative).where(ReportNarrative.year == year))
    }
    changed = []
    for key in SECTION_KEYS:
        if key not in texts:
            continue
        text = (texts[key] or "").replace("\r\n", "\n").strip()
        if len(text) > NARRATIVE_MAX:
            raise ValidationFailed(f"section {key} is longer than {NARRATIVE_MAX} characters")
        row = existing.get(key)
        if (row.text if row is not None else "") == text:
            continue
        if row is None:
            row = ReportNarrative(year=year, section=key, text=text)
            session.add(row)
        row.text = text
        row.updated_at = now
        row.updated_by_id = actor.id
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="report_narrative.updated",
            object_type="report_narrative",
            object_id=row.id,
            data={"year": year, "section": key, "length": len(text)},
            at=now,
        )
        changed.append(key)
    return changed


# ---------------------------------------------------------------- DOCX


def _east_asian(style_or_run: Any, font: str) -> None:
    """Set the Latin and East Asian font: without w:eastAsia Word falls back for Chinese."""
    style_or_run.font.name = font
    rpr = style_or_run.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia"):
        fonts.set(qn(attribute), font)


def _styles(document: Any) -> None:
    normal = document.styles["Normal"]
    _east_asian(normal, BODY_FONT)
    normal.font.size = Pt(16)  # 三号
    normal.paragraph_format.first_line_indent = Pt(32)
    normal.paragraph_format.line_spacing = Pt(28)
    for name, font in (("Heading 1", HEADING_FONT), ("Heading 2", SUBHEADING_FONT)):
        style = document.styles[name]
        _east_asian(style, font)
        style.font.size = Pt(16)
        style.font.bold = name == "Heading 1"
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.paragraph_format.first_line_indent = Pt(32)
    title = document.styles["Title"]
    _east_asian(title, TITLE_FONT)
    title.font.size = Pt(22)  # 二号
    title.font.bold = True
    title.font.color.rgb = RGBColor(0, 0, 0)


# Characters XML 1.0 cannot hold (python-docx refuses them): typed or pasted into names and
# texts, they are dropped from the document rather than making it fail.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _narrative(document: Any, text: str, what: str) -> None:
    paragraphs = [p.strip() for p in xml_text(text).split("\n") if p.strip()]
    if not paragraphs:
        _placeholder_paragraph(document, f"{what}工作情况综述")
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)


def _placeholder_run(paragraph: Any, text: str) -> None:
    run = paragraph.add_run(PLACEHOLDER.format(text))
    run.font.highlight_color = WD_COLOR_INDEX.YELLOW


def _placeholder_paragraph(document: Any, text: str) -> None:
    _placeholder_run(document.add_paragraph(), text)


def _figures(document: Any, figures: Iterable[Figure]) -> None:
    for figure in figures:
        paragraph = document.add_paragraph()
        label = xml_text(str(figure.label))
        paragraph.add_run(f"{label}：")
        if figure.placeholder:
            reason = f"（{xml_text(str(figure.reason))}）" if figure.reason else ""
            _placeholder_run(paragraph, f"{label}{reason}")
        else:
            paragraph.add_run(f"{xml_text(str(figure.text))}。")


def write_docx(report: Report, out: IO[bytes] | str) -> None:
    """Render a composed report with python-docx."""
    document = Document()
    _styles(document)
    title = document.add_paragraph(
        f"{xml_text(report.bureau)}{report.year}年法治政府建设年度报告（草稿）", style="Title"
    )
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.first_line_indent = Pt(0)
    note = document.add_paragraph()
    note.add_run(
        f"本稿由合规台账根据截至{report.generated_on.isoformat()}的台账数据生成；"
        "黄色标注的【待填写】处为台账无法支撑的内容，须由起草人核实补充。"
    ).italic = True

    _narrative(document, report.overview_narrative, "年度总体")
    if report.overview:
        document.add_paragraph(f"{report.year}年度台账总体情况如下：")
        _figures(document, report.overview)
    else:
        document.add_paragraph(NO_DATA.format(year=report.year).replace("本部分", ""))

    for section in report.sections:
        document.add_heading(section.title, level=1)
        _narrative(document, section.narrative, "本部分")
        if not section.has_data:
            document.add_paragraph(NO_DATA.format(year=report.year))
        for part in section.parts:
            if part.title:
                document.add_heading(part.title, level=2)
                if section.has_data and not any(
                    f.from_ledger and not f.placeholder for f in part.figures
                ):
                    document.add_paragraph(NO_DATA.format(year=report.year))
            # Where the ledger has nothing, only placeholders remain: what the author must fill.
            _figures(document, part.figures)
    document.save(out)


def build_docx(
    session: Session, year: int, out: IO[bytes] | str, *, today: date, timezone: str
) -> Report:
    """Compose the year's report from the ledger and write it as DOCX; returns what it wrote."""
    report = compose(session, year=year, today=today, timezone=timezone)
    write_docx(report, out)
    return report
