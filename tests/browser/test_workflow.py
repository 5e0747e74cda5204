"""The process diagram in a real browser: bpmn-js draws the BPMN file of an instance and marks the
tasks waiting now (a Camunda Modeler file with lanes and a parallel gateway, one branch done)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.workflow import service as workflow_service

from .conftest import artifacts_dir
from .helpers import create_user, login_as, page_problems

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).parent.parent / "workflow" / "fixtures" / "camunda_modeler_parallel.bpmn"
ADMIN = Actor(kind="staff", user_id="wf-admin", grants=(Grant("sys_admin", "31", None, frozenset({"workflow.manage"})),))


@pytest.fixture
def half_done(live_server) -> str:
    """A running instance of the parallel process whose fire-check branch is done."""
    with live_server.db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code="31", name="上海市", level="city")
        definition = workflow_service.register_definition(s, ADMIN, "restaurant-opening", FIXTURE.read_text("utf-8"))
        instance = workflow_service.start(s, definition.id, {})
        fire = next(t for t in workflow_service.ready_tasks(s, instance.id) if t.element_id == "Activity_fire_check")
        workflow_service.complete_task(s, instance.id, fire.id, {"decision": "approve"})
    return instance.id


def test_the_diagram_is_drawn_with_the_waiting_task_marked(page, live_server, half_done, request) -> None:
    approver = create_user(live_server, "approver.wf", grants=[("approver", "31")])
    login_as(page, live_server, approver)

    page.goto(f"{live_server.url}/workflow/instances/{half_done}/diagram")
    page.wait_for_selector("#wf-canvas[data-state=drawn]")

    drawn = page.eval_on_selector_all("#wf-canvas svg .djs-shape", "els => els.map(e => e.dataset.elementId)")
    assert sorted(drawn) == [
        "Activity_fire_check", "Activity_food_licence", "Event_end", "Event_end_label", "Gateway_join",
        "Gateway_split", "Lane_fire", "Lane_market", "Lane_window", "Participant_0d3wq6r", "StartEvent_1",
        "StartEvent_1_label",
    ]
    active = page.locator("#wf-canvas .djs-element.wf-active")
    assert [active.nth(i).get_attribute("data-element-id") for i in range(active.count())] == ["Activity_food_licence"]
    assert page.locator('#wf-canvas .wf-completed[data-element-id="Activity_fire_check"]').count() == 1
    stroke = page.evaluate("""getComputedStyle(document.querySelector(
        '.djs-element.wf-active .djs-visual > rect')).stroke""")
    assert stroke == "rgb(179, 65, 14)"
    assert page.locator(".wf-tasks li").all_inner_texts() == ["食品经营许可审批 (市场监管局)"]
    size = page.evaluate("""(() => { const r = document.querySelector('#wf-canvas svg').getBoundingClientRect();
        const c = document.querySelector('#wf-canvas').getBoundingClientRect(); return [r.height, c.height - 2]; })()""")
    assert size[0] == size[1]  # the svg fills the canvas
    page.screenshot(path=str(artifacts_dir(request.config) / "workflow-diagram.png"), full_page=True)
    assert page_problems(page) == []
