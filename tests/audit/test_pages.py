from __future__ import annotations

from sqlalchemy import text

from yiwang.core.actor import ANONYMOUS

from .conftest import AUDITOR, CLERK, SYS_ADMIN, seed, superuser

HTML = {"Accept": "text/html"}


def actions(app) -> list[tuple[str, str, str]]:
    with app.state.db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT action, actor, outcome FROM audit_entries ORDER BY seq"))]


class TestAuditPage:
    def test_auditor_sees_the_trail_and_the_verify_button(self, app, client, as_actor):
        seed(app.state.db, 2)
        as_actor(AUDITOR)
        res = client.get("/audit", headers=HTML)
        assert res.status_code == 200
        assert "审计日志" in res.text
        assert "立即校验" in res.text
        assert res.text.count("<code>registry.person.write</code>") == 2
        assert actions(app)[-1] == ("audit.read", "staff:u-aud", "ok")

    def test_filters_narrow_the_list(self, app, client, as_actor):
        seed(app.state.db, 3)
        as_actor(AUDITOR)
        res = client.get("/audit", params={"target_id": "p2"}, headers=HTML)
        assert res.text.count("<code>registry.person.write</code>") == 1
        assert "<code>0·2</code>" in res.text

    def test_english_on_request(self, app, client, as_actor):
        as_actor(AUDITOR)
        res = client.get("/audit", params={"lang": "en"}, headers=HTML)
        assert "Verify now" in res.text
        assert "No entries match." in res.text

    def test_verify_now_reports_an_intact_trail(self, app, client, as_actor):
        seed(app.state.db, 2)
        as_actor(AUDITOR)
        res = client.post("/audit/verify", data={"csrf_token": "x"}, headers=HTML)
        assert res.status_code == 200
        assert "审计日志完整，未被篡改。" in res.text
        assert ("audit.verify", "staff:u-aud", "ok") in actions(app)

    def test_verify_now_names_the_tampered_entry(self, app, client, as_actor):
        seed(app.state.db, 3)
        with superuser(app.state.db) as conn:
            conn.execute(text("UPDATE audit_entries SET purpose = 'x' WHERE seq = 2"))
        as_actor(AUDITOR)
        res = client.post("/audit/verify", data={"csrf_token": "x"}, headers=HTML)
        assert "审计日志已被篡改。" in res.text
        assert "第 0 条链，第 2 条日志：被修改。" in res.text

    def test_others_get_403_and_the_refusal_is_recorded(self, app, client, as_actor):
        for actor in (SYS_ADMIN, CLERK, ANONYMOUS):
            as_actor(actor)
            res = client.get("/audit", headers=HTML)
            assert res.status_code == 403
            assert "<table" not in res.text
        assert actions(app) == [("audit.read", "staff:u-sys", "denied"), ("audit.read", "staff:u-clerk", "denied"),
                                ("audit.read", "anonymous", "denied")]

    def test_system_administrator_cannot_verify_from_the_page(self, app, client, as_actor):
        as_actor(SYS_ADMIN)
        res = client.post("/audit/verify", data={"csrf_token": "x"}, headers=HTML)
        assert res.status_code == 403
        assert actions(app) == [("audit.verify", "staff:u-sys", "denied")]
