"""Fixtures of the workflow tests: BPMN files and actors."""

from __future__ import annotations

from pathlib import Path

import pytest

from yiwang.core.actor import Actor, Grant

FIXTURES = Path(__file__).parent / "fixtures"
CAMUNDA_PARALLEL = FIXTURES / "camunda_modeler_parallel.bpmn"


def staff(role: str, *permissions: str) -> Actor:
    return Actor(kind="staff", user_id=f"user-{role}", username=role,
                 grants=(Grant(role, "31", None, frozenset(permissions)),))


@pytest.fixture
def admin() -> Actor:
    return staff("sys_admin", "workflow.manage")


@pytest.fixture
def clerk() -> Actor:
    return staff("clerk", "registry.person.read")


@pytest.fixture
def parallel_xml() -> str:
    return CAMUNDA_PARALLEL.read_text(encoding="utf-8")


def bpmn(process_body: str, *, executable: str = "true", extra_ns: str = "") -> str:
    """A minimal BPMN document with one process holding ``process_body``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'id="Definitions_t" targetNamespace="http://bpmn.io/schema/bpmn"{extra_ns}>\n'
        f'<bpmn:process id="P" name="测试流程" isExecutable="{executable}">{process_body}</bpmn:process>\n'
        '</bpmn:definitions>\n'
    )


def linear(task: str = '<bpmn:userTask id="T" name="审批" />') -> str:
    """start → ``task`` (id T) → end."""
    return bpmn(
        '<bpmn:startEvent id="S" /><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="T" />'
        f'{task}<bpmn:sequenceFlow id="f2" sourceRef="T" targetRef="E" /><bpmn:endEvent id="E" />'
    )
