"""Web pages of identity and access: sign-in (password, then TOTP), sign-out, account security
(TOTP set-up with a QR code), user administration and the role × permission matrix."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from yiwang.core.actor import Actor
from yiwang.core.errors import AppError, PermissionDenied
from yiwang.core.web import CurrentActor, DbSession, login_redirect, render, safe_next_path
from yiwang.identity import oidc, service
from yiwang.identity import policy as pol
from yiwang.identity.errors import CsrfFailed, LoginFailed, SignInThrottled, TotpInvalid
from yiwang.identity.web import begin_session, check_presession_csrf, clear_session_cookie, set_session_cookie

router = APIRouter(include_in_schema=False)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)




F = Annotated[str, Form()]


# -- sign-in -------------------------------------------------------------------------------------


def _login_page(request: Request, *, error: str | None = None, username: str = "", next_url: str = "/",
                status_code: int = 200) -> Response:
    settings = request.app.state.settings
    return render(request, "identity/login.html", {
        "error": error, "username": username, "next": next_url, "oidc": oidc.is_configured(settings),
        # The sign-in form is posted before any session exists: it carries the pre-session token.
        "csrf_token": getattr(request.state, "presession_csrf", ""),
    }, status_code=status_code)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    """The sign-in form."""
    return _login_page(request, next_url=safe_next_path(next))


@router.post("/login")
def login_submit(request: Request, session: DbSession, username: F = "", password: F = "",
                 next: F = "/") -> Response:  # noqa: A002
    """Check the password; then the TOTP step, TOTP set-up, or the page asked for."""
    next_url = safe_next_path(next)
    username = username.strip()
    try:
        check_presession_csrf(request)
    except CsrfFailed as exc:
        return _login_page(request, error=exc.render(), username=username, next_url=next_url, status_code=403)
    settings = request.app.state.settings
    outcome = service.authenticate(session, settings, username, password)
    if outcome.outcome == "throttled":
        error = SignInThrottled(minutes=settings.login_ip_window_minutes).render()
        return _login_page(request, error=error, username=username, next_url=next_url, status_code=429)
    if not outcome.ok or outcome.user_id is None:
        # Rendered, not raised: the failure count and the audit entry are committed.
        return _login_page(request, error=LoginFailed().render(), username=username, next_url=next_url,
                           status_code=401)
    token, _actor = begin_session(request, session, outcome.user_id, mfa=outcome.mfa)
    if outcome.totp_needed:
        target = f"/login/totp?next={quote(next_url, safe='')}"
    elif outcome.totp_setup_needed:
        target = f"/account/security?next={quote(next_url, safe='')}"
    else:
        target = next_url
    response = _redirect(target)
    set_session_cookie(response, settings, token)
    return response


@router.get("/login/totp")
def totp_form(request: Request, actor: CurrentActor, next: str | None = None) -> Response:  # noqa: A002
    """The second sign-in step."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return render(request, "identity/totp.html", {"error": None, "next": safe_next_path(next)})


@router.post("/login/totp")
def totp_submit(request: Request, session: DbSession, actor: CurrentActor, code: F = "",
                next: F = "/") -> Response:  # noqa: A002
    """Check the TOTP code; the session is replaced by a verified one."""
    next_url = safe_next_path(next)
    token = getattr(request.state, "session_token", None)
    if not actor.is_authenticated or actor.user_id is None or token is None:
        return login_redirect(request)
    settings = request.app.state.settings
    outcome = service.verify_second_factor(session, settings, actor.user_id, code)
    if not outcome.ok:
        return render(request, "identity/totp.html", {"error": TotpInvalid().render(), "next": next_url},
                      status_code=401)
    new_token = service.elevate_session(session, settings, token)
    response = _redirect(next_url)
    if new_token:
        set_session_cookie(response, settings, new_token)
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Sign out."""
    token = getattr(request.state, "session_token", None)
    if token:
        service.end_session(session, token, actor)
    response = _redirect("/login")
    clear_session_cookie(response, request.app.state.settings)
    return response


# -- account security ----------------------------------------------------------------------------


def _security_page(request: Request, session: Session, actor: Actor, *, status_code: int = 200,
                   **extra: Any) -> Response:
    ctx: dict[str, Any] = {"me": service.me(session, actor), "setup": None, "qr_svg": None, "error": None,
                           "done": False, "next": safe_next_path(request.query_params.get("next"))}
    ctx.update(extra)
    return render(request, "identity/security.html", ctx, status_code=status_code)


@router.get("/account/security")
def security(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Two-factor status and set-up."""
    if not actor.is_authenticated or actor.user_id is None:
        return login_redirect(request)
    return _security_page(request, session, actor, done=request.query_params.get("done") == "1")


