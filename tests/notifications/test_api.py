"""The inbox API and page: own messages only, unread count, mark as read."""

from __future__ import annotations

from yiwang.notifications import service as notifications_service

from .conftest import ALICE_ID, BOB_ID

HTML = {"Accept": "text/html"}


def _seed(db) -> tuple[str, str]:
    with db.transaction() as s:
        mine = notifications_service.notify(s, ALICE_ID, "application.approved", {"reference": "SQ7", "item": "企业设立登记"})
        theirs = notifications_service.notify(s, BOB_ID, "certificate.issued", {"certificate_no": "ZS-BOB-0009"})
    return mine.id, theirs.id


class TestInboxApi:
    def test_lists_only_the_callers_messages(self, client, as_actor, alice, db):
        mine, _ = _seed(db)
        as_actor(alice)
        got = client.get("/api/v1/inbox")
        assert got.status_code == 200
        assert [(n["id"], n["title"], n["read_at"]) for n in got.json()["items"]] == [(mine, "申请已通过", None)]
        assert got.json()["next_cursor"] is None

    def test_unread_count(self, client, as_actor, alice, db):
        _seed(db)
        as_actor(alice)
        assert client.get("/api/v1/inbox/unread-count").json() == {"unread": 1}

    def test_marks_own_message_read(self, client, as_actor, alice, db):
        mine, _ = _seed(db)
        as_actor(alice)
        got = client.post(f"/api/v1/inbox/{mine}/read")
        assert (got.status_code, got.json()["read_at"] is not None) == (200, True)
        assert client.get("/api/v1/inbox/unread-count").json() == {"unread": 0}

    def test_another_users_message_is_404_and_stays_unread(self, client, as_actor, alice, bob, db):
        _, theirs = _seed(db)
        as_actor(alice)
        got = client.post(f"/api/v1/inbox/{theirs}/read")
        assert (got.status_code, got.json()["error"]) == (404, "notification_not_found")
        as_actor(bob)
        assert client.get("/api/v1/inbox/unread-count").json() == {"unread": 1}

    def test_anonymous_is_401(self, client):
        assert client.get("/api/v1/inbox").status_code == 401

    def test_bad_cursor_is_422(self, client, as_actor, alice):
        as_actor(alice)
        got = client.get("/api/v1/inbox", params={"cursor": "nope"})
        assert (got.status_code, got.json()["error"]) == (422, "invalid_cursor")


class TestInboxPage:
    def test_shows_unread_marked_with_a_read_form(self, client, as_actor, alice, db):
        mine, _ = _seed(db)
        as_actor(alice)
        got = client.get("/inbox", headers=HTML)
        assert got.status_code == 200
        assert "您的申请 SQ7（企业设立登记）已审批通过。" in got.text and "ZS-BOB-0009" not in got.text
        assert "1 条未读" in got.text
        assert f'action="/inbox/{mine}/read"' in got.text and 'name="csrf_token"' in got.text

    def test_mark_read_form_redirects_back(self, client, as_actor, alice, db):
        mine, _ = _seed(db)
        as_actor(alice)
        got = client.post(f"/inbox/{mine}/read", follow_redirects=False)
        assert (got.status_code, got.headers["location"]) == (303, "/inbox")
        page = client.get("/inbox", headers=HTML)
        assert "0 条未读" in page.text and f'action="/inbox/{mine}/read"' not in page.text
