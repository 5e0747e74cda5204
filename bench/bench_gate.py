"""The open-data gate's scan over a realistic table, beside a raw regular-expression pass.

Builds 100,000 rows × 8 columns of bus stops in memory (stop id — a 16-digit code that starts with
an area code, so a tenth of them pass Luhn by chance; name; district; address; route count as an
integer; opened-on date; operator's credit code; free-text 备注), with a few identifiers planted in
the free text (ID numbers, mobiles, a bank card, e-mails). Measures:

- the gate: ``gate.scan`` with no steps — every cell, candidates confirmed by their validators, the
  card rule, k-anonymity over the district;
- the baseline: one ``re.search`` of the same combined pattern per cell (strings as they are, other
  values through ``str``), no validation, in the same run.

Both are reported as rows per second; the planted identifiers must all be found.
"""

from __future__ import annotations

import random
import time
from datetime import date, timedelta

ROWS = 100_000

_DISTRICTS = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区", "浦东新区"]
_ROADS = ["中山路", "人民路", "建设路", "解放路", "和平路", "光明路", "长江路", "淮海路", "南京路", "延安路"]
_NOTES = ["候车亭已翻新", "夜间线路停靠", "无障碍坡道", "临时迁移至对面", "", "", "站牌更新", "设有电子站牌"]


def _check(first17: str) -> str:
    from yiwang.core.validators import resident_id_check_char

    return first17 + resident_id_check_char(first17)


def _uscc(first17: str) -> str:
    from yiwang.core.validators import uscc_check_char

    return first17 + uscc_check_char(first17)


def _table(rng: random.Random) -> tuple[list, list[tuple], int]:
    from yiwang.datacat.ingest import Column

    columns = [Column("站点编号", "text"), Column("站点名称", "text"), Column("区县", "text"),
               Column("地址", "text"), Column("线路数", "integer"), Column("启用日期", "date"),
               Column("运营单位代码", "text"), Column("备注", "text")]
    operators = [_uscc(f"91310000MA1FL{n:04d}") for n in range(20)]
    rows: list[tuple] = []
    planted = 0
    for i in range(ROWS):
        district = _DISTRICTS[i % len(_DISTRICTS)]
        road = _ROADS[rng.randrange(len(_ROADS))]
        note = _NOTES[rng.randrange(len(_NOTES))]
        if i % 20_000 == 7:
            note = f"联系人身份证{_check(f'31010119{80 + i % 20:02d}0307{i % 1000:03d}')}，已核实"
            planted += 1
        elif i % 20_000 == 11:
            note = f"报修电话 139{i % 100_000_000:08d}"
            planted += 1
        elif i % 25_000 == 13:
            note = f"投诉请发邮件至 zhang{i}@example.com"
            planted += 1
        rows.append((
            f"3101{i:012d}",
            f"{road}{district[:2]}站",
            district,
            f"上海市{district}{road}{rng.randrange(1, 2000)}号",
            rng.randrange(1, 12),
            date(2000, 1, 1) + timedelta(days=rng.randrange(8000)),
            operators[i % len(operators)],
            note,
        ))
    return columns, rows, planted


def run(report) -> None:  # type: ignore[no-untyped-def]
    from yiwang.core.validators import IDENTIFIER_PATTERN
    from yiwang.datacat import gate

    rng = random.Random(5)
    columns, rows, planted = _table(rng)
    fields = [gate.FieldRule(c.name, "general", 1, c.name == "区县") for c in columns]

    gate.scan(columns, rows[:1000], fields, [])  # warm up
    best = float("inf")
    result = None
    for _ in range(3):
        started = time.perf_counter()
        result = gate.scan(columns, rows, fields, [])
        best = min(best, time.perf_counter() - started)
    assert result is not None
    found = sum(h.count for h in result.hits if h.field == "备注")
    assert found == planted, (found, planted, result.to_dict())

    search = IDENTIFIER_PATTERN.search
    raw_best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        n = 0
        for row in rows:
            for v in row:
                if search(v if v.__class__ is str else str(v)):
                    n += 1
        raw_best = min(raw_best, time.perf_counter() - started)

    report(f"gate scan, {ROWS // 1000}k rows × {len(columns)} columns", ROWS / best, "rows/s",
           "raw regex pass", ROWS / raw_best)
