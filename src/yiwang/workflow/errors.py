"""Errors of the workflow domain, each with a stable code."""

from __future__ import annotations

from typing import ClassVar

from yiwang.core.errors import AppError, ConflictError, NotFoundError


class _WithReason(AppError):
    """An error whose ``reason`` parameter is an English msgid itself, translated with the message."""

    translated: ClassVar[tuple[str, ...]] = ("reason",)

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params = dict(self.params)
        for key in self.translated:
            if isinstance(params.get(key), str):
                params[key] = translate(params[key], locale, **self.params)
        return translate(self.msgid, locale, **params)


class BpmnInvalid(_WithReason):
    code = "bpmn_invalid"
    status = 422
    message = "The file is not a usable BPMN 2.0 process: {reason}."


class BpmnUnsupported(_WithReason):
    code = "bpmn_unsupported"
    status = 422
    message = "The process uses something this system does not run: {reason}."


class DefinitionKeyInvalid(AppError):
    code = "definition_key_invalid"
    status = 422
    message = "The process key {key} is not valid: use 2 to 64 letters, digits, hyphens or underscores."


class DefinitionNotFound(NotFoundError):
    code = "definition_not_found"
    message = "There is no process definition {ref}."


class InstanceNotFound(NotFoundError):
    code = "instance_not_found"
    message = "There is no workflow instance {ref}."


class TaskNotReady(ConflictError):
    code = "task_not_ready"
    message = "The task {task_id} is not waiting to be done in this workflow."


class InstanceNotRunning(ConflictError):
    code = "instance_not_running"
    message = "The workflow {ref} is {status}, not running."


class TaskDataInvalid(_WithReason):
    code = "task_data_invalid"
    status = 422
    message = "The task cannot be completed with this data: {reason}."
