"""Forms: answers validated by the schema with messages per field in Chinese, and the layout."""

from __future__ import annotations

from yiwang.catalog import forms
from yiwang.catalog import service as catalog_service

from .conftest import FORM

GOOD_ID = "11010519491231002X"


class TestValidateForm:
    def test_good_answers_have_no_problem(self):
        data = {"applicant_name": "张三", "id_number": GOOD_ID, "mobile": "13800138000", "floor_area": 30,
                "category": "catering", "shop_code": "AB123"}

        assert catalog_service.validate_form(FORM, data) == []

    def test_missing_answers_are_reported_per_field_in_chinese(self):
        got = catalog_service.validate_form(FORM, {"applicant_name": "张三"})

        assert [(e.field, e.code, e.message) for e in got] == [
            ("id_number", "required", "请填写身份证号码。"),
            ("mobile", "required", "请填写联系电话。"),
        ]

    def test_wrong_id_number_mobile_and_limits(self):
        data = {"applicant_name": "张", "id_number": "110105194912310021", "mobile": "12345",
                "floor_area": 5000, "category": "bakery", "shop_code": "ab1"}

        got = {e.field: (e.code, e.message) for e in catalog_service.validate_form(FORM, data)}

        assert got == {
            "applicant_name": ("min_length", "申请人姓名至少需要 2 个字符。"),
            "id_number": ("id_number", "身份证号码不是有效的居民身份证号码。"),
            "mobile": ("mobile", "联系电话不是有效的手机号码。"),
            "floor_area": ("maximum", "经营面积不能大于 1000。"),
            "category": ("enum", "主体业态请从列出的选项中选择。"),
            "shop_code": ("pattern", "门店编号格式不正确。"),
        }

    def test_wrong_type(self):
        got = catalog_service.validate_form(FORM, {"applicant_name": "张三", "id_number": GOOD_ID,
                                                   "mobile": "13800138000", "floor_area": "很大"})

        assert [(e.field, e.code, e.message) for e in got] == [("floor_area", "type", "经营面积必须是数字。")]

    def test_messages_in_english_when_asked(self):
        got = catalog_service.validate_form(FORM, {}, locale="en")

        assert got[0].message == "Please fill in 申请人姓名."

    def test_uscc_format(self):
        schema = {"type": "object", "properties": {"uscc": {"type": "string", "title": "统一社会信用代码",
                                                           "format": "uscc"}}}

        got = catalog_service.validate_form(schema, {"uscc": "91310000000000000X"})

        assert [(e.code, e.message) for e in got] == [("uscc", "统一社会信用代码不是有效的统一社会信用代码。")]


class TestCoerceAndLayout:
    def test_html_answers_become_typed_and_empty_ones_drop(self):
        got = forms.coerce_form(FORM, {"applicant_name": " 张三 ", "floor_area": "30.5", "mobile": "", "category": ""})

        assert got == {"applicant_name": "张三", "floor_area": 30.5}

    def test_layout_groups_widgets_errors_and_readonly(self):
        errs = catalog_service.validate_form(FORM, {"applicant_name": "张三"})

        groups = forms.layout(FORM, {"applicant_name": "张三"}, errs, readonly={"applicant_name"})

        assert [(g.title, [f.name for f in g.fields]) for g in groups] == [
            ("申请人", ["applicant_name", "id_number", "mobile"]), ("", ["floor_area", "category", "shop_code"])]
        first, id_field, mobile = groups[0].fields
        assert (first.value, first.readonly, first.required, first.error) == ("张三", True, True, None)
        assert (id_field.widget, id_field.hint, id_field.error) == ("id_number", "18 位", "请填写身份证号码。")
        assert mobile.widget == "mobile"
        category = groups[1].fields[1]
        assert (category.widget, category.options) == ("select", [("catering", "餐饮服务"), ("retail", "食品销售")])


class TestServiceFront:
    def test_other_domains_reach_coercion_and_layout_through_the_service(self):
        values = catalog_service.coerce_form(FORM, {"applicant_name": "张三", "floor_area": "12"})

        groups = catalog_service.form_layout(FORM, values, readonly={"applicant_name"})

        assert values == {"applicant_name": "张三", "floor_area": 12.0}
        assert groups[0].fields[0].readonly is True and groups[1].fields[0].value == 12.0
