"""The engine module on its own: parsing, safety checks, running, state round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiwang.workflow import engine

from .conftest import CAMUNDA_PARALLEL, bpmn, linear

SCRIPT_TASK = '<bpmn:scriptTask id="T" scriptFormat="python"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>'


def _gateway(condition: str) -> str:
    return bpmn(
        '<bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="T" />'
        '<bpmn:userTask id="T" /><bpmn:sequenceFlow id="f2" sourceRef="T" targetRef="G" />'
        '<bpmn:exclusiveGateway id="G" />'
        '<bpmn:sequenceFlow id="yes" sourceRef="G" targetRef="E1"><bpmn:conditionExpression '
        f'xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="no" sourceRef="G" targetRef="T2"><bpmn:conditionExpression '
        f'xsi:type="bpmn:tFormalExpression">not ({condition})</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:endEvent id="E1" /><bpmn:userTask id="T2" /><bpmn:sequenceFlow id="f3" sourceRef="T2" '
        'targetRef="E2" /><bpmn:endEvent id="E2" />'
    )


class TestParse:
    def test_reads_a_camunda_modeler_file_with_lanes(self) -> None:
        process = engine.parse(CAMUNDA_PARALLEL.read_bytes())

        assert process.process_id == "Process_restaurant_opening"
        assert process.name == "餐饮店开业联办"
        assert process.user_task_ids == ("Activity_fire_check", "Activity_food_licence")

    def test_refuses_text_that_is_not_xml(self) -> None:
        with pytest.raises(engine.EngineError) as caught:
            engine.parse("not xml")
        assert (caught.value.kind, caught.value.reason) == ("invalid", "the file is not well-formed XML")

    def test_refuses_xml_that_is_not_bpmn(self) -> None:
        with pytest.raises(engine.EngineError) as caught:
            engine.parse("<svg xmlns='http://www.w3.org/2000/svg'/>")
        assert caught.value.reason == "the file is not a BPMN 2.0 document"

    def test_refuses_a_document_without_an_executable_process(self) -> None:
        with pytest.raises(engine.EngineError) as caught:
            engine.parse(bpmn('<bpmn:startEvent id="S" />', executable="false"))
        assert (caught.value.reason, caught.value.params) == (
            "the file must hold exactly one executable process, not {count}", {"count": 0})

    @pytest.mark.parametrize("task", [
        SCRIPT_TASK,
        '<bpmn:serviceTask id="T" />',
        '<bpmn:businessRuleTask id="T" />',
        '<bpmn:callActivity id="T" calledElement="Other" />',
    ], ids=["script", "service", "business-rule", "call-activity"])
    def test_refuses_elements_that_would_run_code(self, task: str) -> None:
        with pytest.raises(engine.EngineError) as caught:
            engine.parse(linear(task))
        assert caught.value.kind == "unsupported"
        assert caught.value.params["element"] == task.split()[0].removeprefix("<bpmn:")

    @pytest.mark.parametrize("condition", [
        "__import__('os').system('true')",
        "open('/etc/passwd').read() == ''",
        "decision.__class__ == 1",
        "[x for x in ()] == []",
    ], ids=["call", "builtin", "attribute", "comprehension"])
    def test_refuses_conditions_beyond_comparisons(self, condition: str) -> None:
        with pytest.raises(engine.EngineError) as caught:
            engine.parse(_gateway(condition.replace("'", "&apos;")))
        assert caught.value.kind == "unsupported"

    @pytest.mark.parametrize("doctype", [
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE d [<!ENTITY x "审批">]>',
    ], ids=["external", "internal"])
    def test_refuses_a_document_type_declaration(self, doctype: str) -> None:
        doc = linear().replace('<?xml version="1.0" encoding="UTF-8"?>\n', doctype).replace('name="审批"', 'name="&x;"')

        with pytest.raises(engine.EngineError) as caught:
            engine.parse(doc)
        assert caught.value.kind == "invalid"


class TestConditions:
    @pytest.mark.parametrize(("condition", "data", "expected"), [
        ('decision == "approve"', {"decision": "approve"}, True),
        ('decision == "approve"', {"decision": "reject"}, False),
        ('decision == "approve"', {}, False),
        ('decision in ("reject", "correct")', {"decision": "correct"}, True),
        ('amount >= 100 and not urgent', {"amount": 150, "urgent": False}, True),
        ('amount >= 100', {"amount": "many"}, False),
        ("${decision == 'approve'}", {"decision": "approve"}, True),
        ("${amount > 10 && !urgent}", {"amount": 11, "urgent": True}, False),
        ("${a == null || b != true}", {"a": None, "b": True}, True),
    ])
    def test_evaluates_simple_comparisons_and_juel(self, condition: str, data: dict, expected: bool) -> None:
        class Task:
            pass

        task = Task()
        task.data = data

        assert engine.SCRIPT_ENGINE.evaluate(task, condition) is expected

    def test_runs_no_script(self) -> None:
        with pytest.raises(engine.EngineError):
            engine.SCRIPT_ENGINE.execute(None, "x = 1")


class TestRun:
    def test_parallel_branches_are_ready_together_and_join(self) -> None:
        process = engine.parse(CAMUNDA_PARALLEL.read_text(encoding="utf-8"))
        workflow = engine.start(process, {"applicant": "A1"})

        ready = engine.ready_tasks(workflow)
        assert [(t.element_id, t.name, t.lane) for t in ready] == [
            ("Activity_fire_check", "消防安全检查", "消防救援支队"),
            ("Activity_food_licence", "食品经营许可审批", "市场监管局"),
        ]
        assert engine.complete_task(workflow, ready[0].id, {"fire": "ok"}) is True
        assert engine.active_element_ids(workflow) == ["Activity_food_licence"]
        assert engine.complete_task(workflow, ready[1].id, {"food": "ok"}) is True
        assert engine.is_completed(workflow) is True
        assert engine.data(workflow) == {"applicant": "A1", "fire": "ok", "food": "ok"}

    def test_refuses_a_task_that_is_not_ready(self) -> None:
        process = engine.parse(linear())
        workflow = engine.start(process)

        assert engine.complete_task(workflow, "00000000-0000-0000-0000-000000000000", {}) is False
        assert engine.active_element_ids(workflow) == ["T"]

    def test_state_round_trips_through_json(self) -> None:
        process = engine.parse(CAMUNDA_PARALLEL.read_bytes())
        workflow = engine.start(process)
        first = engine.ready_tasks(workflow)[0]
        engine.complete_task(workflow, first.id, {"x": 1})

        restored = engine.deserialize(process, engine.serialize(workflow))

        assert engine.ready_tasks(restored) == engine.ready_tasks(workflow)
        assert engine.completed_element_ids(restored) == ["Activity_fire_check", "Gateway_split", "StartEvent_1"]
        engine.complete_task(restored, engine.ready_tasks(restored)[0].id, {})
        assert engine.is_completed(restored) is True

    def test_a_decision_no_flow_accepts_raises(self) -> None:
        process = engine.parse(_gateway('decision == "approve"').replace("not (decision == &quot;approve&quot;)",
                                                                        'decision == "reject"')
                               .replace('not (decision == "approve")', 'decision == "reject"'))
        workflow = engine.start(process)

        with pytest.raises(engine.EngineError) as caught:
            engine.complete_task(workflow, engine.ready_tasks(workflow)[0].id, {"decision": "maybe"})
        assert caught.value.kind == "stuck"


class TestBoundary:
    def test_only_the_engine_module_imports_spiffworkflow(self) -> None:
        import re
        from pathlib import Path

        import yiwang

        imports = re.compile(r"^\s*(from|import)\s+SpiffWorkflow\b", re.M)
        root = Path(yiwang.__file__).parent
        importers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                           if imports.search(p.read_text(encoding="utf-8")))

        assert importers == ["workflow/engine.py"]


BUILTIN = Path(engine.__file__).parent / "bpmn"
INCLUSIVE = bpmn(
    '<bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="G1" />'
    '<bpmn:inclusiveGateway id="G1" />'
    '<bpmn:sequenceFlow id="a" sourceRef="G1" targetRef="A"><bpmn:conditionExpression '
    'xsi:type="bpmn:tFormalExpression">x &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="b" sourceRef="G1" targetRef="B"><bpmn:conditionExpression '
    'xsi:type="bpmn:tFormalExpression">x &gt; 2</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:userTask id="A" /><bpmn:userTask id="B" />'
    '<bpmn:sequenceFlow id="a2" sourceRef="A" targetRef="G2" /><bpmn:sequenceFlow id="b2" sourceRef="B" targetRef="G2" />'
    '<bpmn:inclusiveGateway id="G2" /><bpmn:sequenceFlow id="f2" sourceRef="G2" targetRef="E" /><bpmn:endEvent id="E" />'
)


def _paths() -> list[tuple[str, str, list[tuple[str, dict]]]]:
    """(name, BPMN text, the decisions taken: element id → data, in order) of a few processes."""
    one_step = (BUILTIN / "one_step.bpmn").read_text(encoding="utf-8")
    review = (BUILTIN / "review_then_approve.bpmn").read_text(encoding="utf-8")
    return [
        ("parallel", CAMUNDA_PARALLEL.read_text(encoding="utf-8"),
         [("Activity_food_licence", {"food": "ok"}), ("Activity_fire_check", {"fire": "ok"})]),
        ("one-step-correction-loop", one_step,
         [("Task_approve", {"decision": "correct", "comment": "缺材料"}), ("Task_correct", {"files": [1, 2]}),
          ("Task_approve", {"decision": "correct"}), ("Task_correct", {}), ("Task_approve", {"decision": "reject"})]),
        ("review-then-approve", review,
         [("Task_review", {"decision": "approve", "nested": {"a": [1, {"b": None}]}}),
          ("Task_approve", {"decision": "approve", "amount": 1.5})]),
        ("inclusive", INCLUSIVE, [("A", {"a": True}), ("B", {"b": False})]),
    ]


def _shape(workflow) -> list[tuple[str, int, dict, dict]]:
    """Everything of a workflow but its random task ids, in tree order."""
    return [(t.task_spec.name, t.state, t.data, t.internal_data) for t in workflow.get_tasks()]


def _spiff_run(process: engine.ParsedProcess, data: dict, decisions: list[tuple[str, dict]]) -> list:
    """The same path driven by SpiffWorkflow's own API only: the reference for our loop."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=engine.SCRIPT_ENGINE)
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    shapes = [_shape(workflow)]
    for element_id, values in decisions:
        task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.bpmn_id == element_id)
        task.data.update(values)
        task.run()
        workflow.do_engine_steps()
        shapes.append(_shape(workflow))
    return shapes


