"""Pages of the workflow engine: an instance's BPMN diagram drawn by bpmn-js (NavigatedViewer)
with the tasks waiting now highlighted (any staff member)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yiwang.core.web import CurrentActor, ReadDbSession, login_redirect, render
from yiwang.workflow import service as workflow_service

router = APIRouter(tags=["workflow"], include_in_schema=False)

STATUS_LABELS = {"running": "Running", "completed": "Completed", "cancelled": "Cancelled"}


@router.get("/workflow/instances/{instance_id}/diagram", response_class=HTMLResponse)
def instance_diagram(instance_id: str, request: Request, session: ReadDbSession, actor: CurrentActor) -> Response:
    """Where an application stands: its process diagram with the waiting tasks marked (staff)."""
    if not actor.is_authenticated:
        return login_redirect(request, request.url.path)
    workflow_service.require_staff(actor)
    instance = workflow_service.get_instance(session, instance_id)
    definition = workflow_service.get_definition(session, instance.definition_id)
    xml, active, completed = workflow_service.diagram(session, instance_id)
    tasks = workflow_service.ready_tasks(session, instance_id)
    return render(request, "workflow/diagram.html", {
        "instance": instance, "status_labels": STATUS_LABELS, "definition": definition, "tasks": tasks,
        "diagram": {"xml": xml, "active": active, "completed": completed},
    })
