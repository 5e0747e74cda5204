"""Open311 GeoReport v2 as real clients use it: form-encoded POSTs with an api_key, XML answers
read with ElementTree, the specification's errors, and FixMyStreet's servicerequestupdates."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from yiwang.cityops import service as cityops_service
from yiwang.cityops.models import Event, Report, TimelineEntry
from yiwang.cityops.schemas import CheckBody, HandleBody
from yiwang.core.actor import SYSTEM
from yiwang.identity import service as identity_service

from .conftest import HERE, OUTSIDE

BASE = "/open311/v2"
PHONE = "13812345678"


@pytest.fixture
def api_key(session, city):
    """``api_key(kind, role)``: a platform API token of a new account (a citizen, or staff with a role)."""
    made = iter(range(100))

    def make(kind: str = "citizen", role: str | None = None) -> str:
        grants = [(role, "31", None)] if role else []
        user = identity_service.create_user(session, SYSTEM, username=f"o311.{next(made)}", kind=kind,
                                            password="A-long-password-2026", display_name="Open311", grants=grants)
        plaintext, _ = identity_service.create_token(session, SYSTEM, user.id, "open311", 30)
        session.commit()
        return plaintext

    return make


def xml(response) -> ET.Element:
    assert response.headers["content-type"] == "application/xml; charset=utf-8", response.text
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)  # noqa: S314 - our own answer


def error_of(response) -> tuple[int, str, str]:
    """(HTTP status, the <error>'s code, its description) of an XML error answer."""
    root = xml(response)
    assert root.tag == "errors" and len(root) == 1 and root[0].tag == "error"
    return response.status_code, root[0].findtext("code") or "", root[0].findtext("description") or ""


def post(client, key: str | None, fmt: str = "xml", **fields):
    data = {"jurisdiction_id": "shanghai.gov.cn", "service_code": "SRHJ.LJ", "lat": str(HERE[1]),
            "long": str(HERE[0]), "description": "路边有一堆暴露垃圾无人清理", **fields}
    if key is not None:
        data["api_key"] = key
    return client.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in data.items() if v is not None})


class TestDiscoveryAndServices:
    def test_discovery_names_the_endpoint_and_formats(self, client, city):
        root = xml(client.get(f"{BASE}/discovery.xml"))
        endpoint = root.find("endpoints/endpoint")
        assert endpoint is not None and endpoint.findtext("url", "").endswith("/open311/v2")
        assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
        assert [f.text for f in endpoint.findall("formats/format")] == ["application/xml", "application/json"]
        assert client.get(f"{BASE}/discovery.json").json()["endpoints"][0]["type"] == "production"

    def test_services_are_the_active_leaf_categories_with_their_group(self, client, city):
        root = xml(client.get(f"{BASE}/services.xml"))
        got = [(s.findtext("service_code"), s.findtext("service_name"), s.findtext("group"), s.findtext("type"),
                s.findtext("metadata")) for s in root.findall("service")]
        assert got == [("SRHJ.LJ", "暴露垃圾", "市容环境", "realtime", "true"),
                       ("SSGL.JG", "井盖缺损", "设施管理", "realtime", "true")]
        as_json = client.get(f"{BASE}/services.json")
        assert as_json.headers["content-type"] == "application/json"
        assert [s["service_code"] for s in as_json.json()] == ["SRHJ.LJ", "SSGL.JG"]

    def test_a_service_definition_lists_its_attributes(self, client, city):
        root = xml(client.get(f"{BASE}/services/SRHJ.LJ.xml"))
        assert root.tag == "service_definition" and root.findtext("service_code") == "SRHJ.LJ"
        attribute = root.find("attributes/attribute")
        assert attribute is not None and attribute.findtext("code") == "urgency"
        assert attribute.findtext("datatype") == "singlevaluelist" and attribute.findtext("required") == "false"
        assert [v.findtext("key") for v in attribute.findall("values/value")] == ["normal", "urgent", "critical"]

    def test_an_unknown_or_parent_service_code_is_404(self, client, city):
        status, code, text = error_of(client.get(f"{BASE}/services/NOPE.xml"))
        assert (status, code) == (404, "404") and "NOPE" in text
        assert error_of(client.get(f"{BASE}/services/SRHJ.xml"))[0] == 404

    def test_an_unknown_format_is_404_in_xml(self, client, city):
        status, code, text = error_of(client.get(f"{BASE}/services.yaml"))
        assert (status, code) == (404, "404") and "yaml" in text


