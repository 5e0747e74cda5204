"""Identity services: passwords, lockout, TOTP, MFA gating, grants, 三员, the policy, tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.errors import PermissionDenied
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.identity import policy as pol
from yiwang.identity import service
from yiwang.identity.errors import (
    CannotDisableSelf,
    GrantExists,
    RoleNotForKind,
    SeparationOfDuties,
    TotpAlreadyEnabled,
    UsernameTaken,
    UserNotFound,
    WeakPassword,
)
from yiwang.identity.models import RolePermission, User

from .conftest import (
    CITIZEN_PASSWORD,
    DISTRICT,
    OTHER_DISTRICT,
    PASSWORD,
    STREET,
    TOTP_SECRET,
    audit_entries,
    totp_code,
)

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def user_row(session, user_id: str) -> User:
    session.expire_all()
    return session.get(User, user_id)


class TestPasswords:
    def test_hash_is_argon2id_with_the_configured_cost(self, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        assert user_row(session, uid).password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=")

    def test_login_rehashes_when_the_parameters_changed(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        stronger = settings.model_copy(update={"argon2_time_cost": 2, "argon2_memory_kib": 2048})
        outcome = service.authenticate(session, stronger, "clerk1", PASSWORD, now=T0)
        session.commit()
        assert outcome.ok is True
        assert user_row(session, uid).password_hash.startswith("$argon2id$v=19$m=2048,t=2,p=")
        assert service.authenticate(session, stronger, "clerk1", PASSWORD, now=T0).ok is True

    @pytest.mark.parametrize("password", ["Short-1", "onlyletterslong", "12345678901234"])
    def test_refuses_weak_staff_passwords(self, session, password):
        with pytest.raises(WeakPassword) as info:
            service.create_user(session, SYSTEM, username="weak1", password=password, kind="staff",
                                display_name="W", grants=[("clerk", DISTRICT, None)])
        assert info.value.params == {"min_length": 10}
        assert session.scalars(select(User)).all() == []

    def test_citizens_need_eight_characters(self, session, settings):
        created = service.create_user(session, SYSTEM, username="citizen9", password=CITIZEN_PASSWORD, kind="citizen",
                                      display_name="C", settings=settings)
        assert created.kind == "citizen"
        with pytest.raises(WeakPassword):
            service.create_user(session, SYSTEM, username="citizen8", password=CITIZEN_PASSWORD[:-1], kind="citizen",
                                display_name="C", settings=settings)


class TestLockout:
    def test_wrong_password_counts_and_is_audited(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        outcome = service.authenticate(session, settings, "clerk1", "Wrong-password-1", now=T0)
        session.commit()
        assert (outcome.ok, outcome.outcome) == (False, "failed")
        assert user_row(session, uid).failed_logins == 1
        assert audit_entries(session, action="identity.login", target_id=uid) == [
            ("identity.login", "failed", {"factor": "password", "failures": 1})
        ]

    def test_locks_after_the_maximum_failures_even_with_the_right_password(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        outcomes = [service.authenticate(session, settings, "clerk1", "Wrong-password-1", now=T0).outcome
                    for _ in range(settings.login_max_failures)]
        right = service.authenticate(session, settings, "clerk1", PASSWORD, now=T0 + timedelta(minutes=1))
        session.commit()
        assert outcomes == ["failed"] * (settings.login_max_failures - 1) + ["locked"]
        assert (right.ok, right.outcome) == (False, "locked")
        assert user_row(session, uid).locked_until == T0 + timedelta(minutes=settings.login_lockout_minutes)
        assert [o for _a, o, _d in audit_entries(session, action="identity.login", target_id=uid)] == [
            "failed", "failed", "failed", "failed", "locked", "locked"]

    def test_unlocks_itself_after_the_lockout_time(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        for _ in range(settings.login_max_failures):
            service.authenticate(session, settings, "clerk1", "Wrong-password-1", now=T0)
        later = T0 + timedelta(minutes=settings.login_lockout_minutes, seconds=1)
        outcome = service.authenticate(session, settings, "clerk1", PASSWORD, now=later)
        session.commit()
        assert outcome.ok is True
        row = user_row(session, uid)
        assert (row.failed_logins, row.locked_until) == (0, None)

    def test_unknown_user_looks_like_a_wrong_password(self, session, settings, make_user):
        make_user("clerk1", ("clerk", DISTRICT))
        unknown = service.authenticate(session, settings, "nobody", PASSWORD, now=T0)
        wrong = service.authenticate(session, settings, "clerk1", "Wrong-password-1", now=T0)
        assert (unknown.ok, unknown.outcome) == (wrong.ok, wrong.outcome) == (False, "failed")
        assert [(a, o) for a, o, _d in audit_entries(session, action="identity.login")] == [
            ("identity.login", "failed"), ("identity.login", "failed")]

    def test_security_admin_unlocks(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        for _ in range(settings.login_max_failures):
            service.authenticate(session, settings, "clerk1", "Wrong-password-1", now=T0)
        secadmin = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        result = service.unlock_user(session, secadmin, uid)
        assert result.locked is False
        assert service.authenticate(session, settings, "clerk1", PASSWORD, now=T0).ok is True

    def test_sys_admin_cannot_unlock(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        for _ in range(settings.login_max_failures):
            service.authenticate(session, settings, "clerk1", "Wrong-password-1", now=T0)
        session.commit()
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", "31")), mfa=True)
        with pytest.raises(PermissionDenied):
            service.unlock_user(session, admin, uid)
        assert user_row(session, uid).failed_logins == settings.login_max_failures


class TestThrottlePerAddress:
    """Credential stuffing: a few tries at many accounts from one address, which no account's
    lockout sees, are refused once the address has failed too often."""

    @staticmethod
    def attempt(session, settings, username, password, ip, now):
        from yiwang.core.context import bound

        with bound("01JTHROTTLE000000000000000", ip):
            return service.authenticate(session, settings, username, password, now=now).outcome

    def test_an_address_that_failed_too_often_is_refused_even_the_right_password(self, session, settings,
                                                                                 make_user):
        settings = settings.model_copy(update={"login_ip_max_failures": 3, "login_ip_window_minutes": 15})
        make_user("clerk1", ("clerk", DISTRICT))
        tries = [self.attempt(session, settings, f"nobody{i}", "Wrong-password-1", "203.0.113.7",
                              T0 + timedelta(seconds=i)) for i in range(3)]
        refused = self.attempt(session, settings, "clerk1", PASSWORD, "203.0.113.7", T0 + timedelta(minutes=1))
        elsewhere = self.attempt(session, settings, "clerk1", PASSWORD, "198.51.100.2", T0 + timedelta(minutes=1))
        later = self.attempt(session, settings, "clerk1", PASSWORD, "203.0.113.7", T0 + timedelta(minutes=16))
        session.commit()
        assert (tries, refused, elsewhere, later) == (["failed"] * 3, "throttled", "ok", "ok")
        assert user_row(session, make_user_id(session, "clerk1")).failed_logins == 0  # not the account's fault
        assert ("identity.login", "throttled", {"factor": "password", "reason": "source_throttled"}) in \
            audit_entries(session, action="identity.login")

    def test_no_address_is_stored_and_old_counts_are_swept(self, session, settings, make_user):
        from sqlalchemy import text

        self.attempt(session, settings, "nobody", "Wrong-password-1", "203.0.113.7", T0)
        self.attempt(session, settings, "nobody", "Wrong-password-1", "203.0.113.7", T0 + timedelta(seconds=5))
        session.commit()
        rows = session.execute(text("SELECT source_key, failures FROM identity_signin_failures")).all()
        assert len(rows) == 1 and rows[0][1] == 2 and "203.0.113" not in rows[0][0]
        assert service.purge_sign_in_failures(session, settings, now=T0 + timedelta(minutes=5)) == 0
        assert service.purge_sign_in_failures(session, settings, now=T0 + timedelta(minutes=16)) == 1

    def test_zero_turns_the_limit_off(self, session, settings, make_user):
        settings = settings.model_copy(update={"login_ip_max_failures": 0})
        from sqlalchemy import text

        outcomes = {self.attempt(session, settings, f"nobody{i}", "Wrong-password-1", "203.0.113.7", T0)
                    for i in range(5)}
        assert outcomes == {"failed"}
        assert session.execute(text("SELECT count(*) FROM identity_signin_failures")).scalar() == 0


def make_user_id(session, username: str) -> str:
    return session.scalar(select(User.id).where(User.username == username))


class TestDisable:
    def test_a_disabled_account_cannot_sign_in_and_its_sessions_and_tokens_stop(self, session, settings, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", "31")), mfa=True)
        uid = make_user("clerk1", ("clerk", DISTRICT))
        ok = service.authenticate(session, settings, "clerk1", PASSWORD, now=T0)
        token, _ = service.create_token(session, SYSTEM, uid, "t", 30)
        session_token, _row = service.start_session(session, settings, uid, mfa=False)
        session.commit()
        assert ok.ok and service.actor_for_token(session, token) is not None

        read = service.set_user_active(session, admin, uid, False)
        session.commit()
        assert read.is_active is False
        assert service.authenticate(session, settings, "clerk1", PASSWORD, now=T0).ok is False
        assert service.actor_for_token(session, token) is None
        assert service.resolve_session(session, session_token) is None  # ended, not just refused
        assert [a for a, _o, _d in audit_entries(session, action="identity.user.disable", target_id=uid)] == [
            "identity.user.disable"]

        service.set_user_active(session, admin, uid, True)
        session.commit()
        assert service.authenticate(session, settings, "clerk1", PASSWORD, now=T0 + timedelta(seconds=1)).ok
        assert service.actor_for_token(session, token) is not None

    def test_nobody_disables_their_own_account_and_others_need_user_manage(self, session, settings, make_user):
        uid = make_user("admin1", ("sys_admin", "31"))
        me = service.actor_for_user(session, uid, mfa=True)
        with pytest.raises(CannotDisableSelf):
            service.set_user_active(session, me, uid, False)
        with pytest.raises(PermissionDenied):
            service.set_user_active(session, Actor(kind="staff", user_id="x", grants=(Grant("clerk", "31"),)),
                                    uid, False)
        session.rollback()
        assert user_row(session, uid).is_active is True


class TestTotp:
    def test_set_up_and_confirm(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        actor = service.actor_for_user(session, uid, mfa=False)
        setup = service.begin_totp_setup(session, actor, settings=settings)
        assert setup.otpauth_uri.startswith("otpauth://totp/")
        assert service.confirm_totp(session, actor, totp_code(T0, setup.secret), settings=settings, now=T0) is True
        row = user_row(session, uid)
        assert (row.totp_enabled, row.totp_pending_secret) == (True, None)

    def test_secret_is_encrypted_at_rest_and_bound_to_the_user(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        stored = user_row(session, uid).totp_secret
        assert TOTP_SECRET not in stored
        cipher = FieldCipher.for_settings(settings)
        assert cipher.decrypt(stored, f"users.totp_secret:{uid}") == TOTP_SECRET

    def test_wrong_code_does_not_confirm(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        actor = service.actor_for_user(session, uid, mfa=False)
        setup = service.begin_totp_setup(session, actor, settings=settings)
        wrong = f"{(int(totp_code(T0, setup.secret)) + 1) % 1_000_000:06d}"
        assert service.confirm_totp(session, actor, wrong, settings=settings, now=T0) is False
        assert user_row(session, uid).totp_enabled is False

    def test_second_factor_accepts_a_code_once(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        code = totp_code(T0)
        first = service.verify_second_factor(session, settings, uid, code, now=T0)
        replay = service.verify_second_factor(session, settings, uid, code, now=T0 + timedelta(seconds=5))
        assert (first.ok, first.mfa) == (True, True)
        assert (replay.ok, replay.outcome) == (False, "failed")

    def test_accepts_one_step_of_clock_drift_but_not_two(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        assert service.verify_second_factor(session, settings, uid, totp_code(T0 - timedelta(seconds=30)),
                                            now=T0).ok is True
        assert service.verify_second_factor(session, settings, uid, totp_code(T0 + timedelta(seconds=90)),
                                            now=T0 + timedelta(seconds=30)).ok is False

    def test_wrong_codes_count_towards_the_lockout(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        for _ in range(settings.login_max_failures):
            service.verify_second_factor(session, settings, uid, "000000", now=T0)
        assert service.verify_second_factor(session, settings, uid, totp_code(T0), now=T0).outcome == "locked"

    def test_password_and_code_together(self, session, settings, make_user):
        make_user("clerk1", ("clerk", DISTRICT), totp=True)
        outcome = service.authenticate(session, settings, "clerk1", PASSWORD, totp=totp_code(T0), now=T0)
        assert (outcome.ok, outcome.mfa, outcome.totp_needed) == (True, True, False)

    def test_replacing_an_enabled_secret_needs_a_verified_session(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        with pytest.raises(TotpAlreadyEnabled):
            service.begin_totp_setup(session, service.actor_for_user(session, uid, mfa=False), settings=settings)
        setup = service.begin_totp_setup(session, service.actor_for_user(session, uid, mfa=True), settings=settings)
        assert setup.secret != TOTP_SECRET


class TestResetTotp:
    def test_security_admin_resets_and_sessions_end(self, session, settings, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        sec = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        token, _ = service.start_session(session, settings, uid, mfa=True)
        result = service.reset_totp(session, sec, uid)
        assert result.totp_enabled is False
        assert service.load_session(session, token) is None
        outcome = service.authenticate(session, settings, "clerk1", PASSWORD)
        assert (outcome.totp_needed, outcome.totp_setup_needed) == (False, True)

    def test_sys_admin_cannot_reset(self, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", "31")), mfa=True)
        with pytest.raises(PermissionDenied):
            service.reset_totp(session, admin, uid)
        assert user_row(session, uid).totp_enabled is True


class TestMfaGating:
    def test_clerk_without_mfa_gets_no_personal_data_grants(self, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        actor = service.actor_for_user(session, uid, mfa=False)
        assert actor.grants == ()
        assert actor.can("registry.person.read_personal", area_code=STREET) is False

    def test_clerk_with_mfa_gets_the_role(self, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        actor = service.actor_for_user(session, uid, mfa=True)
        assert actor.grants == (Grant("clerk", DISTRICT, None, pol.DEFAULT_POLICY["clerk"]),)
        assert actor.can("registry.person.read_personal", area_code=STREET) is True

    def test_roles_without_sensitive_permissions_need_no_mfa(self, session, make_user):
        uid = make_user("disp1", ("dispatcher", DISTRICT), ("clerk", OTHER_DISTRICT))
        actor = service.actor_for_user(session, uid, mfa=False)
        assert actor.roles == frozenset({"dispatcher"})

    def test_login_asks_for_set_up_then_code(self, session, settings, make_user):
        make_user("clerk1", ("clerk", DISTRICT))
        make_user("clerk2", ("clerk", DISTRICT), totp=True)
        make_user("disp1", ("dispatcher", DISTRICT))
        first = service.authenticate(session, settings, "clerk1", PASSWORD, now=T0)
        second = service.authenticate(session, settings, "clerk2", PASSWORD, now=T0)
        third = service.authenticate(session, settings, "disp1", PASSWORD, now=T0)
        assert (first.totp_needed, first.totp_setup_needed) == (False, True)
        assert (second.totp_needed, second.totp_setup_needed) == (True, False)
        assert (third.totp_needed, third.totp_setup_needed) == (False, False)


class TestCreateUser:
    def test_creates_with_grants_and_audits(self, session, settings):
        created = service.create_user(session, SYSTEM, username="clerk1", password=PASSWORD, kind="staff",
                                      display_name="Clerk", grants=[("clerk", DISTRICT, "dep-1")], settings=settings)
        assert [(g.role, g.area_code, g.department_id) for g in created.grants] == [("clerk", DISTRICT, "dep-1")]
        assert created.area_code == DISTRICT
        assert audit_entries(session, action="identity.user.create") == [
            ("identity.user.create", "ok",
             {"kind": "staff", "grants": [{"role": "clerk", "area_code": DISTRICT, "department_id": "dep-1"}]})
        ]

    def test_refuses_a_taken_username(self, session, make_user):
        make_user("clerk1", ("clerk", DISTRICT))
        with pytest.raises(UsernameTaken):
            service.create_user(session, SYSTEM, username="clerk1", password=PASSWORD, kind="staff",
                                display_name="Again")

    def test_refuses_a_staff_role_for_a_citizen(self, session):
        with pytest.raises(RoleNotForKind):
            service.create_user(session, SYSTEM, username="citizen1", password=PASSWORD, kind="citizen",
                                display_name="C", grants=[("clerk", DISTRICT, None)])

    def test_refuses_two_admin_roles_at_once(self, session):
        with pytest.raises(SeparationOfDuties):
            service.create_user(session, SYSTEM, username="admin1", password=PASSWORD, kind="staff",
                                display_name="A", grants=[("sys_admin", "31", None), ("audit_admin", "31", None)])
        assert session.scalars(select(User)).all() == []

    def test_needs_user_manage_over_each_grant(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", DISTRICT)), mfa=True)
        with pytest.raises(PermissionDenied) as info:
            service.create_user(session, admin, username="clerk9", password=PASSWORD, kind="staff",
                                display_name="C", grants=[("clerk", DISTRICT, None), ("clerk", OTHER_DISTRICT, None)])
        assert (info.value.permission, info.value.area_code) == ("user.manage", OTHER_DISTRICT)
        assert service.list_users(session, admin).total == 1

    def test_actor_for_unknown_username(self, session):
        with pytest.raises(UserNotFound) as info:
            service.actor_for_username(session, "nobody")
        assert info.value.code == "user_not_found"


class TestGrants:
    def test_district_admin_grants_in_own_district(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", DISTRICT)), mfa=True)
        uid = make_user("worker1")
        grant = service.grant_role(session, admin, uid, "handler", STREET)
        assert (grant.role, grant.area_code) == ("handler", STREET)
        assert service.actor_for_user(session, uid, mfa=False).roles == frozenset({"handler"})

    def test_district_admin_cannot_grant_in_another_district(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", DISTRICT)), mfa=True)
        uid = make_user("worker1")
        with pytest.raises(PermissionDenied) as info:
            service.grant_role(session, admin, uid, "handler", OTHER_DISTRICT)
        assert info.value.area_code == OTHER_DISTRICT
        assert service.get_user(session, SYSTEM, uid).grants == []

    def test_admin_without_mfa_cannot_grant(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", DISTRICT)), mfa=False)
        uid = make_user("worker1")
        with pytest.raises(PermissionDenied):
            service.grant_role(session, admin, uid, "handler", STREET)

    def test_refuses_self_grant(self, session, make_user):
        aid = make_user("admin1", ("sys_admin", "31"))
        admin = service.actor_for_user(session, aid, mfa=True)
        with pytest.raises(PermissionDenied):
            service.grant_role(session, admin, aid, "clerk", DISTRICT)

    def test_refuses_a_second_admin_role(self, session, make_user):
        uid = make_user("admin2", ("sys_admin", "31"))
        with pytest.raises(SeparationOfDuties) as info:
            service.grant_role(session, SYSTEM, uid, "audit_admin", "31")
        assert info.value.code == "separation_of_duties"
        assert [g.role for g in service.get_user(session, SYSTEM, uid).grants] == ["sys_admin"]

    def test_refuses_a_duplicate(self, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT))
        with pytest.raises(GrantExists):
            service.grant_role(session, SYSTEM, uid, "clerk", DISTRICT)

    def test_revoke(self, session, make_user):
        uid = make_user("clerk1", ("clerk", DISTRICT), ("leader", DISTRICT))
        grant = next(g for g in service.get_user(session, SYSTEM, uid).grants if g.role == "leader")
        service.revoke_grant(session, SYSTEM, uid, grant.id)
        assert [g.role for g in service.get_user(session, SYSTEM, uid).grants] == ["clerk"]
        assert audit_entries(session, action="identity.grant.revoke", target_id=uid)[0][2] == {
            "grant_id": grant.id, "role": "leader", "area_code": DISTRICT, "department_id": None}

    def test_listing_is_scoped_to_the_admins_district(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", DISTRICT)), mfa=True)
        make_user("clerk.a", ("clerk", STREET))
        make_user("clerk.b", ("clerk", OTHER_DISTRICT))
        make_user("citizen1", kind="citizen", password=CITIZEN_PASSWORD)
        page = service.list_users(session, admin)
        assert [u.username for u in page.items] == ["admin1", "clerk.a"]

    def test_city_admin_also_sees_citizens(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", "31")), mfa=True)
        make_user("clerk.b", ("clerk", OTHER_DISTRICT))
        make_user("citizen1", kind="citizen", password=CITIZEN_PASSWORD)
        assert [u.username for u in service.list_users(session, admin).items] == ["admin1", "citizen1", "clerk.b"]

    def test_listing_without_user_manage_is_denied(self, session, make_user):
        clerk = service.actor_for_user(session, make_user("clerk1", ("clerk", DISTRICT)), mfa=True)
        with pytest.raises(PermissionDenied):
            service.list_users(session, clerk)


class TestSeparationOfDuties:
    def test_sys_admin_is_denied_the_audit_trail(self, session, make_user):
        from yiwang.audit import service as audit_service
        from yiwang.audit.service import EntryFilter

        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", "31")), mfa=True)
        assert admin.can("audit.read") is False
        with pytest.raises(PermissionDenied):
            audit_service.list_entries(session, admin, EntryFilter())

    def test_audit_admin_reads_but_changes_nothing(self, session, make_user):
        auditor = service.actor_for_user(session, make_user("audit1", ("audit_admin", "31")), mfa=True)
        assert auditor.can("audit.read") and auditor.can("audit.verify")
        assert [p for p in pol.PERMISSIONS if auditor.can(p) and pol.changes_state(p)] == []

    def test_policy_editor_refuses_audit_permissions_to_sys_admin(self, session, make_user):
        sec = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        before = service.get_policy(session).version
        with pytest.raises(SeparationOfDuties):
            service.set_role_permissions(session, sec, "sys_admin",
                                         set(pol.DEFAULT_POLICY["sys_admin"]) | {"audit.read"})
        assert service.get_policy(session).version == before
        assert "audit.read" not in next(r for r in service.get_policy(session).roles if r.code == "sys_admin").permissions

    def test_policy_editor_refuses_change_permissions_to_audit_admin(self, session, make_user):
        sec = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        with pytest.raises(SeparationOfDuties):
            service.set_role_permissions(session, sec, "audit_admin", {"audit.read", "registry.person.write"})

    def test_sys_admin_cannot_edit_the_policy(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", "31")), mfa=True)
        with pytest.raises(PermissionDenied):
            service.set_role_permissions(session, admin, "leader", {"registry.person.read"})


class TestPolicy:
    def test_seed_is_idempotent(self, session):
        before = service.get_policy(session).version
        assert service.seed_policy(session) == 0
        assert service.get_policy(session).version == before

    def test_edit_bumps_the_version_and_reaches_actors(self, session, make_user):
        sec = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        policy = service.get_policy(session)
        before = policy.version
        held = set(next(r for r in policy.roles if r.code == "dispatcher").permissions)
        service.set_role_permissions(session, sec, "dispatcher", held | {"registry.entity.read"})
        assert service.get_policy(session).version == before + 1
        assert service.actor_for_user(session, uid, mfa=False).can("registry.entity.read", area_code=STREET)
        assert audit_entries(session, action="identity.policy.update")[0][2] == {
            "role": "dispatcher", "added": ["registry.entity.read"], "removed": [], "version": before + 1}

    def test_a_sensitive_permission_makes_the_role_need_mfa(self, session, make_user):
        sec = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        service.set_role_permissions(session, sec, "dispatcher", {"registry.person.read", "registry.person.read_personal"})
        assert service.actor_for_user(session, uid, mfa=False).grants == ()

    def test_seed_never_re_adds_what_an_operator_removed(self, session, make_user):
        sec = service.actor_for_user(session, make_user("sec1", ("security_admin", "31")), mfa=True)
        service.set_role_permissions(session, sec, "leader", {"registry.person.read"})
        service.seed_policy(session)
        leader = next(r for r in service.get_policy(session).roles if r.code == "leader")
        assert leader.permissions == ["registry.person.read"]

    def test_a_new_permission_is_seeded_to_its_default_holders(self, session, monkeypatch):
        monkeypatch.setitem(pol.PERMISSIONS, "cityops.event.dispatch",
                            pol.PermissionInfo("cityops.event.dispatch", "派单", "Dispatch events", True))
        monkeypatch.setitem(pol.DEFAULT_POLICY, "dispatcher",
                            pol.DEFAULT_POLICY["dispatcher"] | {"cityops.event.dispatch"})
        assert service.seed_policy(session) == 1
        assert session.get(RolePermission, ("dispatcher", "cityops.event.dispatch")) is not None
        assert service.seed_policy(session) == 0


class TestTokens:
    def test_create_use_and_revoke(self, session, make_user):
        uid = make_user("exchange1", ("data_officer", DISTRICT), kind="machine", password=None)
        plaintext, info = service.create_token(session, SYSTEM, uid, "exchange", 30, now=T0)
        assert plaintext.startswith(f"yw_{info.prefix}_")
        actor = service.actor_for_token(session, plaintext, now=T0)
        assert (actor.kind, actor.user_id, actor.roles) == ("machine", uid, frozenset({"data_officer"}))
        service.revoke_token(session, SYSTEM, info.id)
        assert service.actor_for_token(session, plaintext, now=T0) is None

    def test_only_the_hash_is_stored(self, session, make_user):
        from yiwang.identity.models import ApiToken

        uid = make_user("exchange1", kind="machine", password=None)
        plaintext, info = service.create_token(session, SYSTEM, uid, "exchange", 30)
        row = session.get(ApiToken, info.id)
        assert plaintext not in (row.token_hash, row.prefix)
        assert len(row.token_hash) == 64

    def test_expired_and_forged_tokens_are_refused(self, session, make_user):
        uid = make_user("exchange1", kind="machine", password=None)
        plaintext, info = service.create_token(session, SYSTEM, uid, "exchange", 1, now=T0)
        assert service.actor_for_token(session, plaintext, now=T0 + timedelta(days=1, seconds=1)) is None
        assert service.actor_for_token(session, f"yw_{info.prefix}_forged", now=T0) is None

    def test_own_token_needs_mfa_when_the_roles_do(self, session, make_user):
        from yiwang.identity.errors import MfaRequired

        uid = make_user("clerk1", ("clerk", DISTRICT), totp=True)
        with pytest.raises(MfaRequired):
            service.create_token(session, service.actor_for_user(session, uid, mfa=False), uid, "mine", 30)
        plaintext, _info = service.create_token(session, service.actor_for_user(session, uid, mfa=True), uid, "mine", 30)
        assert service.actor_for_token(session, plaintext).can("registry.person.read_personal", area_code=STREET)

    def test_cannot_issue_for_someone_outside_your_scope(self, session, make_user):
        admin = service.actor_for_user(session, make_user("admin1", ("sys_admin", DISTRICT)), mfa=True)
        uid = make_user("clerk.b", ("clerk", OTHER_DISTRICT))
        with pytest.raises(PermissionDenied):
            service.create_token(session, admin, uid, "theirs", 30)
        assert service.list_tokens(session, SYSTEM, uid) == []


class TestActor:
    def test_citizen_actor_carries_the_person_link(self, session, settings):
        created = service.create_user(session, SYSTEM, username="citizen1", password=CITIZEN_PASSWORD, kind="citizen",
                                      display_name="C", person_id="P1", settings=settings)
        actor = service.actor_for_user(session, created.id, mfa=False)
        assert (actor.kind, actor.person_id, actor.grants) == ("citizen", "P1", ())

    def test_department_ids_come_from_the_grants(self, session, make_user):
        uid = make_user("appr1", ("approver", DISTRICT, "dep-b"), ("leader", DISTRICT, "dep-a"))
        actor = service.actor_for_user(session, uid, mfa=True)
        assert actor.department_ids == ("dep-a", "dep-b")

    def test_staff_actor_is_a_value(self, session, make_user):
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        assert service.actor_for_user(session, uid, mfa=False) == Actor(
            kind="staff", user_id=uid, username="disp1",
            grants=(Grant("dispatcher", DISTRICT, None, frozenset({
                "registry.person.read", "cityops.read", "cityops.dispatch", "cityops.route", "cityops.incident",
                "cityops.supervise", "cityops.category.manage"})),),
        )


class TestSessions:
    def test_expired_sessions_are_not_loaded_and_are_purged(self, db, session, settings, make_user):
        from yiwang.identity import tasks
        from yiwang.identity.models import UserSession

        uid = make_user("disp1", ("dispatcher", DISTRICT))
        old, _ = service.start_session(session, settings, uid, mfa=False, now=T0)
        new, _ = service.start_session(session, settings, uid, mfa=False)
        session.commit()
        assert service.load_session(session, old) is None
        assert service.load_session(session, new)[1].user_id == uid
        session.commit()
        assert tasks.purge_expired_sessions(db) == 1
        assert len(session.scalars(select(UserSession)).all()) == 1
