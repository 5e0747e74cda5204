"""The demo's data catalogue (``yiwang.demo.datacat``): the full plan checked without loading it (its
size, its coverage, and the gate's verdict on every table it would upload), and a reduced load
through the datacat service on both databases."""

from __future__ import annotations

import json
import re

from shapely.geometry import Point, Polygon
from sqlalchemy import func, select

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM
from yiwang.core.jobs import bind_settings
from yiwang.datacat import datastore, gate, ingest
from yiwang.datacat import service as datacat_service
from yiwang.datacat.models import AccessRequest, DataDemand, DataResource, Distribution, FieldGrant
from yiwang.datacat.schemas import NAME_PATTERN, OPENING_NAMES, TOPICS, UPDATE_CYCLE_NAMES
from yiwang.demo.city import DISTRICTS, load_city
from yiwang.demo.datacat import build_plan, load_datacat, plan_counts, upload_of
from yiwang.demo.staff import load_staff
from yiwang.identity import service as identity_service

CODE = re.compile(r"^31\d{4}-[A-Z]{2}-\d{5}$")


def _scan(p, steps=None):
    fmt = upload_of(p, 1)[0].rsplit(".", 1)[1].upper()
    table = ingest.parse(upload_of(p, 1)[1], fmt, declared=[ingest.Column(f.name, f.type) for f in p.data.fields])
    rules = [gate.FieldRule(f.name, f.grade, f.level, f.quasi_identifier) for f in p.data.fields]
    report = gate.scan(table.columns, table.rows, rules,
                       [gate.Step.from_dict(s) for s in (p.steps if steps is None else steps)])
    return table, report


class TestPlan:
    def test_the_full_plan_has_the_size_and_the_coverage_issue_5_asks(self):
        # when the full plan is built (nothing loaded)
        plans = build_plan()
        counts = plan_counts(plans)

        # then it is at least 200 resources, at least 50 of which open
        assert counts["resources"] >= 200
        assert counts["opened"] >= 50
        assert counts["refused"] >= 2 and counts["steps"] >= 3 and counts["late"] >= 3
        assert counts["catalogue"] >= 100
        # names and codes are unique and well formed
        names = [p.data.name for p in plans]
        codes = [p.data.code for p in plans]
        assert len(set(names)) == len(names) and len(set(codes)) == len(codes)
        assert all(re.fullmatch(NAME_PATTERN, n) for n in names)
        assert all(CODE.fullmatch(c) for c in codes), [c for c in codes if not CODE.fullmatch(c)]
        assert "bus-stops-huangpu" in names and "air-quality-daily-pudong" in names
        # every topic, update cycle and opening attribute, every grade
        assert {p.data.topic for p in plans} == set(TOPICS)
        assert {p.data.update_cycle for p in plans} == set(UPDATE_CYCLE_NAMES)
        assert {p.data.opening for p in plans} == set(OPENING_NAMES)
        grades = {(f.grade, f.level if f.grade == "general" else 0) for p in plans for f in p.data.fields}
        assert {("general", 1), ("general", 2), ("general", 3), ("general", 4), ("important", 0), ("core", 0)} <= grades
        # conditional ones open too
        assert any(p.opens and p.data.opening == "conditional" for p in plans)
        # the departments are many
        assert len({p.department for p in plans}) >= 20

    def test_a_reduced_plan_keeps_every_kind(self):
        full = plan_counts(build_plan())
        small = plan_counts(build_plan(5))
        assert small["resources"] >= 15  # the kinds the demo shows are kept whatever the size
        for kind in ("opened", "refused", "steps", "late", "catalogue"):
            assert 0 < small[kind] <= full[kind]
        assert build_plan(0) == []
        assert [p.data.name for p in build_plan(40)] == [p.data.name for p in build_plan(40)]

    def test_every_table_gets_the_gate_verdict_its_plan_expects(self):
        # given every table of the full plan, generated and parsed as the service would
        for p in build_plan():
            if p.table is None:
                continue
            table, report = _scan(p)
            # then it parses without row errors, is modest, and passes the gate exactly when it should open
            assert not table.errors, (p.data.name, table.errors[:3])
            assert 50 <= len(table.rows) <= 2000, (p.data.name, len(table.rows))
            assert report.passed == p.opens, (p.data.name, report.message_zh())
            if p.fate == "steps":  # … and only thanks to its steps
                assert not _scan(p, steps=[])[1].passed, p.data.name

    def test_refusals_name_the_column_and_what_is_in_it(self):
        plans = {p.data.name: p for p in build_plan()}
        _t, relief = _scan(plans["temporary-relief"])
        assert [(h.kind, h.field) for h in relief.hits] == [("resident_id", "id_number")]
        _t, hotline = _scan(plans["hotline-requests"])
        assert [(h.kind, h.field) for h in hotline.hits] == [("mobile", "content")]
        assert 0 < hotline.hits[0].count < hotline.rows_scanned  # only some of the free texts hold a number

    def test_bus_stops_lie_inside_their_district(self):
        for p in build_plan():
            if not p.data.name.startswith("bus-stops-"):
                continue
            district = next(code for code, (name, _r) in DISTRICTS.items() if p.data.title.startswith(name))
            shape = Polygon(DISTRICTS[district][1])
            table, _report = _scan(p)
            names = [c.name for c in table.columns]
            lon, lat = names.index("longitude"), names.index("latitude")
            assert all(shape.contains(Point(r[lon], r[lat])) for r in table.rows), p.data.name


