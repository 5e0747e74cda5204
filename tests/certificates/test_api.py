"""The certificates JSON API."""

from __future__ import annotations

import json

from sqlalchemy import text

from yiwang.core.actor import Grant
from yiwang.core.crypto import key_id, public_key

from .conftest import OTHER_PERSON_ID, citizen, staff


def denials(session) -> list[tuple[str, str, str]]:
    session.rollback()
    return [tuple(r) for r in session.execute(text(
        "SELECT action, target_id, outcome FROM audit_entries WHERE outcome = 'denied' ORDER BY seq"))]


class TestPublicKey:
    def test_publishes_algorithm_and_key(self, client, settings):
        r = client.get("/api/v1/certificates/public-key")

        assert r.status_code == 200
        assert r.json() == {"format": "yiwang-certificate/1", "algorithm": "ed25519",
                            "key_id": key_id(settings), "public_key": public_key(settings)}


class TestVerify:
    def test_says_valid_for_the_issued_file(self, client, issued):
        r = client.post("/api/v1/certificates/verify", content=issued.envelope.encode(),
                        headers={"Content-Type": "application/json"})

        assert r.status_code == 200
        body = r.json()
        assert (body["valid"], body["status"], body["holder_name"]) == (True, "valid", "张*明")

    def test_says_bad_signature_for_an_altered_file(self, client, issued):
        data = json.loads(issued.envelope)
        data["document"]["fields"]["地址"] = "上海市黄浦区南京东路200号"

        body = client.post("/api/v1/certificates/verify", json=data).json()

        assert (body["valid"], body["status"], body["holder_name"]) == (False, "bad_signature", None)

    def test_says_revoked_after_revocation(self, client, issued, approver, as_actor):
        as_actor(approver)
        assert client.post(f"/api/v1/certificates/{issued.id}/revoke", json={"reason": "吊销"}).status_code == 200

        body = client.post("/api/v1/certificates/verify", content=issued.envelope.encode(),
                           headers={"Content-Type": "application/json"}).json()

        assert (body["valid"], body["status"]) == (False, "revoked")
        assert body["revoked_at"] is not None


class TestGet:
    def test_gives_the_holder_the_certificate(self, client, issued, as_actor):
        as_actor(citizen())

        r = client.get(f"/api/v1/certificates/{issued.id}")

        assert r.status_code == 200
        assert r.json()["envelope"] == issued.envelope

    def test_refuses_staff_of_another_district_and_audits_the_denial(self, client, session, issued, as_actor):
        as_actor(staff(Grant("clerk", "310104", None, frozenset({"certificate.read"})), user_id="xuhui.clerk"))

        r = client.get(f"/api/v1/certificates/{issued.id}")

        assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
        assert denials(session) == [("certificate.read", issued.id, "denied")]


class TestMine:
    def test_lists_only_own_certificates(self, client, issued, as_actor):
        as_actor(citizen(OTHER_PERSON_ID, "c2"))
        assert client.get("/api/v1/certificates/mine").json() == []

        as_actor(citizen())
        assert [c["id"] for c in client.get("/api/v1/certificates/mine").json()] == [issued.id]


class TestRevoke:
    def test_second_revocation_is_refused_with_already_revoked(self, client, issued, approver, as_actor):
        as_actor(approver)
        client.post(f"/api/v1/certificates/{issued.id}/revoke", json={"reason": "吊销"})

        r = client.post(f"/api/v1/certificates/{issued.id}/revoke", json={"reason": "再次"})

        assert (r.status_code, r.json()["error"]) == (409, "already_revoked")

    def test_refuses_a_citizen(self, client, session, issued, as_actor):
        as_actor(citizen())

        r = client.post(f"/api/v1/certificates/{issued.id}/revoke", json={"reason": "自己注销"})

        assert r.status_code == 403
        session.rollback()
        assert session.execute(text("SELECT status FROM certificates")).scalar_one() == "valid"
