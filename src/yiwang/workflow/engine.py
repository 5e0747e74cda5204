"""The BPMN engine, behind one module: the only place that imports SpiffWorkflow (3.x).

Everything else in yiwang sees plain values: process ids, :class:`ReadyTask`, JSON state text and
element ids. Swapping the engine means rewriting this file only (docs/adr/0007-bpmn-engine.md).

No code from an uploaded BPMN file ever runs: :func:`check_safe` refuses script, service and
business-rule tasks, call activities and every element not in :data:`ALLOWED_FLOW_NODES`, and
the script engine given to every workflow evaluates gateway conditions with a small expression
language (names, literals, ``== != in not in < <= > >=``, ``and or not``) instead of ``eval``.
Camunda's ``${decision == 'approve'}`` (JUEL) form is accepted too, so a condition written in
Camunda Modeler runs unchanged.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID as _uuid

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.defaults import UserTask
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

for _name in ("spiff.task", "spiff.workflow"):
    # SpiffWorkflow logs every task state change at INFO, and while these loggers have no level of
    # their own it adds the task's data to each record: personal data in the logs, and a third of a
    # step's time spent building records. Our code logs the steps (ids only) itself.
    logging.getLogger(_name).setLevel(logging.WARNING)

ALLOWED_FLOW_NODES = frozenset({
    "startEvent", "endEvent", "userTask", "manualTask", "task", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "sequenceFlow", "laneSet", "lane", "flowNodeRef", "childLaneSet", "incoming", "outgoing",
    "conditionExpression", "documentation", "extensionElements", "textAnnotation", "association", "text",
    "dataObject", "dataObjectReference", "dataStoreReference", "group", "category", "categoryValue",
})
"""BPMN elements a process may contain. Anything else (scripts, service calls, timers, messages,
sub-processes …) is refused at registration: the approval flows need none of it."""


class EngineError(Exception):
    """A BPMN problem, with a short English reason (no stack, no input echoed back)."""

    def __init__(self, kind: str, reason: str, **params: Any) -> None:
        super().__init__(reason.format(**params) if params else reason)
        self.kind = kind  # "invalid" (unreadable), "unsupported" (would run code …), "stuck" (at run time)
        self.reason = reason  # an English msgid, translated by the caller with ``params``
        self.params = params


@dataclass(frozen=True, slots=True)
class ReadyTask:
    """A user task waiting for a person."""

    id: str
    element_id: str
    name: str
    lane: str | None


# ---- Conditions without eval ----------------------------------------------------------------

_CMP = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
}
_JUEL = re.compile(r"^\s*\$\{(.*)\}\s*$", re.S)


def _to_python(expression: str) -> str:
    match = _JUEL.match(expression)
    if not match:
        return expression.strip()
    text = match.group(1)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    text = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", text)))
    return text.strip()


def _check_node(node: ast.AST) -> None:
    if isinstance(node, ast.Expression):
        _check_node(node.body)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_node(value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_node(node.operand)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _CMP for op in node.ops):
            raise EngineError("unsupported", "a condition uses an operator that is not allowed")
        for part in (node.left, *node.comparators):
            _check_node(part)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        for elt in node.elts:
            _check_node(elt)
    elif isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise EngineError("unsupported", "a condition names a private variable")
    elif not isinstance(node, ast.Constant):
        raise EngineError("unsupported", "a condition may only compare variables with values")


def parse_condition(expression: str) -> ast.Expression:
    """The checked syntax tree of a gateway condition; raises :class:`EngineError` otherwise."""
    try:
        tree = ast.parse(_to_python(expression), mode="eval")
    except SyntaxError as exc:
        raise EngineError("invalid", "a condition is not a valid expression") from exc
    _check_node(tree)
    return tree


def _evaluate(node: ast.AST, data: dict[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, data)
    if isinstance(node, ast.BoolOp):
        values = (_evaluate(v, data) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _evaluate(node.operand, data)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, data)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, data)
            try:
                if not _CMP[type(op)](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_evaluate(e, data) for e in node.elts]
    if isinstance(node, ast.Name):
        return data.get(node.id)
    return node.value  # ast.Constant, the only node left after _check_node


_condition_cache: dict[str, ast.Expression] = {}


class SafeScriptEngine(PythonScriptEngine):
    """Evaluates gateway conditions with the small language above; runs no scripts at all."""

    def validate(self, expression: str) -> None:
        parse_condition(expression)

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        tree = _condition_cache.get(expression)
        if tree is None:
            tree = _condition_cache.setdefault(expression, parse_condition(expression))
        return _evaluate(tree, task.data)

    def execute(self, task: Any, script: str, external_context: Any = None) -> bool:
        raise EngineError("unsupported", "scripts are not run")

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise EngineError("unsupported", "service calls are not run")


SCRIPT_ENGINE = SafeScriptEngine()


class _StateConverter(BpmnWorkflowConverter):
    """Serializes a workflow's run state without its spec: the spec is the definition's, which
    never changes (a new upload is a new version), so it is parsed once per process and handed
    back on restore instead of being written and re-read at every step."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], process: ParsedProcess | None = None) -> Any:  # type: ignore[override]
        if process is None:
            raise EngineError("invalid", "restoring a workflow needs its process")
        dct["spec"], dct["subprocess_specs"] = None, {}
        workflow = BpmnWorkflow(process.spec, process.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**DEFAULT_CONFIG, BpmnWorkflow: _StateConverter}))
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
_VALIDATOR: BpmnValidator | None = None


