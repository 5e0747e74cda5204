"""The policy as data: defaults, 三员 rules and the pycasbin enforcer (no database)."""

from __future__ import annotations

from yiwang.identity import policy as pol


class TestDefaultPolicy:
    def test_every_default_permission_is_declared(self):
        used = set().union(*pol.DEFAULT_POLICY.values())
        assert used <= set(pol.PERMISSIONS)

    def test_every_role_has_labels_and_a_default_entry(self):
        assert set(pol.DEFAULT_POLICY) == set(pol.ROLES)
        assert all(r.zh and r.en for r in pol.ROLES.values())
        assert pol.ROLES["clerk"].zh == "窗口人员"
        assert pol.ROLES["hotline_operator"].zh == "12345话务员"

    def test_defaults_respect_separation(self):
        assert {role: pol.separation_violation(role, perms) for role, perms in pol.DEFAULT_POLICY.items()} == {
            role: None for role in pol.ROLES
        }

    def test_citizens_hold_nothing(self):
        assert pol.DEFAULT_POLICY["citizen"] == frozenset()
        assert pol.DEFAULT_POLICY["enterprise_agent"] == frozenset()


class TestSeparationRules:
    def test_sys_admin_may_not_read_the_audit_trail(self):
        reason = pol.separation_violation("sys_admin", {"user.manage", "audit.read"})
        assert str(reason) == "The system administrator may not hold audit.read."

    def test_sys_admin_may_not_edit_the_policy(self):
        assert str(pol.separation_violation("sys_admin", {"role.manage"})) == (
            "The system administrator may not hold role.manage.")

    def test_audit_admin_may_not_change_state(self):
        reason = pol.separation_violation("audit_admin", {"audit.read", "backup.run"})
        assert str(reason) == "The audit administrator may not hold permissions that change state (backup.run)."

    def test_audit_admin_may_read(self):
        assert pol.separation_violation("audit_admin", {"audit.read", "audit.verify", "registry.person.read"}) is None

    def test_security_admin_may_not_manage_users(self):
        assert str(pol.separation_violation("security_admin", {"user.manage"})) == (
            "The security administrator may not hold user.manage.")

    def test_a_second_admin_role_conflicts(self):
        assert str(pol.roles_conflict({"sys_admin", "clerk"}, "audit_admin")) == (
            "One user may not hold both sys_admin and audit_admin.")

    def test_an_ordinary_role_beside_an_admin_role_is_allowed(self):
        assert pol.roles_conflict({"sys_admin"}, "leader") is None
        assert pol.roles_conflict({"sys_admin"}, "sys_admin") is None

    def test_unknown_new_permissions_are_classified_by_their_verb(self):
        assert pol.changes_state("cityops.event.dispatch") is True
        assert pol.changes_state("cityops.event.read") is False
        assert pol.is_sensitive("cityops.event.read_personal") is True
        assert pol.is_sensitive("cityops.event.read") is False


class TestEnforcer:
    def test_derives_each_roles_permissions(self):
        enforcer = pol.build_enforcer([("clerk", "registry.person.read"), ("leader", "registry.entity.read")])
        perms = pol.role_permissions(enforcer, ["clerk", "leader", "handler"])
        assert perms == {
            "clerk": frozenset({"registry.person.read"}),
            "leader": frozenset({"registry.entity.read"}),
            "handler": frozenset(),
        }

    def test_enforces_object_and_action(self):
        enforcer = pol.build_enforcer([("clerk", "registry.person.read_personal")])
        assert enforcer.enforce("clerk", "registry.person", "read_personal") is True
        assert enforcer.enforce("clerk", "registry.person", "write") is False
        assert enforcer.enforce("leader", "registry.person", "read_personal") is False

    def test_role_inheritance_through_g(self):
        enforcer = pol.build_enforcer([("clerk", "registry.person.read")])
        enforcer.add_grouping_policy("approver", "clerk")
        assert pol.role_permissions(enforcer, ["approver"]) == {"approver": frozenset({"registry.person.read"})}


class TestOperatorDocs:
    def test_the_table_in_docs_access_md_is_the_default_policy(self):
        from pathlib import Path

        text = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line.startswith("| ")]
        header = next(line for line in lines if line.startswith("| role |"))
        columns = [c.strip() for c in header.strip("|").split("|")][2:]
        documented = {}
        for line in lines:
            cells = [c.strip() for c in line.strip("|").split("|")]
            role = cells[0].split(" ")[0]
            if role in pol.ROLES:
                documented[role] = frozenset(p for p, mark in zip(columns, cells[2:], strict=True) if mark == "✓")
                assert ("🔑" in cells[0]) == any(pol.is_sensitive(p) for p in documented[role]), role
        assert set(columns) == set(pol.PERMISSIONS)
        assert documented == pol.DEFAULT_POLICY
