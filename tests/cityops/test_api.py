"""一网统管 over HTTP: intake by channel, the queue, the handling loop, errors as sentences, and
emergency mode with events created over the API."""

from __future__ import annotations

import pytest

from .conftest import DISTRICT, HERE, OUTSIDE, metres_east


@pytest.fixture
def use(as_actor):
    return as_actor


def citizen_report(client, text="路边有一堆暴露垃圾无人清理", point=HERE, category="SRHJ.LJ", **more):
    body = {"description": text, "category_code": category, **more}
    if point:
        body.update(lon=point[0], lat=point[1])
    return client.post("/api/v1/cityops/reports/citizen", json=body)


class TestIntakeOverHttp:
    def test_categories_are_public(self, client, city):
        codes = [c["code"] for c in client.get("/api/v1/cityops/categories").json()]
        assert codes == ["SRHJ", "SRHJ.LJ", "SSGL", "SSGL.JG"]

    def test_two_reports_within_50_m_merge_and_60_m_do_not(self, client, use, citizen, other_citizen, city):
        use(citizen)
        first = citizen_report(client)
        assert first.status_code == 201 and first.json()["status"] == "dispatched"
        use(other_citizen)
        near = citizen_report(client, "这里路边垃圾堆着没人清理", point=metres_east(*HERE, 40)).json()
        far = citizen_report(client, point=metres_east(*HERE, 60)).json()
        assert (near["merged"], near["event_id"]) == (True, first.json()["event_id"])
        assert far["merged"] is False and far["event_id"] != first.json()["event_id"]

    def test_outside_the_city_goes_to_triage(self, client, use, citizen, city):
        use(citizen)
        out = citizen_report(client, point=OUTSIDE).json()
        assert (out["status"], out["triage_reason"]) == ("triage", "outside_city")

    def test_unknown_category_is_a_sentence_in_chinese(self, client, use, citizen, city):
        use(citizen)
        r = citizen_report(client, category="NOPE")
        assert r.status_code == 422
        assert r.json()["error"] == "category_unknown"
        assert r.json()["detail"] == "NOPE 不是城市事件的分类，请从分类列表中选择。"

    def test_an_oversize_photo_is_refused_at_upload(self, client, use, citizen, city, settings):
        use(citizen)
        big = b"\x89PNG\r\n\x1a\n" + bytes(settings.max_upload_bytes + 1)
        r = client.post("/api/v1/files", files={"file": ("big.png", big, "image/png")}, data={"purpose": "photo"})
        assert r.status_code in (413, 422) and r.json()["error"] == "file_too_large"


class TestLoopOverHttp:
    def test_dispatch_accept_handle_check_and_the_timeline(self, client, use, citizen, dispatcher, handler, city):
        use(citizen)
        event_id = citizen_report(client).json()["event_id"]
        use(dispatcher)
        queue = client.get("/api/v1/cityops/events").json()
        assert [e["id"] for e in queue["items"]] == [event_id]
        use(handler)
        assert client.post(f"/api/v1/cityops/events/{event_id}/accept").json()["status"] == "accepted"
        done = client.post(f"/api/v1/cityops/events/{event_id}/handle",
                           json={"finish": True, "result": "垃圾已清运"}).json()
        assert done["status"] == "handled"
        use(dispatcher)
        closed = client.post(f"/api/v1/cityops/events/{event_id}/check", json={"passed": True}).json()
        assert closed["status"] == "closed"
        assert [t["kind"] for t in closed["timeline"]] == ["reported", "dispatched", "accepted", "handled", "closed"]
        use(citizen)
        mine = client.get(f"/api/v1/cityops/events/{event_id}").json()
        assert len(mine["reports"]) == 1
        assert client.post(f"/api/v1/cityops/events/{event_id}/rating", json={"score": 4}).json()["rating"] == 4

    def test_a_handler_of_another_street_gets_403_and_nothing_changes(self, client, use, citizen, other_handler,
                                                                      city):
        use(citizen)
        event_id = citizen_report(client).json()["event_id"]
        use(other_handler)
        r = client.post(f"/api/v1/cityops/events/{event_id}/accept")
        assert r.status_code == 403 and r.json()["error"] == "permission_denied"
        use(citizen)
        assert client.get(f"/api/v1/cityops/events/{event_id}").json()["status"] == "dispatched"


class TestEmergencyOverHttp:
    def test_declare_and_stand_down(self, client, use, citizen, dispatcher, city):
        use(dispatcher)
        r = client.post("/api/v1/cityops/incidents", json={
            "name": "暴雨内涝", "area_code": DISTRICT, "categories": ["SRHJ"], "department_id": city["emergency"],
            "deadline": "2h", "priority": 800})
        assert r.status_code == 201, r.text
        incident_id = r.json()["id"]
        assert [i["id"] for i in client.get("/api/v1/cityops/incidents?active=true").json()] == [incident_id]
        use(citizen)
        during = citizen_report(client).json()["event_id"]
        use(dispatcher)
        assert client.get(f"/api/v1/cityops/events/{during}").json()["incident_id"] == incident_id
        assert client.post(f"/api/v1/cityops/incidents/{incident_id}/stand-down").json()["status"] == "stood_down"
        use(citizen)
        after = citizen_report(client, "绿化带旁垃圾无人清理", point=metres_east(*HERE, 500)).json()["event_id"]
        use(dispatcher)
        body = client.get(f"/api/v1/cityops/events/{after}").json()
        assert (body["incident_id"], body["assignee_department_id"]) == (None, city["dept"])