def _validator() -> BpmnValidator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = BpmnValidator()
    return _VALIDATOR


# ---- Parsing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedProcess:
    """One executable process of a BPMN document, ready to start workflows from."""

    process_id: str
    name: str | None
    spec: Any
    subprocess_specs: dict[str, Any]
    user_task_ids: tuple[str, ...]


def _document(bpmn_xml: str | bytes) -> Any:
    data = bpmn_xml.encode("utf-8") if isinstance(bpmn_xml, str) else bpmn_xml
    try:
        root = etree.fromstring(data, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise EngineError("invalid", "the file is not well-formed XML") from exc
    if root.getroottree().docinfo.doctype:
        raise EngineError("invalid", "the file must not declare a document type")
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        raise EngineError("invalid", "the file is not a BPMN 2.0 document")
    return root


def executable_process_ids(root: Any) -> list[str]:
    return [p.get("id") for p in root.iterchildren(f"{{{BPMN_NS}}}process")
            if p.get("isExecutable", "true") == "true"]


def check_safe(root: Any) -> None:
    """Refuse elements that would run code or that the approval flows do not support."""
    for process in root.iterchildren(f"{{{BPMN_NS}}}process"):
        for el in process.iter():
            if not isinstance(el.tag, str):
                continue
            qname = etree.QName(el)
            if qname.namespace != BPMN_NS or el is process:
                continue  # vendor extensions (camunda:…, modeler:…) are ignored by the engine
            if any(etree.QName(a).namespace == BPMN_NS and etree.QName(a).localname == "extensionElements"
                   for a in el.iterancestors()):
                continue
            if qname.localname not in ALLOWED_FLOW_NODES:
                raise EngineError("unsupported", "the element {element} is not supported", element=qname.localname)
        for cond in process.iter(f"{{{BPMN_NS}}}conditionExpression"):
            parse_condition(cond.text or "")


def parse(bpmn_xml: str | bytes, *, validate: bool = True) -> ParsedProcess:
    """Parse a BPMN 2.0 document with exactly one executable process into a runnable spec."""
    root = _document(bpmn_xml)
    check_safe(root)
    ids = executable_process_ids(root)
    if len(ids) != 1:
        raise EngineError("invalid", "the file must hold exactly one executable process, not {count}",
                          count=len(ids))
    parser = BpmnParser(validator=_validator() if validate else None)
    try:
        parser.add_bpmn_xml(etree.ElementTree(root), filename="upload.bpmn")
        spec = parser.get_spec(ids[0])
        subprocess_specs = parser.get_subprocess_specs(ids[0])
    except ValidationException as exc:
        raise EngineError("invalid", "the engine reports: {detail}", detail=_first_line(str(exc))) from exc
    except SpiffWorkflowException as exc:
        raise EngineError("invalid", "the engine reports: {detail}", detail=_first_line(str(exc))) from exc
    user_tasks = tuple(sorted(s.bpmn_id for s in spec.task_specs.values() if isinstance(s, UserTask)))
    name = next(iter(root.iterchildren(f"{{{BPMN_NS}}}process"))).get("name")
    return ParsedProcess(ids[0], name, spec, subprocess_specs, user_tasks)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["the process cannot be read"])[0][:200]


