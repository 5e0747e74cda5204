"""``yiwang user …``, ``yiwang token …`` and ``yiwang policy …``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from yiwang.cli import main
from yiwang.core.actor import SYSTEM
from yiwang.core.settings import reset_settings
from yiwang.identity import service

from .conftest import DISTRICT, PASSWORD, STREET


@pytest.fixture
def run(settings, monkeypatch, tmp_path):
    """Run a ``yiwang`` command against this test's database; returns the click Result."""
    monkeypatch.setenv("YIWANG_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("YIWANG_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("YIWANG_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("YIWANG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("YIWANG_ARGON2_MEMORY_KIB", "1024")
    monkeypatch.setenv("YIWANG_CONFIG", str(tmp_path / "absent.toml"))
    reset_settings()

    def invoke(*args: str, input: str | None = None):  # noqa: A002 - click's name
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    yield invoke
    reset_settings()


class TestUserCreate:
    def test_creates_with_grants_and_a_password_from_stdin(self, run, session):
        got = run("user", "create", "clerk1", "--kind", "staff", "--name", "Clerk One",
                  "--role", "clerk", "--area", DISTRICT, "--role", "leader", "--area", STREET,
                  "--password-stdin", input=PASSWORD + "\n")
        assert got.exit_code == 0, got.output
        assert got.stdout.splitlines()[1:] == [f"  clerk @ {DISTRICT}", f"  leader @ {STREET}"]
        user = service.get_user_by_username(session, SYSTEM, "clerk1")
        assert [(g.role, g.area_code) for g in user.grants] == [("clerk", DISTRICT), ("leader", STREET)]
        assert service.authenticate(session, service.settings_for(session), "clerk1", PASSWORD).ok is True

    def test_refuses_a_weak_password_with_a_sentence(self, run, session):
        got = run("user", "create", "clerk1", "--name", "C", "--password-stdin", input="short\n")
        assert got.exit_code == 2
        assert got.stderr.startswith("error: weak_password: ")
        assert service.list_users(session, SYSTEM).total == 0

    def test_refuses_two_admin_roles(self, run):
        got = run("user", "create", "admin1", "--name", "A", "--role", "sys_admin", "--area", "31",
                  "--role", "audit_admin", "--area", "31", "--no-password")
        assert got.exit_code == 2
        assert "separation_of_duties" in got.stderr

    def test_without_a_terminal_a_password_source_is_required(self, run):
        got = run("user", "create", "clerk1", "--name", "C")
        assert got.exit_code == 2
        assert "--password-stdin" in got.stderr


class TestUserCommands:
    def test_grant_and_unlock(self, run, session, settings, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        assert run("user", "grant", "disp1", "handler", STREET).exit_code == 0
        for _ in range(settings.login_max_failures):
            service.authenticate(session, settings, "disp1", "Wrong-password-1")
        session.commit()
        assert service.get_user_by_username(session, SYSTEM, "disp1").locked is True
        session.commit()
        got = run("user", "unlock", "disp1")
        assert got.stdout == "unlocked disp1\n"
        session.expire_all()
        user = service.get_user_by_username(session, SYSTEM, "disp1")
        assert (user.locked, sorted(g.role for g in user.grants)) == (False, ["dispatcher", "handler"])

    def test_disable_and_enable(self, run, session, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        assert run("user", "disable", "disp1").stdout == "disabled disp1\n"
        session.expire_all()
        assert service.get_user_by_username(session, SYSTEM, "disp1").is_active is False
        session.commit()
        assert run("user", "enable", "disp1").stdout == "enabled disp1\n"
        session.expire_all()
        assert service.get_user_by_username(session, SYSTEM, "disp1").is_active is True

    def test_unknown_user_is_a_sentence(self, run):
        got = run("user", "grant", "nobody", "clerk", DISTRICT)
        assert (got.exit_code, got.stderr) == (2, "error: user_not_found: 用户不存在。\n")


class TestTokenAndPolicy:
    def test_token_create_prints_the_secret_once(self, run, session, make_user):
        uid = make_user("exchange1", ("data_officer", DISTRICT), kind="machine", password=None)
        got = run("token", "create", "exchange1", "exchange")
        assert got.exit_code == 0
        plaintext = got.stdout.strip()
        session.commit()
        assert service.actor_for_token(session, plaintext).user_id == uid

    def test_policy_show(self, run):
        got = run("policy", "show")
        lines = got.stdout.splitlines()
        assert lines[0].startswith("policy version ")
        assert "audit_admin (审计管理员) [TOTP]: audit.read, audit.verify" in lines
        assert ("dispatcher (派单员): cityops.category.manage, cityops.dispatch, cityops.incident, cityops.read,"
                " cityops.route, cityops.supervise, registry.person.read") in lines
