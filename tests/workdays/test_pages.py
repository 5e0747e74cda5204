"""``/admin/workdays``: the year view and the upload, calendar.manage only."""

from __future__ import annotations

from .conftest import audit_trail


class TestYearPage:
    def test_lists_holidays_and_make_up_days_with_source(self, client, as_actor, admin):
        as_actor(admin)

        r = client.get("/admin/workdays?year=2026", headers={"Accept": "text/html"})

        assert r.status_code == 200
        assert '<tr data-date="2026-10-10"><td>2026-10-10</td><td>星期六</td>' in r.text
        assert "调休上班" in r.text and "国务院放假通知（内置）" in r.text

    def test_an_unknown_year_is_shown_as_estimated(self, client, as_actor, admin):
        as_actor(admin)

        r = client.get("/admin/workdays?year=2027")

        assert 'data-source="estimate"' in r.text
        assert "在管理员发布本年度日历之前" in r.text

    def test_refuses_without_calendar_manage(self, client, as_actor, clerk):
        as_actor(clerk)

        r = client.get("/admin/workdays", headers={"Accept": "text/html"})

        assert r.status_code == 403


class TestUpload:
    def test_publishes_the_uploaded_csv(self, client, as_actor, admin, session):
        as_actor(admin)

        r = client.post("/admin/workdays", data={"year": "2027"}, files={
            "file": ("2027.csv", "date,working,name\n2027-02-10,false,春节\n".encode(), "text/csv")})

        assert r.status_code == 200
        assert "2027 年日历已发布。" in r.text
        assert '<tr data-date="2027-02-10">' in r.text
        assert [e[2] for e in audit_trail(session, "calendar.publish")] == ["2027"]

    def test_rerenders_with_the_message_when_refused(self, client, as_actor, admin, session):
        as_actor(admin)

        r = client.post("/admin/workdays", data={"year": "2027"}, files={
            "file": ("2027.csv", "date,working,name\n2027-02-10,perhaps,春节\n".encode(), "text/csv")})

        assert r.status_code == 422
        assert "日历第 1 行无效：是否上班（working）应为 true 或 false" in r.text
        assert audit_trail(session, "calendar.publish") == []

    def test_refuses_without_calendar_manage_and_publishes_nothing(self, client, as_actor, clerk, session):
        as_actor(clerk)

        r = client.post("/admin/workdays", data={"year": "2027"}, files={
            "file": ("2027.csv", "date,working,name\n2027-02-10,false,春节\n".encode(), "text/csv")})

        assert r.status_code == 403
        assert audit_trail(session, "calendar.publish") == []
