"""The demo accounts of the applications domain: an approver and a head for every department that
owns a demo catalogue item (``yiwang.demo.staff``)."""

from __future__ import annotations

from yiwang.core.actor import SYSTEM
from yiwang.demo.city import CITY_DEPARTMENTS
from yiwang.demo.staff import item_departments, load_staff
from yiwang.identity import service as identity_service

DEPARTMENTS = {f"31-{suffix}": f"D-{suffix}" for suffix, _, _ in CITY_DEPARTMENTS}
ITEM_DEPARTMENTS = ["31-SCJG", "31-LHSR", "31-WJW", "31-ZJW", "31-GAJ", "31-XFJY", "31-SWJ", "31-CGZF", "31-SJJ",
                    "31-CYZX"]


class TestItemDepartments:
    def test_every_department_owning_a_demo_item_in_catalogue_order(self):
        assert item_departments() == ITEM_DEPARTMENTS


class TestApproversAndHeads:
    def test_each_item_department_has_an_approver_and_a_head(self, session):
        staff = {s["username"]: s for s in load_staff(session, district_codes=["310101"], street_codes=[],
                                                       departments=DEPARTMENTS)}
        for code in ITEM_DEPARTMENTS:
            suffix = code.split("-")[1].lower()
            assert staff[f"approver.{suffix}"] == {"username": f"approver.{suffix}", "role": "approver",
                                                   "scope": f"31/{code}", "totp": True}
            assert staff[f"head.{suffix}"] == {"username": f"head.{suffix}", "role": "leader",
                                               "scope": f"31/{code}", "totp": False}
        assert "approver.12345" not in staff and "head.12345" not in staff

    def test_existing_accounts_are_unchanged(self, session):
        staff = {s["username"]: s for s in load_staff(session, district_codes=["310101"], street_codes=[],
                                                       departments=DEPARTMENTS)}
        assert staff["approver.scjg"] == {"username": "approver.scjg", "role": "approver", "scope": "31/31-SCJG",
                                          "totp": True}
        assert staff["leader"] == {"username": "leader", "role": "leader", "scope": "31", "totp": False}
        assert [u for u in staff if u.startswith("approver.scjg")] == ["approver.scjg", "approver.scjg.310101"]

    def test_a_head_supervises_only_their_department(self, session):
        load_staff(session, district_codes=["310101"], street_codes=[], departments=DEPARTMENTS)
        head = identity_service.actor_for_username(session, "head.gaj", mfa=True)
        assert head.can("application.supervise", area_code="31", department_id="D-GAJ")
        assert not head.can("application.supervise", area_code="31", department_id="D-SCJG")
        assert not head.can("application.decide", area_code="31", department_id="D-GAJ")

    def test_heads_receive_escalations_of_their_department(self, session):
        load_staff(session, district_codes=["310101"], street_codes=[], departments=DEPARTMENTS)
        found = identity_service.users_with_permission(session, "application.supervise", area_code="31",
                                                       department_id="D-GAJ")
        names = sorted(identity_service.get_user(session, SYSTEM, u).username for u in found)
        assert names == ["head.gaj", "leader"]

    def test_no_approver_for_a_department_the_city_lacks(self, session):
        departments = {k: v for k, v in DEPARTMENTS.items() if k != "31-SWJ"}
        staff = {s["username"] for s in load_staff(session, district_codes=["310101"], street_codes=[],
                                                   departments=departments)}
        assert "approver.swj" not in staff and "head.swj" not in staff
        assert {"approver.wjw", "head.wjw"} <= staff

