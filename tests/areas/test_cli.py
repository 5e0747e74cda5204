"""``yiwang area …`` and ``yiwang department …``."""

from __future__ import annotations

from yiwang.areas import service as areas_service


class TestAreaImport:
    def test_imports_a_csv(self, tree, run, tmp_path, session):
        f = tmp_path / "streets.csv"
        f.write_text("code,name,level,parent_code\n310104003,天平路街道,street,310104\n", encoding="utf-8")

        got = run("area", "import", str(f))

        assert got.exit_code == 0, got.output
        assert got.stdout == "rows: 1, created: 1, skipped: 0\n"
        assert areas_service.get_area(session, "310104003").name == "天平路街道"

    def test_refusal_prints_each_row_and_exits_2(self, tree, run, tmp_path, session):
        f = tmp_path / "streets.csv"
        f.write_text("code,name,level,parent_code\n310104003,天平路街道,street,310104\n3101040,x,street,310104\n"
                     "310104004,x,street,310199\n", encoding="utf-8")

        got = run("area", "import", str(f))

        assert got.exit_code == 2
        lines = got.stderr.splitlines()
        assert lines[0].startswith("error: import_refused: ")
        assert lines[1].startswith("  row 3: code: area_code_invalid: ")
        assert lines[2].startswith("  row 4: parent_code: area_parent_not_found: ")
        assert areas_service.existing_codes(session, ["310104003"]) == set()

    def test_skip_bad_rows(self, tree, run, tmp_path, session):
        f = tmp_path / "streets.csv"
        f.write_text("code,name,level,parent_code\n310104003,天平路街道,street,310104\n3101040,x,street,310104\n",
                     encoding="utf-8")
        got = run("area", "import", str(f), "--skip-bad-rows")
        assert got.exit_code == 0
        assert got.stdout == "rows: 2, created: 1, skipped: 1\n"
        assert "  row 3: code: area_code_invalid: " in got.stderr

    def test_geojson_by_extension(self, tree, run, tmp_path, session):
        f = tmp_path / "a.geojson"
        f.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,'
                     '"properties":{"code":"310104003","name":"天平路街道","level":"street","parent_code":"310104"}}]}')
        got = run("area", "import", str(f))
        assert got.exit_code == 0, got.output
        assert areas_service.existing_codes(session, ["310104003"]) == {"310104003"}


class TestAreaLocateAndShow:
    def test_locate_prints_the_grid_and_its_chain(self, tree, run):
        got = run("area", "locate", "121.1", "31.2")
        assert got.exit_code == 0
        assert got.stdout.splitlines() == [
            "310101002001001 一号网格",
            "31 上海市 > 310101 黄浦区 > 310101002 南京东路街道 > 310101002001 第一社区 > 310101002001001 一号网格",
        ]

    def test_locate_outside_exits_1(self, tree, run):
        got = run("area", "locate", "121.7", "31.7")
        assert (got.exit_code, got.stderr) == (1, "no grid contains this point\n")

    def test_locate_gcj02(self, tree, run):
        from yiwang.areas import geo

        lon, lat = geo.wgs84_to_gcj02(121.249, 31.2)
        got = run("area", "locate", str(lon), str(lat), "--crs", "gcj02")
        assert got.stdout.startswith("310101002001001 ")

    def test_show(self, tree, run):
        got = run("area", "show", "310101002001")
        assert got.exit_code == 0
        assert got.stdout.splitlines() == [
            "310101002001 第一社区 (community)",
            "in: 31 上海市 > 310101 黄浦区 > 310101002 南京东路街道",
            "bbox: 121.000000,31.000000 – 121.500000,31.500000",
            "children: 2",
            "  310101002001001 一号网格 (grid)",
            "  310101002001002 二号网格 (grid)",
        ]

    def test_show_unknown_exits_2(self, run):
        got = run("area", "show", "99")
        assert got.exit_code == 2
        assert got.stderr.startswith("error: area_not_found: ")


class TestDepartmentCli:
    def test_import_and_list(self, tree, run, tmp_path):
        f = tmp_path / "d.csv"
        f.write_text("code,name,kind,area_code,parent_code\n31-SCJG,市场监管局,bureau,31,\n"
                     "310101-SCJG,黄浦区市场监管局,bureau,310101,31-SCJG\n", encoding="utf-8")
        assert run("department", "import", str(f)).stdout == "rows: 2, created: 2, skipped: 0\n"
        got = run("department", "list")
        assert got.stdout == "31-SCJG\tbureau\t31\t市场监管局\n310101-SCJG\tbureau\t310101\t黄浦区市场监管局\n"
        assert run("department", "list", "--area", "310101").stdout == "310101-SCJG\tbureau\t310101\t黄浦区市场监管局\n"

    def test_import_refused(self, tree, run, tmp_path, session):
        f = tmp_path / "d.csv"
        f.write_text("code,name,kind,area_code,parent_code\n31-SCJG,x,palace,31,\n", encoding="utf-8")
        got = run("department", "import", str(f))
        assert got.exit_code == 2
        assert "  row 2: kind: department_kind_invalid: " in got.stderr
        assert areas_service.list_departments(session) == []