@router.post("/account/security/totp")
def security_totp_setup(request: Request, session: DbSession, actor: CurrentActor, next: F = "/") -> Response:  # noqa: A002
    """Start TOTP set-up: show the QR code and the secret."""
    if not actor.is_authenticated or actor.user_id is None:
        return login_redirect(request)
    try:
        setup = service.begin_totp_setup(session, actor, settings=request.app.state.settings)
    except PermissionDenied:
        raise
    except AppError as exc:
        return _security_page(request, session, actor, error=exc.render(), status_code=exc.status)
    return _security_page(request, session, actor, setup=setup, qr_svg=service.totp_qr_svg(setup.otpauth_uri),
                          next=safe_next_path(next))


@router.post("/account/security/totp/confirm")
def security_totp_confirm(request: Request, session: DbSession, actor: CurrentActor, code: F = "",
                          next: F = "/") -> Response:  # noqa: A002
    """Confirm TOTP set-up with a code; the session becomes verified."""
    if not actor.is_authenticated or actor.user_id is None:
        return login_redirect(request)
    settings = request.app.state.settings
    next_url = safe_next_path(next)
    try:
        ok = service.confirm_totp(session, actor, code, settings=settings)
    except PermissionDenied:
        raise
    except AppError as exc:
        return _security_page(request, session, actor, error=exc.render(), status_code=exc.status)
    if not ok:
        return _security_page(request, session, actor, error=TotpInvalid().render(), status_code=401)
    token = getattr(request.state, "session_token", None)
    new_token = service.elevate_session(session, settings, token) if token else None
    response = _redirect(next_url if next_url != "/" else "/account/security?done=1")
    if new_token:
        set_session_cookie(response, settings, new_token)
    return response


# -- user administration -------------------------------------------------------------------------


