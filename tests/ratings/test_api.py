"""The ratings API and pages: rectification list, reply, close, statistics."""

from __future__ import annotations

from yiwang.audit import service as audit_service
from yiwang.core.actor import SYSTEM, Actor
from yiwang.ratings import service as ratings_service

from .conftest import DEP_A, RATER_ID, STREET

HTML = {"Accept": "text/html"}
RATER = Actor(kind="citizen", user_id=RATER_ID)


def _bad_rating(db, subject_id: str = "SQ001") -> str:
    with db.transaction() as s:
        made = ratings_service.rate(s, RATER, subject_type="application", subject_id=subject_id,
                                    service_code="310101-001", department_id=DEP_A, area_code=STREET,
                                    channel="hall", score=1, comment="排队太久")
    return made.rectification_id


def _denials(db, permission: str) -> list[tuple[str, str]]:
    with db.transaction() as s:
        page = audit_service.list_entries(s, SYSTEM, audit_service.EntryFilter(action=permission), limit=50)
    return [(e.action, e.outcome) for e in page.items]


def _status(db, actor) -> list[tuple[str, str | None]]:
    with db.transaction() as s:
        return [(r.status, r.reply) for r in ratings_service.rectifications(s, actor)]


class TestRectificationsApi:
    def test_lists_for_the_department(self, client, as_actor, approver_a, db):
        rect_id = _bad_rating(db)
        as_actor(approver_a)
        got = client.get("/api/v1/ratings/rectifications")
        assert got.status_code == 200
        assert [(r["id"], r["status"], r["due_date"], r["comment"]) for r in got.json()] == [
            (rect_id, "open", "2026-10-22", "排队太久")]

    def test_reply(self, client, as_actor, approver_a, db):
        rect_id = _bad_rating(db)
        as_actor(approver_a)
        got = client.post(f"/api/v1/ratings/rectifications/{rect_id}/reply", json={"text": "已增设窗口"})
        assert (got.status_code, got.json()["status"], got.json()["reply"]) == (200, "replied", "已增设窗口")

    def test_other_department_reply_is_403_audited_and_changes_nothing(self, client, as_actor, approver_b,
                                                                         approver_a, db):
        rect_id = _bad_rating(db)
        as_actor(approver_b)
        got = client.post(f"/api/v1/ratings/rectifications/{rect_id}/reply", json={"text": "x"})
        assert (got.status_code, got.json()["error"]) == (403, "permission_denied")
        assert _status(db, approver_a) == [("open", None)]
        assert _denials(db, "rating.respond") == [("rating.respond", "denied")]

    def test_close_by_supervisor(self, client, as_actor, leader, db):
        rect_id = _bad_rating(db)
        as_actor(leader)
        got = client.post(f"/api/v1/ratings/rectifications/{rect_id}/close", json={"note": "已核实"})
        assert (got.status_code, got.json()["status"], got.json()["supervisor_note"]) == (200, "closed", "已核实")

    def test_statistics(self, client, as_actor, leader, db):
        _bad_rating(db)
        as_actor(leader)
        got = client.get("/api/v1/ratings/statistics", params={"by": "channel"})
        assert got.json() == [{"key": "hall", "count": 1, "average": 1.0,
                               "shares": {"1": 1.0, "2": 0.0, "3": 0.0, "4": 0.0, "5": 0.0}, "bad_share": 1.0}]

    def test_statistics_refuses_unknown_grouping(self, client, as_actor, leader):
        as_actor(leader)
        got = client.get("/api/v1/ratings/statistics", params={"by": "rater"})
        assert (got.status_code, got.json()["error"]) == (422, "invalid_grouping")


class TestRatingPages:
    def test_rectifications_page_has_reply_and_close_forms_for_a_supervisor(self, client, as_actor, leader, db):
        rect_id = _bad_rating(db)
        as_actor(leader)
        got = client.get("/ratings/rectifications", headers=HTML)
        assert got.status_code == 200
        assert "排队太久" in got.text and "2026-10-22" in got.text
        assert f'action="/ratings/rectifications/{rect_id}/reply"' in got.text
        assert f'action="/ratings/rectifications/{rect_id}/close"' in got.text

    def test_department_staff_get_no_close_form(self, client, as_actor, approver_a, db):
        rect_id = _bad_rating(db)
        as_actor(approver_a)
        got = client.get("/ratings/rectifications", headers=HTML)
        assert f'action="/ratings/rectifications/{rect_id}/close"' not in got.text

    def test_reply_form_redirects_and_records(self, client, as_actor, approver_a, db):
        rect_id = _bad_rating(db)
        as_actor(approver_a)
        got = client.post(f"/ratings/rectifications/{rect_id}/reply", data={"text": "已整改"}, follow_redirects=False)
        assert (got.status_code, got.headers["location"]) == (303, "/ratings/rectifications")
        assert _status(db, approver_a) == [("replied", "已整改")]

    def test_empty_reply_shows_the_message(self, client, as_actor, approver_a, db):
        rect_id = _bad_rating(db)
        as_actor(approver_a)
        got = client.post(f"/ratings/rectifications/{rect_id}/reply", data={"text": " "}, headers=HTML)
        assert got.status_code == 422 and "请填写答复内容。" in got.text
        assert _status(db, approver_a) == [("open", None)]

    def test_statistics_page(self, client, as_actor, leader, db):
        _bad_rating(db)
        as_actor(leader)
        got = client.get("/ratings/statistics", params={"by": "service"}, headers=HTML)
        assert got.status_code == 200
        assert "310101-001" in got.text and "100.0%" in got.text

    def test_statistics_page_is_403_without_rating_stats(self, client, as_actor, approver_a):
        as_actor(approver_a)
        assert client.get("/ratings/statistics", headers=HTML).status_code == 403
