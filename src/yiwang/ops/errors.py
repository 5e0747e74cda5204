"""Errors of backup and restore (容灾). Each refusal names what is wrong; ``errors`` lists the problems."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import AppError


class _WithProblems(AppError):
    """An error that carries a list of problems (each printed on its own line by the CLI)."""

    def __init__(self, message: str | None = None, /, errors: list[Any] | None = None, **params: Any) -> None:
        errors = list(errors or [])
        super().__init__(message, count=len(errors), **params)
        self.errors = errors


class BackupIncomplete(_WithProblems):
    """The backup never finished (no manifest) or lacks files its manifest lists."""

    code = "backup_incomplete"
    status = 422
    message = "The backup at {path} is incomplete and cannot be restored; problems found: {count}."


class BackupCorrupt(_WithProblems):
    """A file of the backup differs from its manifest, the manifest's signature fails, or the
    database copy does not open."""

    code = "backup_corrupt"
    status = 422
    message = "The backup at {path} is corrupt and cannot be restored; problems found: {count}."


class BackupDestinationNotEmpty(AppError):
    code = "backup_destination_not_empty"
    status = 409
    message = "The backup destination {path} is not empty; choose a new or empty directory."


class RestoreTargetNotEmpty(_WithProblems):
    """The target already holds a database or stored files; restoring would replace them."""

    code = "restore_target_not_empty"
    status = 409
    message = "The restore target already holds data, which restoring would replace; places: {count}."


class BackupTooNew(AppError):
    code = "backup_too_new"
    status = 409
    message = (
        "The backup's database is at revision {revision}, which this version of yiwang does not know; "
        "upgrade yiwang before restoring it."
    )


class BackupKindMismatch(AppError):
    code = "backup_kind_mismatch"
    status = 409
    message = "The backup holds a {backup_kind} database but the target is {target_kind}."


class BackupHasNoKeys(AppError):
    code = "backup_has_no_keys"
    status = 409
    message = "The backup does not contain the key directory; restore the keys from where you keep them."


class UnsafeLayout(AppError):
    code = "unsafe_layout"
    status = 409
    message = (
        "The {name} directory {path} contains the database or the key directory; give each its own "
        "directory before backing up or restoring."
    )


class DatabaseToolMissing(AppError):
    code = "database_tool_missing"
    status = 503
    message = "The PostgreSQL client program {tool} was not found; install the postgresql-client package."


class DatabaseToolFailed(AppError):
    code = "database_tool_failed"
    status = 500
    message = "{tool} failed: {detail}"
