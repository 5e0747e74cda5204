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


class TestTwoValidatorsAgree:
    """jsonschema-rs says "valid" for filing's fast path; jsonschema gives every other verdict. Where
    the fast one is used, it must never pass what jsonschema refuses."""

    @staticmethod
    def answers(schema):
        """Good answers for every field of ``schema``, then each field spoilt in every way it can be."""
        good = {"string": "上海市黄浦区", "number": 30, "integer": 3, "boolean": True}
        by_format = {"id_number": GOOD_ID, "uscc": "91350100M000100Y43", "mobile": "13800138000",
                     "date": "2026-09-30"}
        props = schema.get("properties") or {}
        base = {}
        for name, spec in props.items():
            value = by_format.get(spec.get("format"), good.get(spec.get("type"), "x"))
            if "enum" in spec:
                value = spec["enum"][0]
            elif "pattern" in spec:
                value = {"^31[0-9]{4,13}$": "310101", "^[0-9.]+[x×*][0-9.]+$": "2x3"}.get(spec["pattern"], "AB123")
            base[name] = value
        yield base
        spoilt = [None, "", "1", "x" * 300, -5, 10**9, 1.5, "2026-02-30", "2026-9-30", "110105194912310021",
                  "12345678901", "91350100M000100Y44", "310101\n", "３１０１０１", "e\u0301", [], {}, True]
        for name in props:
            for bad in spoilt:
                yield {**base, name: bad}
            yield {k: v for k, v in base.items() if k != name}

    def test_on_every_demo_form_the_fast_verdict_never_passes_what_jsonschema_refuses(self):
        from yiwang.demo.catalog import build_document

        doc = build_document()
        schemas = [i["form"] for i in doc["items"] if i.get("form")] + [FORM]
        used = 0
        for schema in schemas:
            full, fast = forms._validator(schema)
            if fast is None:
                continue
            used += 1
            for n, data in enumerate(self.answers(schema)):
                if n == 0:
                    assert full.is_valid(data), (schema.get("title"), data)  # the good answers are good
                if fast.is_valid(data):
                    assert full.is_valid(data), (schema.get("title"), data)
                assert (forms.validate_form(schema, data) == []) == full.is_valid(data)
        assert used >= 50  # the demo catalogue's forms all take the fast path

    def test_a_format_or_pattern_the_two_read_differently_is_judged_by_jsonschema_alone(self):
        for spec in ({"type": "string", "format": "email"}, {"type": "string", "pattern": "^\\w+$"},
                     {"type": "string", "pattern": "^(?i)ab$"}, {"type": "string", "format": "regex"}):
            schema = {"type": "object", "properties": {"f": spec}}
            assert forms._validator(schema)[1] is None
        assert forms._validator(FORM)[1] is not None