class TestPostRequest:
    def test_a_citizen_app_creates_a_request_and_fetches_and_lists_it(self, client, session, api_key, city):
        r = post(client, api_key(), phone=PHONE, email="zhang@example.cn", first_name="三", last_name="张",
                 media_url="https://img.example.cn/a.jpg", **{"attribute[urgency]": "urgent"})
        assert r.status_code == 200, r.text
        request = xml(r).find("request")
        assert request is not None and request.find("token") is None
        number = request.findtext("service_request_id") or ""
        assert request.findtext("service_notice") == f"已受理，事件编号 {number}：已派单至责任单位。"

        ev = session.query(Event).filter_by(number=number).one()
        assert (ev.channel, ev.category_code, ev.status, ev.urgency) == ("open311", "SRHJ.LJ", "dispatched", "urgent")
        report = session.query(Report).filter_by(event_id=ev.id).one()
        assert report.caller_phone_enc and PHONE not in report.caller_phone_enc

        one = xml(client.get(f"{BASE}/requests/{number}.xml")).find("request")
        assert one is not None
        assert one.findtext("service_request_id") == number and one.findtext("status") == "open"
        assert one.findtext("service_code") == "SRHJ.LJ" and one.findtext("service_name") == "暴露垃圾"
        assert one.findtext("agency_responsible") == "南京东路街道环境队"
        assert one.findtext("media_url") == "https://img.example.cn/a.jpg"
        assert float(one.findtext("lat") or 0) == pytest.approx(HERE[1])
        assert float(one.findtext("long") or 0) == pytest.approx(HERE[0])
        assert one.findtext("requested_datetime", "").endswith("+08:00") and one.findtext("expected_datetime")
        listed = xml(client.get(f"{BASE}/requests.xml"))
        assert [x.findtext("service_request_id") for x in listed.findall("request")] == [number]
        for answer in (client.get(f"{BASE}/requests.xml"), client.get(f"{BASE}/requests/{number}.json")):
            for personal in (PHONE, "5678", "zhang@example.cn", "张"):
                assert personal not in answer.text

    def test_json_answers_and_a_machine_user_with_intake(self, client, api_key, city):
        r = post(client, api_key("staff", "hotline_operator"), fmt="json", **{"long": None, "lat": None},
                 address_id="310101002")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        body = r.json()
        assert isinstance(body, list) and body[0]["service_request_id"] and body[0]["account_id"] is None
        got = client.get(f"{BASE}/requests/{body[0]['service_request_id']}.json").json()
        assert got[0]["address_id"] == "310101002" and got[0]["status"] == "open"

    def test_an_address_only_request_is_placed_by_the_street_it_names(self, client, session, api_key, city):
        r = post(client, api_key(), lat=None, long=None, address_string="南京东路100号")
        number = xml(r).findtext("request/service_request_id")
        ev = session.query(Event).filter_by(number=number).one()
        assert (ev.street_code, ev.grid_code, ev.address) == ("310101002", None, "南京东路100号")

    def test_an_address_naming_no_area_waits_in_triage_and_is_not_lost(self, client, session, api_key, city):
        r = post(client, api_key(), lat=None, long=None, address_string="小区北门100号")
        number = xml(r).findtext("request/service_request_id")
        ev = session.query(Event).filter_by(number=number).one()
        assert (ev.status, ev.triage_reason, ev.address) == ("triage", "no_location", "小区北门100号")

    def test_the_token_gives_the_service_request_id(self, client, session, api_key, city):
        number = xml(post(client, api_key())).findtext("request/service_request_id")
        ev = session.query(Event).filter_by(number=number).one()
        token = session.query(Report).filter_by(event_id=ev.id).one().id
        root = xml(client.get(f"{BASE}/tokens/{token}.xml"))
        assert (root.findtext("request/service_request_id"), root.findtext("request/token")) == (number, token)
        assert error_of(client.get(f"{BASE}/tokens/01JNOSUCHTOKEN0000000000000.xml"))[0] == 404


