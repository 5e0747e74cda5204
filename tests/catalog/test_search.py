"""Search in Chinese: what people type finds the items and bundles they mean."""

from __future__ import annotations

from yiwang.catalog import search as search_index
from yiwang.catalog import service as catalog_service
from yiwang.core.actor import SYSTEM

from .conftest import item_data


class TestSearch:
    def test_business_licence_finds_the_registration_items(self, session, demo):
        hits = catalog_service.search(session, "营业执照")

        codes = [h.code for h in hits[:2]]
        assert sorted(codes) == ["SCJG-001", "SCJG-002"]
        assert hits[0].kind == "item"

    def test_open_a_restaurant_finds_the_bundle_first_then_the_food_licence(self, session, demo):
        hits = catalog_service.search(session, "开餐馆")

        assert (hits[0].kind, hits[0].code, hits[0].name) == ("bundle", "YJS-001", "开办餐饮店")
        assert hits[0].item_codes == ["SCJG-001", "SCJG-003", "LHSR-001"]
        assert "SCJG-003" in [h.code for h in hits[1:4]]

    def test_a_whole_sentence_finds_the_restaurant_bundle(self, session, demo):
        hits = catalog_service.search(session, "我想开个饭店")

        assert hits[0].code == "YJS-001"
        assert "SCJG-003" in [h.code for h in hits[1:4]]

    def test_id_card_finds_the_id_card_items(self, session, demo):
        hits = catalog_service.search(session, "身份证")

        assert {h.code for h in hits[:3]} == {"GAJ-003", "GAJ-004", "GAJ-005"}

    def test_only_stop_words_find_nothing(self, session, demo):
        assert catalog_service.search(session, "我想要") == []

    def test_area_filter_leaves_out_items_of_other_areas(self, session, departments):
        catalog_service.create_item(session, SYSTEM, "HP-001", item_data(
            name="黄浦区测试许可", department="310101-SCJG", areas=["310101"], keywords=["黄浦测试"]))

        assert [h.code for h in catalog_service.search(session, "测试许可", area_code="310101")] == ["HP-001"]
        assert catalog_service.search(session, "测试许可", area_code="310104") == []

    def test_index_follows_a_new_version(self, session, demo):
        before = search_index.index(session)
        catalog_service.publish_item_version(session, SYSTEM, "SCJG-012", item_data(
            name="计量器具强制检定", department="31-SCJG", keywords=["地磅称重"]))

        hits = catalog_service.search(session, "地磅称重")

        assert search_index.index(session) is not before
        assert [h.code for h in hits] == ["SCJG-012"]
