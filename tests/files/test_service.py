"""Storing and reading uploads: judged by content and size, stored under the id, read under a rule."""

from __future__ import annotations

import hashlib
import io
import stat

import pytest

from yiwang.core.actor import ANONYMOUS, SYSTEM
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.files import errors
from yiwang.files import service as files_service

from .conftest import ELF, EXE, HTML, JPEG, OWNER_ID, PDF, PNG, SCRIPT, STREET, SVG, WEBP, ZIP


def _store(session, actor, data, filename="scan.pdf", purpose="material", **kw):
    return files_service.store(session, actor, data=data, filename=filename, purpose=purpose, **kw)


class TestStore:
    @pytest.mark.parametrize(("data", "name", "media_type", "display_name"), [
        (PDF, "申请表.pdf", "application/pdf", "申请表.pdf"),
        (PNG, "身份证正面.png", "image/png", "身份证正面.png"),
        (JPEG, "户口本.JPG", "image/jpeg", "户口本.JPG"),
    ])
    def test_accepts_a_real_document_with_its_detected_type(self, session, owner, settings, data, name,
                                                            media_type, display_name):
        stored = _store(session, owner, data, name)
        session.commit()
        path = settings.resolved_files_dir / stored.id[-2:] / stored.id
        assert (stored.owner_user_id, stored.purpose, stored.media_type, stored.size, stored.sha256,
                stored.display_name) == (OWNER_ID, "material", media_type, len(data),
                                         hashlib.sha256(data).hexdigest(), display_name)
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert files_service.get(session, stored.id) == stored

    def test_the_declared_name_does_not_decide_the_type(self, session, owner):
        stored = _store(session, owner, PNG, "scan.pdf")
        assert (stored.media_type, stored.display_name) == ("image/png", "scan.png")

    @pytest.mark.parametrize(("data", "name", "kind"), [
        (ELF, "申请表.pdf", "a program (ELF)"),
        (EXE, "photo.jpg", "a Windows program (EXE)"),
        (HTML, "scan.pdf", "a web page (HTML)"),
        (SVG, "scan.png", "an SVG image"),
        (SCRIPT, "scan.pdf", "a script"),
        (ZIP, "photo.jpg", "a ZIP archive"),
        (b"plain words, no document", "scan.pdf", "a text file"),
        (b"\x00\x01\x02\xff\xfe", "scan.pdf", "a file of an unknown kind"),
    ])
    def test_refuses_a_disguised_file_and_stores_nothing(self, session, owner, on_disk, row_count, data, name, kind):
        with pytest.raises(errors.FileTypeRefused) as caught:
            _store(session, owner, data, name)
        session.commit()
        assert (caught.value.code, caught.value.params) == (
            "file_type_refused", {"kind": kind, "accepted": "PDF, JPEG, PNG"})
        assert (row_count(), on_disk()) == (0, [])

    def test_names_an_unlisted_kind_by_its_extension(self, session, owner):
        gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
        with pytest.raises(errors.FileTypeRefused) as caught:
            _store(session, owner, gif, "a.png", purpose="photo")
        assert caught.value.params == {"kind": "a GIF image", "accepted": "JPEG, PNG, WebP, HEIC"}
        with pytest.raises(errors.FileTypeRefused) as caught:
            _store(session, owner, b"OggS" + b"\x00" * 40, "a.pdf")
        assert caught.value.params["kind"] == "a file of type OGG"

    def test_a_photo_may_be_webp_but_not_pdf(self, session, owner):
        stored = _store(session, owner, WEBP, "现场.webp", purpose="photo")
        assert stored.media_type == "image/webp"
        with pytest.raises(errors.FileTypeRefused) as caught:
            _store(session, owner, PDF, "现场.pdf", purpose="photo")
        assert caught.value.params == {"kind": "a PDF document", "accepted": "JPEG, PNG, WebP, HEIC"}

    def test_a_material_may_not_be_webp(self, session, owner):
        with pytest.raises(errors.FileTypeRefused) as caught:
            _store(session, owner, WEBP, "材料.webp")
        assert caught.value.params == {"kind": "a WebP image", "accepted": "PDF, JPEG, PNG"}

    def test_the_caller_narrows_the_accepted_types(self, session, owner):
        with pytest.raises(errors.FileTypeRefused) as caught:
            _store(session, owner, PNG, "x.png", allowed=frozenset({files_service.PDF}))
        assert caught.value.params == {"kind": "a PNG image", "accepted": "PDF"}

    def test_refuses_an_empty_file(self, session, owner, on_disk, row_count):
        with pytest.raises(errors.FileEmpty):
            _store(session, owner, b"")
        session.commit()
        assert (row_count(), on_disk()) == (0, [])

    def test_the_size_limit_comes_from_the_settings(self, session, owner, settings, on_disk, row_count):
        settings.max_upload_bytes = 1024 * 1024
        padded = PDF + b" " * (1024 * 1024 - len(PDF))
        assert _store(session, owner, padded).size == 1024 * 1024
        with pytest.raises(errors.FileTooLarge) as caught:
            _store(session, owner, padded + b" ")
        session.commit()
        assert caught.value.params == {"limit": "1"}
        assert (row_count(), len(on_disk())) == (1, 1)

    def test_the_caller_may_set_another_limit(self, session, owner, on_disk):
        with pytest.raises(errors.FileTooLarge) as caught:
            _store(session, owner, PDF + b" " * (512 * 1024), max_bytes=512 * 1024)
        assert caught.value.params == {"limit": "0.5"}
        assert on_disk() == []

    def test_a_stream_is_not_read_past_the_limit(self, session, owner):
        stream = io.BytesIO(PDF + b" " * (3 * 1024 * 1024))
        with pytest.raises(errors.FileTooLarge):
            _store(session, owner, stream, max_bytes=1024 * 1024)
        assert stream.tell() == 1024 * 1024 + 1

    def test_a_stream_is_stored(self, session, owner):
        assert _store(session, owner, io.BytesIO(JPEG), "photo.jpeg").size == len(JPEG)

    def test_path_traversal_in_the_name_has_no_effect(self, session, owner, settings, on_disk):
        stored = _store(session, owner, PDF, "../../../../etc/cron.d/x.pdf")
        session.commit()
        assert stored.display_name == "x.pdf"
        assert on_disk() == [settings.resolved_files_dir / stored.id[-2:] / stored.id]

    @pytest.mark.parametrize(("name", "media_type", "display_name"), [
        ("C:\\Users\\张三\\Desktop\\营业执照.pdf", "application/pdf", "营业执照.pdf"),
        ("invoice\u202egpj.exe", "image/jpeg", "invoice gpj.jpg"),
        ('a<b>:c"d|e?f*\x00g\n.png', "image/png", "a_b__c_d_e_f_ g.png"),
        ("张三.身份证", "image/png", "张三.身份证.png"),
        ("..", "application/pdf", "file.pdf"),
        ("", "image/jpeg", "file.jpg"),
        ("申" * 300 + ".pdf", "application/pdf", "申" * 196 + ".pdf"),
    ])
    def test_the_display_name_is_sanitised(self, name, media_type, display_name):
        assert files_service.clean_display_name(name, media_type) == display_name

    def test_refuses_an_unknown_purpose_form(self, session, owner):
        with pytest.raises(errors.InvalidPurpose):
            _store(session, owner, PDF, purpose="../etc")

    def test_refuses_the_anonymous(self, session, on_disk):
        with pytest.raises(AuthenticationRequired):
            _store(session, ANONYMOUS, PDF)
        assert on_disk() == []

    def test_only_the_system_stores_for_someone_else(self, session, owner):
        with pytest.raises(PermissionDenied):
            _store(session, owner, PDF, owner_user_id="01JSOMEONE0000000000000000")
        stored = _store(session, SYSTEM, PDF, owner_user_id="01JSOMEONE0000000000000000")
        assert stored.owner_user_id == "01JSOMEONE0000000000000000"

    def test_the_same_content_is_stored_once_per_upload(self, session, owner, other, on_disk):
        first = _store(session, owner, PDF)
        second = _store(session, other, PDF)
        session.commit()
        assert first.id != second.id and first.sha256 == second.sha256
        assert len(on_disk()) == 2

    def test_a_rolled_back_store_leaves_no_file(self, session, owner, on_disk, row_count):
        _store(session, owner, PDF)
        session.rollback()
        assert (row_count(), on_disk()) == (0, [])

    def test_a_store_in_an_abandoned_transaction_leaves_no_file(self, db, owner, on_disk, row_count):
        s = db.session()
        _store(s, owner, PDF)
        s.close()
        assert (row_count(), on_disk()) == (0, [])

    def test_a_store_in_a_rolled_back_savepoint_leaves_no_file(self, session, owner, on_disk, row_count):
        kept = _store(session, owner, PNG, "kept.png")
        with pytest.raises(RuntimeError), session.begin_nested():
            _store(session, owner, PDF)
            raise RuntimeError("the caller's next step failed")
        session.commit()
        assert (row_count(), [p.name for p in on_disk()]) == (1, [kept.id])

    def test_a_committed_store_stays_after_a_later_rollback(self, session, owner, on_disk):
        kept = _store(session, owner, PDF)
        session.commit()
        _store(session, owner, PNG, "later.png")
        session.rollback()
        assert [p.name for p in on_disk()] == [kept.id]

    def test_is_audited_without_the_name(self, session, owner, audit_entries):
        stored = _store(session, owner, PDF, "张三的身份证.pdf")
        session.commit()
        assert [(e.actor_user_id, e.target_type, e.target_id, e.detail) for e in audit_entries("file.store")] == [
            (OWNER_ID, "file", stored.id,
             {"owner_user_id": OWNER_ID, "purpose": "material", "media_type": "application/pdf", "size": len(PDF)})]


