"""Registry data at rest: no plaintext in the tables, tokens bound to their row, key rotation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from yiwang.core.actor import SYSTEM
from yiwang.core.errors import PermissionDenied
from yiwang.core.fieldcrypt import DecryptionFailed
from yiwang.core.keys import key_ring
from yiwang.registry import service as registry_service

from .conftest import LI, SHOP, ZHANG


def raw_persons(session) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text("SELECT * FROM persons ORDER BY id"))]


@pytest.fixture
def people(session, city) -> tuple[str, str]:
    a = registry_service.create_person(session, SYSTEM, ZHANG).id
    b = registry_service.create_person(session, SYSTEM, LI).id
    registry_service.create_entity(session, SYSTEM, SHOP)
    session.commit()
    return a, b


class TestAtRest:
    def test_no_personal_value_appears_in_any_column(self, session, people):
        dump = json.dumps(raw_persons(session), ensure_ascii=False, default=str)
        for person in (ZHANG, LI):
            for key in ("name", "id_number", "phone", "address"):
                assert person[key] not in dump
        assert "张" not in dump and "上海" not in dump

    def test_blind_index_is_not_the_plain_hash(self, session, people):
        import hashlib

        row = raw_persons(session)[0]
        assert row["id_number_bidx"] not in {hashlib.sha256(p["id_number"].encode()).hexdigest()[:32]
                                            for p in (ZHANG, LI)}
        assert len(row["id_number_bidx"]) == 32

    def test_token_copied_to_another_row_does_not_decrypt(self, session, people):
        zhang, li = people
        session.execute(text("UPDATE persons SET name_enc = (SELECT name_enc FROM persons WHERE id = :a) "
                             "WHERE id = :b"), {"a": zhang, "b": li})
        session.commit()

        with pytest.raises(DecryptionFailed):
            registry_service.get_person(session, SYSTEM, li)
        assert registry_service.get_person(session, SYSTEM, zhang, full=True, purpose="t").name == ZHANG["name"]


class TestReencrypt:
    def test_rotation_then_reencrypt_moves_every_row_to_the_new_key(self, session, settings, people, security_admin):
        zhang, _ = people
        kid = key_ring(settings).rotate_field_key()

        changed = registry_service.reencrypt(session, security_admin, batch=1)
        session.commit()

        assert (kid, changed) == ("k2", 3)
        for row in raw_persons(session):
            for column in ("name_enc", "id_number_enc", "phone_enc", "address_enc"):
                assert row[column].startswith("v1.aes-gcm.k2."), column
        rep = session.execute(text("SELECT legal_representative_enc FROM legal_entities")).scalar_one()
        assert rep.startswith("v1.aes-gcm.k2.")
        full = registry_service.get_person(session, SYSTEM, zhang, full=True, purpose="t")
        assert (full.name, full.id_number, full.phone, full.address) == (
            ZHANG["name"], ZHANG["id_number"], ZHANG["phone"], ZHANG["address"])
        [detail] = session.execute(text(
            "SELECT detail FROM audit_entries WHERE action = 'registry.reencrypt'")).scalars()
        assert json.loads(detail) == {"key_id": "k2", "algorithm": "aes-gcm", "persons": 2, "entities": 1}

    def test_second_run_has_nothing_to_do(self, session, settings, people):
        key_ring(settings).rotate_field_key()
        registry_service.reencrypt(session, SYSTEM)

        assert registry_service.reencrypt(session, SYSTEM) == 0

    def test_max_rows_stops_early(self, session, settings, people):
        key_ring(settings).rotate_field_key()
        assert registry_service.reencrypt(session, SYSTEM, batch=1, max_rows=1) == 1
        assert registry_service.reencrypt(session, SYSTEM, batch=1) == 2

    def test_switching_to_sm4_reencrypts_under_sm4(self, session, db, settings, people):
        zhang, _ = people
        session.info["settings"] = settings.model_copy(update={"cipher_algorithm": "sm4-gcm"})

        assert registry_service.reencrypt(session, SYSTEM) == 3
        assert all(r["name_enc"].startswith("v1.sm4-gcm.k1.") for r in raw_persons(session))
        assert registry_service.get_person(session, SYSTEM, zhang, full=True, purpose="t").name == ZHANG["name"]

    def test_needs_security_manage(self, session, settings, people, city_officer):
        key_ring(settings).rotate_field_key()
        before = raw_persons(session)

        with pytest.raises(PermissionDenied):
            registry_service.reencrypt(session, city_officer)
        assert raw_persons(session) == before
