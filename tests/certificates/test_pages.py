"""The certificate pages: public verification, the wallet, the download."""

from __future__ import annotations

import json

from .conftest import OTHER_PERSON_ID, citizen

HTML = {"Accept": "text/html"}


class TestVerifyPage:
    def test_shows_a_valid_certificate_with_the_masked_holder(self, client, issued):
        r = client.get(issued.verify_path, headers=HTML)

        assert r.status_code == 200
        assert 'data-status="valid"' in r.text
        assert "张*明" in r.text and "张三明" not in r.text
        assert "黄浦区市场监管局" in r.text
        assert r.headers["cache-control"] == "no-store"

    def test_refuses_a_wrong_signature_prefix(self, client, issued):
        r = client.get(f"/verify/{issued.id}?s=AAAAAAAAAAAAAAAA", headers=HTML)

        assert 'data-status="bad_signature"' in r.text
        assert "张*明" not in r.text

    def test_says_not_found(self, client, city):
        r = client.get("/verify/01JNOSUCHCERT0000000000000?s=x", headers=HTML)

        assert 'data-status="not_found"' in r.text

    def test_checks_an_uploaded_file(self, client, issued):
        r = client.post("/verify", files={"file": ("cert.json", issued.envelope.encode(), "application/json")},
                        headers=HTML)

        assert 'data-status="valid"' in r.text

    def test_checks_pasted_altered_text(self, client, issued):
        altered = issued.envelope.replace("预包装食品销售", "散装食品销售")

        r = client.post("/verify", data={"envelope": altered}, headers=HTML)

        assert 'data-status="bad_signature"' in r.text


class TestWalletPages:
    def test_lists_own_certificates_with_qr_codes(self, client, issued, as_actor):
        as_actor(citizen())

        r = client.get("/my/certificates", headers=HTML)

        assert r.status_code == 200
        assert "食品经营许可证" in r.text
        assert r.text.count("<svg") == 1

    def test_shows_nothing_of_anothers(self, client, issued, as_actor):
        as_actor(citizen(OTHER_PERSON_ID, "c2"))

        assert "食品经营许可证" not in client.get("/my/certificates", headers=HTML).text
        assert client.get(f"/my/certificates/{issued.id}", headers=HTML).status_code == 403

    def test_downloads_the_envelope_as_issued(self, client, issued, as_actor):
        as_actor(citizen())

        r = client.get(f"/my/certificates/{issued.id}/download")

        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-disposition"] == f'attachment; filename="FOOD-LICENCE-{issued.id}.json"'
        assert r.content == issued.envelope.encode()
        assert json.loads(r.content)["document"]["id"] == issued.id
