"""The portal's search: Chinese words, filters, facets, sorting, paging, states, the index kept in
step by the service, and the cache dropped when the catalogue changes (both databases)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from yiwang.core.actor import SYSTEM
from yiwang.datacat import search, service
from yiwang.datacat.models import SearchTerm


def ids(result: search.Result) -> list[str]:
    return list(result.ids)


class TestWords:
    def test_cuts_chinese_for_search_and_drops_punctuation_and_particles(self):
        got = search.words("黄浦区的公交站点（2024年）, Bus CSV")
        assert {"黄浦", "黄浦区", "公交", "站点", "公交站点", "2024", "bus", "csv"} <= set(got)
        assert "的" not in got and "（" not in got and "," not in got

    def test_search_text_holds_title_summary_tags_fields_department_and_topic(self):
        class R:
            title, summary, tags, topic = "空气质量", "每日指数", '["环境"]', "environment"

        class F:
            title, name = "监测点", "site"

        text = search.search_text_of(R(), [F()], "生态环境局").split()
        assert {"空气质量", "每日", "指数", "环境", "监测点", "生态环境", "资源"} <= set(text)
        assert len(text) == len(set(text))


class TestQuery:
    def test_words_are_anded_and_only_open_resources_match(self, db, open_catalogue):
        with db.session() as s:
            both = search.query(s, q="公交 站点", use_cache=False)
            assert sorted(ids(both)) == sorted([open_catalogue.resources["bus-stops"],
                                                open_catalogue.resources["bus-lines"]])
            assert search.query(s, q="公交 空气", use_cache=False).count == 0
            # The draft "企业登记公交信息" holds 公交 too but is not open.
            assert open_catalogue.resources["company-register"] not in ids(search.query(s, q="企业", use_cache=False))

    def test_staff_can_search_other_states(self, db, open_catalogue):
        with db.session() as s:
            got = search.query(s, q="企业", states=("draft",), use_cache=False)
        assert ids(got) == [open_catalogue.resources["company-register"]]

    def test_a_word_not_indexed_whole_matches_by_its_parts(self, db, open_catalogue):
        with db.session() as s:
            got = search.query(s, q="空气质量指数", use_cache=False)
        assert ids(got) == [open_catalogue.resources["air-quality"]]

    def test_an_unknown_word_matches_nothing(self, db, open_catalogue):
        with db.session() as s:
            got = search.query(s, q="火星基地", facet_fields=["organization"], use_cache=False)
        assert (got.count, ids(got), got.facets) == (0, [], {"organization": []})

    def test_empty_query_lists_every_open_resource_with_facets(self, db, open_catalogue):
        with db.session() as s:
            got = search.query(s, facet_fields=["organization", "groups", "res_format", "update_cycle",
                                                "opening", "tags"], use_cache=False)
        deps = open_catalogue.departments
        assert got.count == 3
        assert got.facets["organization"] == [(deps["JT"], 2), (deps["HB"], 1)]
        assert got.facets["groups"] == [("transport", 2), ("environment", 1)]
        assert got.facets["res_format"] == [("CSV", 3)]
        assert got.facets["update_cycle"] == [("daily", 1), ("monthly", 1), ("yearly", 1)]
        assert got.facets["opening"] == [("unconditional", 2), ("conditional", 1)]
        assert got.facets["tags"] == [("公交", 2), ("交通", 1), ("环境", 1), ("空气质量", 1)]

    def test_filters_are_terms_anded_with_the_words(self, db, open_catalogue):
        deps = open_catalogue.departments
        with db.session() as s:
            jt = search.query(s, fq={"organization": [deps["JT"]], "opening": ["conditional"]}, use_cache=False)
            assert ids(jt) == [open_catalogue.resources["bus-lines"]]
            assert search.query(s, q="空气", fq={"groups": ["transport"]}, use_cache=False).count == 0
            assert search.query(s, fq={"res_format": ["csv"]}, use_cache=False).count == 3
            assert search.query(s, fq={"tags": ["空气质量"]}, use_cache=False).count == 1

    def test_sorts_by_title_name_and_modified_and_pages_do_not_overlap(self, db, open_catalogue):
        r = open_catalogue.resources
        with db.session() as s:
            by_name = ids(search.query(s, sort="name asc", use_cache=False))
            assert by_name == [r["air-quality"], r["bus-lines"], r["bus-stops"]]
            assert ids(search.query(s, sort="name desc", use_cache=False)) == by_name[::-1]
            newest = ids(search.query(s, sort="metadata_modified desc", use_cache=False))
            assert newest[0] == r["bus-lines"]  # opened last
            pages = [ids(search.query(s, sort="name asc", rows=1, start=n, use_cache=False)) for n in range(4)]
        assert pages == [[by_name[0]], [by_name[1]], [by_name[2]], []]

    def test_score_puts_title_matches_first(self, db, open_catalogue):
        r = open_catalogue.resources
        with db.session() as s:
            got = search.query(s, q="站点", use_cache=False)
        # Both titles hold 站点; the sort then falls back to the newest change.
        assert ids(got) == [r["bus-lines"], r["bus-stops"]]

    def test_rows_are_capped_at_1000(self, db, open_catalogue):
        with db.session() as s:
            assert search.query(s, rows=5000, use_cache=False).count == 3

    @pytest.mark.parametrize("kwargs", [{"sort": "colour desc"}, {"sort": "name sideways"},
                                        {"fq": {"colour": ["red"]}}, {"facet_fields": ["colour"]}])
    def test_refuses_unknown_fields_and_sorts(self, db, open_catalogue, kwargs):
        with db.session() as s, pytest.raises(search.QueryError):
            search.query(s, use_cache=False, **kwargs)


class TestIndexInStep:
    def test_update_replaces_the_terms_and_the_cached_answer(self, db, open_catalogue):
        r = open_catalogue.resources
        with db.session() as s:
            assert ids(search.query(s, q="空气")) == [r["air-quality"]]
        with db.transaction() as s:
            service.update_resource(s, SYSTEM, r["air-quality"], {"title": "水质监测数据", "summary": "各监测点水质", "tags": ["水质"]})
        with db.session() as s:
            assert search.query(s, q="空气").count == 0
            assert ids(search.query(s, q="水质")) == [r["air-quality"]]
            terms = set(s.scalars(select(SearchTerm.term).where(SearchTerm.resource_id == r["air-quality"])))
        assert "水质" in terms
        assert "tag:空气质量" not in terms

    def test_closing_takes_a_resource_out_of_the_open_search(self, db, open_catalogue):
        r = open_catalogue.resources
        with db.session() as s:
            assert search.query(s, q="公交").count == 2
        with db.transaction() as s:
            service.close_resource(s, SYSTEM, r["bus-lines"], reason="停更")
        with db.session() as s:
            assert ids(search.query(s, q="公交")) == [r["bus-stops"]]

    def test_a_rolled_back_change_keeps_the_cache(self, db, open_catalogue):
        with db.session() as s:
            search.query(s, q="公交")
            before = search.stamp(s.info["settings"])
        s = db.session()
        service.update_resource(s, SYSTEM, open_catalogue.resources["bus-stops"], {"title": "改名"})
        s.rollback()
        s.close()
        assert search.stamp(db.settings) == before

    def test_counting_a_view_does_not_drop_cached_answers(self, db, open_catalogue):
        before = search.stamp(db.settings)
        with db.transaction() as s:
            from sqlalchemy import update

            from yiwang.datacat.models import DataResource

            s.execute(update(DataResource).where(DataResource.id == open_catalogue.resources["bus-stops"])
                      .values(views=DataResource.views + 1))
        assert search.stamp(db.settings) == before

    def test_every_term_fits_the_column(self, db, open_catalogue):
        with db.session() as s:
            longest = s.scalar(select(func.max(func.length(SearchTerm.term))))
        assert 0 < longest <= search.MAX_TERM
