"""Use cases of the workflow engine: register BPMN process definitions, run instances of them.

Who may do what is NOT decided here, except for registering a definition (``workflow.manage``):
starting an instance, listing its tasks and completing a task take only a session, because the
caller (the applications service of 一网通办) knows the department, area and applicant a task
belongs to and checks that before calling. A 一件事 bundle is one instance per item, started
together with :func:`start_many` and finished when every one of them is.

Each step loads the instance's state, runs SpiffWorkflow in memory (``workflow.engine``) and writes
the new state back in the caller's transaction (``flush``, never ``commit``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from importlib.resources import files
from typing import Any, Literal

from sqlalchemy.orm import Session

from yiwang.audit import service as audit_service
from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import PermissionDenied
from yiwang.core.ids import new_id
from yiwang.workflow import engine, errors, repository
from yiwang.workflow.models import ProcessDefinition, WorkflowInstance
from yiwang.workflow.schemas import DefinitionRead, InstanceRead, TaskRead

log = logging.getLogger("yiwang.workflow")

BUILTINS: dict[str, str] = {"one_step": "one_step.bpmn", "review_then_approve": "review_then_approve.bpmn"}
"""Built-in templates (key → file in ``workflow/bpmn/``): 一步审批; 受理审查后审批."""

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$")


def require_staff(actor: Actor) -> None:
    """Refuse (``permission_denied``) anyone but staff, machines and the system: the routes that
    show processes and diagrams use this; the use cases below do not check it themselves."""
    if actor.kind not in ("staff", "machine", "system"):
        raise PermissionDenied(permission="workflow.read")


def _definition_read(row: ProcessDefinition) -> DefinitionRead:
    return DefinitionRead.model_validate(row)


def _instance_read(row: WorkflowInstance) -> InstanceRead:
    return InstanceRead(
        id=row.id, definition_id=row.definition_id, status=row.status,  # type: ignore[arg-type]
        data=json.loads(row.data or "{}"), active=row.active.split(), created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _text(bpmn_xml: str | bytes) -> str:
    if isinstance(bpmn_xml, str):
        return bpmn_xml
    try:
        return bpmn_xml.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.BpmnInvalid(reason="the file is not UTF-8 text") from exc


def _engine_error(exc: engine.EngineError) -> errors.BpmnInvalid | errors.BpmnUnsupported:
    cls = errors.BpmnUnsupported if exc.kind == "unsupported" else errors.BpmnInvalid
    return cls(reason=exc.reason, **exc.params)


def validate_bpmn(bpmn_xml: str | bytes) -> engine.ParsedProcess:
    """Parse and check an uploaded BPMN file; raises ``bpmn_invalid`` / ``bpmn_unsupported``.

    Refuses anything but one executable process made of events, gateways and user/manual tasks
    (no script, service or business-rule task, no call activity: nothing in the file runs code),
    a process without a user task, and gateway conditions beyond simple comparisons."""
    text = _text(bpmn_xml)
    try:
        process = engine.parse(text)
    except engine.EngineError as exc:
        raise _engine_error(exc) from exc
    if not process.user_task_ids:
        raise errors.BpmnInvalid(reason="the process has no user task")
    return process


def register_definition(
    session: Session, actor: Actor, key: str, bpmn_xml: str | bytes, name: str | None = None,
) -> DefinitionRead:
    """Register a BPMN file as the next version of process ``key`` (``workflow.manage``).

    The same file as the latest version returns that version unchanged. Refuses an invalid key
    (``definition_key_invalid``) and a file :func:`validate_bpmn` refuses."""
    actor.require("workflow.manage")
    if not _KEY.match(key or ""):
        raise errors.DefinitionKeyInvalid(key=key)
    text = _text(bpmn_xml)
    process = validate_bpmn(text)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    latest = repository.latest_definition(session, key)
    if latest is not None and latest.sha256 == sha:
        return _definition_read(latest)
    row = ProcessDefinition(
        id=new_id(), key=key, version=(latest.version if latest else 0) + 1,
        name=(name or process.name or key)[:200], process_id=process.process_id, bpmn_xml=text, sha256=sha,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit_service.record(session, actor, "workflow.definition.register", target_type="process_definition",
                         target_id=row.id, detail={"key": key, "version": row.version, "sha256": sha})
    log.info("process definition registered", extra={"definition_id": row.id, "key": key, "version": row.version})
    return _definition_read(row)


def builtin_definition(session: Session, template: Literal["one_step", "review_then_approve"]) -> DefinitionRead:
    """The definition of a built-in template, registered (as the system) on first use; idempotent."""
    filename = BUILTINS.get(template)
    if filename is None:
        raise errors.DefinitionNotFound(ref=template)
    text = files("yiwang.workflow").joinpath("bpmn", filename).read_text(encoding="utf-8")
    latest = repository.latest_definition(session, template)
    if latest is not None and latest.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest():
        return _definition_read(latest)
    return register_definition(session, SYSTEM, template, text)


def list_definitions(session: Session, key: str | None = None) -> list[DefinitionRead]:
    """Every definition (newest version first within a key), optionally of one key."""
    return [_definition_read(d) for d in repository.list_definitions(session, key)]


def get_definition(session: Session, definition_id: str) -> DefinitionRead:
    """One definition by id; ``definition_not_found`` otherwise."""
    return _definition_read(_definition(session, definition_id))


def _definition(session: Session, definition_id: str) -> ProcessDefinition:
    row = repository.get_definition(session, definition_id)
    if row is None:
        raise errors.DefinitionNotFound(ref=definition_id)
    return row


def _process(row: ProcessDefinition) -> engine.ParsedProcess:
    return engine.parsed(row.sha256, row.bpmn_xml)


_sha_of: dict[str, str] = {}
"""Definition id → sha256 of its XML: a definition row never changes, so once its process is
parsed a step needs no query for it."""


def _process_of(session: Session, definition_id: str, sha: str | None = None) -> engine.ParsedProcess:
    sha = sha or _sha_of.get(definition_id)
    found = engine.cached(sha) if sha else None
    if found is None:
        row = _definition(session, definition_id)
        found = _process(row)
        _sha_of[definition_id] = row.sha256
    return found


# ---- Live workflows -------------------------------------------------------------------------


class _LiveWorkflows:
    """The workflow objects of recent steps, so the next step of an instance skips deserializing.

    An entry is ``instance id → (state text saved, workflow)``. A step takes the entry out (one
    owner at a time, whatever the threads) and uses it only if the state it has just read from the
    database, under the row lock, is exactly the text saved from that object: a step made by
    another process, a transaction rolled back, or a state changed by hand all show as a different
    text, and the step then deserializes as before. The object goes back after a successful step
    with the new text; a failed step drops it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, instance_id: str, state: str, workflow: Any) -> None:
        with self._lock:
            self._entries[instance_id] = (state, workflow)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def take(self, instance_id: str, state: str) -> Any | None:
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        return entry[1] if entry is not None and entry[0] == state else None

    def drop(self, instance_id: str) -> None:
        with self._lock:
            self._entries.pop(instance_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_live = _LiveWorkflows(512)


def _data(value: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return engine.json_safe(dict(value or {}))
    except engine.EngineError as exc:
        raise errors.TaskDataInvalid(reason=exc.reason) from exc


def _state_values(workflow: Any) -> dict[str, Any]:
    """The columns that change with a step, from the workflow after it."""
    ready = engine.ready_tasks(workflow)
    active = sorted({t.element_id for t in ready})
    return {
        "state": engine.serialize(workflow),
        "data": json.dumps(engine.data(workflow), ensure_ascii=False, sort_keys=True),
        "tasks": json.dumps([[t.id, t.element_id, t.name, t.lane] for t in ready], ensure_ascii=False),
        "active": f" {' '.join(active)} " if active else "",
        "status": "completed" if engine.is_completed(workflow) else "running",
        "updated_at": utcnow(),
    }


def _read(values: dict[str, Any]) -> InstanceRead:
    return InstanceRead(
        id=values["id"], definition_id=values["definition_id"], status=values["status"],
        data=json.loads(values["data"]), active=values["active"].split(), created_at=values["created_at"],
        updated_at=values["updated_at"],
    )


def start(session: Session, definition_id: str, data: dict[str, Any] | None = None) -> InstanceRead:
    """Start an instance of a definition with ``data`` and run it to its first user task(s).

    No permission check: the caller decides who may start what."""
    return start_many(session, [(definition_id, data or {})])[0]


def start_many(session: Session, items: list[tuple[str, dict[str, Any]]]) -> list[InstanceRead]:
    """Start one instance per ``(definition_id, data)`` (the branches of a 一件事 bundle, 并联审批)
    in one statement; all or none. No permission check: the caller decides."""
    shas = repository.definition_shas(session, [d for d, _ in items])
    rows, workflows = [], []
    for definition_id, data in items:
        if definition_id not in shas:
            raise errors.DefinitionNotFound(ref=definition_id)
        payload = _data(data)
        try:
            workflow = engine.start(_process_of(session, definition_id, shas[definition_id]), payload)
        except engine.EngineError as exc:
            raise errors.TaskDataInvalid(reason=exc.reason, **exc.params) from exc
        values = _state_values(workflow)
        rows.append({"id": new_id(), "definition_id": definition_id, "created_at": values["updated_at"], **values})
        workflows.append(workflow)
    repository.insert_instances(session, rows)
    for row, workflow in zip(rows, workflows, strict=True):
        if row["status"] == "running":
            _live.keep(row["id"], row["state"], workflow)
    log.info("workflows started", extra={"instance_ids": [r["id"] for r in rows]})
    return [_read(r) for r in rows]


def _instance(session: Session, instance_id: str, *, for_update: bool = False) -> WorkflowInstance:
    row = repository.get_instance(session, instance_id, for_update=for_update)
    if row is None:
        raise errors.InstanceNotFound(ref=instance_id)
    return row


def get_instance(session: Session, instance_id: str) -> InstanceRead:
    """One instance and where it stands; ``instance_not_found`` otherwise. No permission check."""
    return _instance_read(_instance(session, instance_id))


def ready_tasks(session: Session, instance_id: str) -> list[TaskRead]:
    """The user tasks of an instance waiting for a person (none once it is not running).

    No permission check: the applications service filters by department and area."""
    session.flush()  # the query below is a plain statement: pending ORM changes first
    row = repository.instance_tasks(session, instance_id)
    if row is None:
        raise errors.InstanceNotFound(ref=instance_id)
    if row.status != "running":
        return []
    return [TaskRead(id=i, element_id=e, name=n, lane=lane) for i, e, n, lane in json.loads(row.tasks or "[]")]


def complete_task(session: Session, instance_id: str, task_id: str, data: dict[str, Any] | None = None) -> InstanceRead:
    """Complete a waiting user task with ``data`` (e.g. ``{"decision": "approve", "comment": …}``)
    and run the process on to its next user task(s) or its end.

    Refuses a task that is not waiting (``task_not_ready``), an instance not running
    (``instance_not_running``) and data no outgoing flow accepts (``task_data_invalid``; nothing
    is saved). No permission check: the caller decides who may complete which task."""
    session.flush()  # the step reads and writes with plain statements: pending ORM changes first
    row = repository.instance_for_step(session, instance_id)
    if row is None:
        raise errors.InstanceNotFound(ref=instance_id)
    if row.status != "running":
        raise errors.InstanceNotRunning(ref=instance_id, status=row.status)
    if not any(t[0] == task_id for t in json.loads(row.tasks or "[]")):
        raise errors.TaskNotReady(task_id=task_id)
    payload = _data(data)
    workflow = _live.take(instance_id, row.state)
    if workflow is None:
        workflow = engine.deserialize(_process_of(session, row.definition_id), row.state)
    try:
        done = engine.complete_task(workflow, task_id, payload)
    except engine.EngineError as exc:
        raise errors.TaskDataInvalid(reason=exc.reason, **exc.params) from exc  # the object is dropped
    if not done:
        _live.keep(instance_id, row.state, workflow)  # unchanged: no task was run
        raise errors.TaskNotReady(task_id=task_id)
    values = _state_values(workflow)
    repository.update_instance(session, instance_id, values)
    if values["status"] == "running":
        _live.keep(instance_id, values["state"], workflow)
    if session.identity_map:  # an ORM copy of the row loaded earlier in this session is stale now
        cached = session.identity_map.get(session.identity_key(WorkflowInstance, instance_id))
        if cached is not None:
            session.expire(cached)
    log.info("workflow task completed", extra={"instance_id": instance_id, "status": values["status"]})
    return _read({**values, "id": instance_id, "definition_id": row.definition_id, "created_at": row.created_at})


def cancel(session: Session, instance_id: str) -> InstanceRead:
    """Stop a running instance (the application was withdrawn); ``instance_not_running`` otherwise.
    No permission check: the caller decides."""
    row = _instance(session, instance_id, for_update=True)
    if row.status != "running":
        raise errors.InstanceNotRunning(ref=instance_id, status=row.status)
    row.status, row.active, row.tasks, row.updated_at = "cancelled", "", "[]", utcnow()
    session.flush()
    _live.drop(instance_id)
    return _instance_read(row)


def waiting_at(
    session: Session, element_id: str, definition_ids: list[str] | None = None, limit: int = 200,
) -> list[InstanceRead]:
    """Running instances waiting at BPMN element ``element_id`` (oldest change first), for inboxes.
    No permission check: the caller filters."""
    return [_instance_read(r) for r in repository.running_waiting_at(session, element_id, definition_ids, limit)]


def diagram(session: Session, instance_id: str) -> tuple[str, list[str], list[str]]:
    """``(bpmn_xml, active_element_ids, completed_element_ids)`` of an instance, for the viewer.
    No permission check: the caller decides who may see it."""
    row = _instance(session, instance_id)
    definition = _definition(session, row.definition_id)
    workflow = engine.deserialize(_process_of(session, row.definition_id), row.state)
    active = row.active.split()
    return definition.bpmn_xml, active, engine.completed_element_ids(workflow)
