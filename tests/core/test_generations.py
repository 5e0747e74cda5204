"""core.generations: a memo is never served stale, whichever transaction reads first."""

from __future__ import annotations

from sqlalchemy import select

from yiwang.areas.models import Area
from yiwang.core.generations import Generation, Memo, bump

MEMO = Memo("test-areas", frozenset({"areas"}))


def name_of(session, code: str) -> str | None:
    return MEMO.get(session, code, lambda: session.scalar(select(Area.name).where(Area.code == code)))


def add_area(db, code: str, name: str) -> None:
    with db.transaction() as s:
        s.add(Area(code=code, name=name, level="city", depth=0))


def rename(db, code: str, name: str) -> None:
    with db.transaction() as s:
        s.scalars(select(Area).where(Area.code == code)).one().name = name


class TestMemo:
    def test_a_committed_change_is_seen_by_the_next_transaction(self, db):
        add_area(db, "98", "甲市")
        with db.transaction(write=False) as s:
            assert name_of(s, "98") == "甲市"
        with db.transaction(write=False) as s:
            assert MEMO.get(s, "98", lambda: "not served from the memo") == "甲市"
        rename(db, "98", "乙市")
        with db.transaction(write=False) as s:
            assert name_of(s, "98") == "乙市"

    def test_an_older_transactions_read_is_not_kept(self, db):
        add_area(db, "97", "旧名")
        old = db.session(write=False)
        try:
            old.scalar(select(Area.name))  # its snapshot starts here
            rename(db, "97", "新名")
            with db.transaction(write=False) as s:
                assert name_of(s, "97") == "新名"
            seen = name_of(old, "97")  # what that transaction sees (SQLite: its snapshot), never stored
            assert seen == ("旧名" if db.is_sqlite else "新名")
        finally:
            old.close()
        with db.transaction(write=False) as s:
            assert MEMO.get(s, "97", lambda: "reloaded") == "新名"

    def test_a_session_with_its_own_change_bypasses_the_memo_and_a_rollback_leaves_nothing(self, db):
        with db.session() as s:
            s.add(Area(code="96", name="未提交", level="city", depth=0))
            assert name_of(s, "96") == "未提交"
            s.rollback()
        with db.transaction(write=False) as s:
            assert name_of(s, "96") is None

    def test_a_bump_by_hand_makes_the_memo_stale(self, db, settings):
        add_area(db, "95", "丙市")
        with db.transaction(write=False) as s:
            assert name_of(s, "95") == "丙市"
        bump(settings, "test-areas")
        with db.transaction(write=False) as s:
            assert MEMO.get(s, "95", lambda: "reloaded") == "reloaded"


def test_the_shared_counter_is_seen_by_every_process_of_a_var_dir(tmp_path):
    one, two = Generation(tmp_path / "g"), Generation(tmp_path / "g")
    one.bump()
    one.bump()
    assert two.value() == (0, 2) and one.value() == (2, 2)


class TestHolders:
    """identity's memo of who holds a permission where (used for every event routed)."""

    def test_a_new_grant_and_a_deactivated_user_are_seen_at_once(self, db):
        from yiwang.core.actor import SYSTEM
        from yiwang.identity import service as identity_service
        from yiwang.identity.models import User

        def handler(name: str, area: str) -> str:
            with db.transaction() as s:
                return identity_service.create_user(s, SYSTEM, username=name, password=None, kind="staff",
                                                    display_name=name, grants=[("handler", area, None)]).id

        def holders(area: str) -> list[str]:
            with db.transaction(write=False) as s:
                return identity_service.users_with_permission(s, "cityops.handle", area_code=area)

        first = handler("handler.one", "310101")
        assert holders("310101002") == [first]
        second = handler("handler.two", "310101002")
        assert holders("310101002") == sorted([first, second])
        assert holders("310102") == []
        with db.transaction() as s:
            s.get(User, first).is_active = False
        assert holders("310101002") == [second]


def test_a_memo_forgets_after_its_time_to_live(db):
    """A change made on another host bumps no generation here: the time to live bounds it."""
    memo = Memo("test-ttl", frozenset({"areas"}), ttl=0.0)
    add_area(db, "94", "丁市")
    with db.transaction(write=False) as s:
        assert memo.get(s, "94", lambda: "first") == "first"
    with db.transaction(write=False) as s:
        assert memo.get(s, "94", lambda: "again") == "again"


def test_generations_hold_no_file_open(tmp_path):
    """A process serving many deployments (the test suite does) must not run out of descriptors."""
    import gc
    import os

    from yiwang.core.generations import MAX_GENERATIONS, shared_generation
    from yiwang.core.settings import Settings

    before = len(os.listdir("/proc/self/fd"))
    for i in range(3 * MAX_GENERATIONS):
        shared_generation(Settings(var_dir=tmp_path / f"d{i}"), "test-fds").bump()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before + MAX_GENERATIONS
