"""The demo accounts (``yiwang.demo.staff``)."""

from __future__ import annotations

import pyotp

from yiwang.demo.staff import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_staff
from yiwang.identity import policy as pol
from yiwang.identity import service

DEPARTMENTS = {"31-SJJ": "D-SJJ", "31-12345": "D-12345", "31-CYZX": "D-CYZX", "31-SCJG": "D-SCJG",
               "310101-SCJG": "D-HP-SCJG", "310101-CYZX": "D-HP-CYZX", "310101002-JDB": "D-NJDL"}


class TestLoadStaff:
    def test_every_role_has_an_account(self, session):
        staff = load_staff(session, district_codes=["310101", "310104"], street_codes=["310101002"],
                           departments=DEPARTMENTS)
        assert {s["role"] for s in staff} == set(pol.ROLES)
        by_name = {s["username"]: s for s in staff}
        assert by_name["sysadmin"] == {"username": "sysadmin", "role": "sys_admin", "scope": "31", "totp": True}
        assert by_name["approver.scjg.310101"]["scope"] == "310101/310101-SCJG"
        assert by_name["handler.310101002"]["scope"] == "310101002/310101002-JDB"
        assert by_name["grid.310101002001"] == {"username": "grid.310101002001", "role": "grid_worker",
                                                "scope": "310101002001", "totp": False}
        assert by_name["approver.scjg.310104"]["scope"] == "310104"
        assert {"citizen1", "enterprise1"} <= set(by_name)

    def test_demo_password_and_totp_sign_in(self, session, settings):
        load_staff(session, district_codes=["310101"], street_codes=[], departments=DEPARTMENTS)
        outcome = service.authenticate(session, settings, "clerk.310101", DEMO_PASSWORD,
                                       totp=pyotp.TOTP(DEMO_TOTP_SECRET).now())
        assert (outcome.ok, outcome.mfa) == (True, True)
        actor = service.actor_for_user(session, outcome.user_id, mfa=True)
        assert actor.can("registry.person.read_personal", area_code="310101002")

    def test_accounts_without_sensitive_roles_need_no_totp(self, session, settings):
        load_staff(session, district_codes=["310101"], street_codes=["310101002"], departments=DEPARTMENTS)
        outcome = service.authenticate(session, settings, "grid.310101002001", DEMO_PASSWORD)
        assert (outcome.ok, outcome.totp_needed, outcome.totp_setup_needed) == (True, False, False)
        assert service.actor_for_user(session, outcome.user_id, mfa=False).roles == frozenset({"grid_worker"})
