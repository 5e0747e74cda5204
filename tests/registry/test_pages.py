"""Registry pages: look-up with masked card, reveal with purpose, import with per-line errors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from yiwang.core.actor import SYSTEM
from yiwang.registry import service as registry_service

from .conftest import LI, SHOP, ZHANG
from .test_import import BAD_PERSONS, GOOD_PERSONS


@pytest.fixture
def people(session, city) -> dict[str, str]:
    ids = {"zhang": registry_service.create_person(session, SYSTEM, ZHANG).id,
           "li": registry_service.create_person(session, SYSTEM, LI).id,
           "shop": registry_service.create_entity(session, SYSTEM, SHOP).id}
    session.commit()
    return ids


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert m is not None
    return m.group(1)


def html_get(client, path: str):
    return client.get(path, headers={"accept": "text/html"})


def purposes(session) -> list[str]:
    session.rollback()
    return list(session.execute(text(
        "SELECT purpose FROM audit_entries WHERE action = 'registry.person.read_personal'")).scalars())


class TestPersonPages:
    def test_form_renders_with_csrf(self, client, as_actor, city, huangpu_officer):
        as_actor(huangpu_officer)
        r = html_get(client, "/registry/persons")
        assert r.status_code == 200
        assert 'action="/registry/persons/lookup"' in r.text
        assert 'name="csrf_token"' in r.text
        assert r.headers["cache-control"] == "no-store"

    def test_lookup_shows_the_masked_card_and_the_reveal_form(self, client, as_actor, people, huangpu_officer):
        as_actor(huangpu_officer)
        token = csrf(html_get(client, "/registry/persons").text)

        r = client.post("/registry/persons/lookup", data={"id_number": ZHANG["id_number"], "csrf_token": token})

        assert r.status_code == 200
        assert "张*明" in r.text and "**************1230" in r.text
        assert ZHANG["name"] not in r.text and ZHANG["phone"] not in r.text
        assert f'action="/registry/persons/{people["zhang"]}/reveal"' in r.text

    def test_no_reveal_form_without_read_personal(self, client, as_actor, people, huangpu_staff):
        as_actor(huangpu_staff)
        r = client.post("/registry/persons/lookup", data={"id_number": ZHANG["id_number"]})
        assert "张*明" in r.text
        assert "/reveal" not in r.text

    def test_bad_number_rerenders_with_the_message(self, client, as_actor, people, huangpu_officer):
        as_actor(huangpu_officer)
        r = client.post("/registry/persons/lookup", data={"id_number": "310101199003071231"})
        assert r.status_code == 422
        assert "身份证号码无效。" in r.text

    def test_reveal_with_purpose_shows_the_full_card(self, client, as_actor, session, people, huangpu_officer):
        as_actor(huangpu_officer)

        r = client.post(f"/registry/persons/{people['zhang']}/reveal", data={"purpose": "低保复核"})

        assert r.status_code == 200
        assert ZHANG["name"] in r.text and ZHANG["id_number"] in r.text and ZHANG["address"] in r.text
        assert purposes(session) == ["低保复核"]

    def test_reveal_without_purpose_shows_the_masked_card_and_the_message(self, client, as_actor, session, people,
                                                                          huangpu_officer):
        as_actor(huangpu_officer)

        r = client.post(f"/registry/persons/{people['zhang']}/reveal", data={"purpose": " "})

        assert r.status_code == 422
        assert "查看完整个人信息须说明用途。" in r.text
        assert "张*明" in r.text and ZHANG["name"] not in r.text
        assert purposes(session) == []

    def test_other_district_is_forbidden(self, client, as_actor, people, huangpu_officer):
        as_actor(huangpu_officer)
        r = client.post(f"/registry/persons/{people['li']}/reveal", data={"purpose": "x"},
                        headers={"accept": "text/html"})
        assert r.status_code == 403
        assert LI["name"] not in r.text

    def test_anonymous_is_refused(self, client, people):
        r = html_get(client, "/registry/persons")
        assert r.status_code == 401


class TestEntityPages:
    def test_lookup_and_reveal(self, client, as_actor, people, huangpu_officer):
        as_actor(huangpu_officer)
        assert html_get(client, "/registry/entities").status_code == 200

        found = client.post("/registry/entities/lookup", data={"uscc": SHOP["uscc"]})
        full = client.post(f"/registry/entities/{people['shop']}/reveal", data={"purpose": "资质核验"})

        assert "王*伟" in found.text and "王大伟" not in found.text
        assert "王大伟" in full.text


class TestImportPage:
    def test_form_renders(self, client, as_actor, city):
        as_actor(SYSTEM)
        r = html_get(client, "/registry/import")
        assert r.status_code == 200
        assert 'enctype="multipart/form-data"' in r.text and 'name="csrf_token"' in r.text

    def test_refused_import_lists_every_bad_line(self, client, as_actor, city):
        as_actor(SYSTEM)

        r = client.post("/registry/import", data={"kind": "persons"},
                        files={"file": ("p.csv", BAD_PERSONS.encode(), "text/csv")})

        assert r.status_code == 422
        assert "未导入任何数据：有 5 行存在问题。" in r.text
        rows = re.findall(r'<tr><td class="num">(\d+)</td><td><code>([^<]+)</code></td>', r.text)
        assert rows == [("3", "id_number"), ("4", "phone"), ("5", "area_code"), ("6", "id_number"), ("7", "name")]

    def test_successful_import_shows_counts(self, client, as_actor, city):
        as_actor(SYSTEM)
        r = client.post("/registry/import", data={"kind": "persons"},
                        files={"file": ("p.csv", GOOD_PERSONS.encode(), "text/csv")})
        assert r.status_code == 200
        assert "共 3 行，已导入 3 行，跳过 0 行。" in r.text