_parsed_cache: OrderedDict[str, ParsedProcess] = OrderedDict()
_CACHE_SIZE = 256


def cached(key: str) -> ParsedProcess | None:
    """The process parsed earlier under ``key``, if still cached."""
    return _parsed_cache.get(key)


def parsed(key: str, bpmn_xml: str) -> ParsedProcess:
    """:func:`parse` once per ``key`` (a definition's sha256) per process; specs are immutable."""
    found = _parsed_cache.get(key)
    if found is None:
        found = parse(bpmn_xml, validate=False)
        _parsed_cache[key] = found
        if len(_parsed_cache) > _CACHE_SIZE:
            _parsed_cache.popitem(last=False)
    else:
        _parsed_cache.move_to_end(key)
    return found


# ---- Running --------------------------------------------------------------------------------


def start(process: ParsedProcess, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    """A new workflow with ``data`` in its start task, run until it waits for a person."""
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=SCRIPT_ENGINE)
    if data:
        workflow.task_tree.data.update(data)  # the root task, READY: the one run first
    _engine_steps(workflow)
    return workflow


def _walk(workflow: BpmnWorkflow, min_state: int) -> list[Task]:
    """The workflow's tasks in the order of SpiffWorkflow's own ``get_tasks`` (depth first, children
    of a task visited only when its state is at least ``min_state``), without its iterator's cost.
    Only for workflows without sub-processes (the callers fall back to ``get_tasks`` otherwise)."""
    tasks = workflow.tasks
    found: list[Task] = []
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        found.append(task)
        if task._children and task._state >= min_state:
            stack.extend(map(tasks.__getitem__, reversed(task._children)))
    return found


def _run_engine_tasks(workflow: BpmnWorkflow) -> None:
    """``BpmnWorkflow.do_engine_steps`` for a workflow without sub-processes: run every ready
    task that is not a person's, in ``get_tasks`` order, until none is left. The same loop as
    SpiffWorkflow's, over :func:`_walk` instead of its task iterator (which was most of a step)."""
    if workflow.subprocess_specs or workflow.subprocesses:
        workflow.do_engine_steps()
        return
    ready, future = TaskState.READY, TaskState.FUTURE
    while True:
        runnable = [t for t in _walk(workflow, future) if t._state == ready and not t.task_spec.manual]
        if not runnable:
            break
        for task in runnable:
            task.run()
    workflow.refresh_timers()


def _engine_steps(workflow: BpmnWorkflow) -> None:
    try:
        _run_engine_tasks(workflow)
    except EngineError:
        raise
    except SpiffWorkflowException as exc:
        raise EngineError("stuck", "the engine reports: {detail}", detail=_first_line(str(exc))) from exc


def _ready_manual(workflow: BpmnWorkflow) -> list[Task]:
    if workflow.subprocesses:
        return workflow.get_tasks(state=TaskState.READY, manual=True)
    return [t for t in _walk(workflow, TaskState.FUTURE) if t._state == TaskState.READY and t.task_spec.manual]


def ready_tasks(workflow: BpmnWorkflow) -> list[ReadyTask]:
    """The user (and manual) tasks waiting for a person, in a stable order."""
    found = [
        ReadyTask(str(t.id), t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id,
                  t.task_spec.lane)
        for t in _ready_manual(workflow)
    ]
    return sorted(found, key=lambda t: (t.element_id, t.id))


