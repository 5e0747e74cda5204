"""Errors of the identity domain, each with a stable code."""

from __future__ import annotations

from yiwang.core.errors import (
    AppError,
    AuthenticationRequired,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ValidationFailed,
)


class UserNotFound(NotFoundError):
    code = "user_not_found"
    message = "There is no such user."


class UsernameTaken(ConflictError):
    code = "username_taken"
    message = "The username {username} is already taken."


class InvalidUsername(ValidationFailed):
    code = "invalid_username"
    message = "A username has 2 to 64 letters, digits, dots, hyphens or underscores."


class InvalidUserKind(ValidationFailed):
    code = "invalid_user_kind"
    message = "Unknown kind of user: {kind}."


class WeakPassword(ValidationFailed):
    code = "weak_password"
    message = "The password must have at least {min_length} characters and mix at least two of: letters, digits, other characters."


class UnknownRole(ValidationFailed):
    code = "unknown_role"
    message = "Unknown role: {role}."


class UnknownPermission(ValidationFailed):
    code = "unknown_permission"
    message = "Unknown permission: {permission}."


class InvalidAreaCode(ValidationFailed):
    code = "invalid_area_code"
    message = "An area code is 2 to 15 digits."


class RoleNotForKind(ValidationFailed):
    code = "role_not_for_kind"
    message = "The role {role} cannot be given to this kind of user."


class SeparationOfDuties(AppError):
    """三员分立: the grant or policy edit would merge separated administrator duties. Raised with
    the rule's own message: ``SeparationOfDuties(violation.msgid, **violation.params)``."""

    code = "separation_of_duties"
    status = 409
    message = "Refused by the separation of administrator duties."


class CannotDisableSelf(ConflictError):
    code = "cannot_disable_self"
    message = "You cannot disable your own account."


class GrantExists(ConflictError):
    code = "grant_exists"
    message = "The user already holds this role there."


class GrantNotFound(NotFoundError):
    code = "grant_not_found"
    message = "There is no such grant."


class SignInThrottled(AppError):
    """Too many failed sign-ins from the caller's network address, whatever the accounts."""

    code = "sign_in_throttled"
    status = 429
    message = "Too many failed sign-ins from your network. Please wait {minutes} minutes and try again."


class LoginFailed(AuthenticationRequired):
    """Wrong username, wrong password or a locked account: deliberately one answer for all three."""

    code = "login_failed"
    message = "The username or password is not correct, or the account is locked for a while after too many failed attempts."


class TotpInvalid(AuthenticationRequired):
    code = "totp_invalid"
    message = "The verification code is not correct or has already been used."


class TotpNotEnrolled(ConflictError):
    code = "totp_not_enrolled"
    message = "Two-factor sign-in is not set up for this account."


class TotpAlreadyEnabled(ConflictError):
    code = "totp_already_enabled"
    message = "Two-factor sign-in is already set up; verify your current code first to set it up again."


class TotpSetupNotStarted(ConflictError):
    code = "totp_setup_not_started"
    message = "Start the two-factor set-up first."


class MfaRequired(PermissionDenied):
    code = "mfa_required"
    message = "This needs a session verified with your two-factor code."


class CsrfFailed(AppError):
    code = "csrf_failed"
    status = 403
    message = "The form has expired or did not come from this site. Please reload the page and try again."


class TokenNotFound(NotFoundError):
    code = "token_not_found"
    message = "There is no such API token."


class InvalidToken(AuthenticationRequired):
    code = "invalid_token"
    message = "The API token is not valid, expired or revoked."


class OidcNotConfigured(NotFoundError):
    code = "oidc_not_configured"
    message = "Single sign-on is not configured."


class OidcFailed(AuthenticationRequired):
    code = "oidc_failed"
    message = "Single sign-on did not succeed. Please try again."


class OidcUnknownUser(AuthenticationRequired):
    code = "oidc_unknown_user"
    message = "Your single sign-on account is not linked to a staff account here. Ask a system administrator."
