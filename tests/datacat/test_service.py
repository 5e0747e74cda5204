"""The data catalogue's use cases end to end on both databases: metadata versions, uploads through
the ingest and the gate, de-identification steps, opening into the datastore, masked previews under
grants (audited), conditional access tokens, the responsibility and demand lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from yiwang.areas import service as areas_service
from yiwang.audit.models import AuditEntry
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.db import utcnow
from yiwang.core.errors import PermissionDenied, ValidationFailed
from yiwang.core.jobs import bind_settings
from yiwang.core.validators import resident_id_check_char
from yiwang.datacat import datastore, errors, ingest, service
from yiwang.datacat.models import DataResource, DistributionVersion
from yiwang.datacat.schemas import FieldIn, ResourceIn

MANAGE = frozenset({"datacat.read", "datacat.manage"})


def resident_id(n: int) -> str:
    first17 = f"11010119900307{n:03d}"
    return first17 + resident_id_check_char(first17)


def officer(department_id: str, user_id: str = "01JOFFICER0000000000000001") -> Actor:
    return Actor(kind="staff", user_id=user_id, username=user_id,
                 grants=(Grant("data_officer", "31", department_id, MANAGE),), department_ids=(department_id,))


def reader(department_id: str, user_id: str = "01JREADER00000000000000001") -> Actor:
    return Actor(kind="staff", user_id=user_id, username=user_id,
                 grants=(Grant("leader", "31", department_id, frozenset({"datacat.read"})),),
                 department_ids=(department_id,))


@pytest.fixture
def world(session, settings, db):
    bind_settings(db.engine, settings)
    areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city")
    areas_service.create_area(session, SYSTEM, code="310101", name="黄浦区", level="district", parent_code="31")
    jt = areas_service.create_department(session, SYSTEM, code="310101-JT", name="黄浦区交通委", area_code="310101")
    rs = areas_service.create_department(session, SYSTEM, code="310101-RS", name="黄浦区人社局", area_code="310101")
    session.commit()
    yield {"jt": jt.id, "rs": rs.id}
    for table_id in datastore_tables(session):
        datastore.drop(settings, table_id)


def datastore_tables(session) -> list[str]:
    from yiwang.datacat.models import Distribution

    return list(session.scalars(select(Distribution.id)))


def bus_stops(department_id: str, **extra) -> ResourceIn:
    data = dict(name="bus-stops", code="310101-JT-00001", title="公交站点", department_id=department_id,
                summary="黄浦区公交站点位置与线路", topic="transport", update_cycle="monthly",
                opening="unconditional", tags=["公交", "交通"],
                fields=[FieldIn(name="站点名称", type="text"), FieldIn(name="经度", type="number"),
                        FieldIn(name="纬度", type="number"), FieldIn(name="备注", type="text")])
    data.update(extra)
    return ResourceIn(**data)


CSV = "站点名称,经度,纬度,备注\n人民广场,121.475,31.228,\n外滩,121.490,31.240,近南京东路\n".encode()


def people_csv(hidden: bool = False) -> bytes:
    lines = ["姓名,身份证号,出生日期,区"]
    for i in range(12):
        lines.append(f"张{i},{resident_id(i)},1990-03-{i + 1:02d},黄浦区")
    if hidden:
        lines.append(f"李四,已核验,1991-01-01,黄浦区 联系人身份证{resident_id(99)}")
    return ("\n".join(lines) + "\n").encode()


class TestCatalogue:
    def test_create_and_change_keep_every_metadata_version(self, session, world):
        me = officer(world["jt"])
        created = service.create_resource(session, me, bus_stops(world["jt"]))
        assert created.metadata_version == 1 and created.state == "draft"
        changed = service.update_resource(session, me, "bus-stops", {"summary": "新的摘要", "note": "改摘要"})
        session.commit()
        assert changed.metadata_version == 2 and changed.summary == "新的摘要"
        history = service.history(session, me, created.id)
        assert [h["version"] for h in history] == [2, 1]
        assert history[1]["snapshot"]["summary"] == "黄浦区公交站点位置与线路"
        assert history[0]["note"] == "改摘要"

    def test_a_name_taken_is_refused(self, session, world):
        service.create_resource(session, officer(world["jt"]), bus_stops(world["jt"]))
        with pytest.raises(errors.ResourceExists):
            service.create_resource(session, officer(world["jt"]), bus_stops(world["jt"], code="310101-JT-00002"))

    def test_another_departments_officer_may_not_register_for_it(self, session, world):
        with pytest.raises(PermissionDenied):
            service.create_resource(session, officer(world["rs"]), bus_stops(world["jt"]))
        session.rollback()
        assert session.scalars(select(DataResource)).first() is None

    def test_unknown_topic_says_which_exist(self, session, world):
        with pytest.raises(errors.TopicUnknown):
            service.create_resource(session, officer(world["jt"]), bus_stops(world["jt"], topic="nonsense"))


class TestUploadAndOpen:
    def test_a_clean_table_opens_into_the_datastore(self, session, settings, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        outcome = service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="stops.csv")
        assert outcome.passed and not outcome.opened
        opened = service.open_resource(session, me, "bus-stops")
        session.commit()
        assert opened.passed and opened.opened
        found = datastore.search(settings, outcome.distribution.id, filters={"站点名称": "外滩"})
        assert found["total"] == 1 and found["records"][0]["经度"] == pytest.approx(121.49)
        row = service.get(session, "bus-stops")
        assert row.state == "open" and row.published_on is not None

    def test_id_numbers_are_refused_naming_the_column_then_open_after_masking(self, session, settings, world):
        me = officer(world["rs"])
        service.create_resource(session, me, ResourceIn(
            name="trainees", code="310101-RS-00001", title="职业培训人员", department_id=world["rs"],
            topic="society", opening="unconditional",
            fields=[FieldIn(name="姓名", grade="general", level=3), FieldIn(name="身份证号"),
                    FieldIn(name="出生日期", type="date"), FieldIn(name="区", quasi_identifier=False)]))
        outcome = service.add_distribution(session, me, "trainees", name="名单", data=people_csv(),
                                           filename="t.csv")
        assert not outcome.passed
        assert [(h["field"], h["count"]) for h in outcome.report["hits"]] == [("身份证号", 12)]
        assert "身份证号" in outcome.message
        refused = service.open_resource(session, me, "trainees")
        session.commit()
        assert not refused.passed and service.get(session, "trainees").state == "refused"
        dist_id = outcome.distribution.id
        fixed = service.set_steps(session, me, dist_id, [
            {"field": "身份证号", "action": "mask"}, {"field": "姓名", "action": "mask"}])
        assert fixed.passed, fixed.message
        opened = service.open_resource(session, me, "trainees")
        session.commit()
        assert opened.passed
        records = datastore.search(settings, dist_id, limit=20)["records"]
        assert len(records) == 12
        assert all(resident_id(i) not in str(r) for i, r in enumerate(records))

    def test_an_id_number_hidden_in_free_text_is_caught(self, session, world):
        me = officer(world["rs"])
        service.create_resource(session, me, ResourceIn(
            name="notes", code="310101-RS-00002", title="备注", department_id=world["rs"], topic="society",
            opening="unconditional", fields=[FieldIn(name="姓名"), FieldIn(name="身份证号"), FieldIn(name="出生日期"),
                                             FieldIn(name="区")]))
        dist = service.add_distribution(session, me, "notes", name="n", data=people_csv(hidden=True), filename="n.csv")
        outcome = service.set_steps(session, me, dist.distribution.id,
                                    [{"field": "身份证号", "action": "drop"}])
        assert not outcome.passed
        assert [(h["kind"], h["field"], h["rows"]) for h in outcome.report["hits"]] == [("resident_id", "区", [13])]

    def test_a_new_version_replaces_the_open_table_and_the_old_one_stays_in_history(self, session, settings, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        first = service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        service.open_resource(session, me, "bus-stops")
        more = CSV + "豫园,121.492,31.227,\n".encode()
        second = service.add_distribution(session, me, "bus-stops", name="站点表", data=more, filename="s.csv",
                                          distribution_id=first.distribution.id)
        session.commit()
        assert second.opened
        assert datastore.search(settings, first.distribution.id)["total"] == 3
        versions = service.versions(session, me, first.distribution.id)
        assert [(v["number"], v["state"]) for v in versions] == [(2, "open"), (1, "replaced")]

    def test_a_refused_new_version_leaves_the_open_table_as_it_was(self, session, settings, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        first = service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        service.open_resource(session, me, "bus-stops")
        leaked = CSV + f"豫园,121.492,31.227,联系13812345678或{resident_id(5)}\n".encode()
        second = service.add_distribution(session, me, "bus-stops", name="站点表", data=leaked, filename="s.csv",
                                          distribution_id=first.distribution.id)
        session.commit()
        assert not second.passed and not second.opened
        assert datastore.search(settings, first.distribution.id)["total"] == 2
        states = session.scalars(select(DistributionVersion.state).order_by(DistributionVersion.number)).all()
        assert states == ["open", "refused"]

    def test_per_row_errors_are_reported_and_the_good_rows_load(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        bad = CSV + "错误站,不是数字,31.2,\n".encode()
        outcome = service.add_distribution(session, me, "bus-stops", name="站点表", data=bad, filename="s.csv")
        assert outcome.passed
        assert [e["row"] for e in outcome.errors] == [3]
        assert service.versions(session, me, outcome.distribution.id)[0]["rows"] == 2

    def test_garbage_is_refused_and_nothing_is_kept(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        session.commit()
        with pytest.raises((errors.FormatUnsupported, ingest.IngestError)):
            service.add_distribution(session, me, "bus-stops", name="x", data=b"\x7fELF\x02\x01\x01" + b"\0" * 64,
                                     filename="stops.csv")
        session.rollback()
        assert service.show(session, "bus-stops").distributions == []

    def test_grading_a_field_core_on_an_open_resource_is_refused_while_open_data_has_it(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        service.open_resource(session, me, "bus-stops")
        session.commit()
        fields = [f.model_dump() for f in service.show(session, "bus-stops").fields]
        fields[3]["grade"] = "core"
        with pytest.raises(errors.GateRefusedChange):
            service.update_resource(session, me, "bus-stops", {"fields": fields})


class TestWhoSeesWhat:
    @pytest.fixture
    def people(self, session, world):
        me = officer(world["rs"])
        service.create_resource(session, me, ResourceIn(
            name="trainees", code="310101-RS-00001", title="职业培训人员", department_id=world["rs"],
            topic="society", opening="none",
            fields=[FieldIn(name="姓名", grade="general", level=3), FieldIn(name="身份证号", grade="important"),
                    FieldIn(name="出生日期", type="date"), FieldIn(name="区")]))
        outcome = service.add_distribution(session, me, "trainees", name="名单", data=people_csv(), filename="t.csv")
        session.commit()
        return outcome.distribution.id

    def audit_actions(self, session) -> list[str]:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.action == "datacat.preview.unmasked")))

    def test_without_a_grant_graded_fields_are_masked_and_nothing_is_audited(self, session, world, people):
        shown = service.preview(session, reader(world["jt"]), people)
        assert set(shown["masked"]) == {"姓名", "身份证号"}
        assert all(resident_id(i) not in str(r) for i, r in enumerate(shown["rows"]))
        assert self.audit_actions(session) == []

    def test_a_grant_unmasks_up_to_its_sensitivity_and_the_read_is_audited(self, session, world, people):
        service.grant(session, officer(world["rs"]), "trainees", department_id=world["jt"], max_sensitivity=5,
                      purpose="公交专线就业人员统计")
        shown = service.preview(session, reader(world["jt"]), people)
        assert shown["masked"] == []
        assert shown["rows"][0][1] == resident_id(0)
        assert self.audit_actions(session) == ["datacat.preview.unmasked"]

    def test_the_provider_sees_all_and_is_audited_too(self, session, world, people):
        shown = service.preview(session, reader(world["rs"]), people)
        assert shown["masked"] == []
        assert self.audit_actions(session) == ["datacat.preview.unmasked"]


class TestConditionalAccess:
    def test_an_approved_requests_token_reads_and_nothing_else_does(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"], opening="conditional",
                                                       opening_conditions="用于科研"))
        service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        service.open_resource(session, me, "bus-stops")
        dev = Actor(kind="citizen", user_id="01JDEVELOPER00000000000001", username="dev")
        req = service.request_access(session, dev, "bus-stops", organisation="某大学", purpose="公交可达性研究")
        row = service.get(session, "bus-stops")
        assert not service.can_read_data(session, dev, row, None)
        service.decide_access(session, me, req.id, approve=True, days=30)
        token = service.access_token(session, dev, req.id)
        assert service.can_read_data(session, dev, row, token)
        assert not service.can_read_data(session, dev, row, token[:-1] + ("0" if token[-1] != "0" else "1"))
        req.expires_at = utcnow() - timedelta(days=1)
        assert not service.can_read_data(session, dev, row, token)
        with pytest.raises(errors.AccessAlreadyDecided):
            service.decide_access(session, me, req.id, approve=False)


class TestLists:
    def test_late_updates_are_flagged(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"], update_cycle="daily"))
        service.create_resource(session, me, bus_stops(world["jt"], name="halls", code="310101-JT-00009",
                                                       update_cycle="yearly"))
        row = service.get(session, "bus-stops")
        row.next_update_due = utcnow() - timedelta(days=2)
        session.flush()
        late = service.responsibilities(session, me, late_only=True)
        assert [r["name"] for r in late] == ["bus-stops"] and late[0]["late"]
        everything = service.responsibilities(session, me)
        assert [r["name"] for r in everything] == ["bus-stops", "halls"]

    def test_a_demand_is_answered_once(self, session, world):
        citizen = Actor(kind="citizen", user_id="01JCITIZEN0000000000000001", username="c")
        demand = service.create_demand(session, citizen, title="希望开放公共停车场实时空位")
        assert demand.requester_kind == "public" and demand.status == "open"
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        answered = service.answer_demand(session, me, demand.id, status="fulfilled", answer="已编目",
                                         resource_ref="bus-stops")
        assert answered.status == "fulfilled" and answered.resource_id
        with pytest.raises(errors.DemandAlreadyAnswered):
            service.answer_demand(session, me, demand.id, status="declined", answer="x")


class TestRepublish:
    def test_the_cli_loads_open_tables_again_with_their_steps(self, session, settings, world, run):
        me = officer(world["rs"])
        service.create_resource(session, me, ResourceIn(
            name="trainees", code="310101-RS-00001", title="职业培训人员", department_id=world["rs"],
            topic="society", opening="unconditional",
            fields=[FieldIn(name="姓名"), FieldIn(name="身份证号"), FieldIn(name="出生日期"), FieldIn(name="区")]))
        dist = service.add_distribution(session, me, "trainees", name="名单", data=people_csv(), filename="t.csv")
        service.set_steps(session, me, dist.distribution.id, [{"field": "身份证号", "action": "drop"}])
        assert service.open_resource(session, me, "trainees").passed
        session.commit()
        datastore.drop(settings, dist.distribution.id)
        assert not datastore.exists(settings, dist.distribution.id)
        out = run("datacat", "republish")
        assert out.exit_code == 0 and "republished 1 tables" in out.output
        records = datastore.search(settings, dist.distribution.id, limit=50)["records"]
        assert len(records) == 12 and all("身份证号" not in r for r in records)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


class TestDocuments:
    """A PDF is kept as a download; the gate cannot read it, so a data officer's recorded review
    is what lets it open."""

    def test_a_pdf_opens_only_after_a_recorded_review(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        pdf = service.add_distribution(session, me, "bus-stops", name="年度报告", data=PDF, filename="报告.pdf")
        assert not pdf.passed and pdf.report["unscanned"] == "PDF" and pdf.distribution.kind == "file"
        refused = service.open_resource(session, me, "bus-stops")
        assert not refused.passed and "PDF" in refused.message
        with pytest.raises(ValidationFailed):
            service.review_file(session, me, pdf.distribution.id, note=" ")
        service.review_file(session, me, pdf.distribution.id, note="已阅，仅含统计数字")
        assert service.open_resource(session, me, "bus-stops").passed
        session.commit()
        dev = Actor(kind="anonymous")
        title, fmt, data = service.open_file(session, dev, pdf.distribution.id, None)
        assert (title, fmt, data) == ("公交站点", "PDF", PDF)
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action == "datacat.distribution.review"))
        assert list(actions) == ["datacat.distribution.review"]

    def test_a_new_version_must_be_of_the_same_kind(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        table = service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        with pytest.raises(errors.KindMismatch):
            service.add_distribution(session, me, "bus-stops", name="x", data=PDF, filename="x.pdf",
                                     distribution_id=table.distribution.id)

    def test_an_unreviewed_pdf_of_an_open_resource_is_not_served(self, session, world):
        me = officer(world["jt"])
        service.create_resource(session, me, bus_stops(world["jt"]))
        service.add_distribution(session, me, "bus-stops", name="站点表", data=CSV, filename="s.csv")
        service.open_resource(session, me, "bus-stops")
        pdf = service.add_distribution(session, me, "bus-stops", name="年度报告", data=PDF, filename="r.pdf")
        with pytest.raises(errors.DistributionNotFound):
            service.open_file(session, Actor(kind="anonymous"), pdf.distribution.id, None)
