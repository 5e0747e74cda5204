"""``yiwang application escalate-overdue``."""

from __future__ import annotations

from sqlalchemy import func, select

from yiwang.notifications.models import Notification


class TestEscalateOverdue:
    def test_escalates_once_and_says_how_many(self, run, session, accepted_bundle, head_of_scjg):
        accepted_bundle()
        first = run("application", "escalate-overdue", "--on", "2026-10-21")
        again = run("application", "escalate-overdue", "--on", "2026-10-21")
        # SCJG-001 (due 10-10), LHSR-001 (10-13) and SCJG-003 (10-20) are all past due on 10-21.
        assert (first.exit_code, first.output.strip()) == (0, "escalated 3")
        assert again.output.strip() == "escalated 0"
        session.rollback()
        sent = session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.user_id == head_of_scjg))
        assert sent == 2  # the head of 市场监管局 hears of its two branches, not of 绿化市容局's

    def test_nothing_is_due_before_the_first_deadline(self, run, accepted_bundle):
        accepted_bundle()
        assert run("application", "escalate-overdue", "--on", "2026-10-10").output.strip() == "escalated 0"