class TestOpenFile:
    def test_the_owner_reads_without_an_audit_entry(self, session, owner, audit_entries):
        stored = _store(session, owner, PDF)
        got, data = files_service.open_file(session, owner, stored.id)
        session.commit()
        assert (got, data) == (stored, PDF)
        assert audit_entries("file.read") == []

    def test_refuses_anyone_else(self, session, owner, other, clerk):
        stored = _store(session, owner, PDF)
        for actor in (other, clerk):
            with pytest.raises(PermissionDenied) as caught:
                files_service.open_file(session, actor, stored.id)
            assert (caught.value.permission, caught.value.target) == ("file.read", f"file:{stored.id}")

    def test_refuses_when_the_callers_rule_says_no(self, session, owner, clerk):
        stored = _store(session, owner, PDF)
        with pytest.raises(PermissionDenied):
            files_service.open_file(session, clerk, stored.id, can_read=lambda f: False)

    def test_staff_read_through_the_callers_rule_and_are_audited(self, session, owner, clerk, audit_entries):
        stored = _store(session, owner, PDF, "张三的身份证.pdf")
        seen = []
        got, data = files_service.open_file(session, clerk, stored.id, area_code=STREET, reason="受理审查",
                                            can_read=lambda f: seen.append(f.id) or True)
        session.commit()
        assert (got.id, data, seen) == (stored.id, PDF, [stored.id])
        assert [(e.actor_user_id, e.target_id, e.area_code, e.purpose, e.detail)
                for e in audit_entries("file.read")] == [
            ("01JCLERK000000000000000000", stored.id, STREET, "受理审查",
             {"owner_user_id": OWNER_ID, "purpose": "material", "media_type": "application/pdf"})]

    def test_an_unknown_id_is_not_found(self, session, owner):
        with pytest.raises(errors.FileNotFound):
            files_service.open_file(session, owner, "01JNOSUCHFILE0000000000000")

    def test_altered_bytes_are_not_served(self, session, owner, settings):
        stored = _store(session, owner, PDF)
        (settings.resolved_files_dir / stored.id[-2:] / stored.id).write_bytes(PDF.replace(b"595", b"600"))
        with pytest.raises(errors.FileUnavailable):
            files_service.open_file(session, owner, stored.id)

    def test_missing_bytes_are_unavailable(self, session, owner, settings):
        stored = _store(session, owner, PDF)
        (settings.resolved_files_dir / stored.id[-2:] / stored.id).unlink()
        with pytest.raises(errors.FileUnavailable):
            files_service.open_file(session, owner, stored.id)


