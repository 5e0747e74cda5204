"""The workflow JSON API and the diagram page through the app (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from yiwang.core.actor import Actor
from yiwang.workflow import service as workflow_service
from yiwang.workflow.models import ProcessDefinition

from .conftest import CAMUNDA_PARALLEL, linear, staff

CITIZEN = Actor(kind="citizen", user_id="c1", username="c1")


def _started(app) -> tuple[str, str]:
    with app.state.db.transaction() as session:
        definition = workflow_service.builtin_definition(session, "one_step")
        instance = workflow_service.start(session, definition.id, {})
    return definition.id, instance.id


def _definitions(app) -> int:
    with app.state.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ProcessDefinition))


class TestDefinitionsApi:
    def test_staff_lists_definitions(self, app, client, as_actor) -> None:
        definition_id, _ = _started(app)
        as_actor(staff("clerk"))

        got = client.get("/api/v1/workflow/definitions")

        assert got.status_code == 200
        assert [(d["id"], d["key"], d["version"]) for d in got.json()] == [(definition_id, "one_step", 1)]

    def test_a_citizen_may_not_list_definitions(self, client, as_actor) -> None:
        as_actor(CITIZEN)

        assert client.get("/api/v1/workflow/definitions").status_code == 403

    def test_an_administrator_uploads_a_bpmn_file(self, app, client, as_actor) -> None:
        as_actor(staff("sys_admin", "workflow.manage"))

        got = client.post("/api/v1/workflow/definitions", data={"key": "restaurant-opening"},
                          files={"file": ("p.bpmn", CAMUNDA_PARALLEL.read_bytes(), "application/xml")})

        assert got.status_code == 201
        assert (got.json()["key"], got.json()["version"], got.json()["name"]) == (
            "restaurant-opening", 1, "餐饮店开业联办")

    def test_an_unsafe_file_is_refused_with_its_code(self, app, client, as_actor) -> None:
        as_actor(staff("sys_admin", "workflow.manage"))

        got = client.post("/api/v1/workflow/definitions", data={"key": "k1"},
                          files={"file": ("p.bpmn", linear('<bpmn:serviceTask id="T" />').encode(), "text/xml")})

        assert got.status_code == 422
        assert got.json() == {"error": "bpmn_unsupported",
                              "detail": "该流程使用了本系统不运行的内容：不支持元素 serviceTask。"}
        assert _definitions(app) == 0

    def test_staff_without_workflow_manage_may_not_upload(self, app, client, as_actor) -> None:
        as_actor(staff("approver"))

        got = client.post("/api/v1/workflow/definitions", data={"key": "k1"},
                          files={"file": ("p.bpmn", CAMUNDA_PARALLEL.read_bytes(), "application/xml")})

        assert got.status_code == 403
        assert _definitions(app) == 0


class TestDiagramApi:
    def test_staff_gets_the_xml_and_the_active_task(self, app, client, as_actor) -> None:
        _, instance_id = _started(app)
        as_actor(staff("approver"))

        got = client.get(f"/api/v1/workflow/instances/{instance_id}/diagram")

        assert got.status_code == 200
        body = got.json()
        assert body["active"] == ["Task_approve"]
        assert body["completed"] == ["StartEvent_submitted"]
        assert body["xml"].startswith('<?xml version="1.0" encoding="UTF-8"?>')

    def test_a_citizen_is_refused(self, app, client, as_actor) -> None:
        _, instance_id = _started(app)
        as_actor(CITIZEN)

        assert client.get(f"/api/v1/workflow/instances/{instance_id}/diagram").status_code == 403

    def test_an_unknown_instance_is_404(self, client, as_actor) -> None:
        as_actor(staff("approver"))

        got = client.get("/api/v1/workflow/instances/nope/diagram")

        assert (got.status_code, got.json()["error"]) == (404, "instance_not_found")


class TestDiagramPage:
    def test_staff_sees_the_page_with_the_viewer_and_the_state(self, app, client, as_actor) -> None:
        _, instance_id = _started(app)
        as_actor(staff("approver"))

        got = client.get(f"/workflow/instances/{instance_id}/diagram", headers={"Accept": "text/html"})

        assert got.status_code == 200
        assert '<script src="/static/vendor/bpmn-navigated-viewer.production.min.js"></script>' in got.text
        data = got.text.split('<script type="application/json" id="wf-diagram-data">')[1].split("</script>")[0]
        assert json.loads(data)["active"] == ["Task_approve"]
        assert "审批 (审批)" in got.text

    def test_a_citizen_is_refused(self, app, client, as_actor) -> None:
        _, instance_id = _started(app)
        as_actor(CITIZEN)

        got = client.get(f"/workflow/instances/{instance_id}/diagram", headers={"Accept": "text/html"})

        assert got.status_code == 403
