"""``yiwang catalog …``: import, export, search."""

from __future__ import annotations

import yaml

from yiwang.catalog import service as catalog_service

from .conftest import item_data


class TestCatalogCli:
    def test_export_to_a_file_and_import_back(self, run, demo, tmp_path):
        out = tmp_path / "catalog.yaml"

        exported = run("catalog", "export", "-o", str(out))
        imported = run("catalog", "import", str(out))

        assert exported.exit_code == 0 and len(yaml.safe_load(out.read_text())["items"]) == 55
        assert imported.exit_code == 0, imported.output
        assert imported.stdout == ("items: 0 created, 0 updated, 55 unchanged; bundles: 0 created, 0 updated, "
                                   "4 unchanged; skipped: 0\n")

    def test_export_json_to_stdout(self, run, demo):
        got = run("catalog", "export", "--format", "json")

        assert got.exit_code == 0
        assert got.stdout.startswith('{\n  "items": [')

    def test_refused_import_exits_2_listing_problems(self, run, departments, session, tmp_path):
        session.commit()
        f = tmp_path / "bad.yaml"
        f.write_text(yaml.safe_dump({"items": [{"code": "A-1", **item_data(promised_limit_days=99)}]},
                                    allow_unicode=True), encoding="utf-8")

        got = run("catalog", "import", str(f))

        assert got.exit_code == 2
        assert "item A-1: promised_limit_days: catalog_limits_invalid" in got.stderr
        assert catalog_service.list_items(session).items == []

    def test_skip_bad(self, run, departments, session, tmp_path):
        session.commit()
        f = tmp_path / "some.json"
        import json

        f.write_text(json.dumps({"items": [{"code": "A-1", **item_data()}, {"code": "B-1", **item_data(kind="x")}]},
                                ensure_ascii=False), encoding="utf-8")

        got = run("catalog", "import", str(f), "--skip-bad")

        assert got.exit_code == 0
        assert got.stdout.startswith("items: 1 created")
        assert "item B-1: kind: catalog_kind_invalid" in got.stderr

    def test_search(self, run, demo):
        got = run("catalog", "search", "开餐馆")

        assert got.exit_code == 0
        assert got.stdout.splitlines()[0].split()[1:] == ["bundle", "YJS-001", "开办餐饮店"]
