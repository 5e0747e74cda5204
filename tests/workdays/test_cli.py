"""``yiwang workdays due|publish|show``."""

from __future__ import annotations

import json

from .conftest import DAYS_2027


class TestDue:
    def test_prints_the_due_date(self, run):
        got = run("workdays", "due", "2026-09-30", "3")

        assert got.exit_code == 0, got.output
        assert got.stdout == "2026-10-10\n"

    def test_marks_an_estimated_date(self, run):
        assert run("workdays", "due", "2026-12-30", "3").stdout == "2027-01-05 (estimated)\n"

    def test_refuses_a_negative_limit(self, run):
        got = run("workdays", "due", "--", "2026-09-30", "-1")

        assert got.exit_code == 2
        assert "working_days_invalid" in got.stderr


class TestPublish:
    def test_publishes_json_and_show_prints_it(self, run, tmp_path):
        f = tmp_path / "2027.json"
        f.write_text(json.dumps({"days": DAYS_2027}, ensure_ascii=False), encoding="utf-8")

        published = run("workdays", "publish", "2027", str(f))
        shown = run("workdays", "show", "2027")
        due = run("workdays", "due", "2027-09-30", "3")

        assert published.exit_code == 0, published.output
        assert shown.stdout.splitlines()[0] == "2027: source admin, official, 6 holidays, 1 make-up workdays"
        assert "2027-10-09  work  make-up workday  admin     国庆节" in shown.stdout.splitlines()
        assert due.stdout == "2027-10-11\n"

    def test_publishes_csv(self, run, tmp_path):
        f = tmp_path / "2027.csv"
        f.write_text("date,working,name\n2027-02-10,false,春节\n2027-02-20,true,春节\n", encoding="utf-8")

        got = run("workdays", "publish", "2027", str(f))

        assert got.exit_code == 0, got.output
        assert got.stdout.splitlines() == [
            "2027: source admin, official, 1 holidays, 1 make-up workdays",
            "2027-02-10  off   holiday          admin     春节",
            "2027-02-20  work  make-up workday  admin     春节",
        ]

    def test_refuses_a_day_outside_the_year_and_publishes_nothing(self, run, tmp_path):
        f = tmp_path / "2027.csv"
        f.write_text("date,working,name\n2028-02-10,false,春节\n", encoding="utf-8")

        got = run("workdays", "publish", "2027", str(f))

        assert got.exit_code == 2
        assert got.stderr == "error: calendar_day_invalid: 日历第 1 行无效：日期 2028-02-10 不在 2027 年内\n"
        assert run("workdays", "show", "2027").stdout.splitlines()[0] == (
            "2027: source estimate, estimated, 7 holidays, 0 make-up workdays")

    def test_show_a_package_year(self, run):
        lines = run("workdays", "show", "2026").stdout.splitlines()

        assert lines[0].startswith("2026: source package, official, ")
        assert "2026-09-20  work  make-up workday  package   国庆节" in lines
