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
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

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
        workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    _engine_steps(workflow)
    return workflow


def _engine_steps(workflow: BpmnWorkflow) -> None:
    try:
        workflow.do_engine_steps()
    except EngineError:
        raise
    except SpiffWorkflowException as exc:
        raise EngineError("stuck", "the engine reports: {detail}", detail=_first_line(str(exc))) from exc


def ready_tasks(workflow: BpmnWorkflow) -> list[ReadyTask]:
    """The user (and manual) tasks waiting for a person, in a stable order."""
    found = [
        ReadyTask(str(t.id), t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id,
                  t.task_spec.lane)
        for t in workflow.get_tasks(state=TaskState.READY, manual=True)
    ]
    return sorted(found, key=lambda t: (t.element_id, t.id))


def complete_task(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any]) -> bool:
    """Complete the ready user task ``task_id`` with ``data`` and run on; False if it is not ready.

    Raises :class:`EngineError` (kind ``stuck``) when the data leads nowhere, e.g. a decision
    that no outgoing flow of a gateway accepts; the caller then discards this workflow object."""
    task = next((t for t in workflow.get_tasks(state=TaskState.READY, manual=True) if str(t.id) == task_id), None)
    if task is None:
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
    return sorted({t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                   if t.task_spec.bpmn_id})


def completed_element_ids(workflow: BpmnWorkflow) -> list[str]:
    """BPMN element ids the workflow has passed through."""
    return sorted({t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)
                   if t.task_spec.bpmn_id})


def data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The workflow's data: the last completed task's data when done, else the merged data."""
    if workflow.is_completed():
        return dict(workflow.data) or dict(workflow.last_task.data if workflow.last_task else {})
    merged: dict[str, Any] = {}
    for t in workflow.get_tasks(state=TaskState.COMPLETED):
        merged.update(t.data)
    return merged


def serialize(workflow: BpmnWorkflow) -> str:
    """The workflow's run state as JSON text (without the spec: see :class:`_StateConverter`)."""
    return _SERIALIZER.serialize_json(workflow)


def deserialize(process: ParsedProcess, state: str) -> BpmnWorkflow:
    """A workflow of ``process`` back from :func:`serialize`'s text, with the safe script engine."""
    dct = json.loads(state)
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