class TestErrors:
    @pytest.mark.parametrize(("fields", "status", "words"), [
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "NOPE"}, 404, "NOPE"),
        ({"lat": None, "long": None}, 400, "address_string"),
        ({"lat": "abc"}, 400, "lat"),
        ({"long": None}, 400, "lat"),
        ({"lat": "95", "long": "121.2"}, 400, "经度"),
        ({"description": None}, 400, "描述"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"attribute[urgency]": "whenever"}, 400, "whenever"),
    ])
    def test_malformed_requests_get_the_specifications_errors(self, client, session, api_key, city, fields, status,
                                                               words):
        key = api_key()
        got_status, code, text = error_of(post(client, key, **fields))
        assert (got_status, code) == (status, str(status)) and words in text, text
        assert session.query(Event).count() == 0

    def test_a_missing_invalid_or_unentitled_api_key_is_403(self, client, session, api_key, city):
        for key in (None, "yw_nope_nope", api_key("staff", "handler")):
            status, code, text = error_of(post(client, key))
            assert (status, code) == (403, "403"), text
        assert session.query(Event).count() == 0

    def test_errors_in_json_are_a_list_of_code_and_description(self, client, city):
        r = post(client, None, fmt="json")
        assert r.status_code == 403 and r.headers["content-type"] == "application/json"
        assert [set(e) for e in r.json()] == [{"code", "description"}] and r.json()[0]["code"] == 403

    def test_messages_follow_the_callers_language(self, client, city):
        r = client.post(f"{BASE}/requests.xml", data={"service_code": "SRHJ.LJ"}, headers={"Accept-Language": "en"})
        assert error_of(r)[2] == "Give the api_key of an account allowed to report (a platform API token)."
        assert error_of(client.post(f"{BASE}/requests.xml", data={}))[2].startswith("请提供")

    @pytest.mark.parametrize("query", [
        "start_date=yesterday", "end_date=2026-13-01T00:00:00Z", "start_date=2026-01-01T00:00:00",
        "start_date=2025-01-01T00:00:00Z&end_date=2025-06-01T00:00:00Z",
        "start_date=2025-06-01T00:00:00Z&end_date=2025-05-01T00:00:00Z", "status=pending",
    ])
    def test_bad_dates_ranges_and_statuses_are_400(self, client, city, query):
        for path in ("requests", "servicerequestupdates"):
            if path == "servicerequestupdates" and query.startswith("status"):
                continue
            status, code, _text = error_of(client.get(f"{BASE}/{path}.xml?{query}"))
            assert (status, code) == (400, "400"), (path, query)

    def test_an_unknown_request_is_404(self, client, city):
        status, code, text = error_of(client.get(f"{BASE}/requests/20260101NOPE.xml"))
        assert (status, code) == (404, "404") and "20260101NOPE" in text


