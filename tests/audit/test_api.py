from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from yiwang.audit import service as audit_service
from yiwang.audit.checkpoints import signed_payload
from yiwang.core.actor import ANONYMOUS, SYSTEM
from yiwang.core.crypto import verify_signature

from .conftest import AUDITOR, CLERK, SYS_ADMIN, seed, superuser


def entries(app) -> list[dict]:
    with app.state.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM audit_entries ORDER BY seq")).mappings()]


@pytest.fixture
def app_db(app):
    return app.state.db


class TestEntries:
    def test_auditor_reads_entries_and_the_read_is_recorded(self, app, app_db, client, as_actor):
        seed(app_db, 3)
        as_actor(AUDITOR)
        res = client.get("/api/v1/audit/entries", params={"area": "310101", "limit": 2},
                         headers={"X-Request-ID": "req-api-read-01"})
        assert res.status_code == 200
        body = res.json()
        assert [e["seq"] for e in body["items"]] == [3, 2]
        assert body["items"][0]["detail"] == {"n": 3}
        assert body["next_cursor"] == "0.2"
        last = entries(app)[-1]
        assert (last["action"], last["actor"], last["request_id"], last["source_ip"], last["outcome"]) == (
            "audit.read", "staff:u-aud", "req-api-read-01", "testclient", "ok")

    def test_next_page_follows_the_cursor(self, app, app_db, client, as_actor):
        seed(app_db, 3)
        as_actor(AUDITOR)
        res = client.get("/api/v1/audit/entries", params={"limit": 2, "cursor": "0.2",
                                                           "action": "registry.person.write"})
        assert [e["seq"] for e in res.json()["items"]] == [1]

    @pytest.mark.parametrize("actor", [SYS_ADMIN, CLERK, ANONYMOUS], ids=["sys_admin", "clerk", "anonymous"])
    def test_everyone_else_is_refused_and_the_refusal_is_recorded(self, app, app_db, client, as_actor, actor):
        seed(app_db, 2)
        as_actor(actor)
        res = client.get("/api/v1/audit/entries", headers={"X-Request-ID": "req-api-denied-1"})
        assert res.status_code == 403
        assert res.json()["error"] == "permission_denied"
        rows = entries(app)
        assert len(rows) == 3
        denial = rows[-1]
        assert (denial["action"], denial["actor"], denial["outcome"], denial["request_id"]) == (
            "audit.read", actor.label, "denied", "req-api-denied-1")
        assert json.loads(denial["detail"]) == {"method": "GET", "route": "/api/v1/audit/entries"}

    def test_the_refusal_is_logged_as_json_without_personal_data(self, client, as_actor, caplog):
        as_actor(CLERK)
        with caplog.at_level("WARNING", logger="yiwang.audit"):
            client.get("/api/v1/audit/entries", params={"target_id": "p-secret"})
        (rec,) = [r for r in caplog.records if r.getMessage() == "permission denied"]
        assert (rec.permission, rec.actor, rec.route, rec.method) == (
            "audit.read", "staff:u-clerk", "/api/v1/audit/entries", "GET")
        from yiwang.core.logging import JsonFormatter

        line = JsonFormatter().format(rec)
        assert json.loads(line)["permission"] == "audit.read"
        assert "p-secret" not in line

    def test_a_bad_cursor_is_a_sentence(self, client, as_actor):
        as_actor(AUDITOR)
        res = client.get("/api/v1/audit/entries", params={"cursor": "x"}, headers={"Accept-Language": "zh-CN"})
        assert (res.status_code, res.json()) == (422, {"error": "audit_bad_cursor", "detail": "分页游标无效。"})

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_there_is_no_way_to_change_entries(self, app, app_db, client, as_actor, method):
        seed(app_db, 1)
        as_actor(SYSTEM)
        res = getattr(client, method)("/api/v1/audit/entries")
        assert res.status_code == 405
        assert len(entries(app)) == 1


class TestVerify:
    def test_auditor_verifies_an_intact_trail(self, app_db, client, as_actor):
        seed(app_db, 4)
        as_actor(AUDITOR)
        res = client.post("/api/v1/audit/verify")
        assert res.status_code == 200
        assert res.json() == {"ok": True, "entries_checked": 4, "chains": 1, "checkpoints_checked": 0,
                              "problems": []}

    def test_names_the_tampered_entry(self, app_db, client, as_actor):
        seed(app_db, 4)
        with superuser(app_db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE seq = 2"))
        as_actor(AUDITOR)
        body = client.post("/api/v1/audit/verify").json()
        assert body["ok"] is False
        assert [(p["kind"], p["chain_id"], p["seq"]) for p in body["problems"]] == [("deleted", 0, 2)]

    def test_the_system_administrator_cannot_verify(self, app, app_db, client, as_actor):
        seed(app_db, 1)
        as_actor(SYS_ADMIN)
        res = client.post("/api/v1/audit/verify")
        assert res.status_code == 403
        assert [(r["action"], r["outcome"]) for r in entries(app)][-1] == ("audit.verify", "denied")


class TestCheckpointsAndKey:
    def test_auditor_lists_checkpoints_that_the_public_key_verifies(self, app_db, client, as_actor):
        seed(app_db, 3)
        with app_db.transaction() as s:
            audit_service.create_checkpoint(s, SYSTEM)
        as_actor(AUDITOR)
        (cp,) = client.get("/api/v1/audit/checkpoints").json()
        as_actor(ANONYMOUS)
        key = client.get("/api/v1/audit/public-key").json()
        assert (key["algorithm"], key["key_id"], key["hash_algorithm"]) == ("ed25519", cp["key_id"], "sha256")
        from datetime import datetime

        payload = signed_payload(cp["chain_id"], cp["seq"], cp["hash"], cp["hash_algorithm"],
                                 datetime.fromisoformat(cp["at"].replace("Z", "+00:00")))
        assert verify_signature(key["algorithm"], key["public_key"], payload, cp["signature"])

    def test_clerk_cannot_list_checkpoints(self, app, client, as_actor):
        as_actor(CLERK)
        assert client.get("/api/v1/audit/checkpoints").status_code == 403
        assert [(r["action"], r["actor"], r["outcome"]) for r in entries(app)] == [
            ("audit.read", "staff:u-clerk", "denied")]
