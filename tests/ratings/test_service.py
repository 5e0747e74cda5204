"""The ratings service: rating, rectifications with department scoping, reply, close, statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from yiwang.core.actor import Actor, Grant
from yiwang.core.errors import PermissionDenied
from yiwang.notifications import service as notifications_service
from yiwang.ratings import errors
from yiwang.ratings import service as ratings_service

from .conftest import DEP_A, DEP_B, DISTRICT, OTHER_DISTRICT, STREET

# 2026-09-25 (Fri) + 15 working days, by the State Council's 2026 schedule: Sep 28, 29, 30 (3);
# Oct 1–7 National Day off; Oct 8, 9 and Saturday Oct 10 (adjusted working day) (6); Oct 12–16 (11);
# Oct 19, 20, 21, 22 (15).
DUE = date(2026, 10, 22)


def _rect_rows(session) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(
        "SELECT status, reply, replied_by, supervisor_note FROM rectifications ORDER BY id"))]


class TestRate:
    def test_bad_rating_opens_a_rectification_due_in_15_working_days(self, session, rate, leader):
        made = rate(2, comment="窗口等了很久")
        assert made.rectification_id is not None
        [rect] = ratings_service.rectifications(session, leader)
        assert (rect.id, rect.rating_id, rect.department_id, rect.status, rect.due_date, rect.due_estimated,
                rect.overdue, rect.comment) == (made.rectification_id, made.id, DEP_A, "open", DUE, False, False,
                                                "窗口等了很久")

    def test_very_bad_rating_opens_one_too(self, session, rate):
        assert rate(1).rectification_id is not None

    @pytest.mark.parametrize("score", [3, 4, 5])
    def test_neutral_or_good_rating_opens_none(self, session, rate, score):
        made = rate(score)
        assert made.rectification_id is None
        assert session.execute(text("SELECT count(*) FROM rectifications")).scalar() == 0

    def test_refuses_a_second_rating_of_the_subject(self, session, rate):
        rate(5)
        with pytest.raises(errors.AlreadyRated):
            rate(1)
        assert session.execute(text("SELECT score FROM ratings")).scalars().all() == [5]

    @pytest.mark.parametrize("score", [0, 6, True])
    def test_refuses_a_score_outside_1_to_5(self, session, rate, score):
        with pytest.raises(errors.InvalidScore):
            rate(score)
        assert session.execute(text("SELECT count(*) FROM ratings")).scalar() == 0

    def test_refuses_an_unknown_channel(self, session, rate):
        with pytest.raises(errors.InvalidChannel):
            rate(4, channel="fax")

    def test_comment_is_encrypted_at_rest(self, session, rate):
        made = rate(4, comment="办事员态度很好")
        stored = session.execute(text("SELECT comment_enc FROM ratings")).scalar()
        assert made.comment == "办事员态度很好"
        assert stored.startswith("v1.") and "态度" not in stored

    def test_is_audited(self, session, rate):
        made = rate(1)
        row = session.execute(text("SELECT action, target_type, target_id, area_code FROM audit_entries "
                                   "WHERE action = 'rating.create'")).one()
        assert tuple(row) == ("rating.create", "application", "SQ001", STREET)
        assert made.score == 1


class TestRectifications:
    def test_department_staff_see_only_their_department(self, session, rate, approver_a, approver_b):
        mine = rate(1, subject_id="SQ-A")
        rate(2, subject_id="SQ-B", department_id=DEP_B)
        assert [r.id for r in ratings_service.rectifications(session, approver_a)] == [mine.rectification_id]

    def test_supervisor_sees_all_of_the_area(self, session, rate, leader):
        a = rate(1, subject_id="SQ-A")
        b = rate(2, subject_id="SQ-B", department_id=DEP_B)
        rate(2, subject_id="SQ-C", area_code=OTHER_DISTRICT + "001")
        assert sorted(r.id for r in ratings_service.rectifications(session, leader)) == sorted(
            [a.rectification_id, b.rectification_id])

    def test_flags_overdue_and_sorts_by_due_date(self, session, rate, leader, monkeypatch):
        from yiwang.workdays import service as workdays_service

        first = rate(1, subject_id="SQ-1")
        monkeypatch.setattr(workdays_service, "today", lambda: date(2026, 10, 9))
        second = rate(2, subject_id="SQ-2")
        monkeypatch.setattr(workdays_service, "today", lambda: date(2026, 10, 23))
        rows = ratings_service.rectifications(session, leader)
        assert [(r.id, r.overdue) for r in rows] == [(first.rectification_id, True), (second.rectification_id, False)]

    def test_filters_by_status(self, session, rate, leader):
        rate(1)
        assert ratings_service.rectifications(session, leader, status="closed") == []

    def test_refuses_an_actor_without_either_permission(self, session, rate, rater):
        rate(1)
        with pytest.raises(PermissionDenied):
            ratings_service.rectifications(session, rater)


class TestReply:
    def test_department_replies_and_the_rater_is_told(self, session, rate, approver_a, rater):
        made = rate(2)
        done = ratings_service.reply(session, approver_a, made.rectification_id, "已加开窗口")
        assert (done.status, done.reply) == ("replied", "已加开窗口")
        [note] = notifications_service.inbox(session, rater).items
        assert (note.template, note.title, note.body, note.params) == (
            "rating.replied", "评价已答复", "您对办件 SQ001 的评价已收到部门答复：已加开窗口",
            {"rating_id": made.id, "rectification_id": made.rectification_id,
             "subject_type": "application", "subject_id": "SQ001"})

    def test_another_departments_approver_is_denied_and_nothing_changes(self, session, rate, approver_b, rater):
        made = rate(2)
        with pytest.raises(PermissionDenied):
            ratings_service.reply(session, approver_b, made.rectification_id, "不是我们的")
        assert _rect_rows(session) == [("open", None, None, None)]
        assert notifications_service.unread_count(session, rater) == 0

    def test_refuses_an_empty_reply(self, session, rate, approver_a):
        made = rate(2)
        with pytest.raises(errors.ReplyRequired):
            ratings_service.reply(session, approver_a, made.rectification_id, "  ")

    def test_refuses_a_closed_rectification(self, session, rate, approver_a, leader):
        made = rate(2)
        ratings_service.close(session, leader, made.rectification_id, "已核实")
        with pytest.raises(errors.RectificationClosed):
            ratings_service.reply(session, approver_a, made.rectification_id, "晚了")

    def test_unknown_rectification_is_not_found(self, session, approver_a):
        with pytest.raises(errors.RectificationNotFound):
            ratings_service.reply(session, approver_a, "01JNOPE0000000000000000000", "x")


class TestClose:
    def test_supervisor_closes_with_a_note(self, session, rate, approver_a, leader):
        made = rate(1)
        ratings_service.reply(session, approver_a, made.rectification_id, "已整改")
        done = ratings_service.close(session, leader, made.rectification_id, "整改到位")
        assert (done.status, done.supervisor_note, done.closed_at is not None) == ("closed", "整改到位", True)

    def test_department_staff_cannot_close(self, session, rate, approver_a):
        made = rate(1)
        with pytest.raises(PermissionDenied):
            ratings_service.close(session, approver_a, made.rectification_id, "自己办结")
        assert _rect_rows(session) == [("open", None, None, None)]

    def test_supervisor_of_another_district_cannot_close(self, session, rate):
        made = rate(1)
        other = Actor(kind="staff", user_id="01JOTHERLEADER000000000000", grants=(
            Grant("leader", OTHER_DISTRICT, None, frozenset({"rating.supervise"})),))
        with pytest.raises(PermissionDenied):
            ratings_service.close(session, other, made.rectification_id, "x")
        assert _rect_rows(session) == [("open", None, None, None)]


class TestStatistics:
    @pytest.fixture
    def ratings(self, rate):
        rate(5, subject_id="1", service_code="S1", channel="online")
        rate(4, subject_id="2", service_code="S1", channel="hall")
        rate(1, subject_id="3", service_code="S1", channel="online")
        rate(3, subject_id="4", service_code="S2", channel="app", department_id=DEP_B)
        rate(2, subject_id="5", service_code="S2", channel="online", department_id=DEP_B)
        rate(5, subject_id="6", service_code="S3", area_code=OTHER_DISTRICT + "001")

    def test_by_service(self, session, leader, ratings):
        rows = ratings_service.statistics(session, leader, by="service")
        assert [(r.key, r.count, r.average, r.shares, r.bad_share) for r in rows] == [
            ("S1", 3, 3.33, {1: 0.3333, 2: 0.0, 3: 0.0, 4: 0.3333, 5: 0.3333}, 0.3333),
            ("S2", 2, 2.5, {1: 0.0, 2: 0.5, 3: 0.5, 4: 0.0, 5: 0.0}, 0.5)]

    def test_by_channel(self, session, leader, ratings):
        rows = ratings_service.statistics(session, leader, by="channel")
        assert [(r.key, r.count, r.average, r.bad_share) for r in rows] == [
            ("app", 1, 3.0, 0.0), ("hall", 1, 4.0, 0.0), ("online", 3, 2.67, 0.6667)]

    def test_by_department(self, session, leader, ratings):
        rows = ratings_service.statistics(session, leader, by="department")
        assert [(r.key, r.count, r.average) for r in rows] == [(DEP_A, 3, 3.33), (DEP_B, 2, 2.5)]

    def test_time_window_is_inclusive_of_until(self, session, leader, ratings):
        today = datetime.now(UTC).date()
        assert ratings_service.statistics(session, leader, by="service", since=today, until=today)[0].count == 3
        assert ratings_service.statistics(session, leader, by="service", until=date(2000, 1, 1)) == []

    def test_refuses_an_unknown_grouping(self, session, leader):
        with pytest.raises(errors.InvalidGrouping):
            ratings_service.statistics(session, leader, by="rater")

    def test_refuses_an_area_outside_the_grant(self, session, leader):
        with pytest.raises(PermissionDenied):
            ratings_service.statistics(session, leader, by="service", area_code=OTHER_DISTRICT)

    def test_refuses_an_actor_without_rating_stats(self, session, approver_a):
        with pytest.raises(PermissionDenied):
            ratings_service.statistics(session, approver_a, by="service")

    def test_area_code_narrows(self, session, leader, ratings, rate):
        rate(4, subject_id="7", service_code="S4", area_code=DISTRICT + "003")
        wide = ratings_service.statistics(session, leader, by="service")
        narrow = ratings_service.statistics(session, leader, by="service", area_code=STREET)
        assert ([r.key for r in wide], [r.key for r in narrow]) == (["S1", "S2", "S4"], ["S1", "S2"])
