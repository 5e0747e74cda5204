"""The data officer's pages (``yiwang.datacat.staff_pages``): the catalogue with its filters and late
flag, the resource form with graded fields, uploads refused by the gate with the report in Chinese,
the de-identification steps editor, opening, masked previews under grants, the responsibility and
demand lists and access requests — each page's main path and a refusal, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from yiwang.areas import service as areas_service
from yiwang.audit.models import AuditEntry
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.db import utcnow
from yiwang.core.i18n import catalogue
from yiwang.core.jobs import bind_settings
from yiwang.core.validators import resident_id_check_char
from yiwang.datacat import datastore, service, staff_pages
from yiwang.datacat.models import (
    AccessRequest,
    DataDemand,
    DataResource,
    Distribution,
    FieldGrant,
    ResourceField,
)
from yiwang.datacat.schemas import FieldIn, ResourceIn

HTML = {"accept": "text/html"}
MANAGE = frozenset({"datacat.read", "datacat.manage"})


def resident_id(n: int) -> str:
    first17 = f"11010119900307{n:03d}"
    return first17 + resident_id_check_char(first17)


def officer(department_id: str) -> Actor:
    return Actor(kind="staff", user_id="01JOFFICER0000000000000001", username="officer",
                 grants=(Grant("data_officer", "31", department_id, MANAGE),), department_ids=(department_id,))


def reader(department_id: str) -> Actor:
    return Actor(kind="staff", user_id="01JREADER00000000000000001", username="reader",
                 grants=(Grant("leader", "31", department_id, frozenset({"datacat.read"})),),
                 department_ids=(department_id,))


CITIZEN = Actor(kind="citizen", user_id="01JCITIZEN0000000000000001", username="citizen")


def alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>\s*(?:<p[^>]*>)?([^<]*)<', html)
    return unescape(found.group(1)).strip() if found else ""


def count(session, model, *where) -> int:
    session.rollback()
    try:
        return session.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        session.rollback()


@pytest.fixture
def world(session, settings, db, app):
    bind_settings(db.engine, settings)
    bind_settings(app.state.db.engine, settings)
    areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city")
    areas_service.create_area(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
    jt = areas_service.create_department(session, SYSTEM, code="310101-JT", name="黄浦区交通委", area_code="310101")
    rs = areas_service.create_department(session, SYSTEM, code="310101-RS", name="黄浦区人社局", area_code="310101")
    session.commit()
    yield {"jt": jt.id, "rs": rs.id}
    session.rollback()
    for table_id in session.scalars(select(Distribution.id)):
        datastore.drop(settings, table_id)


@pytest.fixture
def web(app, as_actor, world):
    """A client of an app serving the staff pages (included here until the app mounts them itself)."""
    if not any(getattr(r, "path", "") == "/datacat/new" for r in app.router.routes):
        app.include_router(staff_pages.router)
    with TestClient(app) as c:
        yield c


def people(session, world, **extra) -> str:
    me = officer(world["rs"])
    data = dict(name="insured-people", code="310101-RS-00001", title="参保人员名单", department_id=world["rs"],
                summary="黄浦区参保人员", topic="society", update_cycle="monthly", opening="unconditional",
                fields=[FieldIn(name="姓名", grade="general", level=3), FieldIn(name="身份证号"),
                        FieldIn(name="出生日期", type="date"), FieldIn(name="区")])
    data.update(extra)
    service.create_resource(session, me, ResourceIn(**data))
    session.commit()
    found = service.get(session, data["name"]).id
    session.rollback()
    return found


def people_csv() -> bytes:
    lines = ["姓名,身份证号,出生日期,区"]
    for i in range(12):
        lines.append(f"张{i},{resident_id(i)},1990-03-{i + 1:02d},黄浦区")
    return ("\n".join(lines) + "\n").encode()


def bus_stops(session, world, **extra) -> str:
    data = dict(name="bus-stops", code="310101-JT-00001", title="公交站点", department_id=world["jt"],
                summary="黄浦区公交站点", topic="transport", update_cycle="daily", opening="unconditional",
                fields=[FieldIn(name="站点名称"), FieldIn(name="经度", type="number"), FieldIn(name="纬度", type="number"),
                        FieldIn(name="联系电话", grade="general", level=4)])
    data.update(extra)
    service.create_resource(session, officer(world["jt"]), ResourceIn(**data))
    service.add_distribution(session, officer(world["jt"]), data["name"], name="站点", filename="stops.csv",
                             data="站点名称,经度,纬度,联系电话\n人民广场,121.475,31.228,021-63211111\n".encode())
    session.commit()
    found = service.get(session, data["name"]).id
    session.rollback()
    return found


class TestCatalogue:
    def test_lists_resources_filtered_by_state_and_department_with_late_updates_flagged(self, web, as_actor,
                                                                                        session, world):
        stops = bus_stops(session, world)
        people(session, world)
        session.execute(update(DataResource).where(DataResource.id == stops)
                        .values(next_update_due=utcnow() - timedelta(days=3)))
        session.commit()
        as_actor(reader(world["jt"]))

        page = web.get("/datacat", headers=HTML)

        assert page.status_code == 200
        assert 'data-resource="bus-stops" class="row-late"' in page.text and 'data-resource="insured-people"' in page.text
        assert "逾期" in page.text and "公交站点" in page.text and "黄浦区交通委" in page.text
        only = web.get(f"/datacat?department={world['rs']}", headers=HTML).text
        assert 'data-resource="insured-people"' in only and 'data-resource="bus-stops"' not in only
        assert 'data-resource="bus-stops"' not in web.get("/datacat?state=open", headers=HTML).text

    def test_refuses_a_citizen_and_sends_the_anonymous_to_sign_in(self, web, as_actor, world):
        as_actor(CITIZEN)
        assert web.get("/datacat", headers=HTML).status_code == 403
        as_actor(Actor(kind="anonymous"))
        got = web.get("/datacat", headers=HTML, follow_redirects=False)
        assert got.status_code == 303 and got.headers["location"].startswith("/login?next=")


class TestResourceForm:
    def form(self, world, **extra):
        data = {"title": "公共停车场", "code": "310101-JT-00009", "name": "parking-lots", "department_id": world["jt"],
                "summary": "停车场位置与泊位数", "topic": "transport", "format": "table", "update_cycle": "monthly",
                "sharing": "unconditional", "opening": "conditional", "opening_conditions": "仅限科研",
                "license_id": "cc-by-4.0", "tags": "停车, 交通", "note": "首次编目",
                "f_name": ["名称", "泊位数", "管理人电话", ""], "f_title": ["停车场名称", "泊位数", "管理人电话", ""],
                "f_type": ["text", "integer", "text", "text"], "f_grade": ["general", "general", "important", "general"],
                "f_level": ["1", "1", "1", "1"], "f_qi": ["1"], "f_description": ["", "", "", ""]}
        data.update(extra)
        return data

    def test_catalogues_a_resource_with_graded_fields_and_quasi_identifiers(self, web, as_actor, session, world):
        as_actor(officer(world["jt"]))
        form_page = web.get("/datacat/new", headers=HTML)
        assert form_page.status_code == 200 and "核心" in form_page.text and 'name="f_qi"' in form_page.text

        sent = web.post("/datacat/new", headers=HTML, data=self.form(world), follow_redirects=False)

        assert sent.status_code == 303
        row = service.get(session, "parking-lots")
        session.rollback()
        assert sent.headers["location"] == f"/datacat/resources/{row.id}?done=created"
        fields = session.execute(select(ResourceField.name, ResourceField.grade, ResourceField.quasi_identifier)
                                 .where(ResourceField.resource_id == row.id).order_by(ResourceField.position)).all()
        session.rollback()
        assert [tuple(f) for f in fields] == [("名称", "general", False), ("泊位数", "general", True),
                                              ("管理人电话", "important", False)]
        page = web.get(sent.headers["location"], headers=HTML).text
        assert "数据资源已编目。" in page and "有条件开放" in page and "仅限科研" in page

    def test_a_bad_url_name_re_shows_the_form_in_chinese_and_writes_nothing(self, web, as_actor, session, world):
        as_actor(officer(world["jt"]))

        sent = web.post("/datacat/new", headers=HTML, data=self.form(world, name="Parking Lots!"))

        assert sent.status_code == 422
        assert "请检查网址名称。" in sent.text
        assert 'value="公共停车场"' in sent.text  # what was typed is kept
        assert count(session, DataResource) == 0

    def test_an_edit_is_a_new_metadata_version_in_the_history(self, web, as_actor, session, world):
        stops = bus_stops(session, world)
        as_actor(officer(world["jt"]))
        assert 'value="公交站点"' in web.get(f"/datacat/resources/{stops}/edit", headers=HTML).text
        data = self.form(world, title="公交站点（含线路）", name="bus-stops", code="310101-JT-00001", note="加线路",
                         f_name=["站点名称", "经度", "纬度", "联系电话"], f_type=["text", "number", "number", "text"],
                         f_grade=["general"] * 4, f_level=["1", "1", "1", "4"], f_qi=[], f_title=["", "", "", ""],
                         f_description=["", "", "", ""], opening="unconditional", opening_conditions="")

        sent = web.post(f"/datacat/resources/{stops}/edit", headers=HTML, data=data, follow_redirects=False)

        assert sent.status_code == 303
        page = web.get(f"/datacat/resources/{stops}", headers=HTML).text
        assert "公交站点（含线路）" in page and 'data-metadata-version="2"' in page and "加线路" in page

    def test_an_officer_of_another_department_may_not_edit(self, web, as_actor, session, world):
        stops = bus_stops(session, world)
        as_actor(officer(world["rs"]))
        assert web.get(f"/datacat/resources/{stops}/edit", headers=HTML).status_code == 403
        sent = web.post(f"/datacat/resources/{stops}/edit", headers=HTML,
                        data=self.form(world, name="bus-stops", code="310101-JT-00001"))
        assert sent.status_code == 403
        session.rollback()
        assert service.get(session, "bus-stops").metadata_version == 1
        session.rollback()


class TestGateOnThePage:
    def test_an_upload_with_id_numbers_is_refused_with_the_field_and_rows_then_steps_let_it_open(
            self, web, as_actor, session, world):
        ref = people(session, world)
        as_actor(officer(world["rs"]))

        sent = web.post(f"/datacat/resources/{ref}/upload", headers=HTML, data={"name": "名单"},
                        files={"file": ("people.csv", people_csv(), "text/csv")}, follow_redirects=False)

        assert sent.status_code == 303 and "done=upload_refused" in sent.headers["location"]
        page = unescape(web.get(sent.headers["location"], headers=HTML).text)
        assert "数据表已上传，但未通过开放审查" in page
        assert 'data-hit-field="身份证号" data-hit-kind="resident_id"' in page
        assert "“身份证号”" in page and "1、2、3" in page
        assert 'data-hit-field="姓名" data-hit-kind="graded"' in page

        # when the officer masks the names and ID numbers and generalises the birth dates to the year
        session.rollback()
        dist = session.scalars(select(Distribution.id).where(Distribution.resource_id == ref)).one()
        session.rollback()
        steps = web.post(f"/datacat/resources/{ref}/steps", headers=HTML, follow_redirects=False, data={
            "distribution_id": dist, "s_field": ["姓名", "身份证号", "出生日期", "区"],
            "s_action": ["mask", "mask", "generalise", ""], "s_to": ["", "", "year", ""], "s_width": ["", "", "", ""]})

        assert steps.status_code == 303 and "done=steps" in steps.headers["location"]
        page = web.get(steps.headers["location"], headers=HTML).text
        assert 'data-gate="passed"' in page and 'data-gate="refused"' not in page
        opened = web.post(f"/datacat/resources/{ref}/open", headers=HTML, follow_redirects=False)
        assert opened.headers["location"].startswith(f"/datacat/resources/{ref}?done=opened")
        session.rollback()
        assert service.get(session, ref).state == "open"
        session.rollback()

    def test_row_errors_are_listed_and_a_file_that_is_not_a_table_is_refused_in_chinese(self, web, as_actor,
                                                                                       session, world):
        ref = bus_stops(session, world)
        as_actor(officer(world["jt"]))
        sent = web.post(f"/datacat/resources/{ref}/upload", headers=HTML, data={"name": "站点2"},
                        files={"file": ("s.csv", "站点名称,经度,纬度,联系电话\n外滩,东经,31.2,\n豫园,121.49,31.22,\n"
                                        .encode(), "text/csv")})
        assert sent.status_code == 200
        assert 'class="row-errors"' in sent.text and "第 1 行" in sent.text and "读入 1 行，剔除 1 行" in sent.text

        before = count(session, Distribution)
        bad = web.post(f"/datacat/resources/{ref}/upload", headers=HTML, data={"name": "图"},
                       files={"file": ("x.png", b"\x89PNG\r\n\x1a\n" + bytes(40), "image/png")})
        assert bad.status_code == 422
        assert alert(bad.text) == "请上传 CSV、XLSX 或 JSON 格式的数据表，或 PDF 格式的文档。"
        assert count(session, Distribution) == before

    def test_a_pdf_waits_for_a_review_on_the_page_then_the_portal_serves_it(self, web, as_actor, session, world):
        ref = bus_stops(session, world, fields=[FieldIn(name="站点名称"), FieldIn(name="经度", type="number"),
                                                FieldIn(name="纬度", type="number"), FieldIn(name="联系电话")])
        as_actor(officer(world["jt"]))
        pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        sent = web.post(f"/datacat/resources/{ref}/upload", headers=HTML, data={"name": "年度报告"},
                        files={"file": ("report.pdf", pdf, "application/pdf")}, follow_redirects=False)
        assert sent.status_code == 303 and "done=file_uploaded" in sent.headers["location"]
        page = unescape(web.get(sent.headers["location"], headers=HTML).text)
        assert "须由数据专员阅读并确认不含个人信息后方可开放" in page and 'class="review-form"' in page
        session.rollback()
        dist = session.scalars(select(Distribution.id).where(Distribution.resource_id == ref,
                                                             Distribution.kind == "file")).one()
        session.rollback()
        reviewed = web.post(f"/datacat/resources/{ref}/review", headers=HTML, follow_redirects=False,
                            data={"distribution_id": dist, "note": "已阅，仅含统计数字"})
        assert "done=reviewed" in reviewed.headers["location"]
        opened = web.post(f"/datacat/resources/{ref}/open", headers=HTML, follow_redirects=False)
        assert "done=opened" in opened.headers["location"]
        got = web.get(f"/opendata/download/{dist}.pdf")
        assert got.status_code == 200 and got.content == pdf
        assert got.headers["content-type"] == "application/pdf" and "attachment" in got.headers["content-disposition"]


class TestPreviewAndGrants:
    def test_a_department_without_a_grant_sees_graded_fields_masked_and_a_grant_unmasks_them(
            self, web, as_actor, session, world):
        ref = bus_stops(session, world)
        session.rollback()
        dist = session.scalars(select(Distribution.id).where(Distribution.resource_id == ref)).one()
        session.rollback()
        as_actor(reader(world["rs"]))

        masked = web.get(f"/datacat/resources/{ref}/tables/{dist}/preview", headers=HTML)

        assert masked.status_code == 200
        assert 'data-masked="联系电话"' in masked.text and "021-63211111" not in masked.text
        assert "人民广场" in masked.text
        audited = count(session, AuditEntry, AuditEntry.action == "datacat.preview.unmasked")

        as_actor(officer(world["jt"]))
        granted = web.post(f"/datacat/resources/{ref}/grant", headers=HTML, follow_redirects=False,
                           data={"department_id": world["rs"], "max_sensitivity": "4", "purpose": "核对站点电话"})
        assert granted.status_code == 303 and "done=granted" in granted.headers["location"]
        page = web.get(f"/datacat/resources/{ref}", headers=HTML).text
        assert "黄浦区人社局" in page and "核对站点电话" in page

        as_actor(reader(world["rs"]))
        shown = web.get(f"/datacat/resources/{ref}/tables/{dist}/preview", headers=HTML).text
        assert "021-63211111" in shown and "data-masked" not in shown
        assert count(session, AuditEntry, AuditEntry.action == "datacat.preview.unmasked") == audited + 1

        as_actor(officer(world["jt"]))
        session.rollback()
        grant_id = session.scalars(select(FieldGrant.id)).one()
        session.rollback()
        revoked = web.post(f"/datacat/grants/{grant_id}/revoke", headers=HTML, data={"resource": ref},
                           follow_redirects=False)
        assert revoked.headers["location"].startswith(f"/datacat/resources/{ref}?done=revoked")
        as_actor(reader(world["rs"]))
        assert "021-63211111" not in web.get(f"/datacat/resources/{ref}/tables/{dist}/preview", headers=HTML).text

    def test_a_grant_without_a_purpose_is_refused_and_a_reader_may_not_grant(self, web, as_actor, session, world):
        ref = bus_stops(session, world)
        as_actor(officer(world["jt"]))
        sent = web.post(f"/datacat/resources/{ref}/grant", headers=HTML,
                        data={"department_id": world["rs"], "max_sensitivity": "4", "purpose": ""})
        assert sent.status_code == 422 and "请检查目的。" in sent.text
        as_actor(reader(world["jt"]))
        assert web.post(f"/datacat/resources/{ref}/grant", headers=HTML, data={
            "department_id": world["rs"], "max_sensitivity": "4", "purpose": "x"}).status_code == 403
        assert count(session, FieldGrant) == 0


class TestLists:
    def test_the_responsibility_list_flags_late_updates(self, web, as_actor, session, world):
        ref = bus_stops(session, world)
        people(session, world)
        session.execute(update(DataResource).where(DataResource.id == ref)
                        .values(next_update_due=utcnow() - timedelta(days=2)))
        session.commit()
        as_actor(reader(world["jt"]))

        page = web.get("/datacat/responsibilities?late=1", headers=HTML).text

        assert 'data-resource="bus-stops" class="row-late"' in page and 'data-resource="insured-people"' not in page
        assert 'data-resource="insured-people"' in web.get("/datacat/responsibilities", headers=HTML).text

    def test_an_officer_answers_a_demand_and_an_empty_answer_is_refused(self, web, as_actor, session, world):
        demand = service.create_demand(session, CITIZEN, title="希望开放公共充电桩位置", description="含快充数量")
        session.commit()
        demand_id = demand.id
        session.rollback()
        as_actor(officer(world["jt"]))
        assert "希望开放公共充电桩位置" in web.get("/datacat/demands", headers=HTML).text

        empty = web.post(f"/datacat/demands/{demand_id}/answer", headers=HTML, data={"status": "answered", "answer": ""})
        assert empty.status_code == 422 and alert(empty.text)
        sent = web.post(f"/datacat/demands/{demand_id}/answer", headers=HTML, follow_redirects=False,
                        data={"status": "answered", "answer": "已列入明年开放计划"})

        assert sent.headers["location"] == "/datacat/demands?done=answered"
        page = web.get(sent.headers["location"], headers=HTML).text
        assert "答复已记录。" in page and "已列入明年开放计划" in page
        session.rollback()
        assert session.scalar(select(DataDemand.status).where(DataDemand.id == demand_id)) == "answered"
        session.rollback()

    def test_an_officer_approves_an_access_request_a_reader_may_not(self, web, as_actor, session, world):
        ref = bus_stops(session, world, opening="conditional", opening_conditions="仅限科研",
                        fields=[FieldIn(name="站点名称"), FieldIn(name="经度", type="number"),
                                FieldIn(name="纬度", type="number"), FieldIn(name="联系电话")])
        service.open_resource(session, officer(world["jt"]), ref)
        req = service.request_access(session, CITIZEN, ref, organisation="某大学", purpose="交通研究")
        session.commit()
        req_id = req.id
        session.rollback()
        as_actor(reader(world["jt"]))
        assert web.get("/datacat/access-requests", headers=HTML).status_code == 403
        assert web.post(f"/datacat/access-requests/{req_id}/decide", headers=HTML,
                        data={"decision": "approve"}).status_code == 403

        as_actor(officer(world["jt"]))
        listed = web.get("/datacat/access-requests", headers=HTML).text
        assert f'data-request="{req_id}"' in listed and "交通研究" in listed
        sent = web.post(f"/datacat/access-requests/{req_id}/decide", headers=HTML, follow_redirects=False,
                        data={"decision": "approve", "reason": "用途合理", "days": "30"})

        assert sent.headers["location"] == "/datacat/access-requests?done=decided"
        assert f'data-request="{req_id}"' not in web.get(sent.headers["location"], headers=HTML).text
        session.rollback()
        assert session.scalar(select(AccessRequest.status).where(AccessRequest.id == req_id)) == "approved"
        session.rollback()


def _msgids() -> list[str]:
    from pathlib import Path

    found = set()
    for path in (Path(staff_pages.__file__).resolve().parents[1] / "templates" / "datacat" / "staff").glob("*.html"):
        found.update(re.findall(r"""_\(["']((?:[^"'\\]|\\.)*)["']""", path.read_text()))
    for labels in (staff_pages.STATE_LABELS, staff_pages.VERSION_LABELS, staff_pages.STEP_ACTIONS,
                   staff_pages.STEP_TARGETS, staff_pages.DEMAND_STATUS, staff_pages.ACCESS_STATUS,
                   staff_pages.SENSITIVITY_LABELS, staff_pages.DONE_MESSAGES, staff_pages.FIELD_LABELS):
        found.update(v for v in labels.values() if v)
    return sorted(found | {"Field row {n}: please check {label}.", "Please check {label}."})


@pytest.mark.parametrize("msgid", _msgids())
def test_every_message_of_the_staff_pages_has_a_chinese_translation(msgid: str) -> None:
    assert catalogue("zh_Hans_CN").get(msgid), msgid