class TestListingAndUpdates:
    def test_filters_by_ids_service_status_and_dates(self, client, session, api_key, city):
        key = api_key()
        first = xml(post(client, key)).findtext("request/service_request_id")
        second = xml(post(client, key, service_code="SSGL.JG", description="井盖缺失很危险",
                          lat=str(OUTSIDE[1]), long=str(OUTSIDE[0]))).findtext("request/service_request_id")

        def numbers(query: str) -> list[str | None]:
            return [x.findtext("service_request_id") for x in xml(client.get(f"{BASE}/requests.xml?{query}"))]

        assert numbers("") == [second, first]
        assert numbers("service_code=SSGL.JG") == [second]
        assert numbers("service_code=SRHJ.LJ,SSGL.JG&status=open") == [second, first]
        assert numbers("status=closed") == []
        assert numbers(f"service_request_id={first},NOPE") == [first]
        now = datetime.now(UTC)
        assert numbers(f"start_date={(now + timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}") == []
        assert numbers(f"end_date={(now - timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}") == []
        today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
        assert numbers(f"start_date={today - timedelta(days=1)}&end_date={today}") == [second, first]
        assert numbers(f"start_date={today - timedelta(days=3)}&end_date={today - timedelta(days=1)}") == []

    def test_status_changes_appear_as_request_updates(self, client, session, api_key, city, handler, dispatcher):
        number = xml(post(client, api_key())).findtext("request/service_request_id")
        ev = session.query(Event).filter_by(number=number).one()
        cityops_service.accept(session, handler, ev.id)
        cityops_service.handle(session, handler, ev.id, HandleBody(note="正在清运", photo_ids=[]))
        cityops_service.handle(session, handler, ev.id, HandleBody(finish=True, result="垃圾已清运"))
        cityops_service.check(session, dispatcher, ev.id, CheckBody(passed=True, note="核查人：李四 13900000000"))
        session.commit()

        root = xml(client.get(f"{BASE}/servicerequestupdates.xml"))
        assert root.tag == "service_request_updates"
        got = [(u.findtext("service_request_id"), u.findtext("status"), u.findtext("description"))
               for u in root.findall("request_update")]
        assert got == [(number, "open", "已派单至责任单位。"), (number, "in_progress", "责任单位已接单。"),
                       (number, "in_progress", "已处置：垃圾已清运"), (number, "fixed", "已结案：垃圾已清运")]
        ids = [u.findtext("update_id") for u in root.findall("request_update")]
        assert len(set(ids)) == 4 and all(ids)
        assert all(u.findtext("updated_datetime") for u in root.findall("request_update"))
        assert "李四" not in client.get(f"{BASE}/servicerequestupdates.json").text

        closed = xml(client.get(f"{BASE}/requests/{number}.xml")).find("request")
        assert closed is not None
        assert (closed.findtext("status"), closed.findtext("status_notes")) == ("closed", "垃圾已清运")
        assert closed.findtext("expected_datetime") is None or closed.findtext("expected_datetime") == ""
        later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert xml(client.get(f"{BASE}/servicerequestupdates.xml?start_date={later}")).findall("request_update") == []
        assert session.query(TimelineEntry).filter_by(event_id=ev.id, kind="closed").count() == 1


class TestWhatThePublicSees:
    def test_identifiers_in_a_citizens_words_are_masked(self, client, session, api_key, city):
        number = xml(post(client, api_key(), description=f"垃圾没人清，我的电话{PHONE}")).findtext(
            "request/service_request_id")
        shown = xml(client.get(f"{BASE}/requests/{number}.xml")).findtext("request/description")
        assert PHONE not in shown and "138****5678" in shown and shown.startswith("垃圾没人清")

    def test_a_12345_call_shows_its_category_and_area_not_the_callers_words(self, client, session, city,
                                                                              operator):
        from yiwang.cityops.schemas import ReportIn

        out = cityops_service.report_hotline(session, operator, ReportIn(
            description="张三来电：家门口（幸福路8号）垃圾堆放", category_code="SRHJ.LJ", area_code="310101002",
            address="幸福路8号"), PHONE)
        session.commit()
        shown = xml(client.get(f"{BASE}/requests/{out.number}.xml")).find("request")
        assert shown.findtext("description") == "暴露垃圾"
        assert shown.findtext("address") in (None, "") and shown.findtext("lat") in (None, "")
        assert shown.findtext("address_id") == "310101002"
        listed = client.get(f"{BASE}/requests.json").json()
        assert all("张三" not in (r.get("description") or "") for r in listed)