class TestEngineLoop:
    @pytest.mark.parametrize(("name", "xml", "decisions"), _paths(), ids=[p[0] for p in _paths()])
    def test_runs_every_step_as_spiffworkflows_own_loop(self, name: str, xml: str, decisions: list) -> None:
        process = engine.parse(xml)
        workflow = engine.start(process, {"x": 3, "applicant": "A1"})
        shapes = [_shape(workflow)]
        for element_id, values in decisions:
            task = next(t for t in engine.ready_tasks(workflow) if t.element_id == element_id)
            assert engine.complete_task(workflow, task.id, values) is True
            shapes.append(_shape(workflow))

        assert shapes == _spiff_run(process, {"x": 3, "applicant": "A1"}, decisions)
        assert engine.is_completed(workflow) is True


class TestState:
    @pytest.mark.parametrize(("name", "xml", "decisions"), _paths(), ids=[p[0] for p in _paths()])
    def test_compact_state_round_trips_at_every_step(self, name: str, xml: str, decisions: list) -> None:
        process = engine.parse(xml)
        workflow = engine.start(process, {"x": 3, "applicant": "张三"})
        for element_id, values in [(None, None), *decisions]:
            if element_id is not None:
                task = next(t for t in engine.ready_tasks(workflow) if t.element_id == element_id)
                engine.complete_task(workflow, task.id, values)
            text = engine.serialize(workflow)
            restored = engine.deserialize(process, text)

            assert text.startswith('{"yw1":')
            assert engine.serialize(restored) == text
            assert [(t.id, t.last_state_change, t.triggered) for t in restored.get_tasks()] == [
                (t.id, t.last_state_change, t.triggered) for t in workflow.get_tasks()]
            assert _shape(restored) == _shape(workflow)
            assert (restored.last_task.id, restored.completed, restored.success, restored.data) == (
                workflow.last_task.id, workflow.completed, workflow.success, workflow.data)
            assert engine.ready_tasks(restored) == engine.ready_tasks(workflow)
            workflow = restored  # the next step runs on the restored object

    def test_a_restored_task_data_is_its_own(self) -> None:
        process = engine.parse(linear())
        workflow = engine.deserialize(process, engine.serialize(engine.start(process, {"form": {"a": [1]}})))
        first, *others = [t for t in workflow.get_tasks() if t.data]

        first.data["form"]["a"].append(2)

        assert [t.data for t in others] == [{"form": {"a": [1]}}] * len(others)

    @pytest.mark.parametrize("value", [(1, 2), {1: "a"}, {"a", "b"}], ids=["tuple", "int-key", "set"])
    def test_data_json_cannot_represent_exactly_is_saved_in_spiffworkflows_format(self, value: object) -> None:
        process = engine.parse(linear())
        workflow = engine.start(process)
        engine.ready_tasks(workflow)
        next(iter(workflow.tasks.values())).data["odd"] = value

        text = engine.serialize(workflow)
        restored = engine.deserialize(process, text)

        assert not text.startswith('{"yw1":')
        assert engine.ready_tasks(restored) == engine.ready_tasks(workflow)

    def test_reads_a_state_saved_in_spiffworkflows_format(self) -> None:
        process = engine.parse(CAMUNDA_PARALLEL.read_bytes())
        workflow = engine.start(process, {"applicant": "A1"})
        legacy = engine._SERIALIZER.serialize_json(workflow)

        restored = engine.deserialize(process, legacy)

        assert engine.ready_tasks(restored) == engine.ready_tasks(workflow)
        for task in engine.ready_tasks(restored):
            engine.complete_task(restored, task.id, {})
        assert engine.is_completed(restored) is True
        assert engine.data(restored) == {"applicant": "A1"}

    def test_refuses_completing_a_task_id_that_is_not_a_uuid(self) -> None:
        workflow = engine.start(engine.parse(linear()))

        assert engine.complete_task(workflow, "not-a-task", {}) is False
        assert engine.active_element_ids(workflow) == ["T"]
