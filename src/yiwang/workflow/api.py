"""JSON API of the workflow engine: process definitions (list: staff; upload: ``workflow.manage``)
and an instance's diagram state (staff). Starting and completing tasks has no route of its own:
the applications domain does it through ``workflow.service`` after its own checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from yiwang.core.web import DbSession, ReadDbSession, SignedInActor
from yiwang.workflow import service as workflow_service
from yiwang.workflow.schemas import DefinitionRead, DiagramRead

router = APIRouter(prefix="/api/v1/workflow", tags=["workflow"])

MAX_UPLOAD = 2 * 1024 * 1024
"""A BPMN file larger than this is refused unread (drawn processes are a few tens of kB)."""


@router.get("/definitions", response_model=list[DefinitionRead])
def list_definitions(session: ReadDbSession, actor: SignedInActor, key: str | None = None) -> list[DefinitionRead]:
    """Process definitions, newest version first within a key (staff)."""
    workflow_service.require_staff(actor)
    return workflow_service.list_definitions(session, key)


@router.post("/definitions", response_model=DefinitionRead, status_code=201)
async def upload_definition(
    session: DbSession,
    actor: SignedInActor,
    file: Annotated[UploadFile, File()],
    key: Annotated[str, Form()],
    name: Annotated[str | None, Form()] = None,
) -> DefinitionRead:
    """Upload a .bpmn file as the next version of process ``key`` (``workflow.manage``); 422
    ``bpmn_invalid`` / ``bpmn_unsupported`` for a file that cannot run safely."""
    actor.require("workflow.manage")
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        from yiwang.workflow.errors import BpmnInvalid

        raise BpmnInvalid(reason="the file is larger than 2 MB")
    return workflow_service.register_definition(session, actor, key, data, name)


@router.get("/instances/{instance_id}/diagram", response_model=DiagramRead)
def instance_diagram(instance_id: str, session: ReadDbSession, actor: SignedInActor) -> DiagramRead:
    """An instance's BPMN XML with the element ids waiting now and those passed (staff)."""
    workflow_service.require_staff(actor)
    xml, active, completed = workflow_service.diagram(session, instance_id)
    return DiagramRead(xml=xml, active=active, completed=completed)
