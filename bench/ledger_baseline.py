"""Baseline of the ledger export: the same rows written by openpyxl alone, in write-only mode.

One plain SELECT of the year's items (the export's year rule: periodic items by period code,
case items by the case's decision date) with their requirement, unit, case and officer, streamed
into a single write-only sheet. Run as a child process so its time and peak memory are its own.
"""

from __future__ import annotations

import argparse

import sqlalchemy as sa
from openpyxl import Workbook

QUERY = """
SELECT i.id, r.code, r.title_zh, r.family, u.name, coalesce(c.case_no, i.period), i.due_date,
       i.due_provisional, i.status, p.name, i.value
FROM checklist_item i
JOIN requirement r ON r.id = i.requirement_id
JOIN unit u ON u.id = i.unit_id
LEFT JOIN enforcement_case c ON c.id = i.case_id
LEFT JOIN user_account p ON p.id = i.assignee_id
WHERE i.period LIKE :year_prefix OR c.decided_on BETWEEN :first AND :last
ORDER BY i.due_date, r.code, i.id
"""
HEADER = [
    "序号",
    "要求编号",
    "事项",
    "类别",
    "责任单位",
    "期间/案件",
    "截止日期",
    "期限待定",
    "状态",
    "经办人",
    "数值",
]


def write(url: str, year: int, out: str) -> int:
    engine = sa.create_engine(url)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("台账")
    sheet.append(HEADER)
    rows = 0
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=2000).execute(
            sa.text(QUERY).columns(due_date=sa.Date),
            {"year_prefix": f"{year}%", "first": f"{year}-01-01", "last": f"{year}-12-31"},
        )
        for row in result:
            sheet.append(list(row))
            rows += 1
    workbook.save(out)
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--year", type=int, required=True)
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    print(write(options.database_url, options.year, options.out))


if __name__ == "__main__":
    main()
