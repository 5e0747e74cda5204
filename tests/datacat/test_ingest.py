"""The ingest: CSV (UTF-8, BOM, GB18030), XLSX and JSON uploads become typed tables."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from yiwang.core.i18n import catalogue
from yiwang.datacat import ingest
from yiwang.datacat.ingest import Column, IngestError, RowError, parse

STOPS = "站点编号,站点名称,线路数,启用日期,有顶棚\n0101,人民广场站,12,2019-05-01,是\n0102,淮海中路站,,2020/1/2,否\n"


class TestCsv:
    def test_reads_utf8_and_infers_types(self) -> None:
        t = parse(STOPS.encode(), "CSV")
        assert t.columns == [Column("站点编号", "text"), Column("站点名称", "text"), Column("线路数", "integer"),
                             Column("启用日期", "date"), Column("有顶棚", "boolean")]
        assert t.rows == [("0101", "人民广场站", 12, date(2019, 5, 1), True),
                          ("0102", "淮海中路站", None, date(2020, 1, 2), False)]
        assert t.errors == []

    def test_reads_utf8_with_bom(self) -> None:
        t = parse(b"\xef\xbb\xbf" + STOPS.encode(), "csv")
        assert t.columns[0].name == "站点编号"
        assert len(t.rows) == 2

    def test_falls_back_to_gb18030(self) -> None:
        data = STOPS.encode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        t = parse(data, "CSV")
        assert t.rows[1][1] == "淮海中路站"

    @pytest.mark.parametrize("delimiter", [";", "\t"])
    def test_sniffs_the_delimiter(self, delimiter: str) -> None:
        t = parse(STOPS.replace(",", delimiter).encode(), "CSV")
        assert [c.name for c in t.columns] == ["站点编号", "站点名称", "线路数", "启用日期", "有顶棚"]
        assert t.rows[0][2] == 12

    def test_quoted_commas_stay_in_the_value(self) -> None:
        t = parse('名称,金额\n"甲,乙",1.5\n'.encode(), "CSV")
        assert t.rows == [("甲,乙", 1.5)]

    def test_codes_and_long_numbers_stay_text(self) -> None:
        t = parse(b"area,card,qty\n310101,6222021234567890128,1\n310104,6222021234567890136,2\n", "CSV")
        assert [c.type for c in t.columns] == ["integer", "text", "integer"]
        assert t.rows[0][1] == "6222021234567890128"

    def test_mixed_numbers_are_numbers_and_mixed_dates_datetimes(self) -> None:
        t = parse(b"n,at\n1,2024-03-07\n2.5,2024-03-07 08:30\n", "CSV")
        assert [c.type for c in t.columns] == ["number", "datetime"]
        assert t.rows == [(1.0, datetime(2024, 3, 7)), (2.5, datetime(2024, 3, 7, 8, 30))]

    def test_a_row_longer_than_the_header_is_an_error_and_left_out(self) -> None:
        t = parse(b"a,b\n1,2\n3,4,5\n6\n", "CSV")
        assert t.rows == [(1, 2), (6, None)]
        assert [(e.row, e.field, e.code) for e in t.errors] == [(2, None, "row_too_long")]
        assert t.errors[0].message == "第 2 行有 3 个值，但表头只有 2 列。"

    def test_blank_lines_are_skipped(self) -> None:
        t = parse(b"a,b\n\n1,2\n,\n", "CSV")
        assert t.rows == [(1, 2)]


class TestDeclared:
    DECLARED = [Column("名称", "text"), Column("数量", "integer"), Column("单价", "number"),
                Column("日期", "date"), Column("时间", "datetime"), Column("有效", "boolean")]

    def test_converts_to_the_declared_types(self) -> None:
        data = ("名称,数量,单价,日期,时间,有效\n"
                '甲,"1,234",2e3,2024年3月7日,2024-03-07T08:30:00+00:00,yes\n'
                "乙,7,0.5,20240308,2024/03/08,0\n").encode()
        t = parse(data, "CSV", declared=self.DECLARED)
        assert t.columns == self.DECLARED
        assert t.rows == [("甲", 1234, 2000.0, date(2024, 3, 7), datetime(2024, 3, 7, 16, 30), True),
                          ("乙", 7, 0.5, date(2024, 3, 8), datetime(2024, 3, 8), False)]
        assert t.errors == []

    def test_a_value_that_does_not_convert_is_a_row_error_naming_row_and_field(self) -> None:
        data = ("名称,数量,单价,日期,时间,有效\n"
                "甲,1,1,2024-03-07,2024-03-07 08:00,是\n"
                "乙,一百,1,2024-02-30,2024-03-07 08:00,是\n"
                "丙,3,nan,2024-03-09,2024-03-07 25:00,也许\n"
                "丁,4,4,2024-03-10,2024-03-07 08:00,否\n").encode()
        t = parse(data, "CSV", declared=self.DECLARED)
        assert [r[0] for r in t.rows] == ["甲", "丁"]
        assert [(e.row, e.field) for e in t.errors] == [(2, "数量"), (2, "日期"), (3, "单价"), (3, "时间"), (3, "有效")]
        assert t.errors[0] == RowError(2, "数量", "第 2 行“数量”：“一百” 不是整数。", "value_invalid")

    def test_integer_out_of_range_is_refused(self) -> None:
        t = parse(b"n\n9223372036854775808\n9223372036854775807\n", "CSV", declared=[Column("n", "integer")])
        assert t.rows == [(9223372036854775807,)]
        assert [e.row for e in t.errors] == [1]

    def test_a_missing_declared_column_is_a_file_error(self) -> None:
        with pytest.raises(IngestError) as exc:
            parse("名称,数量\n甲,1\n".encode(), "CSV", declared=self.DECLARED)
        assert exc.value.code == "column_missing"
        assert exc.value.render() == "文件缺少目录中登记的列：单价、日期、时间、有效。"

    def test_extra_columns_are_reported_once_and_dropped(self) -> None:
        t = parse("数量,备注,名称\n1,x,甲\n".encode(), "CSV", declared=[Column("名称", "text"), Column("数量", "integer")])
        assert t.columns == [Column("名称", "text"), Column("数量", "integer")]
        assert t.rows == [("甲", 1)]
        assert t.errors == [RowError(0, None, "以下列未在目录中登记，已忽略：备注。", "extra_columns")]


class TestFileErrors:
    @pytest.mark.parametrize(("data", "code"), [
        (b"", "no_header"),
        (b"\n\n", "no_header"),
        (b"1,2\n3,4\n", "no_header"),
        (b"a,,c\n1,2,3\n", "column_name_empty"),
        (b"a,A\n1,2\n", "column_duplicate"),
        (b"a, a \n1,2\n", "column_duplicate"),
        (("x" * 64 + ",b\n1,2\n").encode(), "column_name_too_long"),
        (b"\x00\x01\x02\x03 binary" * 50, "file_not_text"),
        (b"PK\x03\x04\x14\x00\x00\x00", "file_not_text"),
        (b"%PDF-1.7\n", "file_not_text"),
        (b"\x80\x81\xff\xfe\x00", "file_not_text"),
    ])
    def test_refuses(self, data: bytes, code: str) -> None:
        with pytest.raises(IngestError) as exc:
            parse(data, "CSV")
        assert exc.value.code == code
        assert exc.value.status == 422
        assert not exc.value.render().isascii()  # told in Chinese

    def test_the_disguise_is_named(self) -> None:
        with pytest.raises(IngestError) as exc:
            parse(b"%PDF-1.7\n...", "CSV")
        assert exc.value.render() == "该文件是PDF 文件，不是文本数据表，请按其实际格式上传。"

    def test_an_unknown_format(self) -> None:
        with pytest.raises(IngestError) as exc:
            parse(b"a\n1\n", "DOCX")
        assert exc.value.code == "format_unknown"

    def test_too_many_rows(self) -> None:
        with pytest.raises(IngestError) as exc:
            parse(b"a\n1\n2\n3\n", "CSV", max_rows=2)
        assert exc.value.code == "too_many_rows"
        assert parse(b"a\n1\n2\n", "CSV", max_rows=2).rows == [(1,), (2,)]

    def test_a_63_character_name_is_fine(self) -> None:
        assert parse(("x" * 63 + "\n1\n").encode(), "CSV").columns[0].name == "x" * 63


def _xlsx(rows: list[list]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


class TestXlsx:
    def test_reads_the_first_sheet_with_spreadsheet_types(self) -> None:
        data = _xlsx([["站点名称", "线路数", "票价", "启用日期", "更新时间", "夜班"],
                      ["人民广场站", 12, 2.5, datetime(2019, 5, 1), datetime(2024, 3, 7, 8, 30), True],
                      [None, None, None, None, None, None],
                      ["淮海中路站", 3, 2, datetime(2020, 1, 2), datetime(2024, 3, 8, 9, 0), False]])
        t = parse(data, "XLSX")
        assert t.columns == [Column("站点名称", "text"), Column("线路数", "integer"), Column("票价", "number"),
                             Column("启用日期", "date"), Column("更新时间", "datetime"), Column("夜班", "boolean")]
        assert t.rows == [("人民广场站", 12, 2.5, date(2019, 5, 1), datetime(2024, 3, 7, 8, 30), True),
                          ("淮海中路站", 3, 2.0, date(2020, 1, 2), datetime(2024, 3, 8, 9, 0), False)]
        assert t.errors == []

    def test_declared_types_and_errors_name_the_row(self) -> None:
        data = _xlsx([["编号", "数量"], [101, 5], [102, "很多"], [103, 7.0]])
        t = parse(data, "XLSX", declared=[Column("编号", "text"), Column("数量", "integer")])
        assert t.rows == [("101", 5), ("103", 7)]
        assert [(e.row, e.field) for e in t.errors] == [(2, "数量")]

    def test_formulas_are_not_evaluated(self) -> None:
        data = _xlsx([["a", "b"], [1, "=1+1"]])
        t = parse(data, "XLSX")
        assert t.rows == [(1, None)]  # no cached value: openpyxl wrote none, nothing computed it

    def test_a_garbage_file_is_refused(self) -> None:
        for data in (b"a,b\n1,2\n", b"PK\x03\x04 not really a zip", b""):
            with pytest.raises(IngestError) as exc:
                parse(data, "XLSX")
            assert exc.value.code == "file_unreadable"

    def test_a_zip_that_is_not_a_workbook_is_refused(self) -> None:
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("hello.txt", "hi")
        with pytest.raises(IngestError) as exc:
            parse(buf.getvalue(), "XLSX")
        assert exc.value.code == "file_unreadable"


class TestJson:
    def test_a_list_of_objects(self) -> None:
        data = json.dumps([{"名称": "甲", "数量": 1}, {"名称": "乙", "数量": 2, "备注": {"a": 1}}],
                          ensure_ascii=False).encode()
        t = parse(data, "JSON")
        assert t.columns == [Column("名称", "text"), Column("数量", "integer"), Column("备注", "text")]
        assert t.rows == [("甲", 1, None), ("乙", 2, '{"a": 1}')]

    def test_records_like_the_datastore_gives(self) -> None:
        data = json.dumps({"fields": [], "records": [{"n": "1.5"}, {"n": 2}, "x"]}).encode()
        t = parse(data, "JSON", declared=[Column("n", "number")])
        assert t.rows == [(1.5,), (2.0,)]
        assert [(e.row, e.code) for e in t.errors] == [(3, "record_not_object")]

    def test_booleans_are_not_numbers(self) -> None:
        t = parse(b'[{"n": true}, {"n": 2}]', "JSON", declared=[Column("n", "integer")])
        assert t.rows == [(2,)]
        assert [(e.row, e.field) for e in t.errors] == [(1, "n")]

    @pytest.mark.parametrize(("data", "code"), [
        (b"{not json", "file_unreadable"),
        (b'{"a": 1}', "json_shape"),
        (b"[]", "no_header"),
        (b'[{"a": NaN}]', "file_unreadable"),
        (b"[" * 100_000 + b"]" * 100_000, "file_unreadable"),
    ])
    def test_refuses(self, data: bytes, code: str) -> None:
        with pytest.raises(IngestError) as exc:
            parse(data, "JSON")
        assert exc.value.code == code


class TestSpeed:
    def test_100k_rows_parse_in_a_request(self) -> None:
        import time

        lines = ["编号,名称,数量,金额,日期"] + [f"{i},站点{i},{i % 50},{i * 0.5},2024-03-{i % 28 + 1:02d}"
                                          for i in range(100_000)]
        data = "\n".join(lines).encode()
        started = time.perf_counter()
        t = parse(data, "CSV")
        elapsed = time.perf_counter() - started
        assert len(t.rows) == 100_000
        assert [c.type for c in t.columns] == ["integer", "text", "integer", "number", "date"]
        assert elapsed < 10  # about 1 s here; generous for a shared CI machine


def _msgids() -> list[str]:
    src = Path(ingest.__file__).read_text()
    found = set(re.findall(r'IngestError\(\s*"\w+",\s*"((?:[^"\\]|\\.)*)"', src))
    found |= set(re.findall(r'_row_error\([^"]*"\w+",\s*"((?:[^"\\]|\\.)*)"', src))
    found |= set(ingest._TYPE_LABEL.values()) | {what for _, what in ingest._BINARY_MAGIC}
    return sorted(s.replace('\\"', '"') for s in found)


@pytest.mark.parametrize("msgid", _msgids())
def test_every_message_has_a_chinese_translation(msgid: str) -> None:
    assert catalogue("zh_Hans_CN").get(msgid), msgid


def test_found_the_messages() -> None:
    assert "Row {row}, {field}: {value} is not {type}." in _msgids()
    assert "The file is not valid JSON." in _msgids()
