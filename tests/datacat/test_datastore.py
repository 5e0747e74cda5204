"""The datastore: atomic loads, CKAN's datastore_search and datastore_search_sql, exports."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text

from yiwang.core.ids import new_id
from yiwang.datacat import datastore
from yiwang.datacat.datastore import Column, DatastoreError

COLUMNS = [
    Column("站点名称", "text"),
    Column("线路数", "integer"),
    Column("纬度", "number"),
    Column("启用日期", "date"),
    Column("更新时间", "datetime"),
    Column("无障碍", "boolean"),
]
ROWS = [
    ("人民广场站", 12, 31.2304, date(1995, 4, 10), datetime(2024, 5, 1, 8, 30), True),
    ("静安寺站", 3, 31.2235, date(2000, 6, 1), datetime(2024, 5, 2, 9, 0, 15), False),
    ("陆家嘴站 100%_北", 5, None, None, None, None),
    ("徐家汇站", None, 31.1950, date(1999, 9, 20), datetime(2024, 5, 3, 23, 59, 59), True),
]


def load(settings, rows=ROWS, columns=COLUMNS) -> str:
    table_id = new_id()
    assert datastore.replace(settings, table_id, columns, rows) == len(rows)
    return table_id


def names(result) -> list:
    return [r["站点名称"] for r in result["records"]]


def expect_error(kind: str, key: str | None = None):
    class Catch:
        def __enter__(self):
            self.cm = pytest.raises(DatastoreError)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.cm.__exit__(*exc)
            assert self.info.value.kind == kind, self.info.value
            if key is not None:
                assert self.info.value.key == key
            return handled

    return Catch()


class TestWhere:
    def test_sqlite_datastore_is_a_file_beside_the_main_database(self, settings):
        if not settings.is_sqlite:
            pytest.skip("the SQLite layout")
        load(settings)
        assert (Path(settings.var_dir) / "yiwang-datastore.db").is_file()

    def test_datastore_url_names_another_database(self, settings, tmp_path):
        other = tmp_path / "elsewhere" / "ds.db"
        custom = settings.model_copy(update={"datastore_url": f"sqlite:///{other}"})
        table_id = load(custom)
        assert other.is_file()
        assert datastore.search(custom, table_id)["total"] == 4
        with expect_error("not_found"):
            datastore.search(settings, table_id)

    def test_postgres_datastore_is_its_own_schema(self, settings):
        if settings.is_sqlite:
            pytest.skip("the PostgreSQL layout")
        table_id = load(settings)
        engine = create_engine(settings.resolved_database_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            got = conn.execute(text("SELECT table_schema FROM information_schema.tables WHERE table_name = :t"),
                               {"t": table_id}).scalars().all()
        engine.dispose()
        assert got == ["datastore"]


class TestReplace:
    def test_types_round_trip_with_chinese_names_dates_and_none(self, settings):
        table_id = load(settings)
        result = datastore.search(settings, table_id)
        assert result["fields"] == [
            {"id": "_id", "type": "int"}, {"id": "站点名称", "type": "text"}, {"id": "线路数", "type": "int"},
            {"id": "纬度", "type": "numeric"}, {"id": "启用日期", "type": "date"},
            {"id": "更新时间", "type": "timestamp"}, {"id": "无障碍", "type": "bool"},
        ]
        assert result["records"][0] == {"_id": 1, "站点名称": "人民广场站", "线路数": 12, "纬度": 31.2304,
                                        "启用日期": "1995-04-10", "更新时间": "2024-05-01T08:30:00", "无障碍": True}
        assert result["records"][2] == {"_id": 3, "站点名称": "陆家嘴站 100%_北", "线路数": 5, "纬度": None,
                                        "启用日期": None, "更新时间": None, "无障碍": None}
        assert result["records"][1]["无障碍"] is False
        assert result["records"][1]["更新时间"] == "2024-05-02T09:00:15"
        assert [r["_id"] for r in result["records"]] == [1, 2, 3, 4]
        assert datastore.info(settings, table_id) == result["fields"]

    def test_an_aware_timestamp_is_stored_as_china_local_time(self, settings):
        table_id = load(settings, [("a", datetime(2024, 5, 1, 0, 30, tzinfo=UTC)),
                                   ("b", datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=8))))],
                        [Column("名称", "text"), Column("时间", "datetime")])
        assert [r["时间"] for r in datastore.search(settings, table_id)["records"]] == [
            "2024-05-01T08:30:00", "2024-05-01T08:30:00"]

    def test_replacing_swaps_in_the_new_rows_and_columns(self, settings):
        table_id = load(settings)
        assert datastore.replace(settings, table_id, [Column("名称", "text")], [("甲",), ("乙",)]) == 2
        result = datastore.search(settings, table_id)
        assert result["records"] == [{"_id": 1, "名称": "甲"}, {"_id": 2, "名称": "乙"}]
        assert result["total"] == 2
        assert datastore.replace(settings, table_id, [Column("名称", "text")], [("丙",)]) == 1
        assert datastore.search(settings, table_id)["records"] == [{"_id": 1, "名称": "丙"}]

    def test_loads_more_rows_than_one_batch(self, settings):
        rows = [(f"站{i}", i) for i in range(datastore.BATCH * 2 + 7)]
        table_id = load(settings, rows, [Column("名称", "text"), Column("序号", "integer")])
        result = datastore.search(settings, table_id, sort="序号 desc", limit=1)
        assert result["total"] == len(rows)
        assert result["records"] == [{"_id": len(rows), "名称": f"站{len(rows) - 1}", "序号": len(rows) - 1}]

    def test_a_bad_value_refuses_the_load_and_keeps_the_old_table(self, settings):
        table_id = load(settings)
        bad = [("新站", 1, 1.0, date(2020, 1, 1), datetime(2020, 1, 1), True),
               ("坏站", "七", 1.0, None, None, None)]
        with expect_error("validation", "线路数") as e:
            datastore.replace(settings, table_id, COLUMNS, bad)
        assert e.value.params["row"] == 2
        assert names(datastore.search(settings, table_id)) == [r[0] for r in ROWS]

    def test_a_row_of_the_wrong_length_is_refused(self, settings):
        with expect_error("validation", "records") as e:
            datastore.replace(settings, new_id(), COLUMNS[:2], [("a", 1), ("b",)])
        assert e.value.params == {"row": 2, "got": 1, "want": 2}

    def test_a_failure_half_way_keeps_the_old_table(self, settings):
        table_id = load(settings)

        def rows():
            yield ("新站", 1, 1.0, None, None, None)
            raise RuntimeError("upload cut off")

        with pytest.raises(RuntimeError):
            datastore.replace(settings, table_id, COLUMNS, rows())
        assert names(datastore.search(settings, table_id)) == [r[0] for r in ROWS]
        # and the next load works (the left-over __new table does not get in its way)
        assert datastore.replace(settings, table_id, COLUMNS, ROWS[:1]) == 1

    @pytest.mark.parametrize("columns,key", [
        ([Column("_id", "integer")], "_id"),
        ([Column("名称", "text"), Column("名称", "integer")], "名称"),
        ([Column("Name", "text"), Column("name", "text")], "name"),
        ([Column('a"b', "text")], 'a"b'),
        ([Column("长" * 22, "text")], "长" * 22),
        ([Column("名称", "money")], "名称"),
        ([Column(" 名称", "text")], "fields"),
    ])
    def test_refuses_bad_column_names_and_types(self, settings, columns, key):
        with expect_error("validation", key):
            datastore.replace(settings, new_id(), columns, [])

    def test_refuses_a_table_id_that_is_not_an_id(self, settings):
        for bad in ['users', 'x"; DROP TABLE users; --', new_id().lower(), ""]:
            with expect_error("validation", "resource_id"):
                datastore.replace(settings, bad, COLUMNS, ROWS)

    def test_a_reader_during_a_load_sees_the_old_table_whole(self, settings):
        table_id = load(settings)
        seen = []

        def rows():
            for i in range(3000):
                if i == 2500:  # the load is half done: a reader still sees the four old rows
                    seen.append(datastore.search(settings, table_id, limit=10)["total"])
                yield (f"新{i}", i, None, None, None, None)

        assert datastore.replace(settings, table_id, COLUMNS, rows()) == 3000
        assert seen == [4]
        assert datastore.search(settings, table_id, limit=0)["total"] == 3000

    def test_readers_during_repeated_loads_see_one_version_or_the_other(self, settings):
        table_id = load(settings, [("v0", 0)] * 300, [Column("版本", "text"), Column("n", "integer")])
        problems: list = []
        stop = threading.Event()
        seen: set = set()

        def reader():
            while not stop.is_set():
                try:
                    result = datastore.search(settings, table_id, limit=1000)
                except Exception as e:  # noqa: BLE001 - any failure is what this test looks for
                    problems.append(repr(e))
                    return
                versions = {r["版本"] for r in result["records"]}
                n = len(result["records"])
                seen.add(n)
                if len(versions) != 1 or result["total"] != n or (n, versions) not in (
                        (300, {"v0"}), (300, {"v2"}), (700, {"v1"}), (700, {"v3"})):
                    problems.append((n, versions, result["total"]))

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for v in range(1, 4):
                size = 700 if v % 2 else 300
                datastore.replace(settings, table_id, [Column("版本", "text"), Column("n", "integer")],
                                  [(f"v{v}", i) for i in range(size)])
        finally:
            stop.set()
            thread.join(timeout=30)
        assert problems == []
        assert seen <= {300, 700}


class TestDrop:
    def test_drop_removes_the_table_and_ignores_a_missing_one(self, settings):
        table_id = load(settings)
        datastore.drop(settings, table_id)
        assert not datastore.exists(settings, table_id)
        with expect_error("not_found", "resource_id"):
            datastore.search(settings, table_id)
        datastore.drop(settings, table_id)
        assert datastore.exists(settings, load(settings))


class TestSearch:
    def test_filters_by_equality_lists_none_and_typed_values(self, settings):
        table_id = load(settings)
        assert names(datastore.search(settings, table_id, filters={"站点名称": "静安寺站"})) == ["静安寺站"]
        assert names(datastore.search(settings, table_id, filters={"线路数": ["12", 5]})) == ["人民广场站", "陆家嘴站 100%_北"]
        assert names(datastore.search(settings, table_id, filters={"启用日期": "2000-06-01"})) == ["静安寺站"]
        assert names(datastore.search(settings, table_id, filters={"无障碍": "true", "纬度": 31.195})) == ["徐家汇站"]
        assert names(datastore.search(settings, table_id, filters={"更新时间": "2024-05-01T08:30:00"})) == ["人民广场站"]
        assert names(datastore.search(settings, table_id, filters={"线路数": None})) == ["徐家汇站"]
        assert names(datastore.search(settings, table_id, filters={"线路数": [3, None]})) == ["静安寺站", "徐家汇站"]
        assert datastore.search(settings, table_id, filters={"线路数": []})["total"] == 0
        assert datastore.search(settings, table_id, filters={"_id": 2})["records"][0]["站点名称"] == "静安寺站"

    def test_a_filter_value_of_the_wrong_type_is_a_validation_error(self, settings):
        table_id = load(settings)
        with expect_error("validation", "filters") as e:
            datastore.search(settings, table_id, filters={"启用日期": "去年"})
        assert e.value.params["field"] == "启用日期"
        assert e.value.render() == "“去年”不是字段“启用日期”的有效日期值。"
        assert e.value.render("en") == "去年 is not a valid date for field 启用日期."

    def test_q_text_matches_any_text_field_case_insensitively_and_literally(self, settings):
        table_id = load(settings, [("Bus Stop A", "北京西路"), ("bus stop b", "南京东路"), ("100% 完成", "x_y")],
                        [Column("name", "text"), Column("路名", "text")])
        assert [r["_id"] for r in datastore.search(settings, table_id, q="BUS")["records"]] == [1, 2]
        assert [r["_id"] for r in datastore.search(settings, table_id, q="京东")["records"]] == [2]
        assert [r["_id"] for r in datastore.search(settings, table_id, q="%")["records"]] == [3]
        assert [r["_id"] for r in datastore.search(settings, table_id, q="_")["records"]] == [3]
        assert datastore.search(settings, table_id, q="stop a 北")["total"] == 0

    def test_q_dict_matches_each_field(self, settings):
        table_id = load(settings)
        result = datastore.search(settings, table_id, q={"站点名称": "站"}, filters={"无障碍": True})
        assert names(result) == ["人民广场站", "徐家汇站"]
        assert names(datastore.search(settings, table_id, q={"站点名称": "静安"})) == ["静安寺站"]
        with expect_error("validation", "q"):
            datastore.search(settings, table_id, q={"线路数": "3"})

    def test_fields_sort_limit_offset_and_total(self, settings):
        table_id = load(settings)
        result = datastore.search(settings, table_id, fields=["站点名称", "线路数"], sort="线路数 desc, 站点名称",
                                  limit=2, offset=1)
        assert result["fields"] == [{"id": "站点名称", "type": "text"}, {"id": "线路数", "type": "int"}]
        # NULLs as CKAN's PostgreSQL sorts them on both databases: first going down
        assert result["records"] == [{"站点名称": "人民广场站", "线路数": 12},
                                     {"站点名称": "陆家嘴站 100%_北", "线路数": 5}]
        assert names(datastore.search(settings, table_id, sort="纬度")) == [
            "徐家汇站", "静安寺站", "人民广场站", "陆家嘴站 100%_北"]  # and last going up
        assert (result["total"], result["limit"], result["offset"]) == (4, 2, 1)
        assert result["_links"] == {
            "start": f"/api/3/action/datastore_search?resource_id={table_id}",
            "next": f"/api/3/action/datastore_search?offset=3&resource_id={table_id}",
        }
        quoted = datastore.search(settings, table_id, fields="站点名称", sort='"启用日期" desc',
                                  filters={"无障碍": [True, False]})
        assert names(quoted) == ["静安寺站", "徐家汇站", "人民广场站"]
        unsized = datastore.search(settings, table_id, include_total=False, limit=10**9)
        assert "total" not in unsized
        assert unsized["limit"] == datastore.ROWS_MAX
        assert len(unsized["records"]) == 4

    @pytest.mark.parametrize("kwargs,key", [
        ({"fields": ["站点名称", "电话"]}, "fields"),
        ({"filters": {"身份证号": "1"}}, "filters"),
        ({"sort": "电话 desc"}, "sort"),
        ({"sort": "线路数 sideways"}, "sort"),
        ({"q": {"电话": "1"}}, "q"),
        ({"limit": -1}, "limit"),
        ({"offset": -5}, "offset"),
        ({"limit": "many"}, "limit"),
    ])
    def test_unknown_fields_and_bad_paging_are_validation_errors(self, settings, kwargs, key):
        table_id = load(settings)
        with expect_error("validation", key):
            datastore.search(settings, table_id, **kwargs)

    def test_the_error_names_the_field_in_chinese(self, settings):
        table_id = load(settings)
        with expect_error("validation", "filters") as e:
            datastore.search(settings, table_id, filters={"身份证号": "1"})
        assert e.value.render("en") == "The table has no field 身份证号."
        assert e.value.error_dict("zh_Hans_CN") == {"filters": ["数据表中没有字段“身份证号”。"]}

    def test_a_missing_table_is_not_found(self, settings):
        with expect_error("not_found", "resource_id"):
            datastore.search(settings, new_id())
        with expect_error("not_found"):
            datastore.info(settings, new_id())


@pytest.fixture
def stops(settings):
    table_id = load(settings)
    numbers = load(settings, [(i, i % 7) for i in range(2000)], [Column("n", "integer"), Column("组", "integer")])
    return settings, table_id, numbers


class TestSearchSql:
    def test_an_aggregate_over_an_open_table(self, stops):
        settings, table_id, numbers = stops
        sql = f'SELECT "无障碍", COUNT(*) AS n, SUM("线路数") AS lines FROM "{table_id}" GROUP BY "无障碍" ORDER BY n DESC'
        result = datastore.search_sql(settings, sql, allowed_tables={table_id})
        assert result["sql"] == sql
        assert [f["id"] for f in result["fields"]] == ["无障碍", "n", "lines"]
        got = {(r["无障碍"], r["n"], r["lines"]) for r in result["records"]}
        assert got == {(1 if settings.is_sqlite else True, 2, 12), (0 if settings.is_sqlite else False, 1, 3),
                       (None, 1, 5)}

    def test_with_union_joins_and_functions(self, settings, stops):
        settings, table_id, numbers = stops
        sql = (f'WITH g AS (SELECT "组", COUNT(*) AS c FROM "{numbers}" GROUP BY "组") '
               f'SELECT MAX(c) AS most, MIN(c) AS least FROM g '
               f'UNION ALL SELECT COUNT(*), SUM(LENGTH("站点名称")) FROM "{table_id}" '
               f'WHERE LOWER("站点名称") LIKE \'%站%\' AND "启用日期" >= \'1999-01-01\'')
        result = datastore.search_sql(settings, sql, allowed_tables={table_id, numbers})
        assert [(r["most"], r["least"]) for r in result["records"]] == [(286, 285), (2, 8)]

    def test_max_rows_truncates(self, stops):
        settings, _, numbers = stops
        result = datastore.search_sql(settings, f'SELECT n FROM "{numbers}" ORDER BY n', allowed_tables={numbers},
                                      max_rows=10)
        assert [r["n"] for r in result["records"]] == list(range(10))
        assert result["records_truncated"] is True

    @pytest.mark.parametrize("sql", [
        'INSERT INTO "{t}" ("站点名称") VALUES (\'x\')',
        'DELETE FROM "{t}"',
        'UPDATE "{t}" SET "线路数" = 0',
        'DROP TABLE "{t}"',
        'CREATE TABLE x AS SELECT * FROM "{t}"',
        'SELECT * INTO x FROM "{t}"',
        'PRAGMA table_info("{t}")',
        "ATTACH DATABASE 'x.db' AS x",
        'COPY "{t}" TO \'/tmp/x\'',
        'WITH d AS (DELETE FROM "{t}" RETURNING *) SELECT * FROM d',
        'SELECT * FROM "{t}" FOR UPDATE',
        'SELECT 1; DELETE FROM "{t}"',
        'SELECT 1; SELECT 2',
    ])
    def test_anything_but_one_select_is_refused(self, stops, sql):
        settings, table_id, _ = stops
        with pytest.raises(DatastoreError) as e:
            datastore.search_sql(settings, sql.format(t=table_id), allowed_tables={table_id})
        assert e.value.kind in ("not_authorized", "invalid_query")
        assert datastore.search(settings, table_id)["total"] == 4

    @pytest.mark.parametrize("table", [
        "users", "audit_entries", "datacat_resources", "sqlite_master", "sqlite_schema", "pg_catalog.pg_user",
        "pg_user", "information_schema.tables", "main.users", "public.users", "datastore.\"{other}\"",
        '"{other}"', '"{other}__new"',
    ])
    def test_tables_not_allowed_are_refused(self, stops, table):
        settings, table_id, other = stops
        with expect_error("not_authorized"):
            datastore.search_sql(settings, f"SELECT * FROM {table.format(other=other)}", allowed_tables={table_id})
        with expect_error("not_authorized"):
            datastore.search_sql(settings, f'SELECT * FROM "{table_id}" WHERE "线路数" IN '
                                 f"(SELECT 1 FROM {table.format(other=other)})", allowed_tables={table_id})

    @pytest.mark.parametrize("call", [
        "load_extension('/tmp/x')", "readfile('/etc/passwd')", "pg_sleep(10)", "pg_read_file('/etc/passwd')",
        "current_setting('data_directory')", "set_config('search_path', 'public', true)", "printf('%d', 1)",
        "zeroblob(1000000000)", "lpad('x', 100000000)", "repeat('x', 100000000)", "sqlite_version()",
        "query_to_xml('select * from users', true, true, '')", "version()", "current_user", "session_user",
        "current_schema", "generate_series(1, 1000000000)",
    ])
    def test_functions_off_the_list_are_refused(self, stops, call):
        settings, table_id, _ = stops
        with expect_error("not_authorized"):
            datastore.search_sql(settings, f'SELECT {call} FROM "{table_id}"', allowed_tables={table_id})

    def test_casts_only_to_plain_types(self, stops):
        settings, table_id, _ = stops
        ok = datastore.search_sql(settings, f'SELECT CAST("线路数" AS TEXT) AS t FROM "{table_id}" WHERE "_id" = 1',
                                  allowed_tables={table_id})
        assert ok["records"] == [{"t": "12"}]
        with expect_error("not_authorized"):
            datastore.search_sql(settings, f"SELECT 'pg_user'::regclass FROM \"{table_id}\"",
                                 allowed_tables={table_id})

    def test_a_cte_cannot_borrow_a_system_name(self, stops):
        settings, table_id, _ = stops
        with expect_error("not_authorized"):
            datastore.search_sql(settings, f'WITH pg_user AS (SELECT 1) SELECT * FROM "{table_id}"',
                                 allowed_tables={table_id})

    def test_garbage_is_an_invalid_query(self, stops):
        settings, table_id, _ = stops
        with expect_error("invalid_query"):
            datastore.search_sql(settings, "SELEC * FROM", allowed_tables={table_id})
        with expect_error("invalid_query"):
            datastore.search_sql(settings, f'SELECT nosuchfield FROM "{table_id}"', allowed_tables={table_id})
        with expect_error("validation", "sql"):
            datastore.search_sql(settings, "  ", allowed_tables={table_id})

    def test_a_runaway_recursive_query_is_stopped(self, stops):
        settings, table_id, _ = stops
        sql = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000000000) "
               "SELECT COUNT(*) AS c FROM r")
        with expect_error("timeout"):
            datastore.search_sql(settings, sql, allowed_tables={table_id}, cost_limit=2_000_000, timeout_ms=500)

    def test_a_runaway_cross_join_is_stopped(self, stops):
        settings, _, numbers = stops
        sql = f'SELECT COUNT(*) AS c FROM "{numbers}" a, "{numbers}" b, "{numbers}" c WHERE a.n + b.n + c.n = -1'
        with expect_error("timeout"):
            datastore.search_sql(settings, sql, allowed_tables={numbers}, cost_limit=2_000_000, timeout_ms=500)

    def test_main_database_tables_are_unreachable_even_past_the_parser(self, stops):
        """The second guard alone (the read-only connection to a database of its own) refuses
        what the parser would have refused."""
        settings, table_id, _ = stops
        engine = datastore._engine(settings)
        for sql in ["SELECT * FROM users", "SELECT * FROM audit_entries", "SELECT * FROM datacat_resources"]:
            with pytest.raises(DatastoreError) as e:
                if settings.is_sqlite:
                    datastore._run_sqlite(engine, sql, {table_id.upper()}, 10, 10**6, 1000)
                else:
                    datastore._run_postgres(engine, sql, 10, 1000)
            assert e.value.kind in ("invalid_query", "not_authorized")
            assert "does not exist" in e.value.params.get("reason", "") or "no such table" in \
                e.value.params.get("reason", "") or e.value.kind == "not_authorized"

    def test_the_connection_itself_refuses_writes_and_system_tables(self, stops):
        settings, table_id, other = stops
        engine = datastore._engine(settings)
        run = ((lambda sql: datastore._run_sqlite(engine, sql, {table_id.upper()}, 10, 10**6, 1000))
               if settings.is_sqlite else (lambda sql: datastore._run_postgres(engine, sql, 10, 1000)))
        with pytest.raises(DatastoreError):
            run(f'DELETE FROM "{table_id}"')
        if settings.is_sqlite:  # the authorizer: other tables, the schema table and stray functions
            for sql in [f'SELECT * FROM "{other}"', "SELECT * FROM sqlite_master", "SELECT sqlite_version()",
                        "ATTACH DATABASE ':memory:' AS x"]:
                with expect_error("not_authorized"):
                    run(sql)
        assert datastore.search(settings, table_id)["total"] == 4


class TestExport:
    def test_csv_has_a_bom_and_reads_back(self, settings):
        table_id = load(settings)
        data = b"".join(datastore.export(settings, table_id, "csv"))
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0] == ["_id", "站点名称", "线路数", "纬度", "启用日期", "更新时间", "无障碍"]
        assert rows[1] == ["1", "人民广场站", "12", "31.2304", "1995-04-10", "2024-05-01T08:30:00", "true"]
        assert rows[3] == ["3", "陆家嘴站 100%_北", "5", "", "", "", ""]
        assert len(rows) == 5

    def test_json_is_ckan_dump_form(self, settings):
        table_id = load(settings)
        data = json.loads(b"".join(datastore.export(settings, table_id, "json")))
        assert data["fields"] == datastore.info(settings, table_id)
        assert data["records"][1] == [2, "静安寺站", 3, 31.2235, "2000-06-01", "2024-05-02T09:00:15", False]
        assert len(data["records"]) == 4

    def test_exports_stream_in_id_order_across_pages(self, settings):
        n = datastore.BATCH + 3
        table_id = load(settings, [(i,) for i in range(n)], [Column("n", "integer")])
        records = json.loads(b"".join(datastore.export(settings, table_id, "json")))["records"]
        assert records == [[i + 1, i] for i in range(n)]
        assert sum(1 for _ in datastore.export(settings, table_id, "csv")) == 3  # header, two pages

    def test_xlsx_reads_back_with_openpyxl(self, settings):
        table_id = load(settings)
        data = b"".join(datastore.export(settings, table_id, "xlsx"))
        sheet = load_workbook(io.BytesIO(data), read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0] == ("_id", "站点名称", "线路数", "纬度", "启用日期", "更新时间", "无障碍")
        assert rows[1][:4] == (1, "人民广场站", 12, 31.2304)
        assert rows[1][4].date() == date(1995, 4, 10)
        assert rows[1][5] == datetime(2024, 5, 1, 8, 30)
        assert rows[1][6] is True
        assert rows[3][:3] == (3, "陆家嘴站 100%_北", 5)
        assert all(v is None for v in rows[3][3:])  # read-only sheets leave trailing empty cells out
        assert len(rows) == 5

    def test_unknown_format_and_missing_table(self, settings):
        table_id = load(settings)
        with expect_error("validation", "format"):
            datastore.export(settings, table_id, "pdf")
        with expect_error("not_found"):
            datastore.export(settings, new_id(), "csv")