def complete_task(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any]) -> bool:
    """Complete the ready user task ``task_id`` with ``data`` and run on; False if it is not ready.

    Raises :class:`EngineError` (kind ``stuck``) when the data leads nowhere, e.g. a decision
    that no outgoing flow of a gateway accepts; the caller then discards this workflow object."""
    try:
        wanted = _uuid(task_id)
    except (TypeError, ValueError):
        return False
    if workflow.subprocesses:
        task = next((t for t in _ready_manual(workflow) if t.id == wanted), None)
    else:  # every task of the tree is in ``tasks`` (SpiffWorkflow removes the ones it drops)
        task = workflow.tasks.get(wanted)
    if task is None or task._state != TaskState.READY or not task.task_spec.manual:
        return False
    task.data.update(data)
    try:
        task.run()
    except SpiffWorkflowException as exc:
        raise EngineError("stuck", "the engine reports: {detail}", detail=_first_line(str(exc))) from exc
    _engine_steps(workflow)
    return True


def is_completed(workflow: BpmnWorkflow) -> bool:
    return workflow.is_completed()


def active_element_ids(workflow: BpmnWorkflow) -> list[str]:
    """BPMN element ids of the tasks waiting now (for the diagram and the inbox index)."""
    return sorted({t.task_spec.bpmn_id for t in _ready_manual(workflow) if t.task_spec.bpmn_id})


def completed_element_ids(workflow: BpmnWorkflow) -> list[str]:
    """BPMN element ids the workflow has passed through."""
    return sorted({t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)
                   if t.task_spec.bpmn_id})


