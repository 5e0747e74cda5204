"""Use cases of the workflow domain against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from yiwang.audit.models import AuditEntry
from yiwang.core.errors import PermissionDenied
from yiwang.workflow import errors
from yiwang.workflow import service as workflow_service
from yiwang.workflow.models import ProcessDefinition, WorkflowInstance

from .conftest import linear


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def _complete(session, instance_id: str, element_id: str, data: dict):
    task = next(t for t in workflow_service.ready_tasks(session, instance_id) if t.element_id == element_id)
    return workflow_service.complete_task(session, instance_id, task.id, data)


class TestRegisterDefinition:
    def test_registers_a_camunda_modeler_file_as_version_1(self, session, admin, parallel_xml) -> None:
        found = workflow_service.register_definition(session, admin, "restaurant-opening", parallel_xml.encode())

        assert (found.key, found.version, found.name, found.process_id) == (
            "restaurant-opening", 1, "餐饮店开业联办", "Process_restaurant_opening")
        row = session.get(ProcessDefinition, found.id)
        assert row.bpmn_xml == parallel_xml
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "workflow.definition.register")).one()
        assert entry.target_id == found.id

    def test_a_changed_file_is_a_new_version_and_the_same_file_is_not(self, session, admin, parallel_xml) -> None:
        first = workflow_service.register_definition(session, admin, "k1", parallel_xml)
        again = workflow_service.register_definition(session, admin, "k1", parallel_xml)
        second = workflow_service.register_definition(session, admin, "k1", parallel_xml.replace("办结", "完成"))

        assert again.id == first.id
        assert (first.version, second.version) == (1, 2)
        assert [d.version for d in workflow_service.list_definitions(session, "k1")] == [2, 1]

    def test_refuses_an_actor_without_workflow_manage(self, session, clerk, parallel_xml) -> None:
        with pytest.raises(PermissionDenied):
            workflow_service.register_definition(session, clerk, "k1", parallel_xml)
        assert _count(session, ProcessDefinition) == 0

    def test_refuses_a_script_task_with_bpmn_unsupported(self, session, admin) -> None:
        script = '<bpmn:scriptTask id="T"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>'
        with pytest.raises(errors.BpmnUnsupported) as caught:
            workflow_service.register_definition(session, admin, "k1", linear(script))

        assert caught.value.render("zh_Hans_CN") == "该流程使用了本系统不运行的内容：不支持元素 scriptTask。"
        assert caught.value.render("en") == (
            "The process uses something this system does not run: the element scriptTask is not supported.")
        assert _count(session, ProcessDefinition) == 0

    def test_refuses_a_process_without_a_user_task(self, session, admin) -> None:
        with pytest.raises(errors.BpmnInvalid) as caught:
            workflow_service.register_definition(session, admin, "k1", linear('<bpmn:task id="T" />'))
        assert caught.value.render("zh_Hans_CN") == "该文件不是可用的 BPMN 2.0 流程：流程中没有人工任务。"

    def test_refuses_a_bad_key(self, session, admin, parallel_xml) -> None:
        with pytest.raises(errors.DefinitionKeyInvalid):
            workflow_service.register_definition(session, admin, "a b", parallel_xml)


class TestBuiltinDefinition:
    def test_registers_each_template_once(self, session) -> None:
        one = workflow_service.builtin_definition(session, "one_step")
        two = workflow_service.builtin_definition(session, "review_then_approve")
        again = workflow_service.builtin_definition(session, "one_step")

        assert (one.key, one.version, one.name) == ("one_step", 1, "一步审批")
        assert (two.key, two.name) == ("review_then_approve", "受理审查后审批")
        assert again.id == one.id
        assert _count(session, ProcessDefinition) == 2

    def test_refuses_an_unknown_template(self, session) -> None:
        with pytest.raises(errors.DefinitionNotFound):
            workflow_service.builtin_definition(session, "three_steps")  # type: ignore[arg-type]


class TestOneStep:
    def test_approve_finishes_at_the_approved_end(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {"application_id": "A1"})

        tasks = workflow_service.ready_tasks(session, started.id)
        assert [(t.element_id, t.name, t.lane) for t in tasks] == [("Task_approve", "审批", "审批")]
        done = workflow_service.complete_task(session, started.id, tasks[0].id,
                                              {"decision": "approve", "comment": "材料齐全"})

        assert (done.status, done.active) == ("completed", [])
        assert done.data == {"application_id": "A1", "decision": "approve", "comment": "材料齐全"}
        _, _, completed = workflow_service.diagram(session, started.id)
        assert "EndEvent_approved" in completed and "EndEvent_rejected" not in completed

    def test_correction_goes_to_the_applicant_and_back_to_approval(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {})

        after = _complete(session, started.id, "Task_approve", {"decision": "correct", "comment": "缺营业执照"})
        assert (after.status, after.active) == ("running", ["Task_correct"])
        [task] = workflow_service.ready_tasks(session, started.id)
        assert (task.name, task.lane) == ("补正", "窗口")
        after = _complete(session, started.id, "Task_correct", {"decision": None})
        assert after.active == ["Task_approve"]
        after = _complete(session, started.id, "Task_approve", {"decision": "reject"})
        assert after.status == "completed"
        assert "EndEvent_rejected" in workflow_service.diagram(session, started.id)[2]

    def test_refuses_a_task_that_is_not_ready_and_changes_nothing(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {})
        before = session.get(WorkflowInstance, started.id).state

        with pytest.raises(errors.TaskNotReady):
            workflow_service.complete_task(session, started.id, "not-a-task", {"decision": "approve"})
        assert session.get(WorkflowInstance, started.id).state == before

    def test_refuses_a_decision_no_flow_accepts(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {})
        [task] = workflow_service.ready_tasks(session, started.id)

        with pytest.raises(errors.TaskDataInvalid):
            workflow_service.complete_task(session, started.id, task.id, {"decision": "maybe"})
        assert workflow_service.get_instance(session, started.id).active == ["Task_approve"]

    def test_refuses_completing_a_finished_instance(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {})
        [task] = workflow_service.ready_tasks(session, started.id)
        workflow_service.complete_task(session, started.id, task.id, {"decision": "approve"})

        with pytest.raises(errors.InstanceNotRunning):
            workflow_service.complete_task(session, started.id, task.id, {"decision": "approve"})
        assert workflow_service.ready_tasks(session, started.id) == []


class TestReviewThenApprove:
    def test_review_then_approval_then_end(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "review_then_approve")
        started = workflow_service.start(session, definition.id, {})

        assert started.active == ["Task_review"]
        after = _complete(session, started.id, "Task_review", {"decision": "correct"})
        assert after.active == ["Task_correct"]
        after = _complete(session, started.id, "Task_correct", {})
        assert after.active == ["Task_review"]
        after = _complete(session, started.id, "Task_review", {"decision": "approve"})
        assert after.active == ["Task_approve"]
        after = _complete(session, started.id, "Task_approve", {"decision": "approve"})
        assert after.status == "completed"

    def test_review_can_refuse_to_accept(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "review_then_approve")
        started = workflow_service.start(session, definition.id, {})

        after = _complete(session, started.id, "Task_review", {"decision": "reject"})

        assert after.status == "completed"
        assert "EndEvent_not_accepted" in workflow_service.diagram(session, started.id)[2]


class TestCamundaParallel:
    """The acceptance test: a file drawn in Camunda Modeler, with lanes and a parallel gateway, runs
    unchanged, its state saved to the database at every step."""

    def test_runs_unchanged_through_the_database(self, session, admin, parallel_xml) -> None:
        definition = workflow_service.register_definition(session, admin, "restaurant-opening", parallel_xml)
        started = workflow_service.start(session, definition.id, {"application_id": "A9"})
        session.commit()

        tasks = workflow_service.ready_tasks(session, started.id)
        assert [(t.name, t.lane) for t in tasks] == [("消防安全检查", "消防救援支队"), ("食品经营许可审批", "市场监管局")]
        after = workflow_service.complete_task(session, started.id, tasks[1].id, {"food": "approve"})
        session.commit()
        assert (after.status, after.active) == ("running", ["Activity_fire_check"])
        assert [t.id for t in workflow_service.ready_tasks(session, started.id)] == [tasks[0].id]
        after = workflow_service.complete_task(session, started.id, tasks[0].id, {"fire": "approve"})
        session.commit()
        assert after.status == "completed"
        row = session.get(WorkflowInstance, started.id)
        assert json.loads(row.data) == {"application_id": "A9", "food": "approve", "fire": "approve"}

    def test_an_instance_keeps_its_version(self, session, admin, parallel_xml) -> None:
        v1 = workflow_service.register_definition(session, admin, "kv", parallel_xml)
        started = workflow_service.start(session, v1.id, {})
        workflow_service.register_definition(session, admin, "kv", parallel_xml.replace("消防安全检查", "消防检查"))

        assert {t.name for t in workflow_service.ready_tasks(session, started.id)} == {"消防安全检查", "食品经营许可审批"}
        assert workflow_service.get_instance(session, started.id).definition_id == v1.id


class TestBundle:
    def test_start_many_starts_one_instance_per_branch(self, session) -> None:
        one = workflow_service.builtin_definition(session, "one_step")
        two = workflow_service.builtin_definition(session, "review_then_approve")

        branches = workflow_service.start_many(session, [(one.id, {"item": "I1"}), (two.id, {"item": "I2"}),
                                                         (one.id, {"item": "I3"})])

        assert [(b.definition_id, b.active, b.data["item"]) for b in branches] == [
            (one.id, ["Task_approve"], "I1"), (two.id, ["Task_review"], "I2"), (one.id, ["Task_approve"], "I3")]
        for b in branches[:1] + branches[2:]:
            _complete(session, b.id, "Task_approve", {"decision": "approve"})
        assert [workflow_service.get_instance(session, b.id).status for b in branches] == [
            "completed", "running", "completed"]

    def test_start_many_writes_the_rows_the_orm_reads(self, session) -> None:
        one = workflow_service.builtin_definition(session, "one_step")

        [branch] = workflow_service.start_many(session, [(one.id, {"item": "I1"})])

        row = session.get(WorkflowInstance, branch.id)
        assert (row.definition_id, row.status, row.active, json.loads(row.data)) == (
            one.id, "running", " Task_approve ", {"item": "I1"})
        assert (row.created_at, row.updated_at) == (branch.created_at, branch.updated_at)
        assert row.created_at.utcoffset() is not None and row.created_at.utcoffset().total_seconds() == 0

    def test_start_many_with_an_unknown_definition_starts_none(self, session) -> None:
        one = workflow_service.builtin_definition(session, "one_step")

        with pytest.raises(errors.DefinitionNotFound):
            workflow_service.start_many(session, [(one.id, {}), ("nope", {})])
        assert _count(session, WorkflowInstance) == 0


class TestInbox:
    def test_waiting_at_finds_running_instances_at_an_element(self, session) -> None:
        one = workflow_service.builtin_definition(session, "one_step")
        a, b = workflow_service.start_many(session, [(one.id, {}), (one.id, {})])
        _complete(session, b.id, "Task_approve", {"decision": "correct"})

        assert [i.id for i in workflow_service.waiting_at(session, "Task_approve")] == [a.id]
        assert [i.id for i in workflow_service.waiting_at(session, "Task_correct", [one.id])] == [b.id]
        assert workflow_service.waiting_at(session, "Task%") == []

    def test_cancel_stops_a_running_instance(self, session) -> None:
        one = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, one.id, {})

        cancelled = workflow_service.cancel(session, started.id)

        assert (cancelled.status, cancelled.active) == ("cancelled", [])
        assert workflow_service.ready_tasks(session, started.id) == []
        with pytest.raises(errors.InstanceNotRunning):
            workflow_service.cancel(session, started.id)

    def test_unknown_instance_is_not_found(self, session) -> None:
        with pytest.raises(errors.InstanceNotFound):
            workflow_service.get_instance(session, "nope")


class TestLiveWorkflows:
    """A step reuses the workflow object of the step before only when the state in the database is
    exactly the one saved from it."""

    def test_a_step_rolled_back_is_not_reused(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {"application_id": "A1"})
        session.commit()
        _complete(session, started.id, "Task_approve", {"decision": "correct", "comment": "缺材料"})
        session.rollback()

        [task] = workflow_service.ready_tasks(session, started.id)
        done = workflow_service.complete_task(session, started.id, task.id, {"decision": "approve"})

        assert task.element_id == "Task_approve"
        assert (done.status, done.data) == ("completed", {"application_id": "A1", "decision": "approve"})

    def test_a_step_made_elsewhere_is_read_from_the_database(self, session) -> None:
        from yiwang.workflow import engine

        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {})
        _complete(session, started.id, "Task_approve", {"decision": "correct"})
        earlier = session.scalar(select(WorkflowInstance.state).where(WorkflowInstance.id == started.id))
        _complete(session, started.id, "Task_correct", {})
        # as if this process had made the first step and another process the second one
        process = engine.parse(session.get(ProcessDefinition, definition.id).bpmn_xml)
        workflow_service._live.keep(started.id, earlier, engine.deserialize(process, earlier))

        done = _complete(session, started.id, "Task_approve", {"decision": "approve"})

        assert (done.status, done.data) == ("completed", {"decision": "approve"})

    def test_a_failed_step_leaves_nothing_behind(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "one_step")
        started = workflow_service.start(session, definition.id, {})
        [task] = workflow_service.ready_tasks(session, started.id)
        with pytest.raises(errors.TaskDataInvalid):
            workflow_service.complete_task(session, started.id, task.id, {"decision": "maybe", "note": "x"})

        done = workflow_service.complete_task(session, started.id, task.id, {"decision": "approve"})

        assert (done.status, done.data) == ("completed", {"decision": "approve"})

    def test_a_new_process_reads_every_state_from_the_database(self, session) -> None:
        definition = workflow_service.builtin_definition(session, "review_then_approve")
        started = workflow_service.start(session, definition.id, {"application_id": "A2"})
        workflow_service._live.clear()
        _complete(session, started.id, "Task_review", {"decision": "approve"})
        workflow_service._live.clear()

        done = _complete(session, started.id, "Task_approve", {"decision": "approve"})

        assert (done.status, done.data) == ("completed", {"application_id": "A2", "decision": "approve"})
