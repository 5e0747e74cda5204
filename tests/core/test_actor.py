from __future__ import annotations

import pytest

from yiwang.core.actor import ANONYMOUS, SYSTEM, Actor, Grant, Scope
from yiwang.core.errors import PermissionDenied

STREET = "310101002"


def staff(*grants: Grant) -> Actor:
    return Actor(kind="staff", user_id="u1", grants=grants)


class TestActorCan:
    def test_grant_covers_its_subtree_only(self):
        a = staff(Grant("handler", "310101", None, frozenset({"x.read"})))
        assert a.can("x.read", area_code=STREET)
        assert not a.can("x.read", area_code="310104001")
        assert not a.can("x.write", area_code=STREET)

    def test_department_grant_refuses_other_departments(self):
        a = staff(Grant("approver", "31", "dep-a", frozenset({"x.read"})))
        assert a.can("x.read", area_code=STREET, department_id="dep-a")
        assert not a.can("x.read", area_code=STREET, department_id="dep-b")

    def test_require_raises_with_what_was_asked(self):
        with pytest.raises(PermissionDenied) as info:
            ANONYMOUS.require("x.read", area_code=STREET)
        assert info.value.permission == "x.read"
        assert info.value.area_code == STREET
        assert info.value.code == "permission_denied"

    def test_system_can_everything(self):
        assert SYSTEM.can("anything", area_code="99")

    def test_scopes_drop_those_inside_a_wider_one(self):
        a = staff(
            Grant("r", "310101", None, frozenset({"p"})),
            Grant("r", "310101002", None, frozenset({"p"})),
            Grant("r", "310104", "dep", frozenset({"p"})),
        )
        assert a.scopes("p") == [Scope("310101", None), Scope("310104", "dep")]
