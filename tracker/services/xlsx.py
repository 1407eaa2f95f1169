"""A small XLSX writer for large exports: each sheet streamed to a temporary file as XML, a
string per cell, then zipped with the few parts a workbook needs.

openpyxl's per-cell work alone took 1.4 times the whole export of a city's year written by
openpyxl itself (bench/README.md): cells here are made from a cache of their XML by value.
What it writes: inline text, numbers, dates as date cells (DATE_FORMAT), percentages, a bold
header row that stays frozen, column widths and a filter over the rows. Files are checked by
tests/integration/test_ledger_export_speed.py (read back with openpyxl) and were read
identically by LibreOffice Calc.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import absolute_coordinate
from openpyxl.utils.datetime import to_excel

DATE_FORMAT = "yyyy-mm-dd"
# Typed text (titles, names, case numbers) a spreadsheet would run as a formula when it starts
# with one of these (formula or DDE injection: "=HYPERLINK(...)", "@SUM(...)", "+cmd|...").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 (and so XLSX) cannot hold: dropped.
ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_COLUMNS = 64

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

# Cell formats by their place in _STYLES_XML: the header, a date, text that must stay text
# (Excel's leading '), a percentage.
_HEADER_STYLE, _DATE_STYLE, _QUOTED_STYLE, _PERCENT_STYLE = 1, 2, 3, 4
_STYLES_XML = (
    f'{_XML_HEAD}<styleSheet xmlns="{_MAIN_NS}">'
    f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{DATE_FORMAT}"/>'
    '<numFmt numFmtId="165" formatCode="0.0%"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="00DDEBF7"/></patternFill></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_PAGE_MARGINS = (
    '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
)
MAX_TEXT = 32_767  # characters a cell holds (openpyxl cut them here too)
CELL_CACHE = 20_000  # distinct texts and days remembered: codes, titles, names, labels fit
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_XML_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


@dataclass(frozen=True)
class Percent:
    """A summary rate: a number shown as a percentage (an empty cell when there is none)."""

    value: float | None


def sheet_title(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", name)[:31]


def _number_xml(value: float) -> str:
    shown = "%.16g" % value if math.isfinite(value) else ""  # noqa: UP031 (Excel's 15-16 digits)
    return f' t="n"><v>{shown}</v></c>'


def _text_xml(value: str, style: int = 0) -> str | None:
    """Text as a cell that stays text: characters XML cannot hold dropped, and text that starts
    like a formula marked with Excel's leading ' (so that it is not run even once edited)."""
    text = ILLEGAL_XML.sub("", value)[:MAX_TEXT]
    if not text:
        return None
    if not style and text.startswith(FORMULA_STARTS):
        style = _QUOTED_STYLE
    styled = f' s="{style}"' if style else ""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'{styled} t="inlineStr"><is><t{space}>{text.translate(_XML_TEXT)}</t></is></c>'


def _value_xml(value: Any) -> str | None:
    """What follows `<c r="B7"` for a text, a date or a summary rate (None: no cell)."""
    if isinstance(value, str):
        return _text_xml(value)
    if isinstance(value, Percent):
        if value.value is None:
            return f' s="{_PERCENT_STYLE}" t="n"/>'
        return f' s="{_PERCENT_STYLE}"' + _number_xml(value.value)
    if isinstance(value, date):
        return f' s="{_DATE_STYLE}"' + _number_xml(to_excel(value))
    raise TypeError(f"no cell for {value!r}")


class CellCache(dict):
    """The XML of cells by value. Texts and days come back on every row (codes, titles, unit
    and officer names, labels, dates), so each is made once; numbers are written each time."""

    def __missing__(self, value: Any) -> str | None:
        xml = _value_xml(value)
        if len(self) < CELL_CACHE:
            self[value] = xml
        return xml

    def row(self, number: int, values: Iterable[Any]) -> str:
        """One `<row>`: None values are no cell at all."""
        r = str(number)
        cells = [f'<row r="{r}">']
        for letter, value in zip(_COLUMN_LETTERS, values, strict=False):
            if value is None:
                continue
            xml = _number_xml(value) if isinstance(value, int | float) else self[value]
            if xml is not None:
                cells.append(f'<c r="{letter}{r}"{xml}')
        cells.append("</row>")
        return "".join(cells)


_COLUMN_LETTERS = [get_column_letter(n) for n in range(1, MAX_COLUMNS + 1)]


class Sheet:
    """One worksheet streamed to a temporary file: frozen bold header, column widths, the
    rows, and a filter over all of them."""

    def __init__(self, title: str, headers: Sequence[tuple[str, int]]):
        """`headers`: each column's heading and width (in characters)."""
        if len(headers) > MAX_COLUMNS:
            raise ValueError(f"at most {MAX_COLUMNS} columns")
        self.title = title
        self.width = len(headers)
        self.rows = 0  # below the header
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        widths = "".join(
            f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>'
            for n, (_heading, width) in enumerate(headers, start=1)
        )
        header = "".join(
            f'<c r="{letter}1"{_text_xml(heading, _HEADER_STYLE)}'
            for letter, (heading, _width) in zip(_COLUMN_LETTERS, headers, strict=False)
        )
        self._write(
            f'{_XML_HEAD}<worksheet xmlns="{_MAIN_NS}"><sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A1" sqref="A1"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols>'
            f'<sheetData><row r="1">{header}</row>'
        )

    def _write(self, xml: str) -> None:
        self.file.write(xml.encode())

    def append(self, values: Iterable[Any], cells: CellCache) -> None:
        self.rows += 1
        self._write(cells.row(self.rows + 1, values))

    @property
    def filter_ref(self) -> str:
        return f"A1:{_COLUMN_LETTERS[self.width - 1]}{self.rows + 1}"

    def finish(self) -> int:
        """Close the XML; returns its size in bytes."""
        self._write(f'</sheetData><autoFilter ref="{self.filter_ref}"/>{_PAGE_MARGINS}</worksheet>')
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