def data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The workflow's data: the last completed task's data when done, else the merged data."""
    if workflow.is_completed():
        return dict(workflow.data) or dict(workflow.last_task.data if workflow.last_task else {})
    completed = (workflow.get_tasks(state=TaskState.COMPLETED) if workflow.subprocesses
                 else _walk(workflow, TaskState.COMPLETED))
    merged: dict[str, Any] = {}
    for t in completed:
        if t._state == TaskState.COMPLETED:
            merged.update(t.data)
    return merged


# ---- State ----------------------------------------------------------------------------------
#
# A step saves the whole run state, so its format is on the hot path. SpiffWorkflow's serializer
# walks every value through a registry of converters; the approval flows hold nothing but tasks
# with JSON data, so the common case has a compact format of its own ("yw1", below), written and
# read in one pass. Anything it cannot represent exactly (sub-processes, pending events, values
# that are not plain JSON types) is written in SpiffWorkflow's format instead, which
# :func:`deserialize` reads too (and so reads every state saved before "yw1" existed).
#
#   {"yw1": [data, ...],                   each distinct data dict once (same JSON text, same entry)
#    "w": [data_i, correlations, last_task_i, success, completed, root_i,
#          [[uuid_hex, parent_i, [child_i, ...], last_state_change, state, spec_name,
#            triggered, internal_data, data_i], ...]]}   tasks in the workflow's own order

_COMPACT = "yw1"


def _encoder() -> Any:
    """A compact JSON encoder for plain values. ``JSONEncoder.encode`` builds a new C encoder at
    every call, which costs more than encoding a task's small data; this builds it once (no
    circular-reference markers: :func:`_plain` has checked the value)."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # not CPython
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encode = c_make_encoder(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


_ENCODE = _encoder()


def _plain(value: Any) -> bool:
    """True if ``value`` is made of JSON's own types only, so a JSON round trip gives it back
    equal and of the same types (no tuples, no non-string keys, no dates)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return True
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def _copy(value: Any) -> Any:
    """A deep copy of a plain JSON value (dicts and lists are copied, scalars shared)."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return value


def _compact(workflow: BpmnWorkflow) -> str | None:
    """The "yw1" text of ``workflow``, or None when it holds something that format leaves out."""
    if type(workflow) is not BpmnWorkflow or workflow.subprocesses or workflow.bpmn_events:
        return None
    encode = _ENCODE
    texts: dict[str, int] = {}
    by_object: dict[int, int] = {}

    def data_index(value: dict[str, Any]) -> int | None:
        found = by_object.get(id(value))
        if found is not None:
            return found
        if not value:
            text = "{}"
        elif _plain(value):
            text = encode(value)
        else:
            return None
        found = texts.setdefault(text, len(texts))
        by_object[id(value)] = found
        return found

    tasks = workflow.tasks
    index = {task_id: i for i, task_id in enumerate(tasks)}
    rows = []
    for i, task in enumerate(tasks.values()):
        parent = -1 if task._parent is None else index.get(task._parent, i)
        internal = task.internal_data
        data_i = data_index(task.data)
        if (type(task) is not Task or parent >= i or data_i is None or type(internal) is not dict
                or (internal and not _plain(internal))):
            return None
        try:
            children = [index[c] for c in task._children]
        except KeyError:
            return None
        rows.append([task.id.hex, parent, children, task.last_state_change, task._state, task.task_spec.name,
                     task.triggered, internal, data_i])
    root = index.get(workflow.task_tree.id)
    last = workflow.last_task
    last_i = -1 if last is None else index.get(last.id)
    wdata = data_index({k: v for k, v in workflow.data.items() if not callable(v)})
    if root is None or last_i is None or wdata is None or not _plain(workflow.correlations):
        return None
    try:
        head = encode([wdata, workflow.correlations, last_i, workflow.success, workflow.completed, root, rows])
    except (TypeError, ValueError):
        return None
    return f'{{"{_COMPACT}":[{",".join(texts)}],"w":{head}}}'


def _restore(process: ParsedProcess, dct: dict[str, Any]) -> BpmnWorkflow:
    datas: list[Any] = dct[_COMPACT]
    taken = [False] * len(datas)

    def take(i: int) -> Any:  # the parsed dict to its first user, a copy to the others
        if taken[i]:
            return _copy(datas[i])
        taken[i] = True
        return datas[i]

    wdata, correlations, last_i, success, completed, root, rows = dct["w"]
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=SCRIPT_ENGINE, deserializing=True)
    specs = process.spec.task_specs
    ids = [_uuid(hex=row[0]) for row in rows]
    events = workflow.event_manager
    for task_id, (_, parent, children, changed, state, spec_name, triggered, internal, data_i) in zip(
            ids, rows, strict=True):
        task = Task(workflow, specs.get(spec_name), state=state, id=task_id)
        task._parent = ids[parent] if parent >= 0 else None
        task._children = [ids[c] for c in children]
        task.last_state_change = changed
        task.triggered = triggered
        task.internal_data = internal
        task.data = take(data_i)
        if state == TaskState.WAITING and isinstance(task.task_spec, CatchingEvent):
            events.add_task(task)
    workflow.task_tree = workflow.tasks[ids[root]]
    workflow.data = take(wdata)
    workflow.correlations = correlations
    workflow.success = success
    workflow.completed = completed
    workflow.last_task = workflow.tasks[ids[last_i]] if last_i >= 0 else None
    return workflow


def serialize(workflow: BpmnWorkflow) -> str:
    """The workflow's run state as JSON text, without the spec: the compact "yw1" format when it
    represents the workflow exactly, else SpiffWorkflow's (see :class:`_StateConverter`)."""
    return _compact(workflow) or _SERIALIZER.serialize_json(workflow)


def deserialize(process: ParsedProcess, state: str) -> BpmnWorkflow:
    """A workflow of ``process`` back from :func:`serialize`'s text (either format), with the
    safe script engine."""
    dct = json.loads(state)
    if _COMPACT in dct:
        return _restore(process, dct)
    _SERIALIZER.migrate(dct)
    workflow = _SERIALIZER.from_dict(dct, process=process)
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` if it survives a JSON round trip unchanged in type, else EngineError."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise EngineError("invalid", "the task data must be JSON") from exc
