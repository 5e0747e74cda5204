"""The whole demo load (``yiwang.demo.loader.load_demo``), applications in every state included.

Loading the demo city is the slow part of the demo's tests, so it happens once, here: the checks
of what the loaded applications look like share that one load."""

from __future__ import annotations

from sqlalchemy import func, select

from yiwang.applications import service as applications_service
from yiwang.applications.models import Application
from yiwang.certificates import service as certificates_service
from yiwang.core.jobs import bind_settings
from yiwang.demo.applications import STATES
from yiwang.demo.loader import load_demo
from yiwang.files import service as files_service
from yiwang.identity import service as identity_service
from yiwang.notifications.models import Notification
from yiwang.ratings.models import Rating, Rectification
from yiwang.registry import service as registry_service

EXPECTED = {"draft": 1, "submitted": 2, "refused": 1, "in_review": 7, "correction": 1, "closed/approved": 1,
            "closed/partly_approved": 1, "closed/rejected": 1, "withdrawn": 1}
APPROVERS = ("approver.scjg", "approver.lhsr", "approver.wjw", "approver.zjw", "approver.gaj", "approver.xfjy",
             "approver.swj", "approver.cgzf", "approver.sjj", "approver.cyzx")


def escalations(session, username: str) -> int:
    user = identity_service.actor_for_username(session, username)
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.user_id, Notification.template == "task.escalated"))


class TestLoadDemo:
    def test_loads_applications_in_every_state_through_the_real_flow(self, db, session, settings):
        # given an empty database
        bind_settings(db.engine, settings)
        lines: list[str] = []

        # when the demo is loaded
        summary = load_demo(db, persons=300, entities=60, seed=1, events=60, echo=lines.append)

        # then every state is there, as the summary says and as the table holds
        assert tuple(EXPECTED) == STATES
        assert summary["applications"] == {**EXPECTED, "escalated": 3}
        assert summary["counts"]["applications"] == 16
        assert ("applications by state: draft 1, submitted 2, refused 1, in_review 7, correction 1, "
                "closed/approved 1, closed/partly_approved 1, closed/rejected 1, withdrawn 1, escalated 3") in lines
        assert [line for line in lines if line.startswith("city events: ")]  # 一网统管 (tests/demo/test_cityops.py)
        assert summary["counts"]["city_events"] == summary["cityops"]["events"] > 0
        rows = session.execute(select(Application.status, Application.outcome, func.count())
                               .group_by(Application.status, Application.outcome)).all()
        assert {(f"{s}/{o}" if s == "closed" else s): n for s, o, n in rows} == EXPECTED

        # journey 1's end state: citizen1's restaurant approved in three parallel branches, the
        # signage one after a correction, three certificates in the wallet, rated 5
        citizen1 = identity_service.actor_for_username(session, "citizen1")
        mine = applications_service.mine(session, citizen1).items
        assert [(a.subject_code, a.status, a.outcome) for a in mine] == [("YJS-001", "closed", "approved")]
        restaurant = applications_service.get(session, citizen1, mine[0].id)
        assert [(b.item_code, b.status) for b in restaurant.branches] == [
            ("SCJG-001", "approved"), ("SCJG-003", "approved"), ("LHSR-001", "approved")]
        assert all(b.certificate_id for b in restaurant.branches)
        assert [e.kind for e in restaurant.events].count("corrected") == 1
        assert restaurant.rated is True
        assert session.scalar(select(Rating.score).where(Rating.subject_id == restaurant.id)) == 5
        wallet = certificates_service.wallet(session, citizen1)
        assert sorted(c.type_code for c in wallet if c.application_id == restaurant.id) == ["BL", "FBL", "SIGN"]
        uploads = [m for m in restaurant.materials if m.source == "upload"]
        assert len(uploads) == 6
        assert {files_service.get(session, m.file_id).media_type for m in uploads} == {"application/pdf"}

        # the approvers' inboxes show every deadline state, and the late branches reached their heads
        states = {row.deadline_state for name in APPROVERS
                  for row in applications_service.inbox(session, identity_service.actor_for_username(session, name),
                                                        status="all")}
        assert states == {"ok", "warning", "overdue", "paused"}
        assert (escalations(session, "head.gaj"), escalations(session, "head.swj"),
                escalations(session, "head.scjg")) == (2, 1, 0)

        # a bad rating opened one rectification
        assert session.scalar(select(func.count()).select_from(Rectification)
                              .where(Rectification.status == "open")) == 1

        # 全市通办: another district's clerk took in citizen4's application, who follows it online
        citizen4 = identity_service.actor_for_username(session, "citizen4")
        home = registry_service.get_my_person(session, citizen4).area_code[:6]
        hall = [a for a in applications_service.mine(session, citizen4).items if a.channel == "hall"]
        assert [(a.subject_code, a.status) for a in hall] == [("GAJ-003", "in_review")]
        assert hall[0].area_code != home