def _filter_range(sheet: Sheet) -> str:
    quoted = sheet.title.replace("'", "''")
    return f"'{quoted}'!{absolute_coordinate(sheet.filter_ref)}"


def _workbook_xml(sheets: Sequence[Sheet]) -> str:
    listed = "".join(
        f'<sheet name="{s.title.translate(_XML_ATTRIBUTE)}" sheetId="{n}" r:id="rId{n}"/>'
        for n, s in enumerate(sheets, start=1)
    )
    # The range each filter covers, named as Excel itself names it.
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n}" hidden="1">'
        f"{_filter_range(s).translate(_XML_TEXT)}</definedName>"
        for n, s in enumerate(sheets)
    )
    return (
        f'{_XML_HEAD}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_DOC_RELS}">'
        f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{listed}</sheets>'
        f'<definedNames>{filters}</definedNames><calcPr calcId="124519" fullCalcOnLoad="1"/>'
        "</workbook>"
    )


def _package_parts(sheets: Sequence[Sheet]) -> dict[str, str]:
    """Every part of the file but the sheets: content types, relationships, workbook, styles."""
    count = len(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_SHEET_TYPE}"/>'
        for n in range(1, count + 1)
    )
    sheet_rels = "".join(
        f'<Relationship Id="rId{n}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, count + 1)
    )
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    return {
        "[Content_Types].xml": (
            f"{_XML_HEAD}"
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{office}.styles+xml"/>'
            f"{overrides}</Types>"
        ),
        "_rels/.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": _workbook_xml(sheets),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">{sheet_rels}'
            f'<Relationship Id="rId{count + 1}" Type="{_DOC_RELS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": _STYLES_XML,
    }


def save(sheets: Sequence[Sheet], out: IO[bytes] | str) -> None:
    """Zip the parts and the sheets' temporary files into the XLSX."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in _package_parts(sheets).items():
            package.writestr(name, xml)
        for number, sheet in enumerate(sheets, start=1):
            entry = zipfile.ZipInfo(f"xl/worksheets/sheet{number}.xml", time.localtime()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.file_size = sheet.finish()  # lets zipfile choose ZIP64 for a huge sheet
            sheet.file.seek(0)
            with package.open(entry, "w") as part:
                shutil.copyfileobj(sheet.file, part, 1024 * 1024)
