"""The files API: multipart upload, the owner's record and download, refusals as sentences."""

from __future__ import annotations

from yiwang.files import service as files_service

from .conftest import ELF, OTHER_ID, OWNER_ID, PDF, PNG, WEBP, ZIP


def _upload(client, data: bytes, name: str = "scan.png", declared: str = "image/png", purpose: str | None = None):
    form = {"purpose": purpose} if purpose is not None else {}
    return client.post("/api/v1/files", files={"file": (name, data, declared)}, data=form)


class TestUploadApi:
    def test_stores_a_png_with_the_detected_type_not_the_declared_one(self, client, as_actor, owner, settings):
        as_actor(owner)
        got = _upload(client, PNG, "身份证.pdf", declared="application/pdf")
        body = got.json()
        assert got.status_code == 201
        assert {k: body[k] for k in ("owner_user_id", "purpose", "media_type", "size", "display_name")} == {
            "owner_user_id": OWNER_ID, "purpose": "material", "media_type": "image/png", "size": len(PNG),
            "display_name": "身份证.png"}
        assert (settings.resolved_files_dir / body["id"][-2:] / body["id"]).read_bytes() == PNG

    def test_a_photo_may_be_webp(self, client, as_actor, owner):
        as_actor(owner)
        got = _upload(client, WEBP, "现场.webp", declared="image/webp", purpose="photo")
        assert (got.status_code, got.json()["purpose"], got.json()["media_type"]) == (201, "photo", "image/webp")

    def test_refuses_a_program_named_pdf_in_a_sentence(self, client, as_actor, owner, on_disk, row_count):
        as_actor(owner)
        got = _upload(client, ELF, "申请表.pdf", declared="application/pdf")
        assert (got.status_code, got.json()) == (415, {
            "error": "file_type_refused",
            "detail": "此处不接受该文件：它是可执行程序（ELF）。请上传以下类型之一：PDF, JPEG, PNG。"})
        assert (row_count(), on_disk()) == (0, [])

    def test_the_refusal_in_english(self, client, as_actor, owner):
        as_actor(owner)
        got = client.post("/api/v1/files", files={"file": ("photo.jpg", ZIP, "image/jpeg")},
                          headers={"Accept-Language": "en"})
        assert (got.status_code, got.json()["detail"]) == (
            415, "This file is not accepted here: it is a ZIP archive. Upload one of these types: PDF, JPEG, PNG.")

    def test_refuses_a_file_over_the_limit(self, client, as_actor, owner, settings, on_disk):
        as_actor(owner)
        settings.max_upload_bytes = 1024 * 1024
        got = _upload(client, PDF + b" " * (1024 * 1024), "big.pdf", declared="application/pdf")
        assert (got.status_code, got.json()) == (413, {
            "error": "file_too_large", "detail": "文件超过 1 MB，请上传较小的文件（例如以较低分辨率重新扫描）。"})
        assert on_disk() == []

    def test_refuses_an_empty_file(self, client, as_actor, owner):
        as_actor(owner)
        got = _upload(client, b"", "scan.pdf")
        assert (got.status_code, got.json()["error"]) == (422, "file_empty")

    def test_refuses_a_purpose_the_route_does_not_serve(self, client, as_actor, owner, row_count):
        as_actor(owner)
        got = _upload(client, PDF, "x.pdf", purpose="dataset")
        assert (got.status_code, got.json()) == (422, {"error": "invalid_purpose", "detail": "不能为“dataset”上传文件。"})
        assert row_count() == 0

    def test_refuses_the_anonymous(self, client, row_count):
        got = _upload(client, PNG)
        assert (got.status_code, got.json()["error"]) == (401, "authentication_required")
        assert row_count() == 0


def _stored(db, owner, data=PDF, name="申请表 (1).pdf"):
    with db.transaction() as s:
        return files_service.store(s, owner, data=data, filename=name, purpose="material")


class TestRecordApi:
    def test_the_owner_gets_the_record(self, client, as_actor, owner, db):
        stored = _stored(db, owner)
        as_actor(owner)
        got = client.get(f"/api/v1/files/{stored.id}")
        assert (got.status_code, got.json()["id"], got.json()["sha256"], got.json()["display_name"]) == (
            200, stored.id, stored.sha256, "申请表 (1).pdf")

    def test_anyone_else_is_refused_and_the_refusal_audited(self, client, as_actor, owner, other, db,
                                                            audit_entries):
        stored = _stored(db, owner)
        as_actor(other)
        got = client.get(f"/api/v1/files/{stored.id}")
        assert (got.status_code, got.json()["error"]) == (403, "permission_denied")
        assert [(e.actor_user_id, e.outcome, e.target_type, e.target_id) for e in audit_entries("file.read")] == [
            (OTHER_ID, "denied", "file", stored.id)]

    def test_an_unknown_id_is_404(self, client, as_actor, owner):
        as_actor(owner)
        got = client.get("/api/v1/files/01JNOSUCHFILE0000000000000")
        assert (got.status_code, got.json()) == (404, {"error": "file_not_found", "detail": "没有这个文件。"})


class TestContentApi:
    def test_the_owner_downloads_with_safe_headers(self, client, as_actor, owner, db):
        stored = _stored(db, owner)
        as_actor(owner)
        got = client.get(f"/api/v1/files/{stored.id}/content")
        assert (got.status_code, got.content) == (200, PDF)
        assert {k: got.headers[k] for k in ("content-type", "content-disposition", "x-content-type-options",
                                             "content-security-policy", "cache-control")} == {
            "content-type": "application/pdf",
            "content-disposition": "attachment; filename=\"___ (1).pdf\"; "
                                   "filename*=UTF-8''%E7%94%B3%E8%AF%B7%E8%A1%A8%20%281%29.pdf",
            "x-content-type-options": "nosniff",
            "content-security-policy": "sandbox",
            "cache-control": "private, no-store",
        }

    def test_served_with_the_detected_type(self, client, as_actor, owner, db):
        stored = _stored(db, owner, PNG, "scan.pdf")
        as_actor(owner)
        got = client.get(f"/api/v1/files/{stored.id}/content")
        assert (got.headers["content-type"], got.headers["content-disposition"]) == (
            "image/png", "attachment; filename=\"scan.png\"; filename*=UTF-8''scan.png")

    def test_anyone_else_is_refused(self, client, as_actor, owner, other, clerk, db):
        stored = _stored(db, owner)
        for actor in (other, clerk):
            as_actor(actor)
            got = client.get(f"/api/v1/files/{stored.id}/content")
            assert (got.status_code, got.json()["error"]) == (403, "permission_denied")

    def test_the_anonymous_must_sign_in(self, client, owner, db):
        stored = _stored(db, owner)
        assert client.get(f"/api/v1/files/{stored.id}/content").status_code == 401
