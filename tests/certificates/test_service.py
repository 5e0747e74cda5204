"""Issuing, reading, the wallet, revoking and verifying certificates."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from sqlalchemy import text

from yiwang.certificates import service as certificates_service
from yiwang.certificates.errors import AlreadyRevoked, CertificateInvalid, CertificateNotFound
from yiwang.certificates.offline import canonical_bytes
from yiwang.core.actor import Grant
from yiwang.core.errors import PermissionDenied
from yiwang.core.settings import Settings

from .conftest import ENTITY_ID, OTHER_PERSON_ID, PERSON_ID, USCC, citizen, enterprise, issue, staff

TODAY = date(2027, 6, 1)


def tampered(envelope: str, change) -> str:
    data = json.loads(envelope)
    change(data["document"])
    return json.dumps(data, ensure_ascii=False)


def audit_rows(session, action: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in session.execute(
        text("SELECT action, target_id, outcome FROM audit_entries WHERE action = :a ORDER BY seq"), {"a": action})]


class TestCanonicalBytes:
    def test_sorts_keys_and_drops_whitespace(self):
        assert canonical_bytes({"b": 1, "a": {"y": "张", "x": None}}) == '{"a":{"x":null,"y":"张"},"b":1}'.encode()


class TestIssueCertificate:
    def test_signs_a_document_with_the_given_fields(self, session, issued, settings):
        envelope = json.loads(issued.envelope)
        document = envelope["document"]

        assert document["format"] == "yiwang-certificate/1"
        assert document["id"] == issued.id
        assert document["type"] == {"code": "FOOD-LICENCE", "name": "食品经营许可证"}
        assert document["holder"] == {"kind": "person", "id": PERSON_ID, "name": "张三明",
                                      "identifier": "**************1230"}
        assert document["issuer"]["department_code"] == "310101-SCJG"
        assert document["issuer"]["department_name"] == "黄浦区市场监管局"
        assert document["fields"] == {"经营范围": "预包装食品销售", "地址": "上海市黄浦区南京东路100号"}
        assert (document["valid_from"], document["valid_until"]) == ("2026-01-01", "2031-12-31")
        assert document["application_id"] is None
        assert envelope["signature"]["algorithm"] == "ed25519"
        assert envelope["signature"]["key_id"].startswith("ed25519:")

    def test_writes_an_entitys_uscc_whole(self, session, city, approver):
        cert = issue(session, approver, city["huangpu_dep"], holder_kind="entity", holder_id=ENTITY_ID,
                     holder_name="上海示例贸易有限公司", holder_identifier=USCC)

        assert json.loads(cert.envelope)["document"]["holder"]["identifier"] == USCC

    def test_is_audited(self, session, issued):
        assert audit_rows(session, "certificate.issue") == [("certificate.issue", issued.id, "ok")]

    def test_keeps_the_holder_name_out_of_the_table_in_clear(self, session, issued):
        stored = session.execute(text("SELECT holder_name_enc FROM certificates WHERE id = :i"),
                                 {"i": issued.id}).scalar_one()

        assert "张三明" not in stored
        assert stored.startswith("v1.")
        assert issued.holder_name == "张三明"

    def test_refuses_an_approver_of_another_district(self, session, city, xuhui_approver):
        with pytest.raises(PermissionDenied):
            issue(session, xuhui_approver, city["huangpu_dep"])

        assert session.execute(text("SELECT count(*) FROM certificates")).scalar_one() == 0

    def test_refuses_an_end_before_the_start(self, session, city, approver):
        with pytest.raises(CertificateInvalid) as exc:
            issue(session, approver, city["huangpu_dep"], valid_from=date(2027, 1, 1), valid_until=date(2026, 1, 1))

        assert exc.value.render() == "无法签发证照：有效期截止日早于起始日。"

    def test_refuses_float_fields(self, session, city, approver):
        with pytest.raises(CertificateInvalid):
            issue(session, approver, city["huangpu_dep"], fields={"注册资本": 1.5})


class TestVerifyEnvelope:
    def test_accepts_the_file_as_issued(self, session, issued):
        result = certificates_service.verify_envelope(session, issued.envelope, today=TODAY)

        assert (result.valid, result.status) == (True, "valid")
        assert result.holder_name == "张*明"
        assert result.issuer_name == "黄浦区市场监管局"
        assert result.type_name == "食品经营许可证"
        assert (result.valid_from, result.valid_until) == (date(2026, 1, 1), date(2031, 12, 31))

    def test_accepts_the_file_re_indented(self, session, issued):
        compact = json.dumps(json.loads(issued.envelope), separators=(",", ":"), ensure_ascii=False)

        assert certificates_service.verify_envelope(session, compact, today=TODAY).status == "valid"

    @pytest.mark.parametrize("change", [
        lambda d: d["fields"].update({"经营范围": "预包装食品销售、酒类"}),
        lambda d: d["holder"].update({"name": "李四明"}),
        lambda d: d.update({"valid_until": "2041-12-31"}),
        lambda d: d["holder"].update({"id": OTHER_PERSON_ID}),
    ], ids=["field", "holder", "validity", "holder-id"])
    def test_refuses_an_altered_document(self, session, issued, change):
        result = certificates_service.verify_envelope(session, tampered(issued.envelope, change), today=TODAY)

        assert (result.valid, result.status) == (False, "bad_signature")
        assert result.holder_name is None
        assert result.reason == "证照已被篡改或并非本平台签发。"

    def test_refuses_one_changed_byte_of_the_file(self, session, issued):
        altered = issued.envelope.replace("2031-12-31", "2031-12-30")

        assert certificates_service.verify_envelope(session, altered, today=TODAY).status == "bad_signature"

    def test_refuses_a_signature_by_another_key(self, session, issued, tmp_path):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        data = json.loads(issued.envelope)
        other = Ed25519PrivateKey.generate().sign(canonical_bytes(data["document"]))
        data["signature"]["value"] = base64.b64encode(other).decode()

        assert certificates_service.verify_envelope(session, json.dumps(data), today=TODAY).status == "bad_signature"

    def test_says_revoked_with_the_date(self, session, issued, approver):
        certificates_service.revoke(session, approver, issued.id, "许可条件不再具备")
        session.commit()

        result = certificates_service.verify_envelope(session, issued.envelope, today=TODAY)

        assert (result.valid, result.status) == (False, "revoked")
        assert result.revoked_at is not None
        day = result.revoked_at.astimezone(certificates_service.CHINA).date().isoformat()
        assert result.reason == f"证照已于 {day} 注销。"

    def test_says_expired_after_the_end_date(self, session, issued):
        result = certificates_service.verify_envelope(session, issued.envelope, today=date(2032, 1, 1))

        assert (result.valid, result.status) == (False, "expired")
        assert result.reason == "证照已于 2031-12-31 过期。"

    def test_is_valid_on_the_last_day(self, session, issued):
        assert certificates_service.verify_envelope(session, issued.envelope, today=date(2031, 12, 31)).valid

    def test_says_not_found_for_a_signed_document_the_platform_does_not_hold(self, session, issued):
        session.execute(text("DELETE FROM certificates"))
        session.commit()

        assert certificates_service.verify_envelope(session, issued.envelope, today=TODAY).status == "not_found"

    @pytest.mark.parametrize("data", ["not json", "[]", '{"document": {}, "signature": {}}', b"\xff\xfe"])
    def test_says_malformed_for_anything_else(self, session, data):
        assert certificates_service.verify_envelope(session, data).status == "malformed"


class TestVerifyById:
    def test_accepts_the_qr_codes_url(self, session, issued):
        result = certificates_service.verify_by_id(session, issued.id, issued.signature_prefix, today=TODAY)

        assert (result.valid, result.status, result.holder_name) == (True, "valid", "张*明")
        assert len(issued.signature_prefix) == 16
        assert issued.verify_path == f"/verify/{issued.id}?s={issued.signature_prefix}"

    def test_refuses_a_wrong_signature_prefix(self, session, issued):
        wrong = ("A" if issued.signature_prefix[0] != "A" else "B") + issued.signature_prefix[1:]

        result = certificates_service.verify_by_id(session, issued.id, wrong, today=TODAY)

        assert (result.valid, result.status, result.certificate_id) == (False, "bad_signature", None)

    def test_refuses_a_missing_prefix(self, session, issued):
        assert certificates_service.verify_by_id(session, issued.id, "", today=TODAY).status == "bad_signature"

    def test_says_not_found_for_an_unknown_id(self, session, city):
        assert certificates_service.verify_by_id(session, "01JNOSUCHCERT0000000000000", "x").status == "not_found"


class TestSm2:
    def test_round_trip_with_sm2(self, session, city, approver, settings: Settings):
        settings.sign_algorithm = "sm2"
        cert = issue(session, approver, city["huangpu_dep"])
        signature = json.loads(cert.envelope)["signature"]

        result = certificates_service.verify_envelope(session, cert.envelope, today=TODAY)
        forged = certificates_service.verify_envelope(
            session, tampered(cert.envelope, lambda d: d["fields"].update({"地址": "别处"})), today=TODAY)

        assert signature["algorithm"] == "sm2"
        assert signature["key_id"].startswith("sm2:")
        assert (result.valid, result.status) == (True, "valid")
        assert forged.status == "bad_signature"


class TestGetCertificate:
    def test_gives_the_holder_their_certificate(self, session, issued):
        assert certificates_service.get_certificate(session, citizen(), issued.id).id == issued.id

    def test_refuses_another_citizen(self, session, issued):
        with pytest.raises(PermissionDenied):
            certificates_service.get_certificate(session, citizen(OTHER_PERSON_ID, "c2"), issued.id)

    def test_refuses_an_enterprise_for_a_persons_certificate(self, session, issued):
        with pytest.raises(PermissionDenied):
            certificates_service.get_certificate(session, enterprise(PERSON_ID), issued.id)

    def test_gives_staff_of_the_district_and_audits(self, session, issued):
        clerk = staff(Grant("clerk", "310101", None, frozenset({"certificate.read"})), user_id="clerk")

        assert certificates_service.get_certificate(session, clerk, issued.id).holder_name == "张三明"
        assert audit_rows(session, "certificate.read") == [("certificate.read", issued.id, "ok")]

    def test_refuses_staff_of_another_district(self, session, issued):
        clerk = staff(Grant("clerk", "310104", None, frozenset({"certificate.read"})), user_id="clerk")

        with pytest.raises(PermissionDenied):
            certificates_service.get_certificate(session, clerk, issued.id)
        assert audit_rows(session, "certificate.read") == []

    def test_says_not_found_to_staff_who_may_read(self, session, city, approver):
        with pytest.raises(CertificateNotFound):
            certificates_service.get_certificate(session, approver, "01JNOSUCHCERT0000000000000")


class TestWallet:
    def test_shows_only_own_certificates_usable_first(self, session, city, approver):
        dep = city["huangpu_dep"]
        old = issue(session, approver, dep, valid_from=date(2020, 1, 1), valid_until=date(2021, 1, 1))
        mine = issue(session, approver, dep)
        issue(session, approver, dep, holder_id=OTHER_PERSON_ID, holder_name="李四")
        issue(session, approver, dep, holder_kind="entity", holder_id=ENTITY_ID, holder_name="上海示例贸易有限公司",
              holder_identifier=USCC)
        session.commit()

        assert [c.id for c in certificates_service.wallet(session, citizen())] == [mine.id, old.id]
        assert [c.holder_id for c in certificates_service.wallet(session, enterprise())] == [ENTITY_ID]

    def test_is_empty_for_staff(self, session, issued, approver):
        assert certificates_service.wallet(session, approver) == []


class TestHolderCertificates:
    def test_finds_those_valid_on_a_date_of_one_type(self, session, city, approver):
        dep = city["huangpu_dep"]
        issue(session, approver, dep, valid_from=date(2020, 1, 1), valid_until=date(2021, 1, 1))
        current = issue(session, approver, dep)
        issue(session, approver, dep, type_code="OTHER", type_name="其他")

        found = certificates_service.holder_certificates(session, "person", PERSON_ID, "FOOD-LICENCE",
                                                         valid_on=TODAY)

        assert [c.id for c in found] == [current.id]

    def test_leaves_out_revoked_ones_when_asked_for_a_date(self, session, issued, approver):
        certificates_service.revoke(session, approver, issued.id, "注销")

        assert certificates_service.holder_certificates(session, "person", PERSON_ID, valid_on=TODAY) == []
        assert len(certificates_service.holder_certificates(session, "person", PERSON_ID)) == 1


class TestRevoke:
    def test_marks_revoked_and_audits(self, session, issued, approver):
        result = certificates_service.revoke(session, approver, issued.id, "许可条件不再具备")

        assert (result.status, result.revoked_reason) == ("revoked", "许可条件不再具备")
        assert audit_rows(session, "certificate.revoke") == [("certificate.revoke", issued.id, "ok")]

    def test_refuses_a_second_revocation(self, session, issued, approver):
        certificates_service.revoke(session, approver, issued.id, "一")

        with pytest.raises(AlreadyRevoked) as exc:
            certificates_service.revoke(session, approver, issued.id, "二")
        assert exc.value.code == "already_revoked"

    def test_refuses_an_approver_of_another_district(self, session, issued, xuhui_approver):
        with pytest.raises(PermissionDenied):
            certificates_service.revoke(session, xuhui_approver, issued.id, "越权")

        assert session.execute(text("SELECT status FROM certificates")).scalar_one() == "valid"

    def test_refuses_a_clerk(self, session, issued):
        clerk = staff(Grant("clerk", "310101", None, frozenset({"certificate.read"})), user_id="clerk")

        with pytest.raises(PermissionDenied):
            certificates_service.revoke(session, clerk, issued.id, "越权")


class TestQr:
    def test_encodes_the_verification_url(self, session, issued):
        svg = certificates_service.qr_svg(issued, "https://zw.example.cn/")

        assert svg.startswith("<svg")
        assert "path" in svg
