"""``yiwang user …``, ``yiwang token …`` and ``yiwang policy …``: accounts for the operator.

Commands act as the system actor (the operator at the console); every change is audited. A
password is never taken from the command line: it is prompted for, or read from stdin.
"""

from __future__ import annotations

import sys

import click

from yiwang.core.actor import SYSTEM
from yiwang.core.cli import app_errors, get_cli_context
from yiwang.core.errors import ValidationFailed
from yiwang.identity import service
from yiwang.identity import web as _web  # noqa: F401  (its listeners tell running servers of changes made here)


@click.group()
def user() -> None:
    """User accounts (用户)."""


@user.command("create")
@click.argument("username")
@click.option("--kind", type=click.Choice(["staff", "citizen", "enterprise", "machine"]), default="staff",
              show_default=True)
@click.option("--name", "display_name", required=True, help="Display name.")
@click.option("--email", default=None, help="E-mail, to match single sign-on accounts.")
@click.option("--role", "roles", multiple=True, help="Role to grant (repeat with --area for several).")
@click.option("--area", "areas", multiple=True, help="Area code of the matching --role.")
@click.option("--department", "departments", multiple=True,
              help="Department id of the matching --role ('-' for none); omit for none at all.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--no-password", is_flag=True, help="No password (single sign-on or API tokens only).")
@app_errors
def user_create(username: str, kind: str, display_name: str, email: str | None, roles: tuple[str, ...],
                areas: tuple[str, ...], departments: tuple[str, ...], password_stdin: bool, no_password: bool) -> None:
    """Create an account with its grants."""
    if len(roles) != len(areas):
        raise ValidationFailed("Give one --area for each --role.")
    if departments and len(departments) != len(roles):
        raise ValidationFailed("Give one --department for each --role ('-' for none), or none at all.")
    depts = [None if d in ("-", "") else d for d in departments] if departments else [None] * len(roles)
    password = _read_password(password_stdin, no_password)
    ctx = get_cli_context()
    with ctx.db.transaction() as session:
        created = service.create_user(
            session, SYSTEM, username=username, password=password, kind=kind, display_name=display_name,
            email=email, grants=list(zip(roles, areas, depts, strict=True)), settings=ctx.settings,
        )
    click.echo(f"created {created.kind} {created.username} ({created.id})")
    for g in created.grants:
        click.echo(f"  {g.role} @ {g.area_code}" + (f" / {g.department_id}" if g.department_id else ""))


def _read_password(from_stdin: bool, none: bool) -> str | None:
    if none:
        return None
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ValidationFailed("No password on stdin.")
        return line
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    raise ValidationFailed("Give --password-stdin, --no-password, or run interactively to be asked.")


@user.command("grant")
@click.argument("username")
@click.argument("role")
@click.argument("area")
@click.option("--department", default=None, help="Limit the grant to one department (id).")
@app_errors
def user_grant(username: str, role: str, area: str, department: str | None) -> None:
    """Give USERNAME the ROLE over the AREA subtree."""
    with get_cli_context().db.transaction() as session:
        target = service.get_user_by_username(session, SYSTEM, username)
        g = service.grant_role(session, SYSTEM, target.id, role, area, department)
    click.echo(f"granted {g.role} @ {g.area_code} to {username} ({g.id})")


@user.command("revoke")
@click.argument("username")
@click.argument("grant_id")
@app_errors
def user_revoke(username: str, grant_id: str) -> None:
    """Take the grant GRANT_ID away from USERNAME."""
    with get_cli_context().db.transaction() as session:
        target = service.get_user_by_username(session, SYSTEM, username)
        service.revoke_grant(session, SYSTEM, target.id, grant_id)
    click.echo(f"revoked {grant_id}")


@user.command("unlock")
@click.argument("username")
@app_errors
def user_unlock(username: str) -> None:
    """Clear a sign-in lockout."""
    with get_cli_context().db.transaction() as session:
        target = service.get_user_by_username(session, SYSTEM, username)
        service.unlock_user(session, SYSTEM, target.id)
    click.echo(f"unlocked {username}")


def _set_active(username: str, active: bool) -> None:
    with get_cli_context().db.transaction() as session:
        target = service.get_user_by_username(session, SYSTEM, username)
        service.set_user_active(session, SYSTEM, target.id, active)
    click.echo(f"{'enabled' if active else 'disabled'} {username}")


@user.command("disable")
@click.argument("username")
@app_errors
def user_disable(username: str) -> None:
    """Disable an account: no sign-in; its sessions and API tokens stop working at once."""
    _set_active(username, False)


@user.command("enable")
@click.argument("username")
@app_errors
def user_enable(username: str) -> None:
    """Enable a disabled account again."""
    _set_active(username, True)


@user.command("reset-totp")
@click.argument("username")
@app_errors
def user_reset_totp(username: str) -> None:
    """Remove the user's TOTP (lost phone); they set it up again at their next sign-in."""
    with get_cli_context().db.transaction() as session:
        target = service.get_user_by_username(session, SYSTEM, username)
        service.reset_totp(session, SYSTEM, target.id)
    click.echo(f"two-factor sign-in reset for {username}")


@user.command("show")
@click.argument("username")
@app_errors
def user_show(username: str) -> None:
    """An account and its grants."""
    with get_cli_context().db.transaction(write=False) as session:
        u = service.get_user_by_username(session, SYSTEM, username)
    click.echo(f"{u.username} ({u.id}) kind={u.kind} totp={'on' if u.totp_enabled else 'off'}"
               f" locked={'yes' if u.locked else 'no'}")
    for g in u.grants:
        click.echo(f"  {g.id}  {g.role} @ {g.area_code}" + (f" / {g.department_id}" if g.department_id else ""))


@click.group()
def token() -> None:
    """API tokens for machines (API 令牌)."""


@token.command("create")
@click.argument("username")
@click.argument("name")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 3650), help="Valid for this many days.")
@app_errors
def token_create(username: str, name: str, days: int) -> None:
    """Issue an API token for USERNAME; the secret is printed once."""
    with get_cli_context().db.transaction() as session:
        target = service.get_user_by_username(session, SYSTEM, username)
        plaintext, info = service.create_token(session, SYSTEM, target.id, name, days)
    click.echo(plaintext)
    click.echo(f"token {info.id} for {username}, expires {info.expires_at:%Y-%m-%d}; shown once", err=True)


@token.command("revoke")
@click.argument("token_id")
@app_errors
def token_revoke(token_id: str) -> None:
    """Revoke an API token by its id."""
    with get_cli_context().db.transaction() as session:
        service.revoke_token(session, SYSTEM, token_id)
    click.echo(f"revoked {token_id}")


@click.group()
def policy() -> None:
    """The role and permission policy (角色权限)."""


@policy.command("show")
@app_errors
def policy_show() -> None:
    """Every role with its permissions."""
    with get_cli_context().db.transaction(write=False) as session:
        current = service.get_policy(session)
    click.echo(f"policy version {current.version}")
    for role in current.roles:
        mark = " [TOTP]" if role.requires_mfa else ""
        click.echo(f"{role.code} ({role.zh}){mark}: {', '.join(role.permissions) or '-'}")


@policy.command("seed")
@app_errors
def policy_seed() -> None:
    """Insert the default holders of permissions not seen before (also run by ``db upgrade``)."""
    with get_cli_context().db.transaction() as session:
        added = service.seed_policy(session)
    click.echo(f"policy seeded: {added} role permissions added")


def register(main: click.Group) -> None:
    main.add_command(user)
    main.add_command(token)
    main.add_command(policy)
