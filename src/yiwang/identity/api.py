"""JSON API of identity and access, the OIDC sign-in routes, and ``install(app)`` (sessions, CSRF,
the actor loader)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from yiwang.core.actor import Actor
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.settings import Settings
from yiwang.core.web import CurrentActor, DbSession, SignedInActor, json_error, render, safe_next_path
from yiwang.identity import oidc, service
from yiwang.identity.errors import (
    LoginFailed,
    OidcFailed,
    OidcNotConfigured,
    OidcUnknownUser,
    SignInThrottled,
    TotpInvalid,
    UserNotFound,
)
from yiwang.identity.schemas import (
    GrantCreate,
    GrantRead,
    LoginRequest,
    LoginResult,
    MeRead,
    PolicyRead,
    RolePermissionsUpdate,
    RoleRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    TotpCode,
    TotpSetupRead,
    UserCreate,
    UserPage,
    UserRead,
)
from yiwang.identity.web import (
    CsrfMiddleware,
    begin_session,
    clear_session_cookie,
    load_actor,
    secret_key,
    set_session_cookie,
)

router = APIRouter(tags=["identity"])


def install(app: FastAPI) -> None:
    """Sessions and CSRF for every request, and the actor loader other domains' routes use."""
    app.add_middleware(CsrfMiddleware, settings=app.state.settings)
    app.state.actor_loader = load_actor
    # No bearer token and no session cookie means anonymous: known without a query.
    app.state.actor_needs_credentials = True
    if not hasattr(app.state, "oidc_http_transport"):
        app.state.oidc_http_transport = None


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _login_result(session: Session, actor: Actor, csrf: str) -> LoginResult:
    needed, setup = service.login_state(session, actor.user_id or "", mfa=actor.mfa)
    return LoginResult(me=service.me(session, actor), mfa=actor.mfa, totp_needed=needed,
                       totp_setup_needed=setup, csrf_token=csrf)


def _session_csrf(session: Session, token: str) -> str:
    found = service.resolve_session(session, token)
    return found[0].csrf_secret if found else ""


# -- sign-in -------------------------------------------------------------------------------------


@router.post("/api/v1/auth/login", response_model=LoginResult)
def login(body: LoginRequest, request: Request, session: DbSession) -> Response:
    """Sign in with username and password (and a TOTP code if you have one); sets the session cookie."""
    settings = _settings(request)
    outcome = service.authenticate(session, settings, body.username, body.password, totp=body.totp)
    if outcome.outcome == "throttled":
        response = json_error(SignInThrottled(minutes=settings.login_ip_window_minutes))
        response.headers["Retry-After"] = str(settings.login_ip_window_minutes * 60)
        return response
    if not outcome.ok or outcome.user_id is None:
        # Returned, not raised: the failure count and the audit entry are committed with the request.
        return json_error(LoginFailed())
    token, actor = begin_session(request, session, outcome.user_id, mfa=outcome.mfa)
    result = _login_result(session, actor, _session_csrf(session, token))
    response = JSONResponse(result.model_dump(mode="json"))
    set_session_cookie(response, settings, token)
    return response