class TestDescribe:
    def test_the_owner_gets_the_record(self, session, owner):
        stored = _store(session, owner, PNG, "x.png")
        assert files_service.describe(session, owner, stored.id) == stored

    def test_refuses_anyone_else(self, session, owner, other):
        stored = _store(session, owner, PNG, "x.png")
        with pytest.raises(PermissionDenied):
            files_service.describe(session, other, stored.id)

    def test_get_of_an_unknown_id_is_none(self, session):
        assert files_service.get(session, "01JNOSUCHFILE0000000000000") is None


class TestDetect:
    @pytest.mark.parametrize(("data", "media_type"), [
        (PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(16), "image/heic"),
        (b"\xef\xbb\xbf  <HTML><body>", "text/html"), ("名称,数量\n".encode(), "text/plain"),
        (b"<?xml version='1.0'?><doc/>", "application/xml"), (b"\x00\x00", None),
    ])
    def test_media_type_from_the_bytes(self, data, media_type):
        assert files_service.detect(data)[0] == media_type


class TestDownloadHeaders:
    def test_always_an_attachment_never_sniffed_or_rendered(self, session, owner):
        stored = _store(session, owner, PDF, '申请表 "终稿".pdf')
        assert files_service.download_headers(stored) == {
            "Content-Disposition": "attachment; filename=\"___ ____.pdf\"; "
                                   "filename*=UTF-8''%E7%94%B3%E8%AF%B7%E8%A1%A8%20_%E7%BB%88%E7%A8%BF_.pdf",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        }