def _load(db, settings, datasets=20):
    bind_settings(db.engine, settings)
    with db.transaction() as s:
        city = load_city(s)
    with db.transaction() as s:
        departments = {d.code: d.id for d in areas_service.list_departments(s)}
        load_staff(s, district_codes=city["district_codes"], street_codes=city["street_codes"],
                   departments=departments)
    with db.transaction() as s:
        return load_datacat(s, datasets=datasets, seed=1)


class TestLoad:
    def test_a_reduced_catalogue_loads_with_resources_in_every_state(self, db, session, settings):
        # when a reduced demo catalogue is loaded through the service
        summary = _load(db, settings)

        # then the resources are there in each state, as the summary says
        states = dict(session.execute(select(DataResource.state, func.count()).group_by(DataResource.state)).all())
        assert states == summary["states"]
        assert states["open"] >= 8 and states["refused"] == 2 and states["draft"] >= 1
        assert sum(states.values()) == summary["resources"] >= 20
        # an open table's rows are in the datastore
        bus = datacat_service.get(session, "bus-stops-huangpu")
        dist = session.scalars(select(Distribution).where(Distribution.resource_id == bus.id)).one()
        found = datastore.search(settings, dist.id, limit=5)
        assert len(found["records"]) == 5 and found["total"] == dist.row_count >= 50
        assert found["records"][0]["district"] == "黄浦区"
        # a refused one keeps its report, naming the column
        officer = identity_service.actor_for_username(session, "dataofficer.mzj")
        relief = datacat_service.get(session, "temporary-relief")
        assert relief.state == "refused"
        rdist = session.scalars(select(Distribution).where(Distribution.resource_id == relief.id)).one()
        version = datacat_service.versions(session, officer, rdist.id)[0]
        assert version["gate"] == "refused" and not rdist.datastore_active
        assert [(h["kind"], h["field"]) for h in version["report"]["hits"]] == [("resident_id", "id_number")]
        assert "id_number" in summary["refused"]["temporary-relief"]
        assert "content" in summary["refused"]["hotline-requests"]
        # the steps are recorded and what opened is de-identified
        phones = session.scalars(select(Distribution).join(DataResource, DataResource.id == Distribution.resource_id)
                                 .where(DataResource.name == "volunteer-stations")).one()
        assert json.loads(phones.steps) == [{"field": "contact_phone", "action": "mask", "to": None}]
        record = datastore.search(settings, phones.id, limit=1)["records"][0]
        assert re.fullmatch(r"1\d\d\*{4}\d{4}", record["contact_phone"])
        allowance = session.scalars(select(Distribution).join(DataResource, DataResource.id == Distribution.resource_id)
                                    .where(DataResource.name == "elderly-allowance")).one()
        record = datastore.search(settings, allowance.id, limit=1)["records"][0]
        assert 1920 < record["birth_date"] < 1950 and re.fullmatch(r"上海市\w+区", record["address"])

    def test_late_updates_access_requests_demands_and_a_grant(self, db, session, settings):
        summary = _load(db, settings)

        # the late ones are flagged on the responsibility list
        late = datacat_service.responsibilities(session, SYSTEM, late_only=True)
        assert {r["name"] for r in late} >= {"river-quality-daily"} and all(r["late"] for r in late)
        assert len(late) == summary["late"]
        # the conditional ones open, with one request approved and one pending
        requests = dict(session.execute(select(AccessRequest.status, func.count()).group_by(AccessRequest.status)).all())
        assert requests == {"approved": 1, "pending": 1}
        # demands in every state, from the public and from departments
        demands = set(session.execute(select(DataDemand.requester_kind, DataDemand.status)).all())
        assert demands == {(k, s) for k in ("public", "department") for s in ("open", "answered", "fulfilled", "declined")}
        fulfilled = session.scalars(select(DataDemand).where(DataDemand.status == "fulfilled")).all()
        assert all(d.resource_id for d in fulfilled)
        # and a department lets another see graded fields
        grant = session.scalars(select(FieldGrant)).one()
        mzj = areas_service.get_department_by_code(session, "31-MZJ")
        assert grant.department_id == mzj.id and grant.max_sensitivity == 5
        # the data officers can sign in as who they are
        officer = identity_service.actor_for_username(session, "dataofficer.jtw")
        assert officer.can("datacat.manage", area_code="31",
                           department_id=areas_service.get_department_by_code(session, "31-JTW").id)
