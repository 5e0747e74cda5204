"""``/api/v1/workdays/…``: the calendar and due dates are public; publishing needs calendar.manage."""

from __future__ import annotations

from .conftest import DAYS_2027, audit_trail


class TestDue:
    def test_acceptance_case(self, client):
        r = client.get("/api/v1/workdays/due", params={"start": "2026-09-30", "days": 3})

        assert r.status_code == 200
        assert r.json() == {"start": "2026-09-30", "days": 3, "date": "2026-10-10", "estimated": False}

    def test_unknown_year_is_marked_estimated(self, client):
        """No make-up Saturday in the estimate: 10/8, 10/11 and 10/12 count."""
        r = client.get("/api/v1/workdays/due", params={"start": "2027-09-30", "days": 3})

        assert r.json() == {"start": "2027-09-30", "days": 3, "date": "2027-10-12", "estimated": True}

    def test_refuses_a_negative_limit(self, client):
        r = client.get("/api/v1/workdays/due", params={"start": "2026-09-30", "days": -1})

        assert r.status_code == 422


class TestGetCalendar:
    def test_package_year(self, client):
        body = client.get("/api/v1/workdays/calendar/2026").json()

        assert (body["year"], body["source"], body["estimated"]) == (2026, "package", False)
        assert {"date": "2026-10-10", "weekday": 6, "working": True, "name": "国庆节", "kind": "makeup_workday",
                "source": "package", "estimated": False} in body["days"]

    def test_refuses_a_bad_year(self, client):
        r = client.get("/api/v1/workdays/calendar/abc")

        assert r.status_code == 422
        assert r.json()["error"] == "calendar_year_invalid"


class TestPublishCalendar:
    def test_admin_publishes_and_the_due_date_follows(self, client, as_actor, admin):
        as_actor(admin)

        r = client.put("/api/v1/workdays/calendar/2027", json={"days": DAYS_2027})

        assert r.status_code == 200
        assert (r.json()["source"], r.json()["estimated"], r.json()["makeup_workdays"]) == ("admin", False, 1)
        assert client.get("/api/v1/workdays/due", params={"start": "2027-09-30", "days": 3}).json() == {
            "start": "2027-09-30", "days": 3, "date": "2027-10-11", "estimated": False}

    def test_refuses_a_day_outside_the_year(self, client, as_actor, admin, session):
        as_actor(admin)

        r = client.put("/api/v1/workdays/calendar/2027", json={"days": [{"date": "2026-10-01", "working": False}]})

        assert r.status_code == 422
        assert r.json() == {"error": "calendar_day_invalid",
                            "detail": "日历第 1 行无效：日期 2026-10-01 不在 2027 年内"}
        assert client.get("/api/v1/workdays/calendar/2027").json()["source"] == "estimate"
        assert audit_trail(session, "calendar.publish") == []

    def test_refuses_without_calendar_manage(self, client, as_actor, clerk, session):
        as_actor(clerk)

        r = client.put("/api/v1/workdays/calendar/2027", json={"days": DAYS_2027})

        assert r.status_code == 403
        assert client.get("/api/v1/workdays/calendar/2027").json()["source"] == "estimate"
        assert audit_trail(session, "calendar.publish") == []
