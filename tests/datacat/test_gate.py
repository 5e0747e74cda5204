"""The gate: identifiers in any value, grades, k-anonymity; steps that de-identify."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from yiwang.core.i18n import catalogue
from yiwang.core.validators import luhn_ok, resident_id_check_char, uscc_check_char
from yiwang.datacat import gate
from yiwang.datacat.gate import FieldRule, Hit, KResult, Report, Step, StepInvalid, apply, scan
from yiwang.datacat.ingest import Column


def rid(first17: str) -> str:
    return first17 + resident_id_check_char(first17)


def card(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def bad_check(valid: str) -> str:
    wrong = "0" if valid[-1] != "0" else "1"
    return valid[:-1] + wrong


ID1, ID2, ID3 = rid("11010119900307123"), rid("31010419851120004"), rid("44030519721231561")
USCC = "91310000MA1FL0000" + uscc_check_char("91310000MA1FL0000")
CARD = card("622202123456789012")  # UnionPay, 19 digits
PLAIN = FieldRule("名称", "general", 1, False)


def people(n: int = 3) -> tuple[list[Column], list[tuple]]:
    columns = [Column("姓名", "text"), Column("身份证号", "text"), Column("备注", "text")]
    ids = [ID1, ID2, ID3]
    rows = [(f"张{i}", ids[i % 3], "无") for i in range(n)]
    return columns, rows


class TestIdentifiers:
    def test_a_column_of_valid_id_numbers_is_refused_with_the_column_named(self) -> None:
        columns, rows = people(30)
        report = scan(columns, rows, [], [])
        assert not report.passed
        assert report.hits == [Hit("resident_id", "身份证号", list(range(1, 21)), 30)]
        assert report.rows_scanned == 30
        assert report.message_zh() == ("不予开放：字段“身份证号”第 " + "、".join(str(i) for i in range(1, 21))
                                       + " 行…含有效的公民身份号码 30 处。")

    def test_after_a_mask_step_it_opens(self) -> None:
        columns, rows = people()
        report = scan(columns, rows, [], [Step("身份证号", "mask")])
        assert report.passed, report.message_zh()
        assert report.message_zh() == "通过：未发现个人标识信息，分级字段均已处理。"
        _, out = apply(columns, rows, [Step("身份证号", "mask")])
        assert out[0][1] == ID1[:3] + "*" * 11 + ID1[-4:]

    def test_an_id_number_hidden_in_free_text_is_caught(self) -> None:
        columns, rows = people()
        rows[1] = (rows[1][0], None, f"联系人身份证{ID2}，已核实")
        report = scan(columns, rows, [], [Step("身份证号", "drop")])
        assert report.hits == [Hit("resident_id", "备注", [2], 1)]
        assert "字段“备注”第 2 行含有效的公民身份号码 1 处" in report.message_zh()

    def test_masking_free_text_masks_the_identifiers_and_leaves_the_text(self) -> None:
        columns = [Column("备注", "text")]
        rows = [(f"联系人身份证{ID2}，电话13812345678，已核实",), ("无",)]
        steps = [Step("备注", "mask", "identifiers")]
        _, out = apply(columns, rows, steps)
        assert out == [(f"联系人身份证{ID2[:3]}{'*' * 11}{ID2[-4:]}，电话138****5678，已核实",), ("无",)]
        assert scan(columns, rows, [], steps).passed

    def test_masking_whole_values_masks_names_too(self) -> None:
        _, out = apply([Column("姓名", "text")], [("张三明",), (None,), ("zhang@example.com",)], [Step("姓名", "mask")])
        assert out == [("张*明",), (None,), ("z***@example.com",)]

    def test_invalid_check_digits_are_not_hits(self) -> None:
        columns = [Column("编号", "text"), Column("备注", "text")]
        rows = [(bad_check(ID1), f"号码{bad_check(ID2)}"), (bad_check(USCC), "")]
        assert scan(columns, rows, [], []).passed

    def test_an_impossible_birth_date_is_not_a_hit(self) -> None:
        assert scan([Column("a", "text")], [(rid("11010119901307123"),)], [], []).passed

    def test_every_kind_is_found(self) -> None:
        columns = [Column("备注", "text")]
        rows = [(f"代码{USCC}",), ("电话 +86 138-1234-5678",), ("邮箱 li.si@example.com.cn",),
                (f"卡号 {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:16]} {CARD[16:]}",)]
        report = scan(columns, rows, [], [])
        assert [(h.kind, h.rows) for h in report.hits] == [("uscc", [1]), ("mobile", [2]), ("bank_card", [4]),
                                                             ("email", [3])]

    def test_an_integer_column_can_hold_mobiles(self) -> None:
        report = scan([Column("电话", "integer")], [(13812345678,), (42,)], [], [])
        assert report.hits == [Hit("mobile", "电话", [1], 1)]

    def test_dates_and_short_numbers_are_not_scanned_as_identifiers(self) -> None:
        columns = [Column("日期", "date"), Column("数量", "integer"), Column("金额", "number")]
        assert scan(columns, [(date(2024, 3, 7), 12, 2.5)], [], []).passed

    def test_counts_every_occurrence_and_lists_rows_once(self) -> None:
        rows = [(f"{ID1} 和 {ID2}",), ("无",), (ID3,)]
        report = scan([Column("备注", "text")], rows, [], [], max_rows_listed=20)
        assert report.hits == [Hit("resident_id", "备注", [1, 3], 3)]


class TestBankCards:
    def test_cards_by_luhn_in_a_card_column(self) -> None:
        not_luhn = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
        rows = [(CARD,), (not_luhn,), (card("123456789012345"),)]
        report = scan([Column("银行卡号", "text")], rows, [], [])
        assert report.hits == [Hit("bank_card", "银行卡号", [1, 3], 2)]

    def test_a_card_in_free_text_is_found(self) -> None:
        report = scan([Column("备注", "text")], [(f"退款至{CARD}",), ("无",)], [], [])
        assert report.hits == [Hit("bank_card", "备注", [1], 1)]

    def test_codes_that_pass_luhn_by_chance_are_not_cards(self) -> None:
        # 16-digit stop ids starting with a Guangdong area code (44…, a Visa prefix): about one in
        # ten passes Luhn, as any code does; the column is one of codes, not of cards
        rows = [(f"440305{i:010d}",) for i in range(1000)]
        assert sum(luhn_ok(r[0]) for r in rows) == 100
        assert scan([Column("站点编号", "text")], rows, [], []).passed

    def test_a_code_without_an_issuer_prefix_is_not_a_card(self) -> None:
        code = card("310101002001000")
        assert scan([Column("编号", "text")], [(code,)], [], []).passed

    def test_a_column_of_cards_without_a_card_name_is_caught(self) -> None:
        rows = [(card(f"62220212345678{i:04d}"),) for i in range(50)]
        report = scan([Column("字段1", "text")], rows, [], [])
        assert [(h.kind, h.count) for h in report.hits] == [("bank_card", 50)]


class TestGrades:
    FIELDS = [FieldRule("姓名", "general", 4, False), FieldRule("身份证号", "important", 1, False),
              FieldRule("备注", "general", 2, False)]

    def test_graded_fields_without_a_step_are_refused(self) -> None:
        columns = [Column("姓名", "text"), Column("身份证号", "text"), Column("备注", "text")]
        rows = [("张三", "无", "无")]
        report = scan(columns, rows, self.FIELDS, [])
        assert report.hits == []
        assert report.graded == ["姓名", "身份证号"]
        assert not report.passed
        assert "字段“姓名”属分级数据，开放前须遮盖、泛化或删除" in report.message_zh()

    def test_a_step_handles_a_graded_field(self) -> None:
        columns = [Column("姓名", "text"), Column("身份证号", "text"), Column("备注", "text")]
        report = scan(columns, [("张三", ID1, "无")], self.FIELDS, [Step("姓名", "mask"), Step("身份证号", "drop")])
        assert report.passed

    def test_level_2_is_not_graded(self) -> None:
        assert scan([Column("备注", "text")], [("无",)], self.FIELDS, []).passed

    def test_a_core_field_needs_drop(self) -> None:
        columns = [Column("病历号", "text"), Column("科室", "text")]
        fields = [FieldRule("病历号", "core", 1, False)]
        rows = [("BL0001", "内科")]
        for steps in ([], [Step("病历号", "mask")], [Step("病历号", "generalise", "year")]):
            report = scan(columns, rows, fields, steps)
            assert not report.passed
            assert report.graded == ["病历号"] and report.core == ["病历号"]
            assert "字段“病历号”为核心数据，只有删除该字段才能开放，遮盖或泛化不够" in report.message_zh()
        assert scan(columns, rows, fields, [Step("病历号", "drop")]).passed


class TestKAnonymity:
    COLUMNS = [Column("出生日期", "date"), Column("地址", "text"), Column("诊断", "text")]
    FIELDS = [FieldRule("出生日期", "general", 3, True), FieldRule("地址", "general", 3, True)]

    def rows(self) -> list[tuple]:
        out = []
        for i in range(10):
            out.append((date(1980 + i % 2, 1 + i, 1 + i), f"上海市徐汇区漕溪北路{100 + i}号", "感冒"))
        return out

    def test_fails_then_passes_after_generalise(self) -> None:
        rows = self.rows()
        masked = [Step("出生日期", "mask"), Step("地址", "mask")]
        report = scan(self.COLUMNS, rows, self.FIELDS, masked)
        assert report.k_anonymity == KResult(5, ["出生日期", "地址"], 1, 10, 10, False)
        assert not report.passed
        assert ("未满足 k 匿名（k = 5，准标识符：出生日期、地址）：最小的等价类只有 1 行，"
                "共 10 行所在的等价类不足 5 行") in report.message_zh()

        steps = [Step("出生日期", "generalise", "year"), Step("地址", "generalise", "district")]
        report = scan(self.COLUMNS, rows, self.FIELDS, steps)
        assert report.k_anonymity == KResult(5, ["出生日期", "地址"], 5, 0, 2, True)
        assert report.passed
        cols, out = apply(self.COLUMNS, rows, steps)
        assert out[0] == (1980, "上海市徐汇区", "感冒")
        assert cols[0] == Column("出生日期", "integer")

    def test_dropped_quasi_identifiers_leave_the_rest(self) -> None:
        report = scan(self.COLUMNS, self.rows(), self.FIELDS,
                      [Step("出生日期", "drop"), Step("地址", "generalise", "district")])
        assert report.k_anonymity is not None
        assert report.k_anonymity.quasi_identifiers == ["地址"] and report.k_anonymity.passed

    def test_no_quasi_identifier_no_check(self) -> None:
        assert scan([Column("a", "text")], [("x",)], [], []).k_anonymity is None


class TestGeneralise:
    @pytest.mark.parametrize(("value", "expected"), [
        (date(1990, 3, 7), 1990), ("1985-03-07", 1985), ("19850307", 1985), ("1985年3月", 1985),
        (ID1, 1990), ("不详", None), (None, None),
    ])
    def test_to_year(self, value, expected) -> None:
        assert apply([Column("a", "text")], [(value,)], [Step("a", "generalise", "year")])[1] == [(expected,)]

    @pytest.mark.parametrize(("value", "expected"), [
        ("310104002003", "310104"), (310104, "310104"),
        ("上海市徐汇区漕溪北路100号", "上海市徐汇区"),
        ("浙江省杭州市西湖区文三路1号", "浙江省杭州市西湖区"),
        ("河北省保定市涞水县城关镇", "河北省保定市涞水县"),
        ("广西壮族自治区南宁市青秀区民族大道", "广西壮族自治区南宁市青秀区"),
        ("上海市幸福小区3号楼", "上海市"),
        ("北京市市辖区东城区", "北京市市辖区"),
        ("某某路1号", None),
    ])
    def test_to_district(self, value, expected) -> None:
        assert apply([Column("a", "text")], [(value,)], [Step("a", "generalise", "district")])[1] == [(expected,)]

    @pytest.mark.parametrize(("value", "expected"), [(45, "40-49"), (40, "40-49"), (49.9, "40-49"), ("7", "0-9"),
                                                     (-3, "-10--1"), ("x", None)])
    def test_to_range(self, value, expected) -> None:
        assert apply([Column("a", "text")], [(value,)], [Step("a", "generalise", "range:10")])[1] == [(expected,)]


class TestSteps:
    def test_round_trip_through_json(self) -> None:
        for step in (Step("a", "mask"), Step("a", "generalise", "range:5"), Step("a", "drop")):
            assert Step.from_dict(step.to_dict()) == step

    @pytest.mark.parametrize("data", [
        None, {"field": "a"}, {"field": "a", "action": "hide"}, {"field": "a", "action": "generalise", "to": "street"},
        {"field": "a", "action": "generalise", "to": "range:0"}, {"field": "a", "action": "drop", "to": "year"},
        {"field": "", "action": "drop"}, {"field": "a", "action": "mask", "to": 5},
    ])
    def test_malformed_steps_are_refused(self, data) -> None:
        with pytest.raises(StepInvalid) as exc:
            Step.from_dict(data)
        assert exc.value.code == "datacat_step_invalid"
        assert not exc.value.render().isascii()

    def test_a_step_on_a_missing_column_is_refused(self) -> None:
        with pytest.raises(StepInvalid) as exc:
            scan([Column("a", "text")], [("x",)], [], [Step("b", "drop")])
        assert exc.value.render() == "字段“b”的脱敏步骤无效：数据表中没有该列"

    def test_drop_removes_the_column(self) -> None:
        cols, rows = apply([Column("a", "text"), Column("b", "integer")], [("x", 1)], [Step("a", "drop")])
        assert cols == [Column("b", "integer")] and rows == [(1,)]
        assert apply([Column("a", "text")], [("x",)], [Step("a", "drop")]) == ([], [()])


class TestReport:
    def test_to_dict_and_back(self) -> None:
        columns, rows = people()
        report = scan(columns, rows, [FieldRule("出生", "core", 1, False), FieldRule("姓名", "general", 1, True)],
                      [])
        again = Report.from_dict(report.to_dict())
        assert again == report
        assert again.message_zh() == report.message_zh()

    def test_the_message_in_english(self) -> None:
        report = scan([Column("id", "text")], [(ID1,)], [], [])
        assert report.message("en") == "Refused: field “id” rows 1 hold 1 valid resident ID numbers."


class TestSpeed:
    def test_scans_100k_rows_in_seconds(self) -> None:
        import time

        columns = [Column("编号", "text"), Column("名称", "text"), Column("数量", "integer"), Column("备注", "text")]
        rows = [(f"3101{i:012d}", f"站点{i}", i % 40, "候车亭已翻新" if i % 1000 else f"电话1381234{i % 10000:04d}")
                for i in range(100_000)]
        started = time.perf_counter()
        report = scan(columns, rows, [], [])
        elapsed = time.perf_counter() - started
        assert report.hits == [Hit("mobile", "备注", list(range(1, 20_000, 1000)), 100)]
        assert elapsed < 10  # well under 1 s here


def _msgids() -> list[str]:
    src = Path(gate.__file__).read_text()
    found = set(re.findall(r'translate\("((?:[^"\\]|\\.)*)"', src))
    found |= set(re.findall(r'reason="((?:[^"\\]|\\.)*)"', src))
    found |= set(gate.KIND_LABELS.values()) | {gate.StepInvalid.message} | set(gate.MESSAGES.values())
    return sorted(found)


@pytest.mark.parametrize("msgid", _msgids())
def test_every_message_has_a_chinese_translation(msgid: str) -> None:
    assert catalogue("zh_Hans_CN").get(msgid), msgid


def test_found_the_messages() -> None:
    assert "Refused: {reasons}." in _msgids()
    assert "the table has no such column" in _msgids()
