"""The applications JSON API: journey 1 end to end over HTTP, idempotency, and bad input."""

from __future__ import annotations

from sqlalchemy import func, select

from yiwang.applications.models import Application, Branch

from .conftest import BUNDLE, UPLOADS, ZHANG_ID, form_data

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def upload(client, name: str = "scan.pdf", content: bytes = PDF):
    return client.post("/api/v1/files", files={"file": (name, content, "application/pdf")},
                       data={"purpose": "material"})


def materials(client) -> dict[str, str]:
    out = {}
    for code in UPLOADS:
        r = upload(client, f"{code}.pdf")
        assert r.status_code == 201, r.text
        out[code] = r.json()["id"]
    return out


def file_bundle(client, key: str = "journey-one-0001", **over):
    body = {"subject_kind": "bundle", "subject_code": BUNDLE, "data": form_data(), "materials": materials(client),
            "submit": True}
    body.update(over)
    return client.post("/api/v1/applications", json=body, headers={"Idempotency-Key": key})


def count(session, model) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


class TestJourneyOne:
    def test_a_bundle_filed_accepted_decided_in_parallel_closes_with_three_certificates(
            self, client, as_actor, citizen, clerk, scjg, lhsr):
        as_actor(citizen)
        filed = file_bundle(client)
        assert filed.status_code == 201, filed.text
        app = filed.json()
        assert app["status"] == "submitted"

        as_actor(clerk)
        assert client.post(f"/api/v1/applications/{app['id']}/accept").json()["status"] == "in_review"

        as_actor(lhsr)
        [row] = client.get("/api/v1/applications/inbox").json()
        assert (row["item_code"], row["due_date"], row["deadline_state"]) == ("LHSR-001", "2026-10-13", "ok")
        r = client.post(f"/api/v1/applications/{app['id']}/branches/{row['branch_id']}/decide",
                        json={"decision": "correct", "comment": "请补充招牌效果图"})
        assert r.json()["status"] == "correction"

        as_actor(citizen)
        r = client.post(f"/api/v1/applications/{app['id']}/branches/{row['branch_id']}/correct",
                        json={"materials": {"sign_design": upload(client, "new.pdf").json()["id"]}})
        assert r.json()["status"] == "in_review"

        for actor in (scjg, scjg, lhsr):
            as_actor(actor)
            while True:
                rows = client.get("/api/v1/applications/inbox").json()
                if not rows:
                    break
                r = client.post(f"/api/v1/applications/{app['id']}/branches/{rows[0]['branch_id']}/decide",
                                json={"decision": "approve", "comment": "同意"})
                assert r.status_code == 200, r.text

        as_actor(citizen)
        done = client.get(f"/api/v1/applications/{app['id']}").json()
        assert (done["status"], done["outcome"]) == ("closed", "approved")
        assert sorted(c["type_code"] for c in client.get("/api/v1/certificates/mine").json()) == ["BL", "FBL", "SIGN"]
        rated = client.post(f"/api/v1/applications/{app['id']}/rating", json={"score": 1, "comment": "太慢"})
        assert (rated.status_code, rated.json()["score"]) == (201, 1)
        again = client.post(f"/api/v1/applications/{app['id']}/rating", json={"score": 5})
        assert (again.status_code, again.json()["error"]) == (409, "already_rated")


class TestBadInput:
    def test_a_retried_submission_returns_the_first_application(self, client, as_actor, citizen, session):
        as_actor(citizen)
        first = file_bundle(client, key="double-submit-01")
        second = file_bundle(client, key="double-submit-01")
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json()["id"] == second.json()["id"]
        assert count(session, Application) == 1

    def test_a_wrong_id_number_is_a_clear_error_in_chinese(self, client, as_actor, citizen, session):
        as_actor(citizen)
        wrong = ZHANG_ID[:-1] + ("1" if ZHANG_ID[-1] == "0" else "0")
        r = file_bundle(client, data=form_data(id_number=wrong))
        body = r.json()
        assert (r.status_code, body["error"]) == (422, "form_invalid")
        assert body["detail"] == "表单中有内容需要修改。"
        assert [e["field"] for e in body["errors"]] == ["id_number"]
        assert count(session, Application) == 0

    def test_a_disguised_upload_is_refused(self, client, as_actor, citizen):
        as_actor(citizen)
        r = upload(client, "licence.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 64)
        assert (r.status_code, r.json()["error"]) == (415, "file_type_refused")

    def test_an_approver_of_another_department_changes_nothing(self, client, as_actor, citizen, clerk, lhsr, session):
        as_actor(citizen)
        app = file_bundle(client).json()
        as_actor(clerk)
        branches = client.post(f"/api/v1/applications/{app['id']}/accept").json()["branches"]
        scjg_branch = next(b for b in branches if b["item_code"] == "SCJG-001")
        as_actor(lhsr)
        r = client.post(f"/api/v1/applications/{app['id']}/branches/{scjg_branch['id']}/decide",
                        json={"decision": "approve"})
        assert (r.status_code, r.json()["error"]) == (403, "permission_denied")
        session.rollback()
        assert session.scalar(select(Branch.status).where(Branch.id == scjg_branch["id"])) == "in_review"

    def test_an_unknown_application_is_404(self, client, as_actor, citizen):
        as_actor(citizen)
        r = client.get("/api/v1/applications/01JNOSUCHAPPLICATION000000")
        assert (r.status_code, r.json()["error"]) == (404, "application_not_found")

    def test_a_bad_idempotency_key_is_refused(self, client, as_actor, citizen):
        as_actor(citizen)
        r = client.post("/api/v1/applications", json={"subject_kind": "item", "subject_code": "SCJG-001"},
                        headers={"Idempotency-Key": "x"})
        assert (r.status_code, r.json()["error"]) == (422, "idempotency_key_invalid")


class TestMaterialDownload:
    def test_staff_get_the_material_as_an_audited_attachment(self, client, as_actor, citizen, clerk):
        as_actor(citizen)
        app = file_bundle(client).json()
        file_id = next(m["file_id"] for m in app["materials"] if m["code"] == "layout")
        as_actor(clerk)
        r = client.get(f"/api/v1/applications/{app['id']}/materials/{file_id}/content")
        assert r.status_code == 200
        assert (r.content, r.headers["content-type"]) == (PDF, "application/pdf")
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff"

    def test_another_districts_clerk_is_refused(self, client, as_actor, citizen, xuhui_clerk):
        as_actor(citizen)
        app = file_bundle(client).json()
        file_id = app["materials"][-1]["file_id"] or next(m["file_id"] for m in app["materials"] if m["file_id"])
        as_actor(xuhui_clerk)
        r = client.get(f"/api/v1/applications/{app['id']}/materials/{file_id}/content")
        assert r.status_code == 403