def _users_page(request: Request, session: Session, actor: Actor, *, error: str | None = None,
                form: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    q = request.query_params.get("q") or None
    page = service.list_users(session, actor, q=q, limit=100)
    return render(request, "identity/users.html", {
        "page": page, "q": q or "", "error": error, "form": form or {}, "roles": list(pol.ROLES.values()),
    }, status_code=status_code)


@router.get("/admin/users")
def users(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Accounts inside your user.manage scopes, and a form to create one."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _users_page(request, session, actor)


@router.post("/admin/users")
def users_create(
    request: Request, session: DbSession, actor: CurrentActor, username: F = "", display_name: F = "",
    kind: F = "staff", password: F = "", email: F = "", role: F = "", area_code: F = "", department_id: F = "",
) -> Response:
    """Create an account (with a first grant)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    grants = [(role, area_code.strip(), department_id.strip() or None)] if role else []
    try:
        user = service.create_user(
            session, actor, username=username.strip(), password=password or None, kind=kind,
            display_name=display_name.strip() or username.strip(), email=email.strip() or None, grants=grants,
            settings=request.app.state.settings,
        )
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        form = {"username": username, "display_name": display_name, "kind": kind, "email": email, "role": role,
                "area_code": area_code, "department_id": department_id}
        return _users_page(request, session, actor, error=exc.render(), form=form, status_code=exc.status)
    return _redirect(f"/admin/users/{user.id}")


def _user_page(request: Request, session: Session, actor: Actor, user_id: str, *, error: str | None = None,
               status_code: int = 200) -> Response:
    user = service.get_user(session, actor, user_id)
    return render(request, "identity/user.html", {
        "user": user, "error": error, "roles": list(pol.ROLES.values()),
        "can_unlock": service.can_act_on_user(session, actor, "security.manage", user_id),
        "can_manage": service.can_act_on_user(session, actor, "user.manage", user_id) and actor.user_id != user_id,
    }, status_code=status_code)


@router.get("/admin/users/{user_id}")
def user_detail(user_id: str, request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """One account: its grants, with forms to add and revoke."""
    if not actor.is_authenticated:
        return login_redirect(request)
    return _user_page(request, session, actor, user_id)


def _user_action(request: Request, session: Session, actor: Actor, user_id: str, act: Any) -> Response:
    if not actor.is_authenticated:
        return login_redirect(request)
    try:
        act()
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return _user_page(request, session, actor, user_id, error=exc.render(), status_code=exc.status)
    return _redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/grants")
def user_grant(user_id: str, request: Request, session: DbSession, actor: CurrentActor, role: F = "",
               area_code: F = "", department_id: F = "") -> Response:
    """Add a grant."""
    return _user_action(request, session, actor, user_id, lambda: service.grant_role(
        session, actor, user_id, role, area_code.strip(), department_id.strip() or None))


@router.post("/admin/users/{user_id}/grants/{grant_id}/revoke")
def user_revoke(user_id: str, grant_id: str, request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Revoke a grant."""
    return _user_action(request, session, actor, user_id,
                        lambda: service.revoke_grant(session, actor, user_id, grant_id))


@router.post("/admin/users/{user_id}/unlock")
def user_unlock(user_id: str, request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Clear a lockout."""
    return _user_action(request, session, actor, user_id, lambda: service.unlock_user(session, actor, user_id))


@router.post("/admin/users/{user_id}/disable")
def user_disable(user_id: str, request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Disable the account."""
    return _user_action(request, session, actor, user_id,
                        lambda: service.set_user_active(session, actor, user_id, False))


@router.post("/admin/users/{user_id}/enable")
def user_enable(user_id: str, request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Enable the account again."""
    return _user_action(request, session, actor, user_id,
                        lambda: service.set_user_active(session, actor, user_id, True))


# -- roles × permissions -------------------------------------------------------------------------


def _roles_page(request: Request, session: Session, actor: Actor, *, error: str | None = None,
                status_code: int = 200) -> Response:
    policy = service.get_policy(session)
    return render(request, "identity/roles.html", {
        "policy": policy, "error": error, "editable": actor.can("role.manage"),
        "held": {r.code: set(r.permissions) for r in policy.roles},
    }, status_code=status_code)


@router.get("/admin/roles")
def roles(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The role × permission matrix (any staff member; editable with role.manage)."""
    if not actor.is_authenticated:
        return login_redirect(request)
    if actor.kind not in ("staff", "machine", "system"):
        raise PermissionDenied(permission="role.read")
    return _roles_page(request, session, actor)


@router.post("/admin/roles")
def roles_save(request: Request, session: DbSession, actor: CurrentActor,
               perm: Annotated[list[str] | None, Form()] = None) -> Response:
    """Save the matrix (each box is ``role:permission``); refused as a whole when one role's change
    breaks 三员 separation."""
    if not actor.is_authenticated:
        return login_redirect(request)
    actor.require("role.manage", target="policy")
    checked = set(perm or [])
    policy = service.get_policy(session)
    try:
        for role in policy.roles:
            wanted = {p for p in pol.PERMISSIONS if f"{role.code}:{p}" in checked}
            if wanted != set(role.permissions):
                service.set_role_permissions(session, actor, role.code, wanted)
    except PermissionDenied:
        raise
    except AppError as exc:
        session.rollback()
        return _roles_page(request, session, actor, error=exc.render(), status_code=exc.status)
    return _redirect("/admin/roles")
