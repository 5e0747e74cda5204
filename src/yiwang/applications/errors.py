"""Errors of the applications domain, each with a stable code."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import ConflictError, NotFoundError, ValidationFailed


class ApplicationNotFound(NotFoundError):
    code = "application_not_found"
    message = "There is no application {ref}."


class BranchNotFound(NotFoundError):
    code = "branch_not_found"
    message = "The application has no branch {ref}."


class SubjectKindInvalid(ValidationFailed):
    code = "subject_kind_invalid"
    message = "Apply for a service item or a bundle, not {kind}."


class SubjectNotAvailable(ValidationFailed):
    code = "subject_not_available"
    message = "{name} cannot be applied for online in this area."


class FormInvalid(ValidationFailed):
    code = "form_invalid"
    message = "Some answers on the form need correcting."

    def __init__(self, message: str | None = None, /, errors: list[dict[str, Any]] | None = None, **params: Any):
        super().__init__(message, errors=errors, **params)


class MaterialMissing(ValidationFailed):
    code = "material_missing"
    message = "Please provide the material: {name}."


class MaterialUnknown(ValidationFailed):
    code = "material_unknown"
    message = "{code} is not a material of this application."


class MaterialFileInvalid(ValidationFailed):
    code = "material_file_invalid"
    message = "The file given for {name} is not one you uploaded."


class ApplicantRequired(ValidationFailed):
    code = "applicant_required"
    message = "Only a citizen or an enterprise agent with a registry record can apply."


class ApplicantMismatch(ValidationFailed):
    code = "applicant_mismatch"
    message = "The name given does not match the registry record of that ID number."


class ApplicantNotFound(ValidationFailed):
    code = "applicant_not_found"
    message = "No registry record has that ID number or credit code; check it with the applicant's document."


class ConsentRequired(ValidationFailed):
    code = "consent_required"
    message = "Pre-filling reads your registry record: please agree first."


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    message = "Please give a reason (at most {limit} characters)."


class DecisionInvalid(ValidationFailed):
    code = "decision_invalid"
    message = "The decision must be approve, reject or correct, not {decision}."


class AreaInvalid(ValidationFailed):
    code = "application_area_invalid"
    message = "{area} is not a district of this city."


class ReceivedInFuture(ValidationFailed):
    code = "received_in_future"
    message = "An application cannot be received on {day}, a day still to come."


class IdempotencyKeyInvalid(ValidationFailed):
    code = "idempotency_key_invalid"
    message = "The Idempotency-Key must be 8 to 80 letters, digits, '-' or '_'."


class _StateWords:
    """Renders the ``status`` and ``action`` params as words of the reader's language too."""

    params: dict[str, Any]
    msgid: str

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        words = {k: translate(f"{k}:{v}", locale).split(":", 1)[-1] if k in ("status", "action") else v
                 for k, v in self.params.items()}
        return translate(self.msgid, locale, **words)


class StatusConflict(_StateWords, ConflictError):
    code = "application_status_conflict"
    message = "The application is {status}: it cannot be {action} now."


class BranchStatusConflict(_StateWords, ConflictError):
    code = "branch_status_conflict"
    message = "This branch is {status}: it cannot be {action} now."


class TaskNotWaiting(ConflictError):
    code = "application_task_not_waiting"
    message = "That step is not waiting for a decision; reload the application."


class NotRatable(ConflictError):
    code = "application_not_ratable"
    message = "An application can be rated once, by its applicant, after it is closed."