@router.post("/api/v1/auth/totp", response_model=LoginResult)
def login_totp(body: TotpCode, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """The second sign-in step: a TOTP code unlocks the roles that need it (a new session token)."""
    settings = _settings(request)
    token = getattr(request.state, "session_token", None)
    if token is None or actor.user_id is None:
        raise AuthenticationRequired()
    outcome = service.verify_second_factor(session, settings, actor.user_id, body.code)
    if not outcome.ok:
        return json_error(TotpInvalid())
    new_token = service.elevate_session(session, settings, token)
    if new_token is None:
        raise AuthenticationRequired()
    elevated = service.actor_for_user(session, actor.user_id, mfa=True)
    response = JSONResponse(_login_result(session, elevated, _session_csrf(session, new_token)).model_dump(mode="json"))
    set_session_cookie(response, settings, new_token)
    return response


@router.post("/api/v1/auth/logout", status_code=204)
def logout(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Sign out: the session is deleted."""
    token = getattr(request.state, "session_token", None)
    if token:
        service.end_session(session, token, actor)
    response = Response(status_code=204)
    clear_session_cookie(response, _settings(request))
    return response


@router.get("/api/v1/me", response_model=MeRead)
def get_me(session: DbSession, actor: SignedInActor) -> MeRead:
    """Who you are: roles in force, and whether TOTP is needed for the others."""
    return service.me(session, actor)


@router.post("/api/v1/me/totp/setup", response_model=TotpSetupRead)
def totp_setup(request: Request, session: DbSession, actor: SignedInActor) -> TotpSetupRead:
    """Start setting up TOTP: a new secret (as text and QR code), pending until confirmed."""
    setup = service.begin_totp_setup(session, actor, settings=_settings(request))
    return TotpSetupRead(secret=setup.secret, otpauth_uri=setup.otpauth_uri, qr_svg=service.totp_qr_svg(setup.otpauth_uri))


@router.post("/api/v1/me/totp/confirm", response_model=LoginResult)
def totp_confirm(body: TotpCode, request: Request, session: DbSession, actor: SignedInActor) -> Response:
    """Confirm the pending TOTP secret with a code from it; the session becomes TOTP-verified."""
    settings = _settings(request)
    if not service.confirm_totp(session, actor, body.code, settings=settings):
        raise TotpInvalid()
    assert actor.user_id is not None
    token = getattr(request.state, "session_token", None)
    new_token = service.elevate_session(session, settings, token) if token else None
    elevated = service.actor_for_user(session, actor.user_id, mfa=True if new_token else actor.mfa)
    csrf = _session_csrf(session, new_token) if new_token else ""
    response = JSONResponse(_login_result(session, elevated, csrf).model_dump(mode="json"))
    if new_token:
        set_session_cookie(response, settings, new_token)
    return response


# -- users and grants ----------------------------------------------------------------------------


@router.get("/api/v1/users", response_model=UserPage)
def list_users(
    session: DbSession,
    actor: SignedInActor,
    q: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPage:
    """Accounts inside your user.manage scopes."""
    return service.list_users(session, actor, q=q, limit=limit, offset=offset)


@router.post("/api/v1/users", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, request: Request, session: DbSession, actor: SignedInActor) -> UserRead:
    """Create an account with its grants (user.manage over each grant's area)."""
    return service.create_user(
        session, actor, username=body.username, password=body.password, kind=body.kind,
        display_name=body.display_name, email=body.email,
        grants=[(g.role, g.area_code, g.department_id) for g in body.grants],
        person_id=body.person_id, entity_id=body.entity_id, settings=_settings(request),
    )


@router.get("/api/v1/users/{user_id}", response_model=UserRead)
def get_user(user_id: str, session: DbSession, actor: SignedInActor) -> UserRead:
    """One account (yourself, or one inside your user.manage scopes)."""
    return service.get_user(session, actor, user_id)


@router.post("/api/v1/users/{user_id}/grants", response_model=GrantRead, status_code=201)
def add_grant(user_id: str, body: GrantCreate, session: DbSession, actor: SignedInActor) -> GrantRead:
    """Give a role over an area subtree (user.manage there; 三员 roles stay separate)."""
    return service.grant_role(session, actor, user_id, body.role, body.area_code, body.department_id)


@router.delete("/api/v1/users/{user_id}/grants/{grant_id}", status_code=204)
def delete_grant(user_id: str, grant_id: str, session: DbSession, actor: SignedInActor) -> Response:
    """Take a role away (user.manage over its area)."""
    service.revoke_grant(session, actor, user_id, grant_id)
    return Response(status_code=204)


@router.post("/api/v1/users/{user_id}/unlock", response_model=UserRead)
def unlock_user(user_id: str, session: DbSession, actor: SignedInActor) -> UserRead:
    """Clear a sign-in lockout (security.manage)."""
    return service.unlock_user(session, actor, user_id)


@router.post("/api/v1/users/{user_id}/disable", response_model=UserRead)
def disable_user(user_id: str, session: DbSession, actor: SignedInActor) -> UserRead:
    """Disable an account: no sign-in, its sessions and API tokens stop working (user.manage)."""
    return service.set_user_active(session, actor, user_id, False)


@router.post("/api/v1/users/{user_id}/enable", response_model=UserRead)
def enable_user(user_id: str, session: DbSession, actor: SignedInActor) -> UserRead:
    """Enable a disabled account again (user.manage)."""
    return service.set_user_active(session, actor, user_id, True)


@router.post("/api/v1/users/{user_id}/totp/reset", response_model=UserRead)
def reset_totp(user_id: str, session: DbSession, actor: SignedInActor) -> UserRead:
    """Remove a user's TOTP so they set it up again (security.manage)."""
    return service.reset_totp(session, actor, user_id)


@router.get("/api/v1/users/{user_id}/tokens", response_model=list[TokenRead])
def list_tokens(user_id: str, session: DbSession, actor: SignedInActor) -> list[TokenRead]:
    """A user's API tokens, without their secrets."""
    return service.list_tokens(session, actor, user_id)


# -- policy --------------------------------------------------------------------------------------


def _require_staff(actor: Actor) -> None:
    if actor.kind not in ("staff", "machine", "system"):
        raise PermissionDenied(permission="role.read")


@router.get("/api/v1/roles", response_model=PolicyRead)
def list_roles(session: DbSession, actor: SignedInActor) -> PolicyRead:
    """Every role with its permissions (any staff member)."""
    _require_staff(actor)
    return service.get_policy(session)


@router.put("/api/v1/roles/{role}/permissions", response_model=RoleRead)
def set_role_permissions(role: str, body: RolePermissionsUpdate, session: DbSession, actor: SignedInActor) -> RoleRead:
    """Replace a role's permissions (role.manage); refuses what breaks 三员 separation."""
    return service.set_role_permissions(session, actor, role, body.permissions)


# -- API tokens ----------------------------------------------------------------------------------


@router.post("/api/v1/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, session: DbSession, actor: SignedInActor) -> TokenCreated:
    """Issue an API token (the secret is shown once), for yourself or an account you manage."""
    user_id = body.user_id or actor.user_id
    if user_id is None:
        raise UserNotFound()
    plaintext, info = service.create_token(session, actor, user_id, body.name, body.expires_days)
    return TokenCreated(token=plaintext, info=info)


@router.delete("/api/v1/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: str, session: DbSession, actor: SignedInActor) -> TokenRead:
    """Revoke an API token."""
    return service.revoke_token(session, actor, token_id)


# -- single sign-on ------------------------------------------------------------------------------


def oidc_client(request: Request) -> oidc.OidcClient:
    settings = _settings(request)
    if not oidc.is_configured(settings):
        raise OidcNotConfigured()
    client = getattr(request.app.state, "oidc_client", None)
    transport = getattr(request.app.state, "oidc_http_transport", None)
    if client is None or client.transport is not transport:
        client = request.app.state.oidc_client = oidc.OidcClient(settings, transport)
    return client


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get("/auth/oidc/login", include_in_schema=True)
def oidc_login(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query name
    """Start single sign-on: redirect to the identity provider (PKCE, state, nonce)."""
    settings = _settings(request)
    client = oidc_client(request)
    flow = oidc.new_flow(safe_next_path(next))
    response = RedirectResponse(client.authorization_url(flow, _callback_url(request)), status_code=303)
    response.set_cookie(oidc.FLOW_COOKIE, oidc.dump_flow(secret_key(settings), flow), max_age=oidc.FLOW_MAX_AGE,
                        httponly=True, samesite="lax", secure=settings.cookie_secure, path="/auth/oidc/")
    return response


@router.get("/auth/oidc/callback", name="oidc_callback")
def oidc_callback(
    request: Request, session: DbSession, code: str | None = None, state: str | None = None,
    error: str | None = None,
) -> Response:
    """Finish single sign-on: check the ID token and sign an existing staff account in."""
    settings = _settings(request)
    client = oidc_client(request)
    try:
        flow = oidc.load_flow(secret_key(settings), request.cookies.get(oidc.FLOW_COOKIE))
        if error or not code or not state or state != flow.state:
            raise OidcFailed()
        tokens = client.exchange(code, flow, _callback_url(request))
        claims = client.validate_id_token(tokens["id_token"], flow.nonce)
    except OidcFailed as exc:
        return _oidc_refused(request, exc)
    user_id = service.sign_in_oidc(
        session, sub=str(claims["sub"]), email=claims.get("email"),
        email_verified=claims.get("email_verified") is True,
    )
    if user_id is None:
        # Returned, not raised: the refusal's audit entry is committed.
        return _oidc_refused(request, OidcUnknownUser())
    token, actor = begin_session(request, session, user_id, mfa=False, via="oidc")
    needed, setup = service.login_state(session, user_id, mfa=False)
    target = "/login/totp" if needed else "/account/security" if setup else flow.next_url
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, settings, token)
    response.delete_cookie(oidc.FLOW_COOKIE, path="/auth/oidc/")
    return response


def _oidc_refused(request: Request, exc: OidcFailed | OidcUnknownUser) -> Response:
    response = render(request, "identity/login.html",
                      {"error": exc.render(), "oidc": True, "username": "", "next": "/"},
                      status_code=exc.status)
    response.delete_cookie(oidc.FLOW_COOKIE, path="/auth/oidc/")
    return response
